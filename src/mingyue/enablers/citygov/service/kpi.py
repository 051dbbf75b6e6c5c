"""考核 and 综合评价: unit KPIs of a month, the composite ranking, and the month-end evaluation
that keeps the ranking as it was and moves the month's closed cases to 综合评价."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from mingyue.enablers.citygov.engine.kpi import TaskFacts, rank_units
from mingyue.enablers.citygov.models_cases import CitygovCase, CitygovEvaluation, CitygovTask
from mingyue.enablers.citygov.schemas import KpiOut, UnitKpiOut
from mingyue.sdk import SYSTEM, Actor, JobContext, UnitOfWork, check, month_bounds, now, transition
from mingyue.sdk.errors import InvalidInput

from .common import calendar, centre_org, kpi_weights, org_name, platform_scope
from .registry import unit_names

PERIOD_RE = re.compile(r"^(20\d\d)-(0[1-9]|1[0-2])$")


def bounds(period: str, uow: UnitOfWork) -> tuple[datetime, datetime]:
    """Return the UTC start and end of a month ``YYYY-MM`` in the city's zone."""
    if not isinstance(period, str) or not PERIOD_RE.match(period):
        raise InvalidInput("citygov.kpi.bad_period", "the period is YYYY-MM", field="period")
    return month_bounds(period, uow.settings)


def previous_month(at: datetime, uow: UnitOfWork) -> str:
    """Return the month before the local month of ``at`` (``YYYY-MM``)."""
    local = at.astimezone(ZoneInfo(uow.settings.timezone)).replace(day=1) - timedelta(days=1)
    return local.strftime("%Y-%m")


def task_facts(uow: UnitOfWork, start: datetime, end: datetime) -> list[TaskFacts]:
    """Return the facts of the tasks dispatched in [start, end) the caller's scope reaches."""
    cal = calendar(uow.settings)
    rows = uow.session.scalars(
        select(CitygovTask).where(
            CitygovTask.dispatched_at >= start,
            CitygovTask.dispatched_at < end,
            CitygovTask.status != "returned",
        )
    )
    return [
        TaskFacts(
            unit_org_id=t.organization_id,
            dispatched_at=t.dispatched_at,
            due_at=t.due_at,
            closed_at=t.closed_at,
            fed_back_at=t.fed_back_at,
            on_time=t.on_time,
            verified_on_time=t.verified_on_time,
            feedback_count=t.feedback_count,
            rework_count=t.rework_count,
            handle_hours=round(cal.elapsed(t.dispatched_at, t.fed_back_at, t.limit_unit), 2)
            if t.closed_at is not None and t.fed_back_at is not None
            else None,
        )
        for t in rows
    ]


def compute(uow: UnitOfWork, period: str) -> KpiOut:
    """Rank the units of a period over what the unit of work's scope reaches."""
    start, end = bounds(period, uow)
    as_of = min(now(), end)
    ranked = rank_units(task_facts(uow, start, end), as_of=as_of, weights=kpi_weights(uow.settings))
    names = unit_names(uow)
    return KpiOut(
        period=period,
        units=[
            UnitKpiOut(
                unit=names.get(k.org_id) or org_name(uow, k.org_id),
                org_id=k.org_id,
                registered=k.registered,
                closed=k.closed,
                closed_on_time_rate=k.closed_on_time_rate,
                close_rate=k.close_rate,
                rework_rate=k.rework_rate,
                overdue=k.overdue,
                avg_handle_hours=k.avg_handle_hours,
                verify_on_time_rate=k.verify_on_time_rate,
                score=k.score,
                rank=k.rank,
            )
            for k in ranked
        ],
    )


def unit_kpis(*, uow: UnitOfWork, actor: Actor, period: str) -> KpiOut:
    """Return the period's ranking as the caller may see it (a unit's admin: their own unit)."""
    check(actor, "citygov.kpi.read")
    return compute(uow, period)


def evaluations(*, uow: UnitOfWork, actor: Actor) -> list[dict[str, Any]]:
    """Return the kept month-end rankings, newest first."""
    check(actor, "citygov.kpi.read")
    rows = uow.session.scalars(select(CitygovEvaluation).order_by(CitygovEvaluation.period.desc()))
    return [
        {
            "period": r.period,
            "computed_at": r.computed_at,
            "units": r.units,
            "cases_evaluated": r.cases_evaluated,
        }
        for r in rows
    ]


def evaluate_period(uow: UnitOfWork, period: str) -> dict[str, Any]:
    """Keep a month's ranking and move its closed cases to 综合评价 (once per month)."""
    start, end = bounds(period, uow)
    centre = centre_org(uow)
    kept = uow.session.scalars(
        select(CitygovEvaluation).where(
            CitygovEvaluation.organization_id == centre.id, CitygovEvaluation.period == period
        )
    ).first()
    if kept is not None:
        return {"period": period, "already": True, "cases_evaluated": kept.cases_evaluated}
    out = compute(uow, period)
    closed = uow.session.scalars(
        select(CitygovCase).where(
            CitygovCase.stage == "closed",
            CitygovCase.closed_at >= start,
            CitygovCase.closed_at < end,
        )
    ).all()
    for row in closed:
        transition(uow=uow, case_id=row.case_id, name="evaluate", actor=SYSTEM)
    weights = kpi_weights(uow.settings)
    uow.session.add(
        CitygovEvaluation(
            organization_id=centre.id,
            period=period,
            computed_at=now(),
            weights=weights,
            units=[u.model_dump() for u in out.units],
            cases_evaluated=len(closed),
        )
    )
    uow.flush()
    uow.audit(
        "citygov.kpi.evaluated",
        f"citygov_evaluation:{period}",
        {"period": period, "units": len(out.units), "cases": len(closed), "weights": weights},
        organization_id=centre.id,
    )
    return {
        "period": period,
        "already": False,
        "units": len(out.units),
        "cases_evaluated": len(closed),
    }


def run_evaluation_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Evaluate a month (``params["period"]``, default: last month) — the month-end schedule."""
    with ctx.unit_of_work() as uow, platform_scope(uow, "evaluate the month's units", record=False):
        period = str(params.get("period") or previous_month(now(), uow))
        ctx.progress(10, period)
        result = evaluate_period(uow, period)
        ctx.progress(100, period)
        return result
