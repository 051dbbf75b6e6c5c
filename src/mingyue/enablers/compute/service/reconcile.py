"""The reconciler: poll the engines outside any transaction, then apply what they said: job
transitions (billed by the second), waiting jobs dispatched, cut-short dispatches resolved.
It runs as the core job ``compute.reconcile`` while jobs are open."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from mingyue.enablers.compute.adapters.base import ComputeAdapter, EngineUnavailable
from mingyue.enablers.compute.breaches import raise_for_job
from mingyue.enablers.compute.engine.reconcile import (
    UNREACHABLE,
    JobRecord,
    Observation,
    reconcile_one,
)
from mingyue.enablers.compute.engine.spec import load_spec
from mingyue.enablers.compute.engine.states import Capacity, EngineStatus, JobState
from mingyue.enablers.compute.models import ComputeJob, ComputePool
from mingyue.enablers.compute.schemas import ReconcileOut
from mingyue.sdk import (
    SYSTEM,
    JobContext,
    Settings,
    UnitOfWork,
    check,
    enqueue,
    list_jobs,
    now,
    unit_of_work,
)

from .dispatch import dispatch, undispatch
from .engines import adapter_for
from .pools import OPEN, all_pools, refresh_pool
from .usage import bill

DISPATCH_GRACE_S = 60.0  # > every adapter's engine-call timeout (15 s): a live dispatch is done


def _record(job: ComputeJob) -> JobRecord:
    return JobRecord(
        str(job.id),
        JobState(job.state),
        job.pool or "",
        job.engine_id,
        job.started_at,
        job.ended_at,
        job.billed_seconds,
    )


def _observe(uow: UnitOfWork, job: ComputeJob, row: ComputePool) -> Observation:
    return _engine_view(adapter_for(uow, row), job.engine_id or "", job.cancel_requested)


def _engine_view(ad: ComputeAdapter, engine_id: str, cancel_requested: bool) -> Observation:
    try:
        st = ad.status(engine_id)
    except EngineUnavailable:
        return UNREACHABLE
    return _as_seen(st, cancel_requested)


def _as_seen(st: EngineStatus | None, cancel_requested: bool) -> Observation:
    if st is not None and st.state is JobState.CANCELLED and not cancel_requested:
        # Nobody asked mingyue to cancel it: the engine (or its operator) killed it.
        return EngineStatus(
            JobState.FAILED,
            f"killed inside the engine: {st.reason}",
            st.started_at,
            st.ended_at,
            st.exit_code,
            st.seconds,
            st.tres,
        )
    return st


def reconcile_jobs(
    uow: UnitOfWork, jobs: Sequence[ComputeJob], seen: dict[int, Observation] | None = None
) -> tuple[int, int]:
    """Apply the engines' view of placed jobs (``seen``, else asked now); (transitions, billed s)."""
    rows = {r.name: r for r in all_pools(uow)}
    transitions = billed = 0
    for job in jobs:
        row = rows.get(job.pool or "")
        if row is None or not job.engine_id or job.state == JobState.DISPATCHING.value:
            continue  # a dispatching job has only its engine-side name: _resolve_dispatching
        # an observation polled before this transaction may be older than the record: the
        # transition rules never move a job backwards, so it is safe to apply
        obs = seen[job.id] if seen is not None and job.id in seen else _observe(uow, job, row)
        t = reconcile_one(_record(job), obs)
        if t is None:
            continue
        transitions += 1
        job.state = t.to_state.value
        job.reason = t.reason
        job.started_at = t.started_at
        job.ended_at = t.ended_at
        job.exit_code = t.exit_code
        if t.bill_seconds > 0:
            bill(uow, job, row, t.bill_seconds)
            billed += t.bill_seconds
        job.billed_seconds += t.bill_seconds
        job.seconds = job.billed_seconds
        uow.audit(
            "compute.job.state_changed",
            f"compute_job:{job.id}",
            {
                "from": t.from_state.value,
                "to": t.to_state.value,
                "reason": t.reason,
                "billed_seconds": t.bill_seconds,
            },
            organization_id=job.organization_id,
        )
        raise_for_job(uow=uow, job=job)  # a broken limit is a finding (breaches.py)
    return transitions, billed


@dataclass
class Polled:
    """What the engines said, asked with no database transaction open."""

    capacity: dict[str, Capacity | EngineUnavailable] = field(default_factory=dict)
    seen: dict[int, Observation] = field(default_factory=dict)
    # jobs left dispatching past the grace period: the engine id found by name, None when the
    # engine never got it, UNREACHABLE when it did not answer
    found: dict[int, str | object | None] = field(default_factory=dict)


def _grace_s(settings: Settings) -> float:
    return float((settings.compute or {}).get("dispatch_grace_s", DISPATCH_GRACE_S))


def _stale(job: ComputeJob, at: datetime, grace_s: float) -> bool:
    since = job.dispatching_since or job.created_at
    return job.state == JobState.DISPATCHING.value and (at - since).total_seconds() >= grace_s


def _find(ad: ComputeAdapter, name: str) -> str | object | None:
    try:
        return ad.find(name)
    except EngineUnavailable:
        return UNREACHABLE


def _statuses(ad: ComputeAdapter, todo: Sequence[tuple[int, str, bool]]) -> dict[int, Observation]:
    """Ask one engine about many jobs in one batch (``statuses``)."""
    try:
        got = ad.statuses([engine_id for _, engine_id, _ in todo])
    except EngineUnavailable:
        return {job_id: UNREACHABLE for job_id, _, _ in todo}
    return {
        job_id: _as_seen(got.get(engine_id), cancel_requested)
        for job_id, engine_id, cancel_requested in todo
    }


def poll_engines(settings: Settings) -> Polled:
    """Read pools and open jobs in a short unit of work, then ask the engines outside it.

    A unit of work on SQLite holds the write lock from its first statement (BEGIN IMMEDIATE):
    a reconciler pass that called every engine inside it made every submit wait for the pass.
    """
    at = now()
    grace = _grace_s(settings)
    with unit_of_work(SYSTEM, settings) as uow:  # the platform reads every tenant; no writes
        rows = all_pools(uow)
        ads = {r.name: adapter_for(uow, r) for r in rows}
        todo: dict[str, list[tuple[int, str, bool]]] = {}
        names: list[tuple[int, str, str]] = []
        for j in uow.session.scalars(select(ComputeJob).where(ComputeJob.state.in_(OPEN))):
            if j.pool not in ads or not j.engine_id:
                continue
            if j.state != JobState.DISPATCHING.value:
                todo.setdefault(str(j.pool), []).append((j.id, j.engine_id, j.cancel_requested))
            elif _stale(j, at, grace):
                names.append((j.id, str(j.pool), j.engine_id))
    out = Polled()
    for name, ad in ads.items():
        try:
            out.capacity[name] = ad.capacity()
        except EngineUnavailable as exc:
            out.capacity[name] = exc
    for pool, jobs_of_pool in todo.items():  # one batch per engine, not a process per job
        out.seen.update(_statuses(ads[pool], jobs_of_pool))
    for job_id, pool, engine_name in names:
        out.found[job_id] = _find(ads[pool], engine_name)
    return out


def reconcile(*, uow: UnitOfWork, polled: Polled | None = None) -> ReconcileOut:
    """One reconciler pass over every unfinished job of every organization (restart-safe).

    With ``polled`` (``poll_engines``), the engines' answers are applied without asking again.
    """
    check(uow.actor, "compute.reconcile")
    with uow.unscoped(reason="compute reconciler: poll engines for unfinished jobs"):
        rows = all_pools(uow)
        refreshed = sum(
            1
            for r in rows
            if refresh_pool(uow, r, polled.capacity.get(r.name) if polled is not None else None)
        )
        open_jobs = list(uow.session.scalars(select(ComputeJob).where(ComputeJob.state.in_(OPEN))))
        _resolve_dispatching(uow, open_jobs, rows, polled.found if polled is not None else None)
        waiting = [j for j in open_jobs if j.pool is None]
        dispatched = 0
        for job in waiting:
            if job.cancel_requested:
                continue
            if dispatch(uow, job, load_spec(job.spec), rows, "cost"):
                dispatched += 1
                uow.audit(
                    "compute.job.dispatched",
                    f"compute_job:{job.id}",
                    {"pool": job.pool, "engine_id": job.engine_id},
                    organization_id=job.organization_id,
                )
        transitions, billed = reconcile_jobs(
            uow, [j for j in open_jobs if j.pool], polled.seen if polled is not None else None
        )
    still_open = sum(1 for j in open_jobs if not JobState(j.state).terminal)
    return ReconcileOut(
        checked=len(open_jobs),
        transitions=transitions,
        billed_seconds=billed,
        dispatched=dispatched,
        pools_refreshed=refreshed,
        open_jobs=still_open,
    )


def _resolve_dispatching(
    uow: UnitOfWork,
    open_jobs: Sequence[ComputeJob],
    rows: Sequence[ComputePool],
    found: dict[int, str | object | None] | None,
) -> None:
    """Resolve jobs left ``dispatching`` past the grace period (the platform stopped between
    the commit of the dispatch and the record of the engine's answer): ask the engine for the
    job by its engine-side name; adopt it (its engine id is recorded and it is polled and billed
    like any job), or, when the engine never got it, put it back to waiting so it is dispatched
    again (nothing ran, so nothing is billed twice). An engine that does not answer: left for a
    later pass.
    """
    by_name = {r.name: r for r in rows}
    at = now()
    grace = _grace_s(uow.settings)
    for job in open_jobs:
        row = by_name.get(job.pool or "")
        if row is None or not job.engine_id or not _stale(job, at, grace):
            continue
        name = job.engine_id
        got = (
            found[job.id]
            if found is not None and job.id in found
            else _find(adapter_for(uow, row), name)
        )
        if got is UNREACHABLE:
            continue
        if isinstance(got, str):
            job.engine_id = got
            job.state = JobState.QUEUED.value
            job.dispatching_since = None
            uow.audit(
                "compute.job.adopted",
                f"compute_job:{job.id}",
                {"pool": job.pool, "engine_name": name, "engine_id": got},
                organization_id=job.organization_id,
            )
            continue
        pool = job.pool
        undispatch(job)
        job.reason = (
            f"pool {pool} never received it (the platform stopped while dispatching "
            "it); dispatching it again"
        )
        uow.audit(
            "compute.job.redispatch",
            f"compute_job:{job.id}",
            {"pool": pool, "engine_name": name},
            organization_id=job.organization_id,
        )


def run_reconcile_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Core job ``compute.reconcile``: poll the engines every few seconds while jobs are open.

    Submitting a job queues one (if none is queued or running); it ends when no job is open,
    when cancelled, or after ``MINGYUE_COMPUTE__RECONCILE_MAX_S``. It acts as the platform
    (every organization's jobs), which the ledger records as ``system``.
    """
    del params
    opts = ctx.settings.compute or {}
    interval = float(opts.get("reconcile_interval_s", 2))
    deadline = time.monotonic() + float(opts.get("reconcile_max_s", 3600))
    passes = transitions = billed = 0
    while True:
        polled = poll_engines(ctx.settings)
        with unit_of_work(SYSTEM, ctx.settings) as uow:
            out = reconcile(uow=uow, polled=polled)
        passes += 1
        transitions += out.transitions
        billed += out.billed_seconds
        if out.open_jobs == 0 or ctx.cancelled() or time.monotonic() >= deadline:
            break
        ctx.progress(0, f"{out.open_jobs} open compute jobs")
        time.sleep(interval)
    return {
        "passes": passes,
        "transitions": transitions,
        "billed_seconds": billed,
        "open_jobs": out.open_jobs,
    }


def ensure_reconciler(uow: UnitOfWork, org_id: int) -> None:
    """Queue the reconciler job unless one is already queued or running."""
    # One query on the submit path: a reconciler is queued only when none is open, so the
    # newest one is open whenever any is.
    newest = list_jobs(uow=uow, actor=SYSTEM, kind="compute.reconcile", limit=1)
    if newest and newest[0].status in ("queued", "running"):
        return
    enqueue(uow=uow, kind="compute.reconcile", params={}, organization_id=org_id, platform=True)
