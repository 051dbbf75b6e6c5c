"""Pools: register, list (live capacity), suspend, maintenance windows, tariffs; and the pool
as the matcher sees it (capacity, load, reservations held against it)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from sqlalchemy import select

from mingyue.enablers.compute.adapters.base import EngineUnavailable
from mingyue.enablers.compute.engine.pools import Pool, PoolLoad
from mingyue.enablers.compute.engine.states import Capacity, JobState
from mingyue.enablers.compute.models import ComputeJob, ComputePool
from mingyue.enablers.compute.schemas import PoolIn, PoolOut
from mingyue.enablers.compute.tariffs import PoolTariff, parse_tariff
from mingyue.sdk import UnitOfWork, check, now
from mingyue.sdk.errors import Conflict, InvalidInput, NotFound

from .engines import adapter_for, seal_credentials

# unfinished: the reconciler looks at these (a dispatching job is resolved, the others polled)
OPEN = (JobState.DISPATCHING.value, JobState.QUEUED.value, JobState.RUNNING.value)


def all_pools(uow: UnitOfWork) -> list[ComputePool]:
    """Return every pool, oldest first."""
    return list(uow.session.scalars(select(ComputePool).order_by(ComputePool.id)))


def pool_row(uow: UnitOfWork, name: str) -> ComputePool:
    """Return the pool of that name (404 when there is none)."""
    row = uow.session.scalars(select(ComputePool).where(ComputePool.name == name)).first()
    if row is None:
        raise NotFound("compute.pool_unknown", f"no pool {name!r}", field="pool")
    return row


def pool_out(row: ComputePool) -> PoolOut:
    """Return what a caller sees of a pool (capacity and utilisation as last read)."""
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
        isolated=cap.get("isolated"),
        isolation=cap.get("isolation"),
    )


def refresh_pool(
    uow: UnitOfWork, row: ComputePool, polled: Capacity | EngineUnavailable | None = None
) -> bool:
    """Read the pool's capacity from its engine (or take ``polled``); False when it is down."""
    try:
        if isinstance(polled, EngineUnavailable):
            raise polled
        cap = polled if polled is not None else adapter_for(uow, row).capacity()
    except EngineUnavailable as exc:
        row.down_reason = exc.message
        row.refreshed_at = now()
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
        "isolated": cap.isolated,
        "isolation": cap.isolation,
    }
    row.down_reason = cap.down_reason
    row.refreshed_at = now()
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
        credentials_enc=seal_credentials(uow, pool.credentials),
        provider_organization_id=uow.actor.organization_id,
        capacity={},
    )
    uow.session.add(row)
    uow.flush()
    refresh_pool(uow, row)
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
    return pool_out(row)


def list_pools(*, uow: UnitOfWork, refresh: bool = False) -> list[PoolOut]:
    """List the pools (refreshing capacity from the engines when asked)."""
    check(uow.actor, "compute.pool.read")
    rows = list(uow.session.scalars(select(ComputePool).order_by(ComputePool.name)))
    if refresh:
        for row in rows:
            refresh_pool(uow, row)
    return [pool_out(r) for r in rows]


def suspend_pool(*, uow: UnitOfWork, name: str, suspended: bool = True) -> PoolOut:
    """Suspend (or resume) a pool: running jobs finish, new ones go elsewhere."""
    check(uow.actor, "compute.pool.manage")
    row = pool_row(uow, name)
    row.suspended = suspended
    uow.audit(
        "compute.pool.suspended" if suspended else "compute.pool.resumed",
        f"compute_pool:{row.id}",
        {"name": name},
    )
    return pool_out(row)


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
    row = pool_row(uow, name)
    at = now()
    kept = [[a, b] for a, b in (row.maintenance or []) if datetime.fromisoformat(b) > at]
    row.maintenance = [*kept, [start.astimezone(UTC).isoformat(), end.astimezone(UTC).isoformat()]]
    uow.audit(
        "compute.pool.maintenance",
        f"compute_pool:{row.id}",
        {"name": name, "start": row.maintenance[-1][0], "end": row.maintenance[-1][1]},
    )
    return pool_out(row)


def maintenance_overlap(row: ComputePool, start: datetime, seconds: int) -> datetime | None:
    """Return the end of a maintenance window overlapping [start, start+seconds), if any."""
    end = start + timedelta(seconds=seconds)
    for a, b in row.maintenance or []:
        m_start, m_end = datetime.fromisoformat(a), datetime.fromisoformat(b)
        if start < m_end and end > m_start:
            return m_end
    return None


def pool_holds(uow: UnitOfWork) -> dict[str, tuple[tuple[datetime, datetime, int], ...]]:
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


def engine_pool(row: ComputePool, holds: tuple[tuple[datetime, datetime, int], ...] = ()) -> Pool:
    """Return the pool as the matcher sees it (capacity, tariff, maintenance, ``holds``)."""
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


def pool_load(row: ComputePool) -> PoolLoad:
    """Return the pool's load as last read (free CPUs, queued and running jobs)."""
    cap = row.capacity or {}
    return PoolLoad(
        free_cpus=int(cap.get("free_cpus", 0)),
        queued=int(cap.get("queued", 0)),
        running=int(cap.get("running", 0)),
    )


def max_runtime(rows: Sequence[ComputePool]) -> int | None:
    """Return the longest run any open pool allows (None: one of them has no limit)."""
    limits = [r.max_runtime_s for r in rows if not r.suspended]
    if not limits or any(x is None for x in limits):
        return None
    return max(x for x in limits if x is not None)
