"""Metering and billing: meters, tariffs, usage records, free pools and quotas.

To add a meter: 1. add ``"<key>.<meter>": MeterSpec(unit=..., description=...)`` to your Enabler's
``meters``; 2. call ``metering.record_usage(uow=..., meter=..., ...)`` where the usage happens;
3. a duplicate name raises.

``record_usage`` splits the interval at tariff windows and months (``metering_tou``), prices each
piece with the tariff in force that day, draws the organization's free pool of each month
(earliest pieces first) and refuses usage past a month's cap or in a month already invoiced.
Statements live in ``metering_statements``; pure pricing in ``metering_tou``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from mingyue.core.errors import Conflict, InvalidInput, QuotaExceeded
from mingyue.core.metering.models import (
    FreePoolOut,
    SegmentOut,
    Statement,
    Tariff,
    TariffOut,
    UsageOut,
    UsageRecord,
    canonical,
)
from mingyue.core.metering.pools import (
    _draw,
    _pool,
    check_cap,
    consume_free,
    get_free_pool,
    set_free_pool,
    set_pool_default,
)
from mingyue.core.metering.registry import (
    ZERO,
    acting,
    exact_decimal,
    meter_unit,
    meters,
    plain_text,
    register_meter,
)
from mingyue.core.metering.statements import (
    generate_due_statements,
    generate_statement,
    get_statement,
    list_statements,
    statement_total,
    usage_summary,
)
from mingyue.core.metering.tou import (
    BANDS,
    DEFAULT_WINDOWS,
    PricedSegment,
    TariffSpec,
    month_bounds,
    parse_windows,
    price_interval,
)
from mingyue.core.tenancy.access import Actor, check
from mingyue.core.uow import UnitOfWork

__all__ = [
    "FreePoolOut",
    "PricedSegment",
    "SegmentOut",
    "TariffOut",
    "TariffSpec",
    "UsageOut",
    "UsageRecord",
    "check_cap",
    "consume_free",
    "create_tariff",
    "generate_due_statements",
    "generate_statement",
    "get_free_pool",
    "get_statement",
    "list_statements",
    "list_tariffs",
    "list_usage",
    "meters",
    "price_interval",
    "record_usage",
    "register_meter",
    "set_free_pool",
    "set_pool_default",
    "statement_total",
    "tariff_spec",
    "usage_summary",
]

# ---- tariffs -------------------------------------------------------------------------------


def tariff_spec(tariff: Tariff) -> TariffSpec:
    """Return the pure pricing spec of a stored tariff."""
    return TariffSpec(
        meter=tariff.meter,
        prices={k: Decimal(v) for k, v in tariff.prices.items()},
        windows=parse_windows(tariff.windows),
        currency=tariff.currency,
        tz=tariff.tz,
        effective_from=tariff.effective_from,
        effective_to=tariff.effective_to,
        id=tariff.id,
    )


def _tariff_out(t: Tariff) -> TariffOut:
    return TariffOut(
        id=t.id,
        meter=t.meter,
        name=t.name,
        currency=t.currency,
        tz=t.tz,
        effective_from=t.effective_from,
        effective_to=t.effective_to,
        windows=list(t.windows),
        prices={k: Decimal(v) for k, v in t.prices.items()},
    )


def create_tariff(
    *,
    uow: UnitOfWork,
    actor: Actor | None = None,
    meter: str,
    prices: Mapping[str, Decimal | str],
    effective_from: date,
    effective_to: date | None = None,
    windows: Sequence[Mapping[str, str]] | None = None,
    currency: str | None = None,
    name: str = "",
) -> TariffOut:
    """Create a time-of-use tariff; an open-ended predecessor of the meter ends where it starts."""
    check(acting(uow, actor), "core.tariff.manage")
    meter_unit(meter)
    raw_windows = [dict(w) for w in (windows or DEFAULT_WINDOWS)]
    parsed = parse_windows(raw_windows)
    used_bands = {w.band for w in parsed}
    extra = set(prices) - set(BANDS)
    if extra:
        raise InvalidInput(
            "core.tariff.bad_band", f"unknown bands: {sorted(extra)}", field="prices"
        )
    exact = {b: exact_decimal(prices[b], f"prices.{b}") for b in used_bands if b in prices}
    missing = used_bands - set(exact)
    if missing:
        raise InvalidInput(
            "core.tariff.bad_price", f"no price for bands {sorted(missing)}", field="prices"
        )
    if effective_to is not None and effective_to <= effective_from:
        raise InvalidInput(
            "core.tariff.bad_dates",
            "effective_to must be after effective_from",
            field="effective_to",
        )
    cur = currency or uow.settings.currency
    if len(cur) != 3 or not cur.isalpha():
        raise InvalidInput(
            "core.tariff.bad_currency", "currency is an ISO 4217 code", field="currency"
        )
    closed: list[int] = []
    for old in uow.session.scalars(select(Tariff).where(Tariff.meter == meter).with_for_update()):
        if old.effective_to is None and old.effective_from < effective_from:
            old.effective_to = effective_from
            closed.append(old.id)
        old_end = old.effective_to or date.max
        new_end = effective_to or date.max
        if old.effective_from < new_end and effective_from < old_end:
            raise Conflict(
                "core.tariff.overlap",
                f"tariff {old.id} of {meter} is in force over these dates",
                field="effective_from",
            )
    plain_text(name, "name")
    t = Tariff(
        meter=meter,
        name=name,
        currency=cur.upper(),
        tz=uow.settings.timezone,
        effective_from=effective_from,
        effective_to=effective_to,
        windows=raw_windows,
        prices={b: str(p) for b, p in exact.items()},
    )
    uow.session.add(t)
    uow.flush()
    uow.audit(
        "core.tariff.created",
        f"core_tariff:{t.id}",
        {
            "meter": meter,
            "prices": t.prices,
            "windows": raw_windows,
            "effective_from": effective_from.isoformat(),
            "effective_to": effective_to.isoformat() if effective_to else None,
            "currency": t.currency,
            "closed": closed,
        },
        organization_id=None,
    )
    return _tariff_out(t)


def list_tariffs(
    *, uow: UnitOfWork, actor: Actor | None = None, meter: str | None = None
) -> list[TariffOut]:
    """List tariffs, newest first (optionally of one meter)."""
    check(acting(uow, actor), "core.tariff.read")
    q = select(Tariff).order_by(Tariff.meter, Tariff.effective_from.desc())
    if meter:
        q = q.where(Tariff.meter == plain_text(meter, "meter"))
    return [_tariff_out(t) for t in uow.session.scalars(q)]


def _specs(uow: UnitOfWork, meter: str) -> list[TariffSpec]:
    return [
        tariff_spec(t) for t in uow.session.scalars(select(Tariff).where(Tariff.meter == meter))
    ]


# ---- usage ---------------------------------------------------------------------------------


def _segment_json(s: PricedSegment, free: Decimal) -> dict[str, Any]:
    def text(d: Decimal | None) -> str | None:
        return None if d is None else str(canonical(d))

    return {
        "start": s.start.isoformat(),
        "end": s.end.isoformat(),
        "month": s.month,
        "band": s.band,
        "quantity": text(s.quantity),
        "free": text(free),
        "unit_price": text(s.unit_price),
        "amount": text(s.amount),
        "tariff_id": s.tariff_id,
    }


def usage_out(r: UsageRecord) -> UsageOut:
    """Return the pydantic view of a usage record."""
    segs = [
        SegmentOut(
            start=datetime.fromisoformat(b["start"]),
            end=datetime.fromisoformat(b["end"]),
            month=b["month"],
            band=b["band"],
            quantity=Decimal(b["quantity"]),
            free=Decimal(b["free"]),
            unit_price=None if b["unit_price"] is None else Decimal(b["unit_price"]),
            amount=Decimal(b["amount"]),
            tariff_id=b["tariff_id"],
        )
        for b in r.breakdown
    ]
    return UsageOut(
        id=r.id,
        organization_id=r.organization_id,
        meter=r.meter,
        quantity=r.quantity,
        unit=r.unit,
        start=r.start,
        end=r.end,
        source=r.source,
        ref=r.ref,
        free_quantity=r.free_quantity,
        amount=r.amount,
        currency=r.currency,
        breakdown=segs,
        created_at=r.created_at,
    )


def record_usage(
    *,
    uow: UnitOfWork,
    organization_id: int,
    meter: str,
    quantity: Decimal | str,
    unit: str,
    start: datetime,
    end: datetime,
    source: str,
    ref: str | None = None,
    actor: Actor | None = None,
    tariff: TariffSpec | Sequence[TariffSpec] | None = None,
) -> UsageOut:
    """Record and price one usage, drawing the free pool; refuse past a cap or a closed month.

    ``tariff``: the caller's own tariff of this meter (e.g. a compute pool's time-of-use
    prices) instead of the meter's platform tariffs; an empty sequence records it unpriced.
    The pieces keep their unit prices, so statements price the usage with it.
    """
    del actor  # the write is checked by the session's tenant scope; enablers record for their org
    expected = meter_unit(meter)
    if unit != expected:
        raise InvalidInput(
            "core.usage.bad_unit", f"meter {meter} counts in {expected}, not {unit}", field="unit"
        )
    q = exact_decimal(quantity, "quantity")
    if not source:
        raise InvalidInput("core.usage.no_source", "source is required", field="source")
    plain_text(source, "source")
    if ref is not None:
        plain_text(ref, "ref")
    if tariff is None:
        specs = _specs(uow, meter)
    else:
        specs = [tariff] if isinstance(tariff, TariffSpec) else list(tariff)
        if any(t.meter != meter for t in specs):
            raise InvalidInput(
                "core.usage.tariff_meter", f"the tariff given is not of {meter}", field="tariff"
            )
    priced = price_interval(specs, start, end, q, tz=uow.settings.timezone)
    by_month: dict[str, list[int]] = {}
    for i, s in enumerate(priced):
        by_month.setdefault(s.month, []).append(i)
    closed = uow.session.scalars(
        select(Statement.month).where(
            Statement.organization_id == organization_id, Statement.month.in_(list(by_month))
        )
    ).all()
    if closed:
        raise Conflict(
            "core.billing.month_closed",
            f"month {closed[0]} is already invoiced",
            field="start",
            month=closed[0],
        )
    frees = [ZERO] * len(priced)
    for month, idxs in by_month.items():
        pool = _pool(uow, organization_id, meter, month)
        month_q = sum((priced[i].quantity for i in idxs), ZERO)
        if pool.cap is not None and pool.recorded + month_q > pool.cap:
            raise QuotaExceeded(
                "core.quota.exceeded",
                f"{meter}: the cap of {pool.cap} {unit} for {month} would be exceeded",
                meter=meter,
                month=month,
                cap=str(pool.cap),
            )
        pool.recorded += month_q
        left, _rest = _draw(pool, month_q)
        for i in idxs:  # earliest pieces use the free pool first
            frees[i] = min(left, priced[i].quantity)
            left -= frees[i]
    gross = sum((s.amount for s in priced), ZERO)
    any_priced = any(s.unit_price is not None for s in priced)
    currencies = {s.currency for s in priced if s.currency}
    rec = UsageRecord(
        organization_id=organization_id,
        meter=meter,
        quantity=q,
        unit=unit,
        start=start.astimezone(UTC),
        end=end.astimezone(UTC),
        source=source,
        ref=ref,
        free_quantity=sum(frees, ZERO),
        amount=gross if any_priced else None,
        currency=min(currencies) if currencies else None,
        breakdown=[_segment_json(s, f) for s, f in zip(priced, frees, strict=True)],
    )
    uow.session.add(rec)
    uow.flush()
    uow.audit(
        "core.usage.recorded",
        f"core_usage_record:{rec.id}",
        {
            "meter": meter,
            "quantity": str(q),
            "unit": unit,
            "start": rec.start.isoformat(),
            "end": rec.end.isoformat(),
            "source": source,
            "ref": ref,
            "amount": None if rec.amount is None else str(rec.amount),
            "free": str(rec.free_quantity),
            "tariff": "meter" if tariff is None else "caller",
        },
        organization_id=organization_id,
    )
    return usage_out(rec)


def list_usage(
    *,
    uow: UnitOfWork,
    actor: Actor | None = None,
    organization_id: int | None = None,
    month: str | None = None,
    meter: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[UsageOut]:
    """List usage records in the actor's scope, newest first, filtered by org, month, meter."""
    check(acting(uow, actor), "core.usage.read")
    q = select(UsageRecord).order_by(UsageRecord.start.desc(), UsageRecord.id.desc())
    if organization_id is not None:
        q = q.where(UsageRecord.organization_id == organization_id)
    if month:
        lo, hi = month_bounds(month, uow.settings.timezone)
        q = q.where(UsageRecord.start < hi, UsageRecord.end > lo)
    if meter:
        q = q.where(UsageRecord.meter == plain_text(meter, "meter"))
    q = q.limit(max(1, min(limit, 1000))).offset(max(0, offset))
    return [usage_out(r) for r in uow.session.scalars(q)]
