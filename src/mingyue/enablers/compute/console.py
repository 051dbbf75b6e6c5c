"""Console pages of the compute enabler: pools with live capacity, jobs, submit form, quota."""

from __future__ import annotations

from typing import Annotated

import yaml
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from mingyue.sdk import can, check, get_free_pool, local_time, now, unit_of_work
from mingyue.sdk.errors import MingyueError
from mingyue.web.console import ConsoleActor, csrf_protect, render

from . import service
from .tariffs import CPU_METER

router = APIRouter(include_in_schema=False)


def _page(
    request: Request, actor: ConsoleActor, error: str | None = None, submitted: object = None
) -> Response:
    check(actor, "compute.job.read")
    with unit_of_work(actor, request.app.state.settings) as uow:
        pools = service.list_pools(uow=uow)
        jobs = service.list_jobs(uow=uow, limit=50)
        quota = None
        if actor.organization_id is not None and can(actor, "core.usage.read"):
            month = local_time(now(), uow.settings, "%Y-%m")
            quota = get_free_pool(
                uow=uow, organization_id=actor.organization_id, meter=CPU_METER, month=month
            )
    return render(
        request,
        "compute/index.html",
        {
            "pools": pools,
            "jobs": jobs,
            "quota": quota,
            "error": error,
            "submitted": submitted,
            "can_submit": can(actor, "compute.job.submit"),
            "chart": {
                "names": [p.name for p in pools],
                "util": [round(p.utilization * 100, 1) for p in pools],
            },
        },
        status_code=422 if error else 200,
    )


@router.get("", response_class=HTMLResponse)
def index(request: Request, actor: ConsoleActor) -> Response:
    """Pools, jobs (with the choice explanation and cost) and the free quota left."""
    return _page(request, actor)


@router.post("/submit", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
def submit(
    request: Request, actor: ConsoleActor, spec: Annotated[str, Form(max_length=65536)]
) -> Response:
    """Submit a job spec written in the form (YAML or JSON)."""
    check(actor, "compute.job.submit")
    try:
        data = yaml.safe_load(spec)
        with unit_of_work(actor, request.app.state.settings) as uow:
            out = service.submit_job(uow=uow, spec=data)
    except yaml.YAMLError as exc:
        return _page(request, actor, error=f"YAML: {exc}")
    except MingyueError as exc:
        return _page(request, actor, error=exc.message)
    return _page(request, actor, submitted=out)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, actor: ConsoleActor, job_id: int) -> Response:
    """One job: state, explanation, cost so far, logs."""
    check(actor, "compute.job.read")
    with unit_of_work(actor, request.app.state.settings) as uow:
        job = service.job_status(uow=uow, job_id=job_id)
        try:
            logs = service.job_logs(uow=uow, job_id=job_id)
        except MingyueError as exc:
            logs = exc.message
    return render(request, "compute/job.html", {"job": job, "logs": logs})
