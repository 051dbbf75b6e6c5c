"""考核排名: each unit's KPIs of a month, the composite ranking (综合评价) and the month-end
evaluation (a job whose status the page shows live)."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from mingyue.enablers.citygov.service import kpi
from mingyue.sdk import Actor, UnitOfWork, can, check, enqueue, now, unit_of_work
from mingyue.web.console import ConsoleActor, csrf_protect, new_form_key, run_once, settings_of

from .common import Key, page

router = APIRouter(include_in_schema=False)


def _kpi(request: Request, actor: Actor, period: str, job_id: int | None = None) -> Response:
    with unit_of_work(actor, settings_of(request)) as uow:
        out = kpi.unit_kpis(uow=uow, actor=actor, period=period)
        kept = kpi.evaluations(uow=uow, actor=actor)
    return page(
        request,
        "citygov/kpi.html",
        {
            "k": out,
            "period": period,
            "kept": [e["period"] for e in kept],
            "can_evaluate": can(actor, "citygov.case.manage"),
            "job_id": job_id,
            "form_key": new_form_key(),
            "chart": {
                "units": [u.unit for u in out.units],
                "scores": [u.score for u in out.units],
                "on_time": [round(u.closed_on_time_rate * 100, 1) for u in out.units],
            },
        },
    )


PeriodQ = Annotated[str | None, Query(pattern=r"^20\d\d-(0[1-9]|1[0-2])$")]


@router.get("/kpi", response_class=HTMLResponse)
def kpi_page(
    request: Request,
    actor: ConsoleActor,
    period: PeriodQ = None,
    job: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """考核排名: each unit's figures of a month and the composite ranking (综合评价)."""
    month = period or now().astimezone(ZoneInfo(settings_of(request).timezone)).strftime("%Y-%m")
    return _kpi(request, actor, month, job)


@router.post("/kpi/evaluate", dependencies=[Depends(csrf_protect)])
def evaluate(
    request: Request,
    actor: ConsoleActor,
    form_key: Key = "",
    period: Annotated[str, Form(pattern=r"^20\d\d-(0[1-9]|1[0-2])$")] = "",
) -> Response:
    """Start the month-end evaluation of a month (a job; its status shows live)."""

    def work(uow: UnitOfWork) -> str:
        check(actor, "citygov.case.manage")
        job = enqueue(uow=uow, kind="citygov.evaluate", params={"period": period})
        return f"/citygov/kpi?period={period}&job={job.id}"

    return run_once(request, actor, form_key, work)
