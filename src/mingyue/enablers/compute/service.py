"""Use cases of the compute enabler: pools, submit/match/dispatch, status, cancel, logs, the
reconciler, per-second billing on the pools' time-of-use tariffs, usage statements, simulation.

Every function takes the unit of work and acts as ``uow.actor``; nothing here commits.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mingyue.core import jobs, metering
from mingyue.core.errors import Conflict, InvalidInput, MingyueError, NotFound, QuotaExceeded
from mingyue.core.ledger import keys
from mingyue.core.metering.tou import month_bounds
from mingyue.core.tenancy.access import SYSTEM, check
from mingyue.core.tenancy.lookup import get_visible
from mingyue.core.uow import UnitOfWork, unit_of_work

from .adapters.base import ComputeAdapter, EngineUnavailable, finished_error
from .engine.matching import match, reserved_until
from .engine.pools import Pool, PoolLoad
from .engine.reconcile import UNREACHABLE, JobRecord, Observation, reconcile_one
from .engine.simulate import FreeQuota, simulate
from .engine.spec import Demand, JobSpec, load_spec
from .engine.states import Capacity, EngineStatus, JobState
from .engine.trace import read_trace_csv
from .models import ComputeJob, ComputeOrgSetting, ComputePool, ComputeUsage
from .schemas import JobOut, PoolIn, PoolOut, ReconcileOut, SubmitOut, UsageLine, UsageOut
from .tariffs import CPU_METER, GPU_METER, PoolTariff, parse_tariff

ZERO = Decimal(0)
# unfinished: the reconciler looks at these (a dispatching job is resolved, the others polled)
OPEN = (JobState.DISPATCHING.value, JobState.QUEUED.value, JobState.RUNNING.value)
DISPATCH_GRACE_S = 60.0  # > every adapter's engine-call timeout (15 s): a live dispatch is done
_US = timedelta(microseconds=1)
_ADAPTERS: dict[tuple[str, ...], ComputeAdapter] = {}


# ---- credentials ---------------------------------------------------------------------------


def _encrypt(uow: UnitOfWork, creds: dict[str, str] | None) -> str | None:
    if not creds:
        return None
    return keys.seal(uow.settings, "compute.credentials", creds)


def _decrypt(uow: UnitOfWork, token: str | None) -> dict[str, str]:
    if not token:
        return {}
    try:
        return keys.unseal(uow.settings, "compute.credentials", token)
    except keys.SecretUnreadable as exc:
        raise Conflict(
            "compute.credentials_unreadable",
            "the pool's credentials cannot be decrypted with this secret key",
        ) from exc


# ---- adapters ------------------------------------------------------------------------------


def adapter_for(uow: UnitOfWork, pool: ComputePool) -> ComputeAdapter:
    """Return the adapter that talks to the pool's engine (cached per process)."""
    opts = pool.options or {}
    key = (
        str(uow.settings.data_dir.resolve()),
        pool.name,
        pool.kind,
        pool.endpoint or "",
        json.dumps(opts, sort_keys=True),
        pool.credentials_enc or "",
    )
    ad = _ADAPTERS.get(key)
    if ad is not None:
        return ad
    base = uow.settings.data_dir / "compute" / pool.name
    if pool.kind == "local":
        from .adapters.container import RUNTIMES
        from .adapters.local import LocalAdapter

        # option containers: "off", or the runtimes to look for ("podman,docker" by default)
        wanted = str(opts.get("containers") or ",".join(RUNTIMES))
        ad = LocalAdapter(
            base / "jobs",
            cpus=int(opts["cpus"]) if opts.get("cpus") else None,
            containers=None
            if wanted == "off"
            else tuple(w.strip() for w in wanted.split(",") if w.strip()),
        )
    elif pool.kind == "slurm":
        from .adapters.slurm import SlurmAdapter

        ad = SlurmAdapter(
            slurm_conf=pool.endpoint or opts.get("slurm_conf"),
            partition=opts.get("partition"),
            log_dir=base / "logs",
            jobcomp_file=opts.get("jobcomp_file"),
            account=opts.get("account"),
            reservation_users=opts.get("reservation_users"),
        )
    elif pool.kind == "ray":
        from .adapters.ray import RayAdapter

        if not pool.endpoint:
            raise InvalidInput(
                "compute.pool_invalid", "a Ray pool needs --endpoint URL", field="endpoint"
            )
        creds = _decrypt(uow, pool.credentials_enc)
        headers = {"Authorization": f"Bearer {creds['token']}"} if creds.get("token") else None
        ad = RayAdapter(pool.endpoint, headers=headers)
    else:  # pragma: no cover - PoolIn validates the kind
        raise InvalidInput("compute.pool_invalid", f"unknown pool kind {pool.kind}", field="kind")
    _ADAPTERS[key] = ad
    return ad


# ---- pools ---------------------------------------------------------------------------------


def _pool_row(uow: UnitOfWork, name: str) -> ComputePool:
    row = uow.session.scalars(select(ComputePool).where(ComputePool.name == name)).first()
    if row is None:
        raise NotFound("compute.pool_unknown", f"no pool {name!r}", field="pool")
    return row


def _pool_out(row: ComputePool) -> PoolOut:
    cap = row.capacity or {}
    cpus = int(cap.get("cpus", 0))
    free = int(cap.get("free_cpus", 0))
    return PoolOut(
        name=row.name,
        kind=row.kind,
        endpoint=row.endpoint,
        region=row.region,
        suspended=row.suspended,
        cpus=cpus,
        free_cpus=free,
        gpus=dict(cap.get("gpus") or {}),
        queued=int(cap.get("queued", 0)),
        running=int(cap.get("running", 0)),
        utilization=round((cpus - free) / cpus, 4) if cpus else 0.0,
        max_runtime_s=row.max_runtime_s,
        enabled_for=row.enabled_for,
        tariff=row.tariff or {},
        has_credentials=bool(row.credentials_enc),
        refreshed_at=row.refreshed_at,
        down_reason=row.down_reason,
    )


def _refresh(
    uow: UnitOfWork, row: ComputePool, polled: Capacity | EngineUnavailable | None = None
) -> bool:
    try:
        if isinstance(polled, EngineUnavailable):
            raise polled
        cap = polled if polled is not None else adapter_for(uow, row).capacity()
    except EngineUnavailable as exc:
        row.down_reason = exc.message
        row.refreshed_at = datetime.now(UTC)
        return False
    row.capacity = {
        "cpus": cap.cpus,
        "free_cpus": cap.free_cpus,
        "gpus": dict(cap.gpus),
        "memory_mb": cap.memory_mb,
        "queued": cap.queued,
        "running": cap.running,
        "nodes": cap.nodes,
        "container_runtime": cap.container_runtime,
    }
    row.down_reason = cap.down_reason
    row.refreshed_at = datetime.now(UTC)
    return True


def add_pool(*, uow: UnitOfWork, pool: PoolIn) -> PoolOut:
    """Register a pool, read its capacity from its engine, and record it in the ledger."""
    check(uow.actor, "compute.pool.manage")
    if uow.session.scalars(select(ComputePool).where(ComputePool.name == pool.name)).first():
        raise Conflict("compute.pool_exists", f"pool {pool.name!r} already exists", field="name")
    parse_tariff(pool.tariff)
    if pool.kind == "ray" and not pool.endpoint:
        raise InvalidInput(
            "compute.pool_invalid", "a Ray pool needs --endpoint URL", field="endpoint"
        )
    opts = dict(pool.options)
    if pool.cpus is not None:
        opts["cpus"] = str(pool.cpus)
    row = ComputePool(
        name=pool.name,
        kind=pool.kind,
        endpoint=pool.endpoint,
        region=pool.region,
        tariff=pool.tariff or {},
        options=opts,
        max_runtime_s=pool.max_runtime_s,
        enabled_for=pool.enabled_for,
        maintenance=[],
        credentials_enc=_encrypt(uow, pool.credentials),
        provider_organization_id=uow.actor.organization_id,
        capacity={},
    )
    uow.session.add(row)
    uow.flush()
    _refresh(uow, row)
    uow.audit(
        "compute.pool.added",
        f"compute_pool:{row.id}",
        {
            "name": row.name,
            "kind": row.kind,
            "endpoint": row.endpoint,
            "tariff": row.tariff,
            "down_reason": row.down_reason,
        },
    )
    return _pool_out(row)


def list_pools(*, uow: UnitOfWork, refresh: bool = False) -> list[PoolOut]:
    """List the pools (refreshing capacity from the engines when asked)."""
    check(uow.actor, "compute.pool.read")
    rows = list(uow.session.scalars(select(ComputePool).order_by(ComputePool.name)))
    if refresh:
        for row in rows:
            _refresh(uow, row)
    return [_pool_out(r) for r in rows]


def suspend_pool(*, uow: UnitOfWork, name: str, suspended: bool = True) -> PoolOut:
    """Suspend (or resume) a pool: running jobs finish, new ones go elsewhere."""
    check(uow.actor, "compute.pool.manage")
    row = _pool_row(uow, name)
    row.suspended = suspended
    uow.audit(
        "compute.pool.suspended" if suspended else "compute.pool.resumed",
        f"compute_pool:{row.id}",
        {"name": name},
    )
    return _pool_out(row)


@lru_cache(maxsize=256)
def _tariff(text: str) -> PoolTariff:
    return parse_tariff(json.loads(text))


def pool_tariff(row: ComputePool) -> PoolTariff:
    """Return the pool's parsed tariff (cached by content: parsing windows is not free)."""
    return _tariff(json.dumps(row.tariff or {}, sort_keys=True))


def add_maintenance(*, uow: UnitOfWork, name: str, start: datetime, end: datetime) -> PoolOut:
    """Declare a maintenance window: no job is dispatched to the pool if it would overlap it."""
    check(uow.actor, "compute.pool.manage")
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput(
            "compute.maintenance_invalid", "start and end need a time zone", field="start"
        )
    if end <= start:
        raise InvalidInput("compute.maintenance_invalid", "end must be after start", field="end")
    row = _pool_row(uow, name)
    now = datetime.now(UTC)
    kept = [[a, b] for a, b in (row.maintenance or []) if datetime.fromisoformat(b) > now]
    row.maintenance = [*kept, [start.astimezone(UTC).isoformat(), end.astimezone(UTC).isoformat()]]
    uow.audit(
        "compute.pool.maintenance",
        f"compute_pool:{row.id}",
        {"name": name, "start": row.maintenance[-1][0], "end": row.maintenance[-1][1]},
    )
    return _pool_out(row)


def _maintenance_overlap(row: ComputePool, start: datetime, seconds: int) -> datetime | None:
    """Return the end of a maintenance window overlapping [start, start+seconds), if any."""
    end = start + timedelta(seconds=seconds)
    for a, b in row.maintenance or []:
        m_start, m_end = datetime.fromisoformat(a), datetime.fromisoformat(b)
        if start < m_end and end > m_start:
            return m_end
    return None


def _holds(uow: UnitOfWork) -> dict[str, tuple[tuple[datetime, datetime, int], ...]]:
    """Return each pool's granted, unfinished reservations (start, end, CPUs) — every
    organization's, since a reservation holds capacity against everyone's jobs."""
    out: dict[str, list[tuple[datetime, datetime, int]]] = {}
    with uow.unscoped(reason="compute matcher: reservations hold pool capacity"):
        open_jobs = uow.session.scalars(
            select(ComputeJob).where(ComputeJob.pool.is_not(None), ComputeJob.state.in_(OPEN))
        ).all()
    for j in open_jobs:
        r = (j.spec or {}).get("reservation")
        if r and j.pool:
            start = datetime.fromisoformat(r["start"])
            out.setdefault(j.pool, []).append(
                (start, start + timedelta(seconds=int(r["duration_s"])), int(j.spec.get("cpus", 1)))
            )
    return {k: tuple(v) for k, v in out.items()}


def _engine_pool(row: ComputePool, holds: tuple[tuple[datetime, datetime, int], ...] = ()) -> Pool:
    cap = row.capacity or {}
    gpus = {str(k): int(v) for k, v in (cap.get("gpus") or {}).items()}
    return Pool(
        name=row.name,
        cpus=int(cap.get("cpus", 0)),
        pricer=pool_tariff(row),
        kind=row.kind,
        region=row.region,
        gpus=gpus,
        memory_mb=cap.get("memory_mb"),
        max_runtime_s=row.max_runtime_s,
        suspended=row.suspended,
        supports_images=bool(cap.get("container_runtime")),
        enabled_for=frozenset(str(i) for i in row.enabled_for) if row.enabled_for else None,
        maintenance=tuple(
            (datetime.fromisoformat(a), datetime.fromisoformat(b))
            for a, b in (row.maintenance or [])
        ),
        holds=holds,
    )


def _load(row: ComputePool) -> PoolLoad:
    cap = row.capacity or {}
    return PoolLoad(
        free_cpus=int(cap.get("free_cpus", 0)),
        queued=int(cap.get("queued", 0)),
        running=int(cap.get("running", 0)),
    )


# ---- jobs ----------------------------------------------------------------------------------

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
    month = datetime.now(UTC).astimezone(_tz(uow)).strftime("%Y-%m")
    pool = metering.get_free_pool(uow=uow, organization_id=org_id, meter=CPU_METER, month=month)
    if pool.remaining <= 0:
        raise QuotaExceeded(
            "compute.quota_exhausted",
            f"the free compute quota for {month} is used up and this "
            "organization stops rather than pays",
            month=month,
        )


def _tz(uow: UnitOfWork) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(uow.settings.timezone)


def set_quota_behaviour(*, uow: UnitOfWork, on_exhausted: str) -> str:
    """Choose what happens when the free quota is used up: ``stop`` or ``pay``."""
    check(uow.actor, "compute.settings.manage")
    if on_exhausted not in ("stop", "pay"):
        raise InvalidInput(
            "compute.setting_invalid", "on_exhausted: stop or pay", field="on_exhausted"
        )
    org = uow.actor.organization_id
    if org is None:
        raise InvalidInput(
            "compute.setting_invalid", "act as a member of an organization", field="--as"
        )
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


def _pools(uow: UnitOfWork) -> list[ComputePool]:
    return list(uow.session.scalars(select(ComputePool).order_by(ComputePool.id)))


def _max_runtime(rows: Sequence[ComputePool]) -> int | None:
    limits = [r.max_runtime_s for r in rows if not r.suspended]
    if not limits or any(x is None for x in limits):
        return None
    return max(x for x in limits if x is not None)


def submit_job(*, uow: UnitOfWork, spec: dict[str, Any], policy: str = "cost") -> SubmitOut:
    """Validate a spec, match it to the best pool, dispatch it, and record why it went there."""
    actor = uow.actor
    check(actor, "compute.job.submit")
    org = actor.organization_id
    if org is None:
        raise InvalidInput(
            "compute.no_organization", "submit as a member of an organization", field="--as"
        )
    rows = _pools(uow)
    job_spec = load_spec(spec, max_runtime_s=_max_runtime(rows))
    slot = job_spec.reservation
    if slot is not None and slot.start + timedelta(seconds=slot.duration_s) <= datetime.now(UTC):
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
    _ensure_reconciler(uow, org)
    result = _dispatch(uow, job, job_spec, rows, policy, fresh=True)
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


def _dispatch(
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
    loads = {r.name: _load(r) for r in rows}
    down = {r.name: r.down_reason for r in rows if r.down_reason}
    demand = spec.demand()
    now = datetime.now(UTC)
    holds = _holds(uow)
    pools = {r.name: _engine_pool(r, holds.get(r.name, ())) for r in rows}
    m = match(
        demand,
        list(pools.values()),
        now=now,
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
            None if spec.reservation else _maintenance_overlap(row, now, demand.max_runtime_s)
        )
        if busy_until is not None:
            # The engine would run it at once: hold it instead of running through maintenance.
            notes.append(f"pool {cand.pool}: maintenance until {busy_until.isoformat()}")
            continue
        held_until = None if spec.reservation else reserved_until(pools[cand.pool], now, demand)
        if held_until is not None:
            notes.append(f"pool {cand.pool}: CPUs reserved until {held_until.isoformat()}")
            continue
        uid = f"{job.id}-{secrets.token_hex(3)}"
        job.pool = cand.pool
        job.engine_id = uid  # the engine-side name until the engine answers with its id
        job.state = JobState.DISPATCHING.value
        job.dispatching_since = datetime.now(UTC)
        job.estimated_cost = cand.cost
        job.explanation = "; ".join([m.explanation, *notes])
        job.reason = None
        uow.commit()  # phase 1: from here on a crash leaves a job the reconciler can resolve
        try:
            engine_id = adapter_for(uow, row).submit(uid, spec)
        except EngineUnavailable as exc:
            row.down_reason = exc.message
            notes.append(f"pool {cand.pool}: engine down at dispatch ({exc.message})")
            _undispatch(job)
            continue
        except MingyueError as exc:  # the engine refused the job: nothing runs
            if fresh:  # the submit answers the engine's error; no job is kept
                uow.session.delete(job)
                uow.commit()
                raise
            _undispatch(job)
            job.state = JobState.FAILED.value
            job.reason = f"pool {cand.pool} refused it: {exc.message}"
            job.ended_at = datetime.now(UTC)
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
    _undispatch(job)
    only_down = all(r.reason.startswith("engine down") for r in m.rejected)
    if spec.reservation is None and (m.ranked or (m.rejected and only_down)):
        job.reason = (
            "waiting: every pool that can run it is down, in maintenance or "
            "reserved; the reconciler retries"
        )
        return False
    return None


def _undispatch(job: ComputeJob) -> None:
    """Put a job back to waiting (no pool, no engine name)."""
    job.state = JobState.QUEUED.value
    job.pool = None
    job.engine_id = None
    job.dispatching_since = None


def _job(uow: UnitOfWork, job_id: int, permission: str) -> ComputeJob:
    return get_visible(uow, ComputeJob, job_id, permission, key="compute.job_unknown")


def job_status(*, uow: UnitOfWork, job_id: int, refresh: bool = True) -> JobOut:
    """Return a job's state (asking its engine first when it may have changed)."""
    check(uow.actor, "compute.job.read")
    job = _job(uow, job_id, "compute.job.read")
    if refresh and not JobState(job.state).terminal and job.pool:
        _reconcile_jobs(uow, [job])
    return _job_out(job)


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
        row = _pool_row(uow, job.pool)
        try:
            adapter_for(uow, row).cancel(job.engine_id)
        except Conflict:
            pass  # it ended meanwhile: the reconcile below records how
        _reconcile_jobs(uow, [job])
    else:
        job.state = JobState.CANCELLED.value
        job.reason = "cancelled before dispatch"
        job.ended_at = datetime.now(UTC)
    uow.audit("compute.job.cancelled", f"compute_job:{job.id}", {"state": job.state})
    return _job_out(job)


def job_logs(*, uow: UnitOfWork, job_id: int, tail_bytes: int = 65536) -> str:
    """Return the end of a job's output from its engine."""
    check(uow.actor, "compute.job.read")
    job = _job(uow, job_id, "compute.job.read")
    if not job.pool or not job.engine_id:
        return ""
    return adapter_for(uow, _pool_row(uow, job.pool)).logs(job.engine_id, tail_bytes)


# ---- reconciler and billing ----------------------------------------------------------------


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


def _reconcile_jobs(
    uow: UnitOfWork, jobs: Sequence[ComputeJob], seen: dict[int, Observation] | None = None
) -> tuple[int, int]:
    rows = {r.name: r for r in _pools(uow)}
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
            _bill(uow, job, row, t.bill_seconds)
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
    return transitions, billed


def _bill(uow: UnitOfWork, job: ComputeJob, row: ComputePool, seconds: int) -> None:
    """Bill ``seconds`` from the engine's start on the pool's tariff; free quota first.

    The core records each meter's usage priced with the pool's own tariff (so the core's
    statements price compute exactly as ``compute usage`` does); the compute lines are that
    record's pieces: one per tariff window and month, with the free quota the core drew from
    each month's pool, earliest pieces first.
    """
    spec = load_spec(job.spec)
    demand = spec.demand()
    start = (job.started_at or job.ended_at or datetime.now(UTC)) + timedelta(
        seconds=job.billed_seconds
    )
    end = start + timedelta(seconds=seconds)
    tariff = pool_tariff(row)
    total_paid = ZERO
    free_cpu = ZERO
    for meter, unit, count, spec_t in (
        (CPU_METER, "cpu_second", demand.cpus, tariff.cpu),
        (GPU_METER, "gpu_second", demand.gpus, tariff.gpu_spec(demand.gpu_model)),
    ):
        if count == 0:
            continue
        rec = metering.record_usage(
            uow=uow,
            organization_id=job.organization_id,
            meter=meter,
            quantity=Decimal(count * seconds),
            unit=unit,
            start=start,
            end=end,
            source=f"{row.kind}:{row.name}",
            ref=f"compute_job:{job.id}",
            # no tariff for this GPU model: recorded, not priced
            tariff=spec_t if spec_t is not None else [],
        )
        if meter == CPU_METER:
            free_cpu = rec.free_quantity
        for s in rec.breakdown:
            paid = (s.unit_price or ZERO) * (s.quantity - s.free)
            total_paid += paid
            uow.session.add(
                ComputeUsage(
                    organization_id=job.organization_id,
                    job_id=job.id,
                    month=s.month,
                    meter=meter,
                    band=s.band,
                    start=s.start,
                    end=s.end,
                    seconds=Decimal((s.end - s.start) // _US) / 1_000_000,
                    quantity=s.quantity,
                    free_quantity=s.free,
                    unit_price=s.unit_price,
                    amount=paid,
                    core_usage_id=rec.id,
                )
            )
    job.cost = (job.cost or ZERO) + total_paid
    job.free_quota_used = (job.free_quota_used or ZERO) + free_cpu


@dataclass
class Polled:
    """What the engines said, asked with no database transaction open."""

    capacity: dict[str, Capacity | EngineUnavailable] = field(default_factory=dict)
    seen: dict[int, Observation] = field(default_factory=dict)
    # jobs left dispatching past the grace period: the engine id found by name, None when the
    # engine never got it, UNREACHABLE when it did not answer
    found: dict[int, str | object | None] = field(default_factory=dict)


def _grace_s(settings: Any) -> float:
    return float((settings.compute or {}).get("dispatch_grace_s", DISPATCH_GRACE_S))


def _stale(job: ComputeJob, now: datetime, grace_s: float) -> bool:
    since = job.dispatching_since or job.created_at
    return job.state == JobState.DISPATCHING.value and (now - since).total_seconds() >= grace_s


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


def poll_engines(settings: Any) -> Polled:
    """Read pools and open jobs in a short unit of work, then ask the engines outside it.

    A unit of work on SQLite holds the write lock from its first statement (BEGIN IMMEDIATE):
    a reconciler pass that called every engine inside it made every submit wait for the pass.
    """
    now = datetime.now(UTC)
    grace = _grace_s(settings)
    with unit_of_work(SYSTEM, settings) as uow:  # the platform reads every tenant; no writes
        rows = _pools(uow)
        ads = {r.name: adapter_for(uow, r) for r in rows}
        todo: dict[str, list[tuple[int, str, bool]]] = {}
        names: list[tuple[int, str, str]] = []
        for j in uow.session.scalars(select(ComputeJob).where(ComputeJob.state.in_(OPEN))):
            if j.pool not in ads or not j.engine_id:
                continue
            if j.state != JobState.DISPATCHING.value:
                todo.setdefault(str(j.pool), []).append((j.id, j.engine_id, j.cancel_requested))
            elif _stale(j, now, grace):
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
        rows = _pools(uow)
        refreshed = sum(
            1
            for r in rows
            if _refresh(uow, r, polled.capacity.get(r.name) if polled is not None else None)
        )
        open_jobs = list(uow.session.scalars(select(ComputeJob).where(ComputeJob.state.in_(OPEN))))
        _resolve_dispatching(uow, open_jobs, rows, polled.found if polled is not None else None)
        waiting = [j for j in open_jobs if j.pool is None]
        dispatched = 0
        for job in waiting:
            if job.cancel_requested:
                continue
            if _dispatch(uow, job, load_spec(job.spec), rows, "cost"):
                dispatched += 1
                uow.audit(
                    "compute.job.dispatched",
                    f"compute_job:{job.id}",
                    {"pool": job.pool, "engine_id": job.engine_id},
                    organization_id=job.organization_id,
                )
        transitions, billed = _reconcile_jobs(
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
    now = datetime.now(UTC)
    grace = _grace_s(uow.settings)
    for job in open_jobs:
        row = by_name.get(job.pool or "")
        if row is None or not job.engine_id or not _stale(job, now, grace):
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
        _undispatch(job)
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


def run_reconcile_job(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
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


def _ensure_reconciler(uow: UnitOfWork, org_id: int) -> None:
    """Queue the reconciler job unless one is already queued or running."""
    # One query on the submit path: a reconciler is queued only when none is open, so the
    # newest one is open whenever any is.
    newest = jobs.list_jobs(uow=uow, actor=SYSTEM, kind="compute.reconcile", limit=1)
    if newest and newest[0].status in ("queued", "running"):
        return
    jobs.enqueue(uow=uow, kind="compute.reconcile", params={}, organization_id=org_id)


# ---- usage ---------------------------------------------------------------------------------


def usage(*, uow: UnitOfWork, month: str, organization_id: int | None = None) -> UsageOut:
    """List each job's seconds, windows and prices for a month (the compute statement)."""
    check(uow.actor, "compute.usage.read")
    month_bounds(month)  # validates YYYY-MM
    org = organization_id or uow.actor.organization_id
    if org is None:
        raise InvalidInput("compute.no_organization", "give the organization", field="--as")
    q = (
        select(ComputeUsage, ComputeJob.pool)
        .join(ComputeJob, ComputeJob.id == ComputeUsage.job_id)
        .where(ComputeUsage.month == month, ComputeUsage.organization_id == org)
        .order_by(ComputeUsage.start, ComputeUsage.id)
    )
    lines = [
        UsageLine(
            job_id=u.job_id,
            pool=pool,
            meter=u.meter,
            band=u.band,
            start=u.start,
            end=u.end,
            seconds=u.seconds,
            quantity=u.quantity,
            free_quantity=u.free_quantity,
            unit_price=u.unit_price,
            amount=u.amount,
        )
        for u, pool in uow.session.execute(q).all()
    ]
    cpu_lines = [ln for ln in lines if ln.meter == CPU_METER]
    units = {CPU_METER: "cpu_second", GPU_METER: "gpu_second"}
    billed = metering.statement_total(
        ((ln.meter, ln.band, units[ln.meter], ln.unit_price), ln.quantity, ln.free_quantity)
        for ln in lines
    )
    return UsageOut(
        month=month,
        organization_id=org,
        jobs=len({ln.job_id for ln in lines}),
        seconds=sum((ln.seconds for ln in cpu_lines), ZERO),
        free_quantity=sum((ln.free_quantity for ln in lines), ZERO),
        total=sum((ln.amount for ln in lines), ZERO),
        statement_total=billed,
        lines=lines,
    )


# ---- simulation ----------------------------------------------------------------------------


def simulate_trace(
    *,
    uow: UnitOfWork | None,
    trace: Path,
    pools: Path | None,
    policy: str,
    free_quota: Decimal | None = None,
) -> dict[str, Any]:
    """Replay a trace through the matcher (POOLS.yaml, or the registered pools)."""
    from .engine.pools import load_pools_yaml

    if pools is not None:
        engine_pools = load_pools_yaml(pools)
    else:
        if uow is None:
            raise InvalidInput("compute.pools_missing", "give --pools POOLS.yaml", field="pools")
        check(uow.actor, "compute.pool.read")
        engine_pools = [_engine_pool(r) for r in _pools(uow)]
        if not engine_pools:
            raise InvalidInput(
                "compute.pools_missing",
                "no pools registered; give --pools POOLS.yaml",
                field="pools",
            )
    jobs = read_trace_csv(trace)
    quota = FreeQuota(amount=free_quota) if free_quota is not None else None
    return simulate(jobs, engine_pools, policy, free_quota=quota).to_json()


__all__ = [
    "Capacity",
    "Demand",
    "adapter_for",
    "add_pool",
    "cancel_job",
    "job_logs",
    "job_status",
    "list_jobs",
    "list_pools",
    "reconcile",
    "run_reconcile_job",
    "set_quota_behaviour",
    "simulate_trace",
    "submit_job",
    "suspend_pool",
    "usage",
]
