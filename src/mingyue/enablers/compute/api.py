"""REST routes of the compute enabler (mounted at /api/compute). Thin: parse → service → schema."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel

from mingyue.sdk import Actor
from mingyue.web.deps import UoW, require

from . import service
from .schemas import JobOut, PoolIn, PoolOut, ReconcileOut, SubmitOut, UsageOut

router = APIRouter(tags=["compute"])


class QuotaSettingIn(BaseModel):
    """What to do when the free quota is used up."""

    on_exhausted: Literal["stop", "pay"]


class LogsOut(BaseModel):
    """The end of a job's output."""

    job_id: int
    logs: str


@router.post("/pools", operation_id="compute-add_pool", status_code=201)
def add_pool(
    body: PoolIn, uow: UoW, actor: Annotated[Actor, Depends(require("compute.pool.manage"))]
) -> PoolOut:
    """Register a pool (its capacity is read from its engine)."""
    return service.add_pool(uow=uow, pool=body)


@router.get("/pools", operation_id="compute-list_pools")
def list_pools(
    uow: UoW, actor: Annotated[Actor, Depends(require("compute.pool.read"))], refresh: bool = False
) -> list[PoolOut]:
    """List pools with capacity and utilisation."""
    return service.list_pools(uow=uow, refresh=refresh)


@router.post("/pools/{name}/suspend", operation_id="compute-suspend_pool")
def suspend_pool(
    name: str, uow: UoW, actor: Annotated[Actor, Depends(require("compute.pool.manage"))]
) -> PoolOut:
    """Suspend a pool: running jobs finish, new ones go elsewhere."""
    return service.suspend_pool(uow=uow, name=name, suspended=True)


@router.post("/pools/{name}/resume", operation_id="compute-resume_pool")
def resume_pool(
    name: str, uow: UoW, actor: Annotated[Actor, Depends(require("compute.pool.manage"))]
) -> PoolOut:
    """Resume a suspended pool."""
    return service.suspend_pool(uow=uow, name=name, suspended=False)


@router.post("/jobs", operation_id="compute-submit_job", status_code=201)
def submit_job(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("compute.job.submit"))],
    spec: Annotated[dict[str, Any], Body()],
    policy: Literal["cost", "soonest", "fifo"] = "cost",
) -> SubmitOut:
    """Submit a job spec: it is matched to a pool and dispatched to its engine."""
    return service.submit_job(uow=uow, spec=spec, policy=policy)


@router.get("/jobs", operation_id="compute-list_jobs")
def list_jobs(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("compute.job.read"))],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[JobOut]:
    """List jobs, newest first."""
    return service.list_jobs(uow=uow, limit=limit)


@router.get("/jobs/{job_id}", operation_id="compute-job_status")
def job_status(
    job_id: int, uow: UoW, actor: Annotated[Actor, Depends(require("compute.job.read"))]
) -> JobOut:
    """Return a job's state, pool, seconds, cost and free quota used."""
    return service.job_status(uow=uow, job_id=job_id)


@router.post("/jobs/{job_id}/cancel", operation_id="compute-cancel_job")
def cancel_job(
    job_id: int, uow: UoW, actor: Annotated[Actor, Depends(require("compute.job.cancel"))]
) -> JobOut:
    """Cancel a job (409 when it already ended)."""
    return service.cancel_job(uow=uow, job_id=job_id)


@router.get("/jobs/{job_id}/logs", operation_id="compute-job_logs")
def job_logs(
    job_id: int, uow: UoW, actor: Annotated[Actor, Depends(require("compute.job.read"))]
) -> LogsOut:
    """Return the end of a job's output."""
    return LogsOut(job_id=job_id, logs=service.job_logs(uow=uow, job_id=job_id))


@router.get("/usage", operation_id="compute-usage")
def usage(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("compute.usage.read"))],
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")],
) -> UsageOut:
    """Return the month's statement lines: each job's seconds, windows and prices."""
    return service.usage(uow=uow, month=month)


@router.put("/settings/quota", operation_id="compute-set_quota_behaviour")
def set_quota(
    body: QuotaSettingIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("compute.settings.manage"))],
) -> QuotaSettingIn:
    """Choose what happens when the free quota is used up (stop or pay)."""
    return QuotaSettingIn(
        on_exhausted=service.set_quota_behaviour(uow=uow, on_exhausted=body.on_exhausted)
    )


@router.post("/reconcile", operation_id="compute-reconcile")
def reconcile(
    uow: UoW, actor: Annotated[Actor, Depends(require("compute.reconcile"))]
) -> ReconcileOut:
    """Run one reconciler pass now (it also runs as the core job ``compute.reconcile``)."""
    return service.reconcile(uow=uow)
