"""Console: the jobs page (progress bars refreshed by htmx), one job's page, the cancel button."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mingyue.core import jobs
from mingyue.core.tenancy.access import Actor, can
from mingyue.core.uow import unit_of_work
from mingyue.web.console import ConsoleActor, csrf_protect, render

router = APIRouter(include_in_schema=False)

JobId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _clock(request: Request) -> Any:
    tz = ZoneInfo(request.app.state.settings.timezone)

    def fmt(value: datetime | None) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if value else ""

    return fmt


def _listing(request: Request, actor: Actor, status: str | None) -> dict[str, Any]:
    status = status if status in jobs.STATUSES else None
    with unit_of_work(actor, request.app.state.settings) as uow:
        rows = jobs.list_jobs(uow=uow, actor=actor, status=status, limit=100)
    active = any(not r.finished for r in rows)
    return {
        "rows": rows,
        "status": status,
        "statuses": jobs.STATUSES,
        "active": active,
        "can_cancel": can(actor, "core.job.cancel"),
        "fmt_time": _clock(request),
        "can_submit": can(actor, "core.job.submit")
        and actor.has_role(*jobs.SUBMITTABLE["core.selftest"]),
    }


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, actor: ConsoleActor, status: str | None = None) -> Response:
    """Show the jobs list with progress bars."""
    return render(request, "jobs/index.html", _listing(request, actor, status))


@router.get("/jobs/table", response_class=HTMLResponse)
def jobs_table(request: Request, actor: ConsoleActor, status: str | None = None) -> Response:
    """Answer the table fragment that htmx polls while jobs are active."""
    return render(request, "jobs/_table.html", _listing(request, actor, status))


@router.post("/jobs/selftest", dependencies=[Depends(csrf_protect)])
def start_selftest(
    request: Request, actor: ConsoleActor, seconds: Annotated[float, Form(ge=0, le=600)] = 10.0
) -> Response:
    """Queue a self-test job (a live progress bar to watch) and show the list."""
    with unit_of_work(actor, request.app.state.settings) as uow:
        jobs.submit(
            uow=uow, actor=actor, kind="core.selftest", params={"seconds": seconds, "steps": 20}
        )
    return RedirectResponse("/jobs", status_code=303)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: JobId, actor: ConsoleActor) -> Response:
    """Show one job: parameters, progress, result or error."""
    with unit_of_work(actor, request.app.state.settings) as uow:
        job = jobs.get_job(uow=uow, actor=actor, job_id=job_id)
    return render(
        request,
        "jobs/detail.html",
        {"job": job, "fmt_time": _clock(request), "can_cancel": can(actor, "core.job.cancel")},
    )


@router.post("/jobs/{job_id}/cancel", dependencies=[Depends(csrf_protect)])
def cancel(request: Request, job_id: JobId, actor: ConsoleActor) -> Response:
    """Cancel a job and go back to where the button was."""
    with unit_of_work(actor, request.app.state.settings) as uow:
        jobs.request_cancel(uow=uow, actor=actor, job_id=job_id)
    if request.headers.get("hx-request"):
        return _fragment(request, actor)
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)


def _fragment(request: Request, actor: Actor) -> Response:
    return render(request, "jobs/_table.html", _listing(request, actor, None))
