"""Console: usage this month with a chart, statements, tariffs; issuing a statement."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from mingyue.core import metering
from mingyue.core.metering.tou import month_bounds
from mingyue.core.tenancy.access import can, check, scope_for
from mingyue.core.tenancy.identity import Organization
from mingyue.core.uow import unit_of_work
from mingyue.web.console import ConsoleActor, csrf_protect, render

router = APIRouter(include_in_schema=False)
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


def _display(amount: Decimal) -> Decimal:
    # the stored amount is exact (quantity x price); people read it to 1/100 fen
    return amount.quantize(Decimal("0.0001"), ROUND_HALF_UP)


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
    with unit_of_work(actor, settings) as uow:
        summary = metering.usage_summary(uow=uow, month=month)
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
    chart = {
        "days": [d[8:] for d in summary.days],
        "bands": [[b, [str(v) for v in vals]] for b, vals in summary.bands.items()],
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
            "display": _display,
            "orgs": orgs,
            "gross": sum((m.amount for m in summary.meters), Decimal(0)),
        },
    )


@router.get("/billing/statements/{statement_id}", response_class=HTMLResponse)
def statement_page(request: Request, statement_id: int, actor: ConsoleActor) -> Response:
    """Show one issued statement with its lines."""
    check(actor, "core.statement.read")
    with unit_of_work(actor, request.app.state.settings) as uow:
        st = metering.get_statement(uow=uow, statement_id=statement_id)
        org = uow.session.get(Organization, st.organization_id)
    return render(
        request,
        "billing/statement.html",
        {
            "st": st,
            "org_name": org.name if org else "",
            "tz": ZoneInfo(request.app.state.settings.timezone),
        },
    )


@router.post("/billing/statements", dependencies=[Depends(csrf_protect)])
def issue_statement(
    request: Request,
    actor: ConsoleActor,
    organization_id: Annotated[int, Form()],
    month: Annotated[str, Form(pattern=MONTH)],
) -> Response:
    """Issue an organization's statement of an ended month, then show it."""
    check(actor, "core.statement.generate")
    with unit_of_work(actor, request.app.state.settings) as uow:
        st = metering.generate_statement(uow=uow, organization_id=organization_id, month=month)
    return RedirectResponse(f"/billing/statements/{st.id}", status_code=303)
