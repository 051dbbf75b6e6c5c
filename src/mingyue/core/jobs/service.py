"""Background jobs: registry of job kinds, the ``core_job`` table and the job services.

To add a job kind: 1. write ``def run(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]``;
2. add ``"<key>.<kind>": "module:run"`` to your Enabler's ``job_kinds``; 3. enqueue it with
``jobs.enqueue(uow=..., kind="<key>.<kind>", params={...})``.

Jobs run on the embedded runner (threads inside ``mingyue serve``, polling the database) or,
with ``MINGYUE_REDIS_URL`` set, on ``mingyue worker`` processes fed from a Redis list. The database
row is the truth either way: a job is claimed with a conditional UPDATE, so a duplicate queue
entry is harmless, and a reaper retries or fails a running job whose worker stopped beating.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select, update

from mingyue.core import files
from mingyue.core.db import utcnow
from mingyue.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from mingyue.core.jobs.execution import (
    PLATFORM_SUBMITTER,
    EmbeddedRunner,
    JobCancelled,
    JobContext,
    reap,
    run_job,
    run_job_now,
    run_pending,
)
from mingyue.core.jobs.models import (
    FINISHED,
    STATUSES,
    Job,
    JobOut,
    _kinds,
    _load_registry,
    _params_digest,
    kinds,
    register_kind,
)
from mingyue.core.jobs.queueing import push_after_commit, queue_key_of
from mingyue.core.tenancy.access import Actor, check

if TYPE_CHECKING:
    from mingyue.core.uow import UnitOfWork


def enqueue(
    *,
    uow: UnitOfWork,
    kind: str,
    params: dict[str, Any] | None = None,
    organization_id: int | None = None,
    max_attempts: int | None = None,
    platform: bool = False,
) -> JobOut:
    """Queue a job of a registered kind for the actor's (or the given) organization.

    ``platform=True`` queues a platform service job (a reconciler, a billing run): it runs as
    the platform and does not count against the organization's share of the workers.
    """
    _load_registry()
    if kind not in _kinds:
        raise InvalidInput(
            "core.job.unknown_kind", f"unknown job kind: {kind}", field="kind", kind=kind
        )
    params = dict(params or {})
    try:
        digest = _params_digest(params)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            "core.job.bad_params", f"job parameters must be JSON: {exc}", field="params"
        ) from exc
    org_id = organization_id if organization_id is not None else uow.actor.organization_id
    if org_id is None:
        raise InvalidInput(
            "core.job.no_organization", "a job needs an organization", field="organization_id"
        )
    scope = uow.session.info.get("scope")
    if scope is None or not scope.allows(org_id):
        raise Forbidden("core.forbidden", "a job may only be queued for an organization in scope")
    attempts = max_attempts if max_attempts is not None else uow.settings.job_max_attempts
    if attempts < 1:
        raise InvalidInput(
            "core.job.bad_max_attempts", "max_attempts must be at least 1", field="max_attempts"
        )
    actor = uow.actor
    now = utcnow()
    job = Job(
        organization_id=org_id,
        kind=kind,
        params=params,
        status="queued",
        progress=0,
        message="",
        attempts=0,
        max_attempts=attempts,
        cancel_requested=False,
        submitted_by=PLATFORM_SUBMITTER if platform else actor.username,
        submitted_by_id=None if platform else actor.user_id,
        created_at=now,
        queued_at=now,
    )
    uow.session.add(job)
    uow.flush()
    uow.audit(
        "core.job.enqueued",
        f"core_job:{job.id}",
        {"kind": kind, "params_sha256": digest, "max_attempts": attempts},
        organization_id=org_id,
    )
    if uow.settings.redis_url:
        push_after_commit(uow.session, uow.settings.redis_url, queue_key_of(uow.settings), job.id)
    return JobOut.model_validate(job)


# Kinds a user may queue directly (API, CLI), each with the roles that may queue it (on top of
# ``core.job.submit``); every other kind is queued by its enabler's service, which checks its own
# permission and validates its parameters first. ``core.selftest`` only occupies a shared worker,
# so it is the platform admin's tool (GitHub issue 12, item 5).
SUBMITTABLE: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"core.selftest": ("platform_admin",)}
)


def submit(
    *, uow: UnitOfWork, actor: Actor, kind: str, params: dict[str, Any] | None = None
) -> JobOut:
    """Queue a job of a kind open to direct submission, for the actor's organization."""
    check(actor, "core.job.submit")
    roles = SUBMITTABLE.get(kind)
    if roles is None:
        raise InvalidInput(
            "core.job.not_submittable",
            f"job kind {kind} is started by its own service, not directly",
            field="kind",
            kind=kind,
        )
    if not actor.is_system and not any(actor.has_role(r) for r in roles):
        raise Forbidden("core.forbidden", f"job kind {kind} may be queued by {', '.join(roles)}")
    if kind == "core.selftest":
        _selftest_params(params or {})
    return enqueue(uow=uow, kind=kind, params=params)


def _load(uow: UnitOfWork, job_id: int) -> Job:
    job = uow.session.scalars(select(Job).where(Job.id == job_id)).first()
    if job is None:
        raise NotFound("core.job.not_found", f"job {job_id} not found", job_id=job_id)
    return job


def get_job(*, uow: UnitOfWork, actor: Actor, job_id: int) -> JobOut:
    """Return one job the actor may see."""
    check(actor, "core.job.read")
    job = _load(uow, job_id)
    check(actor, "core.job.read", job)
    return JobOut.model_validate(job)


def list_jobs(
    *,
    uow: UnitOfWork,
    actor: Actor,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[JobOut]:
    """Return the jobs the actor may see, newest first."""
    check(actor, "core.job.read")
    if status is not None and status not in STATUSES:
        raise InvalidInput(
            "core.job.bad_status", f"status must be one of {', '.join(STATUSES)}", field="status"
        )
    limit = max(1, min(limit, 500))
    q = select(Job).order_by(Job.id.desc()).limit(limit).offset(max(0, offset))
    if status is not None:
        q = q.where(Job.status == status)
    if kind is not None:
        q = q.where(Job.kind == kind)
    return [JobOut.model_validate(j) for j in uow.session.scalars(q)]


def _may_cancel(actor: Actor, job: Job) -> bool:
    if actor.is_system or actor.has_role("platform_admin"):
        return True
    if actor.user_id is not None and actor.user_id == job.submitted_by_id:
        return True
    return actor.has_role("org_admin") and actor.organization_id == job.organization_id


def request_cancel(*, uow: UnitOfWork, actor: Actor, job_id: int) -> JobOut:
    """Cancel a queued job at once, or ask a running job to stop; refuse a finished one."""
    check(actor, "core.job.cancel")
    job = _load(uow, job_id)
    check(actor, "core.job.cancel", job)
    if not _may_cancel(actor, job):
        raise Forbidden(
            "core.job.cancel_not_owner",
            "only the submitter or an administrator may cancel this job",
        )
    if job.status in FINISHED:
        raise Conflict(
            "core.job.already_finished",
            f"job {job.id} has already {job.status}; it cannot be cancelled",
            job_id=job.id,
            status=job.status,
        )
    if job.cancel_requested:
        return JobOut.model_validate(job)
    now = utcnow()
    subject = f"core_job:{job.id}"
    # Conditional: a worker may claim the job between our read and this write.
    done = uow.session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status == "queued")
        .values(
            status="cancelled",
            cancel_requested=True,
            finished_at=now,
            message="cancelled before it started",
        )
        .execution_options(synchronize_session=False)
    )
    uow.audit(
        "core.job.cancel_requested",
        subject,
        {"status": job.status},
        organization_id=job.organization_id,
    )
    if getattr(done, "rowcount", 0) == 1:
        uow.audit(
            "core.job.finished",
            subject,
            {"status": "cancelled", "attempts": job.attempts},
            organization_id=job.organization_id,
        )
    else:
        uow.session.execute(
            update(Job)
            .where(Job.id == job.id)
            .values(cancel_requested=True)
            .execution_options(synchronize_session=False)
        )
    uow.session.refresh(job)
    return JobOut.model_validate(job)


class SelftestParams(BaseModel):
    """Parameters of the ``core.selftest`` job."""

    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(1.0, ge=0, le=600, description="How long it runs in total.")
    steps: int = Field(5, ge=1, le=1000, description="Progress steps.")
    fail: str | None = Field(None, max_length=500, description="Fail at the end with this.")
    echo: Any = Field(None, description="Returned in the result as given.")
    write_bytes: int = Field(
        0,
        ge=0,
        le=64 * 1024 * 1024,
        description="Store an artifact of this many bytes, written a part per step (checks "
        "that workers can write the content store; a retry writes the same bytes).",
    )


def _selftest_params(params: dict[str, Any]) -> SelftestParams:
    try:
        return SelftestParams.model_validate(params)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first.get("loc", ())) or "params"
        raise InvalidInput(
            "core.job.selftest_bad_params",
            f"selftest parameter {name}: {first.get('msg')}",
            field=f"params.{name}",
        ) from exc


class _SelftestArtifact:
    """A readable stream that takes one selftest step per part it hands out."""

    def __init__(self, ctx: JobContext, p: SelftestParams) -> None:
        self.ctx, self.p, self.part, self.left = ctx, p, 0, p.write_bytes

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        _step(self.ctx, self.p.seconds / self.p.steps)
        self.part += 1
        n = min(self.left, -(-self.p.write_bytes // self.p.steps))
        self.left -= n
        self.ctx.progress(round(100 * self.part / self.p.steps), f"step {self.part}/{self.p.steps}")
        # The same bytes on every attempt of this job: a retry stores the same blob.
        block = hashlib.sha256(f"selftest:{self.ctx.job_id}:{self.part}".encode()).digest()
        return (block * (n // len(block) + 1))[:n]


def _step(ctx: JobContext, seconds: float) -> None:
    step_end = time.monotonic() + seconds
    while True:  # sleep in short slices so that a cancel is honoured within ~0.1 s
        ctx.raise_if_cancelled()
        left = step_end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(0.1, left))


def _selftest_write(ctx: JobContext, p: SelftestParams) -> dict[str, Any]:
    with ctx.unit_of_work() as uow:
        stored = files.store(
            uow=uow,
            data=cast(BinaryIO, _SelftestArtifact(ctx, p)),
            filename=f"selftest-{ctx.job_id}.bin",
            purpose="selftest",
            organization_id=ctx.organization_id,
        )
    return {
        "steps_done": p.steps,
        "seconds": p.seconds,
        "echo": p.echo,
        "file_id": stored.id,
        "sha256": stored.sha256,
        "size": stored.size,
    }


def selftest(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Sleep in steps with progress, honour cancellation, and return what was done."""
    p = _selftest_params(params)
    seconds, steps = p.seconds, p.steps
    if p.write_bytes:
        out = _selftest_write(ctx, p)
        if p.fail:
            raise RuntimeError(p.fail)
        return out
    done = 0
    for i in range(steps):
        step_end = time.monotonic() + seconds / steps
        while True:  # sleep in short slices so that a cancel is honoured within ~0.1 s
            if ctx.cancelled():
                return {"steps_done": done, "cancelled": True}
            left = step_end - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(0.1, left))
        done = i + 1
        ctx.progress(round(100 * done / steps), f"step {done}/{steps}")
    if p.fail:
        raise RuntimeError(p.fail)
    return {"steps_done": done, "seconds": seconds, "echo": p.echo}


__all__ = [
    "FINISHED",
    "STATUSES",
    "SUBMITTABLE",
    "EmbeddedRunner",
    "Job",
    "JobCancelled",
    "JobContext",
    "JobOut",
    "SelftestParams",
    "enqueue",
    "get_job",
    "kinds",
    "list_jobs",
    "reap",
    "register_kind",
    "request_cancel",
    "run_job",
    "run_job_now",
    "run_pending",
    "selftest",
    "submit",
]
