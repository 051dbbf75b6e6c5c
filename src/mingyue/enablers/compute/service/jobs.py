"""Jobs: submit (validate, match, dispatch, explain), status, list, cancel, logs; and the
organization's choice when its free quota is used up."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from mingyue.enablers.compute.adapters.base import finished_error
from mingyue.enablers.compute.engine.spec import load_spec
from mingyue.enablers.compute.engine.states import JobState
from mingyue.enablers.compute.models import ComputeJob, ComputeOrgSetting
from mingyue.enablers.compute.schemas import JobOut, SubmitOut
from mingyue.enablers.compute.tariffs import CPU_METER
from mingyue.sdk import UnitOfWork, check, get_free_pool, get_visible, local_time, now, require_org
from mingyue.sdk.errors import Conflict, InvalidInput, QuotaExceeded

from .dispatch import dispatch
from .engines import adapter_for
from .pools import all_pools, max_runtime, pool_row
from .reconcile import ensure_reconciler, reconcile_jobs

_SLOT = {"queued": "reserved", "running": "active", "succeeded": "ended"}


def _job_out(job: ComputeJob) -> JobOut:
    slot = _SLOT.get(job.state, job.state) if (job.spec or {}).get("reservation") else None
    return JobOut(
        job_id=job.id,
        name=job.name,
        state=job.state,
        pool=job.pool,
        slot=slot,
        seconds=job.seconds,
        cost=job.cost,
        free_quota_used=job.free_quota_used,
        estimated_cost=job.estimated_cost,
        reason=job.reason,
        explanation=job.explanation,
        created_at=job.created_at,
        started_at=job.started_at,
        ended_at=job.ended_at,
        exit_code=job.exit_code,
    )


def _quota_gate(uow: UnitOfWork, org_id: int) -> None:
    setting = uow.session.scalars(
        select(ComputeOrgSetting).where(ComputeOrgSetting.organization_id == org_id)
    ).first()
    if setting is None or setting.on_quota_exhausted != "stop":
        return
    month = local_time(now(), uow.settings, "%Y-%m")
    pool = get_free_pool(uow=uow, organization_id=org_id, meter=CPU_METER, month=month)
    if pool.remaining <= 0:
        raise QuotaExceeded(
            "compute.quota_exhausted",
            f"the free compute quota for {month} is used up and this "
            "organization stops rather than pays",
            month=month,
        )


def set_quota_behaviour(*, uow: UnitOfWork, on_exhausted: str) -> str:
    """Choose what happens when the free quota is used up: ``stop`` or ``pay``."""
    check(uow.actor, "compute.settings.manage")
    if on_exhausted not in ("stop", "pay"):
        raise InvalidInput(
            "compute.setting_invalid", "on_exhausted: stop or pay", field="on_exhausted"
        )
    org = require_org(uow.actor, field="--as")
    row = uow.session.scalars(
        select(ComputeOrgSetting).where(ComputeOrgSetting.organization_id == org)
    ).first()
    if row is None:
        row = ComputeOrgSetting(organization_id=org)
        uow.session.add(row)
    row.on_quota_exhausted = on_exhausted
    uow.audit(
        "compute.settings.changed", f"organization:{org}", {"on_quota_exhausted": on_exhausted}
    )
    return on_exhausted


def submit_job(*, uow: UnitOfWork, spec: dict[str, Any], policy: str = "cost") -> SubmitOut:
    """Validate a spec, match it to the best pool, dispatch it, and record why it went there."""
    actor = uow.actor
    check(actor, "compute.job.submit")
    org = require_org(actor, field="--as")
    rows = all_pools(uow)
    job_spec = load_spec(spec, max_runtime_s=max_runtime(rows))
    slot = job_spec.reservation
    if slot is not None and slot.start + timedelta(seconds=slot.duration_s) <= now():
        raise InvalidInput(
            "compute.reservation_past",
            "reservation.start: the slot is over",
            field="reservation.start",
        )
    _quota_gate(uow, org)
    job = ComputeJob(
        organization_id=org,
        submitted_by=actor.label(),
        name=job_spec.name,
        spec=job_spec.model_dump(mode="json", exclude_defaults=True),
        state=JobState.QUEUED.value,
    )
    uow.session.add(job)
    uow.flush()
    # queued before the dispatch commits the job: after a crash mid-dispatch, the reconciler
    # job is there to resolve it
    ensure_reconciler(uow, org)
    result = dispatch(uow, job, job_spec, rows, policy, fresh=True)
    if result is None:
        if uow.committed:  # committed as dispatching to a pool that was down: keep no job
            uow.session.delete(job)
            uow.commit()
        raise InvalidInput(
            "compute.no_pool",
            f"no pool can run this job: {job.explanation}",
            field="spec",
            explanation=job.explanation,
        )
    uow.audit(
        "compute.job.submitted",
        f"compute_job:{job.id}",
        {
            "pool": job.pool,
            "engine_id": job.engine_id,
            "state": job.state,
            "explanation": job.explanation,
            "estimated_cost": None if job.estimated_cost is None else str(job.estimated_cost),
        },
    )
    return SubmitOut(
        job_id=job.id,
        pool=job.pool,
        reason=job.explanation,
        estimated_cost=job.estimated_cost,
        state=job.state,
        detail=job.reason,
    )


def _job(uow: UnitOfWork, job_id: int, permission: str) -> ComputeJob:
    return get_visible(uow, ComputeJob, job_id, permission, key="compute.job_unknown")


def job_status(*, uow: UnitOfWork, job_id: int, refresh: bool = True) -> JobOut:
    """Return a job's state (asking its engine first when it may have changed)."""
    check(uow.actor, "compute.job.read")
    job = _job(uow, job_id, "compute.job.read")
    if refresh and not JobState(job.state).terminal and job.pool:
        reconcile_jobs(uow, [job])
    return _job_out(job)


def job_spec(*, uow: UnitOfWork, job_id: int) -> dict[str, Any]:
    """Return the spec a job was submitted with (as stored: defaults left out)."""
    check(uow.actor, "compute.job.read")
    return dict(_job(uow, job_id, "compute.job.read").spec or {})


def list_jobs(*, uow: UnitOfWork, limit: int = 100) -> list[JobOut]:
    """List the actor's organization's jobs, newest first."""
    check(uow.actor, "compute.job.read")
    rows = uow.session.scalars(select(ComputeJob).order_by(ComputeJob.id.desc()).limit(limit))
    return [_job_out(j) for j in rows]


def cancel_job(*, uow: UnitOfWork, job_id: int) -> JobOut:
    """Cancel a job; a job that already ended gets a clear message."""
    check(uow.actor, "compute.job.cancel")
    job = _job(uow, job_id, "compute.job.cancel")
    if JobState(job.state).terminal:
        raise finished_error(str(job.id), job.state)
    if job.state == JobState.DISPATCHING.value:
        raise Conflict(
            "compute.job_dispatching",
            f"job {job.id} is being dispatched to pool {job.pool}; cancel it once "
            "its engine has it (a moment; a dispatch cut short is resolved by the "
            "reconciler)",
            state=job.state,
        )
    job.cancel_requested = True
    if job.pool and job.engine_id:
        row = pool_row(uow, job.pool)
        with contextlib.suppress(Conflict):  # it ended meanwhile: the reconcile records how
            adapter_for(uow, row).cancel(job.engine_id)
        reconcile_jobs(uow, [job])
    else:
        job.state = JobState.CANCELLED.value
        job.reason = "cancelled before dispatch"
        job.ended_at = now()
    uow.audit("compute.job.cancelled", f"compute_job:{job.id}", {"state": job.state})
    return _job_out(job)


def job_logs(*, uow: UnitOfWork, job_id: int, tail_bytes: int = 65536) -> str:
    """Return the end of a job's output from its engine."""
    check(uow.actor, "compute.job.read")
    job = _job(uow, job_id, "compute.job.read")
    if not job.pool or not job.engine_id:
        return ""
    return adapter_for(uow, pool_row(uow, job.pool)).logs(job.engine_id, tail_bytes)
