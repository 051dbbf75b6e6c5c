"""The core's statements price compute with each pool's own time-of-use tariff.

Property: for any jobs on pools with different tariffs (CPU and GPU, spans over tariff windows
and a month end, an SME free quota drawn first), the core statement of a month charges exactly
what ``compute usage`` reports for it, and its lines hold exactly the compute lines' pieces.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from mingyue.core import metering
from mingyue.core.tenancy.access import SYSTEM
from mingyue.core.uow import unit_of_work
from mingyue.enablers.compute import service
from mingyue.enablers.compute.models import ComputeJob, ComputePool
from mingyue.enablers.compute.service.usage import bill
from mingyue.enablers.compute.tariffs import CPU_METER, GPU_METER

from .helpers import add_pool

CHEAP = {
    "cpu_second": {"peak": "0.0003", "flat": "0.0002", "valley": "0.0001"},
    "gpu_second": {"A100": {"peak": "0.031", "flat": "0.0207", "valley": "0.0093"}},
}
# another pool, other windows and prices with more decimals: lines must not merge wrongly
DEAR = {
    "cpu_second": {"peak": "0.00047", "flat": "0.000333", "valley": "0.00011"},
    "windows": [
        {"band": "valley", "start": "00:00", "end": "08:00"},
        {"band": "peak", "start": "08:00", "end": "20:00"},
        {"band": "flat", "start": "20:00", "end": "24:00"},
    ],
}
# Sept-Oct 2026 in UTC: both months have ended, so their statements can be issued
T0 = datetime(2026, 9, 20, tzinfo=UTC)

jobs_st = st.lists(
    st.tuples(
        st.sampled_from(["cheap", "dear"]),
        st.integers(0, 20 * 86400),  # start offset from T0 (s)
        st.integers(1, 3 * 86400),  # engine seconds
        st.integers(1, 8),  # CPUs
        st.integers(0, 2),  # A100 GPUs (cheap pool only)
    ),
    min_size=1,
    max_size=5,
)


def _bill(
    uow: Any,
    org: int,
    pools: dict[str, ComputePool],
    pool: str,
    start: datetime,
    seconds: int,
    cpus: int,
    gpus: int,
) -> None:
    spec: dict[str, Any] = {"command": "true", "cpus": cpus}
    if gpus and pool == "cheap":
        spec["gpus"] = {"count": gpus, "model": "A100"}
    job = ComputeJob(
        organization_id=org,
        submitted_by="test",
        spec=spec,
        state="succeeded",
        pool=pool,
        engine_id="x",
        started_at=start,
        ended_at=start + timedelta(seconds=seconds),
    )
    uow.session.add(job)
    uow.flush()
    bill(uow, job, pools[pool], seconds)
    job.billed_seconds = seconds


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(jobs=jobs_st, free=st.integers(0, 200_000))
def test_statement_total_equals_compute_usage(
    settings: Any, make_org: Any, jobs: list[tuple[str, int, int, int, int]], free: int
) -> None:
    with unit_of_work(SYSTEM, settings) as uow:
        fresh = uow.session.scalars(select(ComputePool)).first() is None
    if fresh:  # the first example of this test's database
        add_pool(settings, "cheap", cpus=8, tariff=CHEAP)
        add_pool(settings, "dear", cpus=8, tariff=DEAR)
    org = make_org(sme=True).id
    with unit_of_work(SYSTEM, settings) as uow:
        for month in ("2026-09", "2026-10", "2026-11"):
            metering.set_free_pool(
                uow=uow, organization_id=org, meter=CPU_METER, month=month, granted=Decimal(free)
            )
        pools = {r.name: r for r in uow.session.scalars(select(ComputePool))}
        for pool, offset, seconds, cpus, gpus in jobs:
            _bill(uow, org, pools, pool, T0 + timedelta(seconds=offset), seconds, cpus, gpus)
    for month in ("2026-09", "2026-10"):
        with unit_of_work(SYSTEM, settings) as uow:
            use = service.usage(uow=uow, month=month, organization_id=org)
            stmt = metering.generate_statement(uow=uow, organization_id=org, month=month)
        assert stmt.total == use.statement_total
        # before the fen rounding of each line, the statement is the exact sum of the lines
        exact = sum(
            ((ln.quantity - ln.free_quantity) * (ln.unit_price or 0) for ln in stmt.lines),
            Decimal(0),
        )
        assert exact == use.total
        assert abs(stmt.total - use.total) <= Decimal("0.01") * len(stmt.lines)
        for meter in (CPU_METER, GPU_METER):
            assert sum((ln.quantity for ln in stmt.lines if ln.meter == meter), Decimal(0)) == sum(
                (ln.quantity for ln in use.lines if ln.meter == meter), Decimal(0)
            )
            assert sum(
                (ln.free_quantity for ln in stmt.lines if ln.meter == meter), Decimal(0)
            ) == sum((ln.free_quantity for ln in use.lines if ln.meter == meter), Decimal(0))
        # each statement line carries one of the pools' own prices, not a platform tariff's
        prices = {Decimal(p) for t in (CHEAP, DEAR) for p in t["cpu_second"].values()}
        prices |= {Decimal(p) for p in CHEAP["gpu_second"]["A100"].values()}
        assert {ln.unit_price for ln in stmt.lines} <= prices


def test_pool_tariff_wins_over_the_meters_platform_tariff(settings: Any, make_org: Any) -> None:
    from datetime import date

    add_pool(settings, "cheap", cpus=8, tariff=CHEAP)
    org = make_org().id
    with unit_of_work(SYSTEM, settings) as uow:
        metering.create_tariff(
            uow=uow,
            meter=CPU_METER,
            effective_from=date(2026, 1, 1),
            prices={"peak": "9", "flat": "9", "valley": "9"},
        )
        pools = {r.name: r for r in uow.session.scalars(select(ComputePool))}
        # 2026-09-30 20:00-20:10 Shanghai: peak in the default windows
        _bill(uow, org, pools, "cheap", datetime(2026, 9, 30, 12, 0, tzinfo=UTC), 600, 2, 0)
    with unit_of_work(SYSTEM, settings) as uow:
        stmt = metering.generate_statement(uow=uow, organization_id=org, month="2026-09")
        use = service.usage(uow=uow, month="2026-09", organization_id=org)
    assert [(ln.band, ln.unit_price, ln.quantity) for ln in stmt.lines] == [
        ("peak", Decimal("0.0003"), Decimal(1200))
    ]
    assert stmt.total == Decimal("0.36") == use.total == use.statement_total
