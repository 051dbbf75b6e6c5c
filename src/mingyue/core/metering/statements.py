"""Monthly statements (immutable once issued) and usage summaries for the console.

A statement gathers every usage piece of the month (``breakdown`` rows whose local month is the
statement's) into lines per meter x band x unit price. Each line's gross and free-pool credit are
rounded to the cent (half up) and the line amount is their difference, so the statement total is
exactly the sum of its lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import select

from mingyue.core import clock
from mingyue.core.errors import Conflict, NotFound
from mingyue.core.metering.models import (
    Dec,
    Statement,
    StatementLine,
    StatementLineOut,
    StatementOut,
    UsageRecord,
)
from mingyue.core.metering.tou import BANDS, UNPRICED, month_bounds
from mingyue.core.tenancy.access import Actor, check
from mingyue.core.tenancy.identity import Organization
from mingyue.core.uow import UnitOfWork

if TYPE_CHECKING:
    from mingyue.core.jobs.execution import JobContext

CENT = Decimal("0.01")
_ZERO = Decimal(0)
_BAND_ORDER = {b: i for i, b in enumerate((*BANDS, UNPRICED))}


def _cents(d: Decimal) -> Decimal:
    return d.quantize(CENT, ROUND_HALF_UP)


LineKey = tuple[str, str, str, Decimal | None]  # meter, band, unit, unit price


def line_amounts(
    quantity: Decimal, free: Decimal, price: Decimal | None
) -> tuple[Decimal, Decimal]:
    """Return a statement line's gross and free credit, each rounded to the fen (half up)."""
    if price is None:
        return _ZERO, _ZERO
    return _cents(quantity * price), _cents(free * price)


def statement_total(pieces: Iterable[tuple[LineKey, Decimal, Decimal]]) -> Decimal:
    """Return what a statement charges for usage pieces ``(key, quantity, free)``: pieces are
    summed per line key, then each line's gross and credit are rounded (as issued statements)."""
    acc: dict[LineKey, list[Decimal]] = {}
    for key, q, free in pieces:
        row = acc.setdefault(key, [_ZERO, _ZERO])
        row[0] += q
        row[1] += free
    total = _ZERO
    for (_m, _b, _u, price), (q, free) in acc.items():
        gross, credit = line_amounts(q, free, price)
        total += gross - credit
    return total


def _records(uow: UnitOfWork, organization_id: int | None, month: str) -> list[UsageRecord]:
    lo, hi = month_bounds(month, uow.settings.timezone)
    q = select(UsageRecord).where(UsageRecord.start < hi, UsageRecord.end > lo)
    if organization_id is not None:
        q = q.where(UsageRecord.organization_id == organization_id)
    return list(uow.session.scalars(q.order_by(UsageRecord.start, UsageRecord.id)))


def _out(st: Statement, lines: list[StatementLine]) -> StatementOut:
    out = StatementOut.model_validate(st)
    out.lines = [
        StatementLineOut.model_validate(ln) for ln in sorted(lines, key=lambda x: x.position)
    ]
    return out


def generate_statement(
    *, uow: UnitOfWork, actor: Actor | None = None, organization_id: int, month: str
) -> StatementOut:
    """Issue the statement of an ended month: lines per meter x band x price, free credit, total."""
    who = actor if actor is not None else uow.actor
    check(who, "core.statement.generate")
    _lo, hi = month_bounds(month, uow.settings.timezone)
    if hi > clock.now():  # the one clock (frozen in tests), never the wall clock directly
        raise Conflict(
            "core.billing.month_open",
            f"month {month} has not ended yet",
            field="month",
            month=month,
        )
    if uow.session.scalars(
        select(Statement.id).where(
            Statement.organization_id == organization_id, Statement.month == month
        )
    ).first():
        raise Conflict(
            "core.billing.already_issued",
            f"the statement of {month} was issued",
            field="month",
            month=month,
        )
    if uow.session.get(Organization, organization_id) is None:
        raise NotFound("core.not_found", "organization not found", field="organization_id")
    records = _records(uow, organization_id, month)
    acc: dict[LineKey, list[Decimal]] = {}
    currencies: set[str] = set()
    for r in records:
        if r.currency:
            currencies.add(r.currency)
        for b in r.breakdown:
            if b["month"] != month:
                continue
            price = None if b["unit_price"] is None else Decimal(b["unit_price"])
            q, free = Decimal(b["quantity"]), Decimal(b["free"])
            row = acc.setdefault((r.meter, b["band"], r.unit, price), [_ZERO, _ZERO])
            row[0] += q
            row[1] += free
    if len(currencies) > 1:
        raise Conflict(
            "core.billing.mixed_currency",
            f"usage of {month} is priced in {sorted(currencies)}",
            field="month",
        )
    currency = currencies.pop() if currencies else uow.settings.currency
    st = Statement(
        organization_id=organization_id,
        month=month,
        currency=currency,
        gross=_ZERO,
        free_credit=_ZERO,
        total=_ZERO,
        issued_by=who.label(),
        usage_count=len(records),
    )
    lines: list[StatementLine] = []
    keys = sorted(acc, key=lambda k: (k[0], _BAND_ORDER.get(k[1], 99), k[3] or _ZERO, k[2]))
    for pos, key in enumerate(keys, start=1):
        meter, band, unit, price = key
        q, free = acc[key]
        gross, credit = line_amounts(q, free, price)
        lines.append(
            StatementLine(
                organization_id=organization_id,
                position=pos,
                meter=meter,
                band=band,
                unit=unit,
                quantity=q,
                free_quantity=free,
                unit_price=price,
                gross=gross,
                free_credit=credit,
                amount=gross - credit,
            )
        )
    st.gross = sum((ln.gross for ln in lines), _ZERO)
    st.free_credit = sum((ln.free_credit for ln in lines), _ZERO)
    st.total = st.gross - st.free_credit
    uow.session.add(st)
    uow.flush()
    for ln in lines:
        ln.statement_id = st.id
        uow.session.add(ln)
    uow.flush()
    uow.audit(
        "core.statement.issued",
        f"core_statement:{st.id}",
        {
            "month": month,
            "currency": currency,
            "gross": str(st.gross),
            "free_credit": str(st.free_credit),
            "total": str(st.total),
            "lines": len(lines),
            "usage_records": [r.id for r in records],
        },
        organization_id=organization_id,
    )
    return _out(st, lines)


def generate_due_statements(
    *, uow: UnitOfWork, actor: Actor | None = None, month: str
) -> list[StatementOut]:
    """Issue the month's statement of every organization with usage in it and none issued yet."""
    who = actor if actor is not None else uow.actor
    check(who, "core.statement.generate")
    with uow.unscoped(reason=f"billing run {month}"):
        return [
            generate_statement(uow=uow, actor=who, organization_id=org, month=month)
            for org in _due_organizations(uow, month)
        ]


def _due_organizations(uow: UnitOfWork, month: str) -> list[int]:
    lo, hi = month_bounds(month, uow.settings.timezone)
    with_usage = set(
        uow.session.scalars(
            select(UsageRecord.organization_id)
            .where(UsageRecord.start < hi, UsageRecord.end > lo)
            .distinct()
        )
    )
    issued = set(
        uow.session.scalars(select(Statement.organization_id).where(Statement.month == month))
    )
    return sorted(with_usage - issued)


def run_billing_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Issue a month's due statements one organization at a time (job ``core.billing.run``)."""
    month = str(params.get("month", ""))
    if month == "previous":  # the scheduled close (core.billing.month_close): the month just ended
        month = (
            clock.local_now(ctx.settings.timezone).replace(day=1) - timedelta(days=1)
        ).strftime("%Y-%m")
    with ctx.unit_of_work() as uow:
        check(uow.actor, "core.statement.generate")
        with uow.unscoped(reason=f"billing run {month}"):
            orgs = _due_organizations(uow, month)
    issued: list[int] = []
    refused: dict[str, str] = {}
    for i, org in enumerate(orgs, start=1):
        if ctx.cancelled():
            return {"month": month, "statements": issued, "refused": refused, "cancelled": True}
        try:
            # one transaction per organization: one refusal does not undo the others' statements
            with ctx.unit_of_work() as uow:
                issued.append(generate_statement(uow=uow, organization_id=org, month=month).id)
        except Conflict as exc:
            refused[str(org)] = exc.key
        ctx.progress(100 * i / len(orgs), f"{i}/{len(orgs)}")
    return {"month": month, "statements": issued, "refused": refused}


def list_statements(
    *,
    uow: UnitOfWork,
    actor: Actor | None = None,
    organization_id: int | None = None,
    month: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[StatementOut]:
    """List issued statements in the actor's scope, newest month first (without lines)."""
    check(actor if actor is not None else uow.actor, "core.statement.read")
    q = select(Statement).order_by(Statement.month.desc(), Statement.id.desc())
    if organization_id is not None:
        q = q.where(Statement.organization_id == organization_id)
    if month is not None:
        month_bounds(month)
        q = q.where(Statement.month == month)
    q = q.limit(max(1, min(limit, 1000))).offset(max(0, offset))
    return [StatementOut.model_validate(s) for s in uow.session.scalars(q)]


def get_statement(
    *, uow: UnitOfWork, actor: Actor | None = None, statement_id: int
) -> StatementOut:
    """Return one statement with its lines (NotFound when absent or foreign)."""
    check(actor if actor is not None else uow.actor, "core.statement.read")
    st = uow.session.scalars(select(Statement).where(Statement.id == statement_id)).first()
    if st is None:
        raise NotFound("core.not_found", "statement not found")
    lines = list(
        uow.session.scalars(select(StatementLine).where(StatementLine.statement_id == st.id))
    )
    return _out(st, lines)


class MeterTotal(BaseModel):
    """Quantity and gross amount of one meter in a month."""

    meter: str
    unit: str
    quantity: Dec
    free_quantity: Dec
    amount: Dec


class UsageSummary(BaseModel):
    """A month of usage: per meter totals and a daily quantity series per band (for charts)."""

    month: str
    currency: str
    days: list[str]
    bands: dict[str, list[Dec]]
    amount_by_day: list[Dec]
    # Amount per day of each meter (exact): a chart stacks money, never quantities of
    # different units (CPU-seconds and API calls) on one axis.
    amount_by_meter: dict[str, list[Dec]] = {}
    meters: list[MeterTotal]
    records: int


def month_to_date(*, uow: UnitOfWork, organization_id: int, month: str) -> Decimal:
    """Return what the month's statement would charge if it were issued now (lines rounded as
    issued statements are), for an organization in the reader's scope."""
    check(uow.actor, "core.usage.read")
    pieces: list[tuple[LineKey, Decimal, Decimal]] = []
    for r in _records(uow, organization_id, month):
        for b in r.breakdown:
            if b["month"] != month:
                continue
            price = None if b["unit_price"] is None else Decimal(b["unit_price"])
            pieces.append(
                ((r.meter, b["band"], r.unit, price), Decimal(b["quantity"]), Decimal(b["free"]))
            )
    return statement_total(pieces)


def usage_summary(
    *, uow: UnitOfWork, actor: Actor | None = None, organization_id: int | None = None, month: str
) -> UsageSummary:
    """Summarize a month of usage in the actor's scope by meter and by day and band."""
    check(actor if actor is not None else uow.actor, "core.usage.read")
    tz = ZoneInfo(uow.settings.timezone)
    lo, hi = month_bounds(month, uow.settings.timezone)
    first = lo.astimezone(tz).date()
    n_days = (hi.astimezone(tz).date() - first).days
    days = [(first + timedelta(days=i)).isoformat() for i in range(n_days)]
    bands: dict[str, list[Dec]] = {b: [_ZERO] * n_days for b in (*BANDS, UNPRICED)}
    amounts = [_ZERO] * n_days
    totals: dict[tuple[str, str], list[Dec]] = {}
    per_meter: dict[str, list[Dec]] = {}
    records = _records(uow, organization_id, month)
    for r in records:
        t = totals.setdefault((r.meter, r.unit), [_ZERO, _ZERO, _ZERO])
        m_days = per_meter.setdefault(r.meter, [_ZERO] * n_days)
        for b in r.breakdown:
            if b["month"] != month:
                continue
            day: date = datetime.fromisoformat(b["start"]).astimezone(tz).date()
            i = (day - first).days
            q, amount = Decimal(b["quantity"]), Decimal(b["amount"])
            bands[b["band"]][i] += q
            amounts[i] += amount
            m_days[i] += amount
            t[0] += q
            t[1] += Decimal(b["free"])
            t[2] += amount
    if not any(bands[UNPRICED]):
        del bands[UNPRICED]
    return UsageSummary(
        month=month,
        currency=uow.settings.currency,
        days=days,
        bands=bands,
        amount_by_day=[_cents(a) for a in amounts],
        amount_by_meter={m: [_cents(a) for a in v] for m, v in sorted(per_meter.items())},
        meters=[
            MeterTotal(meter=m, unit=u, quantity=v[0], free_quantity=v[1], amount=_cents(v[2]))
            for (m, u), v in sorted(totals.items())
        ],
        records=len(records),
    )
