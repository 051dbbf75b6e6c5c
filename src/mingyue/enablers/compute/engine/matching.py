"""Matching: which pool runs a job, and why (in the spirit of SkyPilot's optimizer and HTCondor's
matchmaking, not their code).

Two steps. *Filter*: drop pools that can never run the demand (too few CPUs, no such GPU,
suspended, not enabled for the organization, engine down, over the pool's run-time limit, over
the job's max price, past its deadline). *Rank* the rest by the policy:

- ``cost``: expected cost (the pool's tariff over the expected run time, priced in the
  time-of-use windows it will run in), then expected start, then region preference;
- ``soonest``: expected start, then cost, then region preference;
- ``fifo``: the first pool that can run it, in the pools' declared order (the baseline).

Every result carries one explanation line a person can read:
``pool B: ¥3.20, start ≈ 2 min; pool A rejected: no A100``.
The simulator replays traces through this same ``match`` function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from mingyue.sdk.errors import InvalidInput

from .pools import Pool
from .pricing import money
from .spec import Demand

Policy = Literal["cost", "fifo", "soonest"]
POLICIES: tuple[str, ...] = ("cost", "fifo", "soonest")
WaitFn = Callable[[Pool, Demand], float]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A pool that can run the job, with what it would cost and when it would start."""

    pool: str
    cost: Decimal
    wait_s: float
    start: datetime
    region_match: bool
    order: int


@dataclass(frozen=True, slots=True)
class Rejection:
    """A pool that cannot run the job, and the reason."""

    pool: str
    reason: str


@dataclass(frozen=True, slots=True)
class MatchResult:
    """The ranked candidates (best first), the rejections, and the explanation line."""

    policy: str
    ranked: tuple[Candidate, ...]
    rejected: tuple[Rejection, ...]
    explanation: str

    @property
    def chosen(self) -> Candidate | None:
        """Return the best candidate, or None when no pool can run the job."""
        return self.ranked[0] if self.ranked else None


def fmt_wait(seconds: float) -> str:
    """Say when a job starts: ``now``, ``≈ 40 s``, ``≈ 2 min``, ``≈ 1.5 h``."""
    if seconds < 1:
        return "now"
    if seconds < 90:
        return f"≈ {round(seconds)} s"
    if seconds < 5400:
        return f"≈ {round(seconds / 60)} min"
    return f"≈ {seconds / 3600:.1f} h"


def static_rejection(pool: Pool, demand: Demand, org: str | None = None) -> str | None:
    """Return why a pool can never run this demand, or None when it could."""
    if pool.suspended:
        return "suspended"
    if pool.enabled_for is not None and (org is None or org not in pool.enabled_for):
        return "not enabled for this organization"
    if demand.cpus > pool.cpus:
        return f"needs {demand.cpus} CPUs, has {pool.cpus}"
    if demand.gpus:
        if demand.gpu_model is not None:
            have = pool.gpus.get(demand.gpu_model, 0)
            if have == 0:
                return f"no {demand.gpu_model}"
            if have < demand.gpus:
                return f"needs {demand.gpus}× {demand.gpu_model}, has {have}"
        elif max(pool.gpus.values(), default=0) < demand.gpus:
            most = max(pool.gpus.values(), default=0)
            return f"needs {demand.gpus} GPUs of one model, has {most}"
    if demand.memory_mb and pool.memory_mb is not None and demand.memory_mb > pool.memory_mb:
        return f"needs {demand.memory_mb} MB memory, has {pool.memory_mb}"
    if pool.max_runtime_s is not None and demand.max_runtime_s > pool.max_runtime_s:
        return f"run time {demand.max_runtime_s} s over the pool maximum {pool.max_runtime_s} s"
    if demand.needs_image and not pool.supports_images:
        return "no container runtime"
    if demand.fixed_start is not None and pool.kind == "ray":
        return "Ray pools run batch jobs, not reservations"
    if demand.fixed_start is not None and pool.kind == "slurm" and demand.runtime_s % 60:
        return "Slurm reserves whole minutes"
    return None


def reserved_cpus(pool: Pool, start: datetime, seconds: int) -> tuple[int, datetime | None]:
    """Return the CPUs that granted reservations hold during [start, start+seconds), and
    when the earliest of those reservations ends."""
    end = start + timedelta(seconds=seconds)
    over = [(e, c) for s, e, c in pool.holds if s < end and e > start]
    return sum(c for _, c in over), min((e for e, _ in over), default=None)


def reserved_until(pool: Pool, start: datetime, demand: Demand) -> datetime | None:
    """Return when a batch job starting at ``start`` fits beside the pool's reservations
    (None: it fits now)."""
    moved = None
    for _ in range(len(pool.holds) + 1):
        held, first_end = reserved_cpus(pool, start, demand.max_runtime_s)
        if first_end is None or pool.cpus - held >= demand.cpus:
            return moved
        start = moved = first_end
    return moved


def _after_maintenance(pool: Pool, start: datetime, seconds: int) -> datetime:
    for m_start, m_end in sorted(pool.maintenance):
        if start < m_end and start + timedelta(seconds=seconds) > m_start:
            start = m_end
    return start


def match(
    demand: Demand,
    pools: Sequence[Pool],
    *,
    now: datetime,
    wait: WaitFn | None = None,
    down: Mapping[str, str] | None = None,
    policy: str = "cost",
    org: str | None = None,
    explain: bool = True,
) -> MatchResult:
    """Filter the pools that can run ``demand`` and rank them by ``policy``."""
    if policy not in POLICIES:
        raise InvalidInput(
            "compute.policy_unknown", f"policy: one of {', '.join(POLICIES)}", field="policy"
        )
    ranked: list[Candidate] = []
    rejected: list[Rejection] = []
    for order, pool in enumerate(pools):
        reason = static_rejection(pool, demand, org)
        if down and pool.name in down and not pool.suspended:
            reason = f"engine down ({down[pool.name]})"
        if reason is not None:
            rejected.append(Rejection(pool.name, reason))
            continue
        if demand.fixed_start is not None:
            start = demand.fixed_start
            wait_s = max((start - now).total_seconds(), 0.0)
            if _after_maintenance(pool, start, demand.runtime_s) != start:
                rejected.append(Rejection(pool.name, "maintenance during the reservation"))
                continue
            held, _ = reserved_cpus(pool, start, demand.runtime_s)
            if held and pool.cpus - held < demand.cpus:
                rejected.append(
                    Rejection(
                        pool.name, f"{held} of {pool.cpus} CPUs already reserved in that slot"
                    )
                )
                continue
        else:
            wait_s = wait(pool, demand) if wait is not None else 0.0
            start = now + timedelta(seconds=wait_s) if wait_s else now
            for _ in range(len(pool.holds) + 1):
                before = start
                if pool.maintenance:
                    start = _after_maintenance(pool, start, demand.runtime_s)
                start = reserved_until(pool, start, demand) or start
                if start == before:
                    break
            wait_s = (start - now).total_seconds()
        cost = pool.pricer(demand, start, demand.runtime_s)
        if demand.max_price is not None and cost > demand.max_price:
            rejected.append(
                Rejection(pool.name, f"{money(cost)} over max price {money(demand.max_price)}")
            )
            continue
        if demand.deadline is not None and (
            start + timedelta(seconds=demand.runtime_s) > demand.deadline
        ):
            rejected.append(Rejection(pool.name, f"start {fmt_wait(wait_s)} misses the deadline"))
            continue
        region_match = demand.region is None or pool.region == demand.region
        ranked.append(Candidate(pool.name, cost, wait_s, start, region_match, order))
    if policy == "cost":
        ranked.sort(key=lambda c: (c.cost, c.wait_s, not c.region_match, c.order))
    elif policy == "soonest":
        ranked.sort(key=lambda c: (c.wait_s, c.cost, not c.region_match, c.order))
    # fifo keeps the declared order
    text = _explain(ranked, rejected) if explain else ""
    return MatchResult(policy, tuple(ranked), tuple(rejected), text)


def _explain(ranked: list[Candidate], rejected: list[Rejection]) -> str:
    parts = [f"pool {c.pool}: {money(c.cost)}, start {fmt_wait(c.wait_s)}" for c in ranked]
    parts += [f"pool {r.pool} rejected: {r.reason}" for r in rejected]
    return "; ".join(parts) if parts else "no pools"
