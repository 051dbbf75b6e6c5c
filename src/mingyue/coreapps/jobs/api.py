"""API: background jobs — list, show, cancel, and queue a self-test."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from mingyue.core import jobs
from mingyue.core.tenancy.access import Actor
from mingyue.web.deps import UoW, require

router = APIRouter(tags=["jobs"])

JobId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Job id")]
Status = Annotated[str | None, Query(description="queued, running, succeeded, failed or cancelled")]
Kind = Annotated[str | None, Query(max_length=120, pattern=r"^[a-z0-9_.]+$")]


@router.get("/jobs", operation_id="jobs-list")
def list_jobs(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.job.read"))],
    status: Status = None,
    kind: Kind = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[jobs.JobOut]:
    """List the jobs the caller may see, newest first."""
    return jobs.list_jobs(
        uow=uow, actor=actor, status=status, kind=kind, limit=limit, offset=offset
    )


class JobIn(BaseModel):
    """A job to queue: a kind open to direct submission and its parameters."""

    kind: str = Field(max_length=120, pattern=r"^[a-z0-9_.]+$", examples=["core.selftest"])
    params: dict[str, Any] = Field(default_factory=dict)


@router.post("/jobs", operation_id="jobs-submit", status_code=201)
def submit_job(
    body: JobIn, uow: UoW, actor: Annotated[Actor, Depends(require("core.job.submit"))]
) -> jobs.JobOut:
    """Queue a job of a directly submittable kind (core.selftest); others come from services."""
    return jobs.submit(uow=uow, actor=actor, kind=body.kind, params=body.params)


@router.get("/jobs/{job_id}", operation_id="jobs-get")
def get_job(
    job_id: JobId, uow: UoW, actor: Annotated[Actor, Depends(require("core.job.read"))]
) -> jobs.JobOut:
    """Show one job: status, progress, result or error."""
    return jobs.get_job(uow=uow, actor=actor, job_id=job_id)


@router.post("/jobs/{job_id}/cancel", operation_id="jobs-cancel")
def cancel_job(
    job_id: JobId, uow: UoW, actor: Annotated[Actor, Depends(require("core.job.cancel"))]
) -> jobs.JobOut:
    """Cancel a queued job, or ask a running one to stop (409 when it has already ended)."""
    return jobs.request_cancel(uow=uow, actor=actor, job_id=job_id)
