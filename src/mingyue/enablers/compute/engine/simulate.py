"""District-scale scheduling simulation: replay a job trace through the matcher.

A discrete-event clock (a heap of job ends, arrivals merged in submit order) replays the trace
with no real jobs. Each arriving job goes through the SAME ``matching.match`` as live jobs, with
the policy under test; the chosen pool runs its queue first-in first-out (a job starts when it
reaches the head and its CPUs/GPUs are free). Results: mean and 95th-percentile wait,
utilisation per pool, total cost (Decimal), and SME free-quota use (a money voucher per
organization per period, consumed before paid time — like the district's 算力券).
"""

from __future__ import annotations

import heapq
import math
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from mingyue.sdk.errors import InvalidInput

from .matching import POLICIES, match
from .pools import Pool
from .spec import Demand
from .trace import TraceJob

DEFAULT_EPOCH = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # a Monday; trace time 0


@dataclass(frozen=True, slots=True)
class FreeQuota:
    """SME free quota: ``amount`` (CNY) per organization per ``period_s``, used before paid."""

    amount: Decimal
    period_s: int = 30 * 86400
    sme_orgs: frozenset[str] | None = None  # None: every organization in the trace is an SME


@dataclass(frozen=True, slots=True)
class SimResult:
    """What one replay measured."""

    policy: str
    jobs: int
    scheduled: int
    rejected: int
    mean_wait_s: float
    p95_wait_s: float
    utilization: dict[str, float]
    cpu_utilization: dict[str, float]
    gpu_utilization: dict[str, float]
    jobs_per_pool: dict[str, int]
    total_cost: Decimal
    paid_cost: Decimal
    free_quota_used: Decimal
    makespan_s: float
    elapsed_s: float = 0.0
    rejections: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """Return the result as JSON-ready data (money as strings, exact)."""
        return {
            "policy": self.policy,
            "jobs": self.jobs,
            "scheduled": self.scheduled,
            "rejected": self.rejected,
            "mean_wait_s": round(self.mean_wait_s, 3),
            "p95_wait_s": round(self.p95_wait_s, 3),
            "utilization": {k: round(v, 6) for k, v in self.utilization.items()},
            "cpu_utilization": {k: round(v, 6) for k, v in self.cpu_utilization.items()},
            "gpu_utilization": {k: round(v, 6) for k, v in self.gpu_utilization.items()},
            "jobs_per_pool": self.jobs_per_pool,
            "total_cost": str(self.total_cost),
            "paid_cost": str(self.paid_cost),
            "free_quota_used": str(self.free_quota_used),
            "makespan_s": round(self.makespan_s, 3),
        }


class _PoolState:
    """Live state of one simulated pool (free resources, FIFO queue, work in flight)."""

    __slots__ = (
        "cpu_busy_s",
        "free_cpus",
        "free_gpus",
        "gpu_busy_s",
        "gpu_cap",
        "gpu_queued_work",
        "gpu_run_c",
        "gpu_run_s1",
        "pool",
        "queue",
        "queued_work",
        "run_c",
        "run_s1",
        "started",
    )

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.free_cpus = pool.cpus
        self.free_gpus: dict[str | None, int] = {k: v for k, v in pool.gpus.items()}
        self.gpu_cap = sum(pool.gpus.values())
        self.queue: deque[tuple[int, Demand, float, str, str | None]] = deque()
        self.queued_work = 0.0  # CPU-seconds waiting
        self.run_s1 = 0.0  # sum(cpus * end) over running jobs
        self.run_c = 0  # CPUs running
        self.gpu_queued_work = 0.0
        self.gpu_run_s1 = 0.0
        self.gpu_run_c = 0
        self.cpu_busy_s = 0.0
        self.gpu_busy_s = 0.0
        self.started = 0

    def gpu_model_for(self, d: Demand) -> str | None:
        """Pick the GPU model a demand takes here (its own, or the one with most free)."""
        if d.gpus == 0:
            return None
        if d.gpu_model is not None:
            return d.gpu_model
        best = max(self.free_gpus.items(), key=lambda kv: kv[1], default=(None, 0))
        return best[0]

    def fits(self, d: Demand) -> bool:
        """Say whether a demand fits in the free resources now."""
        if d.cpus > self.free_cpus:
            return False
        if d.gpus == 0:
            return True
        if d.gpu_model is None:
            return max(self.free_gpus.values(), default=0) >= d.gpus
        return self.free_gpus.get(d.gpu_model, 0) >= d.gpus

    def expected_wait(self, d: Demand, now: float) -> float:
        """Estimate the wait of a new arrival from queued and running work."""
        if not self.queue and self.fits(d):
            return 0.0
        if d.gpus and self.gpu_cap:
            work = self.gpu_queued_work + self.gpu_run_s1 - now * self.gpu_run_c
            return max(work, 0.0) / self.gpu_cap
        work = self.queued_work + self.run_s1 - now * self.run_c
        return max(work, 0.0) / max(self.pool.cpus, 1)


def simulate(
    trace: Sequence[TraceJob],
    pools: Sequence[Pool],
    policy: str = "cost",
    *,
    epoch: datetime = DEFAULT_EPOCH,
    free_quota: FreeQuota | None = None,
) -> SimResult:
    """Replay ``trace`` on ``pools`` under ``policy`` (cost|fifo|soonest) and measure it."""
    if policy not in POLICIES:
        raise InvalidInput(
            "compute.policy_unknown", f"policy: one of {', '.join(POLICIES)}", field="policy"
        )
    if not pools:
        raise InvalidInput("compute.pools_invalid", "no pools to simulate", field="pools")
    t0 = time.perf_counter()
    states = {p.name: _PoolState(p) for p in pools}
    clock = [0.0]

    def wait(pool: Pool, d: Demand) -> float:
        return states[pool.name].expected_wait(d, clock[0])

    ends: list[tuple[float, int, str, int, int, str | None]] = []
    waits: list[float] = []
    total_cost = Decimal(0)
    free_used = Decimal(0)
    quota_left: dict[tuple[str, int], Decimal] = {}
    rejected = 0
    reasons: dict[str, int] = {}
    first_submit = math.inf
    last_end = 0.0
    seq = 0
    pricers = {p.name: p.pricer for p in pools}

    def start_ready(st: _PoolState, now: float) -> None:
        nonlocal seq, total_cost, free_used, last_end
        q = st.queue
        while q and st.fits(q[0][1]):
            _, d, submit, org, _model = q.popleft()
            model = st.gpu_model_for(d)
            end = now + d.runtime_s
            st.free_cpus -= d.cpus
            st.queued_work -= d.cpus * d.runtime_s
            st.run_s1 += d.cpus * end
            st.run_c += d.cpus
            st.cpu_busy_s += d.cpus * d.runtime_s
            if d.gpus:
                st.free_gpus[model] -= d.gpus
                st.gpu_queued_work -= d.gpus * d.runtime_s
                st.gpu_run_s1 += d.gpus * end
                st.gpu_run_c += d.gpus
                st.gpu_busy_s += d.gpus * d.runtime_s
            st.started += 1
            seq += 1
            heapq.heappush(ends, (end, seq, st.pool.name, d.cpus, d.gpus, model))
            waits.append(now - submit)
            if end > last_end:
                last_end = end
            priced = (
                d
                if model == d.gpu_model
                else Demand(
                    cpus=d.cpus,
                    gpus=d.gpus,
                    gpu_model=model,
                    runtime_s=d.runtime_s,
                    max_runtime_s=d.runtime_s,
                )
            )
            cost = pricers[st.pool.name](priced, epoch + timedelta(seconds=now), d.runtime_s)
            total_cost += cost
            if free_quota is not None and (
                free_quota.sme_orgs is None or org in free_quota.sme_orgs
            ):
                key = (org, int(now // free_quota.period_s))
                left = quota_left.get(key, free_quota.amount)
                use = min(left, cost)
                quota_left[key] = left - use
                free_used += use

    def finish_until(t: float) -> None:
        while ends and ends[0][0] <= t:
            end, _, name, cpus, gpus, model = heapq.heappop(ends)
            st = states[name]
            clock[0] = end
            st.free_cpus += cpus
            st.run_s1 -= cpus * end
            st.run_c -= cpus
            if gpus:
                st.free_gpus[model] += gpus
                st.gpu_run_s1 -= gpus * end
                st.gpu_run_c -= gpus
            start_ready(st, end)

    for job in sorted(trace, key=lambda j: j.submit_time):
        now = job.submit_time
        first_submit = min(first_submit, now)
        finish_until(now)
        clock[0] = now
        d = Demand(
            cpus=job.cpus,
            gpus=job.gpus,
            gpu_model=job.gpu_model,
            runtime_s=job.duration_s,
            max_runtime_s=job.duration_s,
        )
        result = match(
            d,
            pools,
            now=epoch + timedelta(seconds=now),
            wait=wait,
            policy=policy,
            org=job.org,
            explain=False,
        )
        chosen = result.chosen
        if chosen is None:
            rejected += 1
            why = result.rejected[0].reason if result.rejected else "no pools"
            reasons[why] = reasons.get(why, 0) + 1
            continue
        st = states[chosen.pool]
        st.queue.append((job.index, d, now, job.org, job.gpu_model))
        st.queued_work += d.cpus * d.runtime_s
        if d.gpus:
            st.gpu_queued_work += d.gpus * d.runtime_s
        start_ready(st, now)
    finish_until(math.inf)

    horizon = (last_end - first_submit) if waits else 0.0
    cpu_util: dict[str, float] = {}
    gpu_util: dict[str, float] = {}
    util: dict[str, float] = {}
    for name, st in states.items():
        cpu_util[name] = (
            st.cpu_busy_s / (st.pool.cpus * horizon) if horizon and st.pool.cpus else 0.0
        )
        gpu_util[name] = st.gpu_busy_s / (st.gpu_cap * horizon) if horizon and st.gpu_cap else 0.0
        util[name] = gpu_util[name] if st.gpu_cap else cpu_util[name]
    waits.sort()
    n = len(waits)
    return SimResult(
        policy=policy,
        jobs=len(trace),
        scheduled=n,
        rejected=rejected,
        mean_wait_s=(math.fsum(waits) / n) if n else 0.0,
        p95_wait_s=waits[max(math.ceil(0.95 * n) - 1, 0)] if n else 0.0,
        utilization=util,
        cpu_utilization=cpu_util,
        gpu_utilization=gpu_util,
        jobs_per_pool={name: st.started for name, st in states.items()},
        total_cost=total_cost,
        paid_cost=total_cost - free_used,
        free_quota_used=free_used,
        makespan_s=horizon,
        elapsed_s=time.perf_counter() - t0,
        rejections=reasons,
    )


def simulate_all(
    trace: Sequence[TraceJob],
    pools: Sequence[Pool],
    policies: Iterable[str] = POLICIES,
    **kwargs: object,
) -> list[SimResult]:
    """Replay the same trace once per policy."""
    return [simulate(trace, pools, p, **kwargs) for p in policies]  # type: ignore[arg-type]
