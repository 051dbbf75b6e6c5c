"""Free pools and quotas per organization, meter and month (the SME free compute pool).

A pool row is created on first use from the defaults: an SME gets the meter's SME default, any
other organization the all-organizations default (else nothing). ``cap`` bounds the usage
recorded in the month (``QuotaExceeded`` past it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mingyue.core.errors import NotFound, QuotaExceeded
from mingyue.core.metering.models import FreePool, FreePoolOut, PoolDefault
from mingyue.core.metering.registry import ZERO, acting, exact_decimal, meter_unit, month_of
from mingyue.core.metering.tou import month_bounds
from mingyue.core.tenancy.access import Actor, check, scope_for
from mingyue.core.tenancy.identity import Organization
from mingyue.core.uow import UnitOfWork


def _default_granted(uow: UnitOfWork, organization_id: int, meter: str) -> Decimal:
    org = uow.session.get(Organization, organization_id)
    if org is None:
        raise NotFound("core.not_found", "organization not found", field="organization_id")
    defaults = {
        d.sme_only: d.granted
        for d in uow.session.scalars(select(PoolDefault).where(PoolDefault.meter == meter))
    }
    if org.is_sme and True in defaults:
        return defaults[True]
    return defaults.get(False, ZERO)


def _find(uow: UnitOfWork, organization_id: int, meter: str, month: str) -> FreePool | None:
    # FOR UPDATE: concurrent usage of one organization and meter draws the pool one at a time
    return uow.session.scalars(
        select(FreePool)
        .where(
            FreePool.organization_id == organization_id,
            FreePool.meter == meter,
            FreePool.month == month,
        )
        .with_for_update()
    ).first()


def _pool(uow: UnitOfWork, organization_id: int, meter: str, month: str) -> FreePool:
    row = _find(uow, organization_id, meter, month)
    if row is not None:
        return row
    row = FreePool(
        organization_id=organization_id,
        meter=meter,
        month=month,
        granted=_default_granted(uow, organization_id, meter),
        used=ZERO,
        cap=None,
        recorded=ZERO,
    )
    try:
        with uow.session.begin_nested():
            uow.session.add(row)
    except IntegrityError:
        # another transaction created the month's pool first: use (and lock) that one
        existing = _find(uow, organization_id, meter, month)
        if existing is None:  # pragma: no cover - the unique key was violated by this row
            raise
        return existing
    return row


def _pool_out(p: FreePool) -> FreePoolOut:
    return FreePoolOut(
        organization_id=p.organization_id,
        meter=p.meter,
        month=p.month,
        granted=p.granted,
        used=p.used,
        remaining=max(p.granted - p.used, ZERO),
        cap=p.cap,
        recorded=p.recorded,
    )


def _check_month(month: str) -> str:
    month_bounds(month)
    return month


def set_free_pool(
    *,
    uow: UnitOfWork,
    actor: Actor | None = None,
    organization_id: int,
    meter: str,
    month: str,
    granted: Decimal | str,
    cap: Decimal | str | None = None,
) -> FreePoolOut:
    """Set an organization's free quantity (and optional usage cap) of a meter for a month."""
    check(acting(uow, actor), "core.quota.manage")
    meter_unit(meter)
    g = exact_decimal(granted, "granted")
    c = None if cap is None else exact_decimal(cap, "cap")
    p = _pool(uow, organization_id, meter, _check_month(month))
    p.granted, p.cap = g, c
    uow.flush()
    uow.audit(
        "core.quota.set",
        f"core_free_pool:{p.id}",
        {"meter": meter, "month": month, "granted": str(g), "cap": None if c is None else str(c)},
        organization_id=organization_id,
    )
    return _pool_out(p)


def set_pool_default(
    *,
    uow: UnitOfWork,
    actor: Actor | None = None,
    meter: str,
    granted: Decimal | str,
    sme_only: bool = True,
) -> None:
    """Set the monthly free quantity every SME (or every organization) gets for a meter."""
    check(acting(uow, actor), "core.quota.manage")
    meter_unit(meter)
    g = exact_decimal(granted, "granted")
    row = uow.session.scalars(
        select(PoolDefault).where(PoolDefault.meter == meter, PoolDefault.sme_only == sme_only)
    ).first()
    if row is None:
        row = PoolDefault(meter=meter, sme_only=sme_only, granted=g)
        uow.session.add(row)
    row.granted = g
    uow.flush()
    uow.audit(
        "core.quota.set",
        f"core_pool_default:{row.id}",
        {"meter": meter, "granted": str(g), "sme_only": sme_only},
        organization_id=None,
    )


def get_free_pool(
    *, uow: UnitOfWork, actor: Actor | None = None, organization_id: int, meter: str, month: str
) -> FreePoolOut:
    """Return an organization's free pool of a meter for a month (defaults applied)."""
    who = acting(uow, actor)
    check(who, "core.usage.read")
    meter_unit(meter)
    if not scope_for(who).allows(organization_id):
        raise NotFound("core.not_found", "organization not found", field="organization_id")
    row = uow.session.scalars(
        select(FreePool).where(
            FreePool.organization_id == organization_id,
            FreePool.meter == meter,
            FreePool.month == _check_month(month),
        )
    ).first()
    if row is None:  # not drawn yet: show the default without writing it
        g = _default_granted(uow, organization_id, meter)
        return FreePoolOut(
            organization_id=organization_id,
            meter=meter,
            month=month,
            granted=g,
            used=ZERO,
            remaining=g,
            cap=None,
            recorded=ZERO,
        )
    return _pool_out(row)


def check_cap(
    *,
    uow: UnitOfWork,
    organization_id: int,
    meter: str,
    quantity: Decimal | str,
    month: str | None = None,
) -> FreePoolOut:
    """Raise QuotaExceeded unless ``quantity`` more fits under the month's cap; return the pool."""
    q = exact_decimal(quantity, "quantity")
    m = _check_month(month or month_of(datetime.now(UTC), uow.settings.timezone))
    meter_unit(meter)
    if not scope_for(uow.actor).allows(organization_id):
        raise NotFound("core.not_found", "organization not found", field="organization_id")
    row = _find(uow, organization_id, meter, m)
    if row is not None and row.cap is not None and row.recorded + q > row.cap:
        raise QuotaExceeded(
            "core.quota.exceeded",
            f"{meter}: the cap of {row.cap} for {m} would be exceeded",
            meter=meter,
            month=m,
            cap=str(row.cap),
        )
    if row is None:
        g = _default_granted(uow, organization_id, meter)
        return FreePoolOut(
            organization_id=organization_id,
            meter=meter,
            month=m,
            granted=g,
            used=ZERO,
            remaining=g,
            cap=None,
            recorded=ZERO,
        )
    return _pool_out(row)


def _draw(pool: FreePool, quantity: Decimal) -> tuple[Decimal, Decimal]:
    free = min(max(pool.granted - pool.used, ZERO), quantity)
    pool.used += free
    return free, quantity - free


def consume_free(
    *,
    uow: UnitOfWork,
    organization_id: int,
    meter: str,
    quantity: Decimal | str,
    month: str | None = None,
) -> tuple[Decimal, Decimal]:
    """Draw from the organization's free pool of a month; return (free used, remainder).

    ``record_usage`` already draws the pool for the usage it records; call this only for a
    drawdown that is not a usage record.
    """
    q = exact_decimal(quantity, "quantity")
    m = _check_month(month or month_of(datetime.now(UTC), uow.settings.timezone))
    pool = _pool(uow, organization_id, meter, m)
    free, rest = _draw(pool, q)
    uow.audit(
        "core.quota.consumed",
        f"core_free_pool:{pool.id}",
        {"meter": meter, "month": m, "quantity": str(q), "free": str(free)},
        organization_id=organization_id,
    )
    return free, rest
