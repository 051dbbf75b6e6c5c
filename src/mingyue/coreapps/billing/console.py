"""Console: usage this month with a chart, statements, tariffs; issuing a statement."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from mingyue.core import metering, registries
from mingyue.core.errors import Conflict
from mingyue.core.metering.statements import month_to_date
from mingyue.core.metering.tou import month_bounds
from mingyue.core.tenancy.access import Actor, can, check, scope_for
from mingyue.core.tenancy.identity import Organization
from mingyue.core.uow import UnitOfWork, unit_of_work
from mingyue.i18n import t
from mingyue.web.console import (
    ConsoleActor,
    csrf_protect,
    form_done,
    form_once,
    locale_of,
    new_form_key,
    render,
)

router = APIRouter(include_in_schema=False)
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


def meter_label(meter: str, locale: str) -> str:
    """Return a meter as people read it: the catalogue's ``meter.<name>``, else its description."""
    key = "meter." + meter
    found = t(key, locale)
    if found != key:
        return found
    return registries._meters.get(meter, ("", meter))[1] or meter


def unit_label(unit: str, locale: str) -> str:
    """Return a unit of measure as people read it (``unit.<unit>``, else the unit)."""
    key = "unit." + unit
    found = t(key, locale)
    return unit.replace("_", " ") if found == key else found


def _free_pools(
    uow: UnitOfWork, actor: Actor, meters: list[str], month: str
) -> list[dict[str, Any]]:
    """Return the actor's organization's free pools of the month's metered items."""
    if actor.organization_id is None or actor.org_kind != "enterprise":
        return []
    out = []
    for meter in meters:
        pool = metering.get_free_pool(
            uow=uow, organization_id=actor.organization_id, meter=meter, month=month
        )
        out.append({"meter": meter, "granted": pool.granted, "used": pool.used, "pool": pool})
    return out


def _this_month(tz: str) -> str:
    now = datetime.now(UTC).astimezone(ZoneInfo(tz))
    return f"{now.year:04d}-{now.month:02d}"


def _shift(month: str, delta: int) -> str:
    y, m = (int(x) for x in month.split("-"))
    idx = y * 12 + (m - 1) + delta
    return f"{idx // 12:04d}-{idx % 12 + 1:02d}"


@router.get("/billing", response_class=HTMLResponse)
def billing_page(
    request: Request, actor: ConsoleActor, month: Annotated[str | None, Query(pattern=MONTH)] = None
) -> Response:
    """Show a month's usage (chart by day and band), usage records, statements and tariffs."""
    check(actor, "core.usage.read")
    settings = request.app.state.settings
    month = month or _this_month(settings.timezone)
    month_bounds(month, settings.timezone)
    locale = locale_of(request)
    with unit_of_work(actor, settings) as uow:
        summary = metering.usage_summary(uow=uow, month=month)
        own = actor.org_kind == "enterprise" and actor.organization_id is not None
        mtd = (
            month_to_date(uow=uow, organization_id=actor.organization_id, month=month)
            if own and actor.organization_id is not None
            else None
        )
        pools = _free_pools(uow, actor, [m.meter for m in summary.meters], month)
        usage = metering.list_usage(uow=uow, month=month, limit=50)
        statements = (
            metering.list_statements(uow=uow, limit=24) if can(actor, "core.statement.read") else []
        )
        tariffs = metering.list_tariffs(uow=uow)
        orgs = {
            o.id: o.name
            for o in uow.session.scalars(select(Organization))
            if scope_for(actor).allows(o.id)
        }
    # Money per day stacked by meter on one ¥ axis; quantities of different units are never
    # stacked together (they are listed per meter in the tiles and the table).
    chart = {
        "days": [d[8:] for d in summary.days],
        "series": [
            [meter_label(m, locale), [str(v) for v in vals]]
            for m, vals in summary.amount_by_meter.items()
        ],
        "amount": [str(a) for a in summary.amount_by_day],
    }
    return render(
        request,
        "billing/index.html",
        {
            "month": month,
            "prev_month": _shift(month, -1),
            "next_month": _shift(month, 1),
            "summary": summary,
            "usage": usage,
            "statements": statements,
            "tariffs": tariffs,
            "chart": chart,
            "tz": ZoneInfo(settings.timezone),
            "can_generate": can(actor, "core.statement.generate"),
            "can_read_statements": can(actor, "core.statement.read"),
            "orgs": orgs,
            "gross": sum((m.amount for m in summary.meters), Decimal(0)),
            "mtd": mtd,
            "pools": pools,
            "is_sme": actor.is_sme,
            "closed": month < _this_month(settings.timezone),
            "closes_on": _shift(month, 1) + "-01",
            "meter_label": lambda m: meter_label(m, locale),
            "unit_label": lambda u: unit_label(u, locale),
            "form_key": new_form_key(),
        },
    )


@router.get("/billing/statements/{statement_id}", response_class=HTMLResponse)
def statement_page(request: Request, statement_id: int, actor: ConsoleActor) -> Response:
    """Show one issued statement with its lines."""
    check(actor, "core.statement.read")
    with unit_of_work(actor, request.app.state.settings) as uow:
        st = metering.get_statement(uow=uow, statement_id=statement_id)
        org = uow.session.get(Organization, st.organization_id)
    locale = locale_of(request)
    return render(
        request,
        "billing/statement.html",
        {
            "st": st,
            "org_name": org.name if org else "",
            "meter_label": lambda m: meter_label(m, locale),
            "unit_label": lambda u: unit_label(u, locale),
        },
    )


@router.post("/billing/statements", dependencies=[Depends(csrf_protect)])
def issue_statement(
    request: Request,
    actor: ConsoleActor,
    organization_id: Annotated[int, Form()],
    month: Annotated[str, Form(pattern=MONTH)],
    form_key: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Issue an organization's statement of an ended month, then show it.

    A month that has not ended answers a page saying when it closes (the 1st of the next
    month), not a bare refusal; a repeated form issues nothing twice.
    """
    check(actor, "core.statement.generate")
    settings = request.app.state.settings
    try:
        with unit_of_work(actor, settings) as uow:
            if (seen := form_once(uow, actor, form_key)) is not None:
                return RedirectResponse(seen, status_code=303)
            st = metering.generate_statement(uow=uow, organization_id=organization_id, month=month)
            location = f"/billing/statements/{st.id}"
            form_done(uow, form_key, location)
    except Conflict as exc:
        if exc.key != "core.billing.month_open":
            raise
        return render(
            request,
            "billing/month_open.html",
            {"month": month, "closes_on": _shift(month, 1) + "-01"},
            status_code=409,
        )
    return RedirectResponse(location, status_code=303)
