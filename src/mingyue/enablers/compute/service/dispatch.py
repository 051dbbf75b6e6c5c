"""Two-phase dispatch: match a job to a pool, commit it as ``dispatching``, then hand it to
the pool's engine (used by a submit and by the reconciler for a job that waits)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from mingyue.enablers.compute.adapters.base import EngineUnavailable
from mingyue.enablers.compute.engine.matching import match, reserved_until
from mingyue.enablers.compute.engine.spec import JobSpec
from mingyue.enablers.compute.engine.states import JobState
from mingyue.enablers.compute.models import ComputeJob, ComputePool
from mingyue.sdk import UnitOfWork, now
from mingyue.sdk.errors import MingyueError

from .engines import adapter_for, job_owner
from .pools import engine_pool, maintenance_overlap, pool_holds, pool_load


def dispatch(
    uow: UnitOfWork,
    job: ComputeJob,
    spec: JobSpec,
    rows: Sequence[ComputePool],
    policy: str,
    *,
    fresh: bool = False,
) -> bool | None:
    """Match and submit; True when dispatched, False when it waits, None when no pool fits.

    Two-phase, so that a platform that stops at any point loses no job: the job is committed
    as ``dispatching`` with its pool and its engine-side name (``<id>-<nonce>``: Slurm
    ``--job-name=mingyue-<name>``, Ray ``submission_id=mingyue-<name>``, the local job dir)
    *before* the engine is called; the engine's id is recorded after its answer (the caller's
    commit). A job left ``dispatching`` is found by that name by the reconciler
    (``_resolve_dispatching``). A job the engine refuses is not kept (``fresh``: a new
    submit, whose caller gets the error) or is ``failed`` with the engine's reason.
    """
    by_name = {r.name: r for r in rows}
    loads = {r.name: pool_load(r) for r in rows}
    down = {r.name: r.down_reason for r in rows if r.down_reason}
    demand = spec.demand()
    at = now()
    holds = pool_holds(uow)
    pools = {r.name: engine_pool(r, holds.get(r.name, ())) for r in rows}
    m = match(
        demand,
        list(pools.values()),
        now=at,
        wait=lambda p, d: loads[p.name].expected_wait_s(p, d),
        down=down,
        policy=policy,
        org=str(job.organization_id),
    )
    notes: list[str] = []
    for cand in m.ranked:
        row = by_name[cand.pool]
        # A reservation's slot was checked by the matcher; a batch job would run at once.
        busy_until = (
            None if spec.reservation else maintenance_overlap(row, at, demand.max_runtime_s)
        )
        if busy_until is not None:
            # The engine would run it at once: hold it instead of running through maintenance.
            notes.append(f"pool {cand.pool}: maintenance until {busy_until.isoformat()}")
            continue
        held_until = None if spec.reservation else reserved_until(pools[cand.pool], at, demand)
        if held_until is not None:
            notes.append(f"pool {cand.pool}: CPUs reserved until {held_until.isoformat()}")
            continue
        uid = f"{job.id}-{secrets.token_hex(3)}"
        job.pool = cand.pool
        job.engine_id = uid  # the engine-side name until the engine answers with its id
        job.state = JobState.DISPATCHING.value
        job.dispatching_since = now()
        job.estimated_cost = cand.cost
        job.explanation = "; ".join([m.explanation, *notes])
        job.reason = None
        uow.commit()  # phase 1: from here on a crash leaves a job the reconciler can resolve
        try:
            engine_id = adapter_for(uow, row).submit(uid, spec, job_owner(uow, job, row))
        except EngineUnavailable as exc:
            row.down_reason = exc.message
            notes.append(f"pool {cand.pool}: engine down at dispatch ({exc.message})")
            undispatch(job)
            continue
        except MingyueError as exc:  # the engine refused the job: nothing runs
            if fresh:  # the submit answers the engine's error; no job is kept
                uow.session.delete(job)
                uow.commit()
                raise
            undispatch(job)
            job.state = JobState.FAILED.value
            job.reason = f"pool {cand.pool} refused it: {exc.message}"
            job.ended_at = now()
            uow.audit(
                "compute.job.state_changed",
                f"compute_job:{job.id}",
                {
                    "from": JobState.QUEUED.value,
                    "to": job.state,
                    "reason": job.reason,
                    "billed_seconds": 0,
                },
                organization_id=job.organization_id,
            )
            return None
        job.engine_id = engine_id  # phase 2, committed by the caller
        job.state = JobState.QUEUED.value
        job.dispatching_since = None
        if spec.reservation is not None:
            st = adapter_for(uow, row).status(engine_id)
            job.reason = st.reason if st is not None else None  # how to use the slot
            return True
        cap = dict(row.capacity or {})
        if cap:  # count the job at once so the next submit sees it
            cap["free_cpus"] = max(int(cap.get("free_cpus", 0)) - demand.cpus, 0)
            row.capacity = cap
        return True
    job.explanation = "; ".join([m.explanation, *notes])
    undispatch(job)
    only_down = all(r.reason.startswith("engine down") for r in m.rejected)
    if spec.reservation is None and (m.ranked or (m.rejected and only_down)):
        job.reason = (
            "waiting: every pool that can run it is down, in maintenance or "
            "reserved; the reconciler retries"
        )
        return False
    return None


def undispatch(job: ComputeJob) -> None:
    """Put a job back to waiting (no pool, no engine name)."""
    job.state = JobState.QUEUED.value
    job.pool = None
    job.engine_id = None
    job.dispatching_since = None
