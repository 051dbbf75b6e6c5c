"""Billing and the compute statement: a job's seconds priced on its pool's time-of-use tariff,
recorded with the core's metering (free quota first), and the month's lines."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from mingyue.enablers.compute.engine.spec import load_spec
from mingyue.enablers.compute.models import ComputeJob, ComputePool, ComputeUsage
from mingyue.enablers.compute.schemas import UsageLine, UsageOut
from mingyue.enablers.compute.tariffs import CPU_METER, GPU_METER
from mingyue.sdk import (
    UnitOfWork,
    check,
    get_visible,
    month_bounds,
    now,
    record_usage,
    require_org,
    statement_total,
)

from .pools import pool_tariff

ZERO = Decimal(0)
_US = timedelta(microseconds=1)


def bill(uow: UnitOfWork, job: ComputeJob, row: ComputePool, seconds: int) -> None:
    """Bill ``seconds`` from the engine's start on the pool's tariff; free quota first.

    The core records each meter's usage priced with the pool's own tariff (so the core's
    statements price compute exactly as ``compute usage`` does); the compute lines are that
    record's pieces: one per tariff window and month, with the free quota the core drew from
    each month's pool, earliest pieces first.
    """
    spec = load_spec(job.spec)
    demand = spec.demand()
    start = (job.started_at or job.ended_at or now()) + timedelta(seconds=job.billed_seconds)
    end = start + timedelta(seconds=seconds)
    tariff = pool_tariff(row)
    total_paid = ZERO
    free_cpu = ZERO
    for meter, unit, count, spec_t in (
        (CPU_METER, "cpu_second", demand.cpus, tariff.cpu),
        (GPU_METER, "gpu_second", demand.gpus, tariff.gpu_spec(demand.gpu_model)),
    ):
        if count == 0:
            continue
        rec = record_usage(
            uow=uow,
            organization_id=job.organization_id,
            meter=meter,
            quantity=Decimal(count * seconds),
            unit=unit,
            start=start,
            end=end,
            source=f"{row.kind}:{row.name}",
            ref=f"compute_job:{job.id}",
            # no tariff for this GPU model: recorded, not priced
            tariff=spec_t if spec_t is not None else [],
        )
        if meter == CPU_METER:
            free_cpu = rec.free_quantity
        for s in rec.breakdown:
            paid = (s.unit_price or ZERO) * (s.quantity - s.free)
            total_paid += paid
            uow.session.add(
                ComputeUsage(
                    organization_id=job.organization_id,
                    job_id=job.id,
                    month=s.month,
                    meter=meter,
                    band=s.band,
                    start=s.start,
                    end=s.end,
                    seconds=Decimal((s.end - s.start) // _US) / 1_000_000,
                    quantity=s.quantity,
                    free_quantity=s.free,
                    unit_price=s.unit_price,
                    amount=paid,
                    core_usage_id=rec.id,
                )
            )
    job.cost = (job.cost or ZERO) + total_paid
    job.free_quota_used = (job.free_quota_used or ZERO) + free_cpu


def _line(u: ComputeUsage, pool: str | None) -> UsageLine:
    return UsageLine(
        job_id=u.job_id,
        pool=pool,
        meter=u.meter,
        band=u.band,
        start=u.start,
        end=u.end,
        seconds=u.seconds,
        quantity=u.quantity,
        free_quantity=u.free_quantity,
        unit_price=u.unit_price,
        amount=u.amount,
    )


def job_lines(*, uow: UnitOfWork, job_id: int) -> list[UsageLine]:
    """Return the billed pieces of one job (tariff window x month), earliest first."""
    check(uow.actor, "compute.job.read")
    job = get_visible(uow, ComputeJob, job_id, "compute.job.read", key="compute.job_unknown")
    rows = uow.session.scalars(
        select(ComputeUsage)
        .where(ComputeUsage.job_id == job.id)
        .order_by(ComputeUsage.start, ComputeUsage.id)
    )
    return [_line(u, job.pool) for u in rows]


def usage(*, uow: UnitOfWork, month: str, organization_id: int | None = None) -> UsageOut:
    """List each job's seconds, windows and prices for a month (the compute statement)."""
    check(uow.actor, "compute.usage.read")
    month_bounds(month, uow.settings)  # validates YYYY-MM
    org = organization_id or require_org(uow.actor, field="--as")
    q = (
        select(ComputeUsage, ComputeJob.pool)
        .join(ComputeJob, ComputeJob.id == ComputeUsage.job_id)
        .where(ComputeUsage.month == month, ComputeUsage.organization_id == org)
        .order_by(ComputeUsage.start, ComputeUsage.id)
    )
    lines = [_line(u, pool) for u, pool in uow.session.execute(q).all()]
    cpu_lines = [ln for ln in lines if ln.meter == CPU_METER]
    units = {CPU_METER: "cpu_second", GPU_METER: "gpu_second"}
    billed = statement_total(
        ((ln.meter, ln.band, units[ln.meter], ln.unit_price), ln.quantity, ln.free_quantity)
        for ln in lines
    )
    return UsageOut(
        month=month,
        organization_id=org,
        jobs=len({ln.job_id for ln in lines}),
        seconds=sum((ln.seconds for ln in cpu_lines), ZERO),
        free_quantity=sum((ln.free_quantity for ln in lines), ZERO),
        total=sum((ln.amount for ln in lines), ZERO),
        statement_total=billed,
        lines=lines,
    )
