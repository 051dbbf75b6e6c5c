"""Matching: filter pools that can never run a job, rank the rest, explain the choice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from mingyue.core.errors import InvalidInput
from mingyue.enablers.compute.engine.matching import fmt_wait, match
from mingyue.enablers.compute.engine.pools import Pool, PoolLoad
from mingyue.enablers.compute.engine.pricing import FlatRate, TimeOfUse, hourly_windows
from mingyue.enablers.compute.engine.spec import Demand, load_spec

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai

POOL_A = Pool("A", cpus=64, pricer=FlatRate(cpu_hour=Decimal("0.10")), region="liangjiang")
POOL_B = Pool(
    "B",
    cpus=32,
    gpus={"A100": 8},
    pricer=FlatRate(cpu_hour=Decimal("0.20"), gpu_hour={"A100": Decimal("12.00")}),
    region="xiyong",
)
POOL_C = Pool(
    "C",
    cpus=16,
    gpus={"A100": 2, "T4": 4},
    pricer=FlatRate(
        cpu_hour=Decimal("0.05"), gpu_hour={"A100": Decimal("9.00"), "T4": Decimal("2.00")}
    ),
)


def test_rejects_pool_without_the_gpu_and_explains() -> None:
    d = load_spec(
        {
            "command": "train",
            "cpus": 4,
            "gpus": {"count": 4, "model": "A100"},
            "max_runtime_s": "1h",
        }
    ).demand()
    r = match(d, [POOL_A, POOL_B, POOL_C], now=NOW)
    assert r.chosen is not None and r.chosen.pool == "B"
    # 4 CPU-h × 0.20 + 4 GPU-h × 12.00
    assert r.chosen.cost == Decimal("48.8000")
    assert "pool B: ¥48.80, start now" in r.explanation
    assert "pool A rejected: no A100" in r.explanation
    assert "pool C rejected: needs 4× A100, has 2" in r.explanation


def test_cost_policy_prefers_cheapest_soonest_prefers_idle() -> None:
    d = Demand(cpus=2, runtime_s=3600, max_runtime_s=3600)
    loads = {"A": PoolLoad(free_cpus=0, queued=5), "C": PoolLoad(free_cpus=16)}

    def wait(p: Pool, dm: Demand) -> float:
        return loads[p.name].expected_wait_s(p, dm) if p.name in loads else 0.0

    pools = [POOL_A, POOL_C]
    cost = match(d, pools, now=NOW, wait=wait, policy="cost")
    assert cost.chosen is not None and cost.chosen.pool == "C"  # 0.05 < 0.10
    loads["C"] = PoolLoad(free_cpus=0, queued=40)
    cost = match(d, pools, now=NOW, wait=wait, policy="cost")
    soon = match(d, pools, now=NOW, wait=wait, policy="soonest")
    assert cost.chosen is not None and cost.chosen.pool == "C"
    assert soon.chosen is not None and soon.chosen.pool == "A"
    assert soon.ranked[0].wait_s < soon.ranked[1].wait_s
    fifo = match(d, [POOL_C, POOL_A], now=NOW, wait=wait, policy="fifo")
    assert fifo.chosen is not None and fifo.chosen.pool == "C"


def test_region_preference_breaks_ties() -> None:
    twin = Pool("A2", cpus=64, pricer=FlatRate(cpu_hour=Decimal("0.10")), region="xiyong")
    d = Demand(cpus=1, runtime_s=60, max_runtime_s=60, region="xiyong")
    r = match(d, [POOL_A, twin], now=NOW)
    assert r.chosen is not None and r.chosen.pool == "A2"


def test_suspended_enabled_for_down_and_limits() -> None:
    pools = [
        Pool("S", cpus=8, suspended=True),
        Pool("E", cpus=8, enabled_for=frozenset({"org-1"})),
        Pool("D", cpus=8),
        Pool("L", cpus=8, max_runtime_s=600),
        Pool("M", cpus=8, memory_mb=1000),
        Pool("I", cpus=8),
    ]
    spec = load_spec({"image": "alpine", "cpus": 1, "max_runtime_s": "1h", "memory_mb": "2G"})
    r = match(spec.demand(), pools, now=NOW, down={"D": "slurmctld unreachable"}, org="org-2")
    reasons = {x.pool: x.reason for x in r.rejected}
    assert r.chosen is None
    assert reasons == {
        "S": "suspended",
        "E": "not enabled for this organization",
        "D": "engine down (slurmctld unreachable)",
        "L": "run time 3600 s over the pool maximum 600 s",
        "M": "needs 2048 MB memory, has 1000",
        "I": "no container runtime",
    }


def test_max_price_and_deadline() -> None:
    d = Demand(cpus=10, runtime_s=3600, max_runtime_s=3600, max_price=Decimal("0.60"))
    r = match(d, [POOL_A, POOL_C], now=NOW)
    assert [c.pool for c in r.ranked] == ["C"]
    assert "pool A rejected: ¥1.00 over max price ¥0.60" in r.explanation
    late = Demand(cpus=1, runtime_s=3600, max_runtime_s=3600, deadline=NOW + timedelta(minutes=90))
    r = match(late, [POOL_A], now=NOW, wait=lambda p, dm: 3600.0)
    assert r.chosen is None and "misses the deadline" in r.rejected[0].reason


def test_time_of_use_window_changes_the_ranking() -> None:
    # Shanghai: peak 08-22, valley 22-08 (a simple two-window tariff for the test).
    schedule = {h: ("peak" if 8 <= h < 22 else "valley") for h in range(24)}
    tou = TimeOfUse(
        rates={
            "peak": FlatRate(cpu_hour=Decimal("0.30")),
            "valley": FlatRate(cpu_hour=Decimal("0.06")),
        },
        split=hourly_windows(schedule),
    )
    tou_pool = Pool("T", cpus=8, pricer=tou)
    flat_pool = Pool("F", cpus=8, pricer=FlatRate(cpu_hour=Decimal("0.20")))
    d = Demand(cpus=1, runtime_s=7200, max_runtime_s=7200)
    day = match(d, [tou_pool, flat_pool], now=NOW)  # 10:00 Shanghai: peak
    assert day.chosen is not None and day.chosen.pool == "F"
    night = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)  # 22:30 Shanghai: valley
    r = match(d, [tou_pool, flat_pool], now=night)
    assert r.chosen is not None and r.chosen.pool == "T"
    assert r.chosen.cost == Decimal("0.1200")
    # 21:00-23:00 spans the boundary: one peak hour + one valley hour, priced exactly.
    span = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    assert tou(d, span, 7200) == Decimal("0.3600")


def test_reservation_and_maintenance() -> None:
    start = NOW + timedelta(hours=2)
    maint = Pool(
        "A", cpus=8, maintenance=((start - timedelta(minutes=30), start + timedelta(minutes=30)),)
    )
    spec = load_spec({"reservation": {"start": start.isoformat(), "duration_s": 3600}})
    r = match(spec.demand(), [maint, POOL_C], now=NOW)
    assert r.chosen is not None and r.chosen.pool == "C" and r.chosen.start == start
    assert "maintenance during the reservation" in r.explanation
    # a batch job waits for the maintenance window to end
    d = Demand(cpus=1, runtime_s=3600, max_runtime_s=3600)
    m2 = Pool("M", cpus=8, maintenance=((NOW, NOW + timedelta(hours=1)),))
    r = match(d, [m2], now=NOW)
    assert r.chosen is not None and r.chosen.wait_s == 3600


def test_unknown_policy() -> None:
    with pytest.raises(InvalidInput) as exc:
        match(Demand(cpus=1), [POOL_A], now=NOW, policy="random")
    assert exc.value.field == "policy"


def test_fmt_wait() -> None:
    assert fmt_wait(0) == "now"
    assert fmt_wait(42) == "≈ 42 s"
    assert fmt_wait(125) == "≈ 2 min"
    assert fmt_wait(5400) == "≈ 1.5 h"


def test_reservations_hold_capacity_in_the_matcher() -> None:
    slot = (NOW + timedelta(hours=1), NOW + timedelta(hours=2), 2)
    small = Pool("S", cpus=2, pricer=FlatRate(cpu_hour=Decimal("0.10")), holds=(slot,))
    other = Pool("O", cpus=2, pricer=FlatRate(cpu_hour=Decimal("0.50")))
    overlap = load_spec(
        {"reservation": {"start": (NOW + timedelta(minutes=90)).isoformat(), "duration_s": "1h"}}
    ).demand()
    r = match(overlap, [small, other], now=NOW)
    assert r.chosen is not None and r.chosen.pool == "O"  # the reserved pool is not offered
    assert "pool S rejected: 2 of 2 CPUs already reserved in that slot" in r.explanation
    after = load_spec(
        {"reservation": {"start": (NOW + timedelta(hours=2)).isoformat(), "duration_s": "1h"}}
    ).demand()
    assert match(after, [small], now=NOW).chosen is not None  # back to back is fine
    # a batch job that would still run when the slot starts waits until it ends
    long_job = load_spec({"command": "x", "max_runtime_s": "90m"}).demand()
    r = match(long_job, [small], now=NOW)
    assert r.chosen is not None and r.chosen.start == NOW + timedelta(hours=2)
    short_job = load_spec({"command": "x", "max_runtime_s": "30m"}).demand()
    assert match(short_job, [small], now=NOW).chosen.start == NOW  # type: ignore[union-attr]


def test_reservations_per_engine_kind() -> None:
    at = (NOW + timedelta(hours=1)).isoformat()
    ray = Pool("R", cpus=8, kind="ray")
    slurm = Pool("S", cpus=8, kind="slurm")
    d = load_spec({"reservation": {"start": at, "duration_s": "90s"}}).demand()
    r = match(d, [ray, slurm], now=NOW)
    assert r.chosen is None
    assert "pool R rejected: Ray pools run batch jobs, not reservations" in r.explanation
    assert "pool S rejected: Slurm reserves whole minutes" in r.explanation
    d = load_spec({"reservation": {"start": at, "duration_s": "2m"}}).demand()
    assert match(d, [ray, slurm], now=NOW).chosen.pool == "S"  # type: ignore[union-attr]


def test_reservation_in_maintenance_is_rejected() -> None:
    pool = Pool("M", cpus=4, maintenance=((NOW + timedelta(hours=1), NOW + timedelta(hours=3)),))
    d = load_spec(
        {"reservation": {"start": (NOW + timedelta(hours=2)).isoformat(), "duration_s": "30m"}}
    ).demand()
    r = match(d, [pool], now=NOW)
    assert (
        r.chosen is None and "pool M rejected: maintenance during the reservation" in r.explanation
    )
