"""Console: the jobs page (progress bars refreshed by htmx), one job's page, the cancel button."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mingyue.core import jobs
from mingyue.core.tenancy.access import Actor, can
from mingyue.core.uow import unit_of_work
from mingyue.web.console import (
    ConsoleActor,
    csrf_protect,
    form_done,
    form_once,
    new_form_key,
    render,
    safe_next,
)

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
        "form_key": new_form_key(),
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
    request: Request,
    actor: ConsoleActor,
    form_key: Annotated[str, Form(max_length=64)] = "",
    seconds: Annotated[float, Form(ge=0, le=600)] = 10.0,
) -> Response:
    """Queue a self-test job (a live progress bar to watch) and show it; a repeat starts none."""
    with unit_of_work(actor, request.app.state.settings) as uow:
        if (seen := form_once(uow, actor, form_key)) is not None:
            return RedirectResponse(seen, status_code=303)
        job = jobs.submit(
            uow=uow, actor=actor, kind="core.selftest", params={"seconds": seconds, "steps": 20}
        )
        location = f"/jobs/{job.id}"
        form_done(uow, form_key, location)
    return RedirectResponse(location, status_code=303)


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


@router.get("/jobs/{job_id}/status", response_class=HTMLResponse)
def job_status(
    request: Request,
    job_id: JobId,
    actor: ConsoleActor,
    since: Annotated[int, Query(ge=0, le=2**53)] = 0,
    done: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Answer the live status box of a job (``_live.html``) that object pages poll.

    When the job ended after the polling page was rendered (``since``, ms), the page reloads
    once (``HX-Refresh``), or the box is replaced by the ``done`` fragment (a same-site path).
    """
    with unit_of_work(actor, request.app.state.settings) as uow:
        job = jobs.get_job(uow=uow, actor=actor, job_id=job_id)
    done_url = safe_next(done) if done else None
    done_url = done_url if done_url and done_url != "/" else None
    # A second of slack: the page may have read its data just before the job ended.
    ended_after_render = (
        job.finished
        and job.finished_at is not None
        and since > 0
        and job.finished_at.timestamp() * 1000 > since - 1000
    )
    resp = render(
        request,
        "jobs/_status.html",
        {"job": job, "done_url": done_url, "since": since, "swap_done": ended_after_render},
    )
    if ended_after_render and done_url is None:
        resp.headers["HX-Refresh"] = "true"
    return resp


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
