"""Running jobs: claim, heartbeat, record the outcome; the reaper; the embedded runner.

A job is claimed with ``UPDATE core_job ... WHERE status = 'queued'`` (one winner), runs with a
heartbeat thread refreshing ``heartbeat_at``, and ends with one ``core.job.finished`` ledger entry.
Every write after the claim is conditional on (worker_id, attempts), so a worker that was presumed
dead and reaped can never overwrite the outcome of the attempt that replaced it.

The workers are shared by every tenant (GitHub issue 12, item 5): a claim also requires the job's
organization to run fewer than ``max_running_per_org`` jobs, and pollers take the oldest queued
job of the organization with the fewest running jobs, so one tenant cannot hold every worker.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.orm import aliased

from mingyue.core.config import Settings
from mingyue.core.db import system_session, unavailable_reason, utcnow
from mingyue.core.errors import Conflict, Forbidden, MingyueError
from mingyue.core.files.store import sweep_partial
from mingyue.core.jobs.models import FINISHED, Job, JobOut, _load_registry, kinds
from mingyue.core.jobs.queueing import push_after_commit, queue_key
from mingyue.core.ledger import audit
from mingyue.core.plugins import load_ref
from mingyue.core.tenancy.access import SYSTEM, Actor
from mingyue.core.tenancy.identity import User, actor_for
from mingyue.core.uow import UnitOfWork, unit_of_work

log = logging.getLogger(__name__)

_MAX_ERROR = 4000
# PostgreSQL advisory lock (two-int form: class, organization id) serializing one org's claims.
_CLAIM_LOCK_CLASS = 72163
# How often the embedded runner looks for a due signed ledger head.
_HEAD_TICK_S = 5.0


class JobCancelled(Exception):
    """Raised by a handler (or ``ctx.raise_if_cancelled()``) to stop a cancelled job."""


class JobLost(Exception):
    """The job was taken from this worker (reaped after missed heartbeats); stop quietly."""


def new_worker_id(role: str = "worker") -> str:
    """Return a worker id unique across hosts and processes."""
    return f"{role}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class _Claim:
    job_id: int
    kind: str
    params: dict[str, Any]
    attempt: int
    organization_id: int
    submitted_by_id: int | None


# Platform service jobs (reconcilers, billing runs, escalations) run as the platform itself and
# do not count against the organization they were queued for: a reconciler that polls engines
# for an hour must not hold that organization's only slot.
PLATFORM_SUBMITTER = "system"


def _is_platform(job: Any) -> Any:
    # A user may be named "system"; only a job without a submitting user is the platform's.
    return and_(job.submitted_by == PLATFORM_SUBMITTER, job.submitted_by_id.is_(None))


def max_running_per_org(settings: Settings) -> int | None:
    """Return how many jobs of one organization may run at once (None: no limit)."""
    cap = settings.job_max_running_per_org
    if cap is None:
        return max(1, settings.embedded_workers // 2)
    return cap if cap > 0 else None


def _running_of_job_org() -> Any:
    running = aliased(Job)
    return (
        select(func.count())
        .select_from(running)
        .where(
            running.organization_id == Job.organization_id,
            running.status == "running",
            ~_is_platform(running),
        )
        .scalar_subquery()
    )


def _claim(settings: Settings, job_id: int, worker_id: str) -> _Claim | None:
    now = utcnow()
    cap = max_running_per_org(settings)
    with system_session(settings, "jobs: claim") as s:
        cond = [Job.id == job_id, Job.status == "queued", Job.cancel_requested.is_(False)]
        if cap is not None:
            if s.get_bind().dialect.name == "postgresql":
                # Two workers must not both see the organization under its limit (SQLite's
                # BEGIN IMMEDIATE serializes claims already).
                org = s.scalar(select(Job.organization_id).where(Job.id == job_id))
                if org is None:
                    return None
                s.execute(
                    text("SELECT pg_advisory_xact_lock(:c, :o)"),
                    {"c": _CLAIM_LOCK_CLASS, "o": org},
                )
            cond.append(or_(_is_platform(Job), _running_of_job_org() < cap))
        res = s.execute(
            update(Job)
            .where(*cond)
            .values(
                status="running",
                worker_id=worker_id,
                started_at=now,
                heartbeat_at=now,
                attempts=Job.attempts + 1,
                progress=0,
                message="",
                error=None,
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(res, "rowcount", 0) != 1:
            return None
        job = s.scalars(select(Job).where(Job.id == job_id)).one()
        return _Claim(
            job_id=job.id,
            kind=job.kind,
            params=dict(job.params or {}),
            attempt=job.attempts,
            organization_id=job.organization_id,
            submitted_by_id=job.submitted_by_id,
        )


@dataclass
class JobContext:
    """What a handler gets: progress reporting, the cancel flag and a unit of work.

    ``progress`` and ``cancelled`` never touch the database themselves: the job's heartbeat
    thread writes progress and reads the cancel flag. A handler may therefore call them inside
    its own ``unit_of_work()``, even on SQLite where that transaction holds the write lock.
    Keep such units of work short all the same: on SQLite the heartbeat waits for them.
    """

    settings: Settings
    job_id: int
    worker_id: str
    attempt: int
    organization_id: int
    submitted_by_id: int | None
    _cancel: threading.Event = field(default_factory=threading.Event)
    _lost: threading.Event = field(default_factory=threading.Event)
    _pending: tuple[int, str] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _actor: Actor | None = None

    def _owned(self) -> Any:
        return and_(
            Job.id == self.job_id,
            Job.worker_id == self.worker_id,
            Job.attempts == self.attempt,
            Job.status == "running",
        )

    def progress(self, pct: float, message: str = "") -> None:
        """Record how far the job got (0-100) and what it is doing."""
        if self._lost.is_set():
            raise JobLost(f"job {self.job_id} is no longer held by {self.worker_id}")
        with self._lock:
            self._pending = (max(0, min(100, round(pct))), message[:500])

    def cancelled(self) -> bool:
        """Tell whether cancellation was requested (handlers stop promptly when true)."""
        return self._cancel.is_set() or self._lost.is_set()

    def raise_if_cancelled(self) -> None:
        """Stop the handler with JobCancelled when cancellation was requested."""
        if self.cancelled():
            raise JobCancelled(f"job {self.job_id} cancelled")

    @property
    def lost(self) -> bool:
        """Tell whether the job was taken from this worker (reaped)."""
        return self._lost.is_set()

    def _take_pending(self) -> tuple[int, str] | None:
        with self._lock:
            pending, self._pending = self._pending, None
        return pending

    def sync(self) -> None:
        """Write the heartbeat and pending progress; read the cancel flag (the heartbeat's work)."""
        pending = self._take_pending()
        values: dict[str, Any] = {"heartbeat_at": utcnow()}
        if pending is not None:
            values.update(progress=pending[0], message=pending[1])
        try:
            with system_session(self.settings, "jobs: heartbeat") as s:
                res = s.execute(
                    update(Job)
                    .where(self._owned())
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
                if getattr(res, "rowcount", 0) != 1:
                    self._lost.set()
                    return
                if s.scalar(select(Job.cancel_requested).where(Job.id == self.job_id)):
                    self._cancel.set()
        except Exception:
            with self._lock:  # keep the newest value; retry on the next beat
                self._pending = self._pending or pending
            raise

    def actor(self) -> Actor:
        """Return the job's submitter as an Actor (rebuilt from the stored user)."""
        if self._actor is None:
            if self.submitted_by_id is None:
                self._actor = SYSTEM
            else:
                with system_session(self.settings, "jobs: load submitter") as s:
                    user = s.scalars(select(User).where(User.id == self.submitted_by_id)).first()
                    if user is None or not user.is_active:
                        raise Forbidden(
                            "core.job.submitter_inactive",
                            "the user who submitted this job is gone or inactive",
                        )
                    self._actor = actor_for(user)
        return self._actor

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """Open a unit of work acting as the job's submitter; it commits on success."""
        with unit_of_work(self.actor(), self.settings) as uow:
            yield uow


class _Heartbeat(threading.Thread):
    def __init__(self, ctx: JobContext, interval: float) -> None:
        super().__init__(name=f"job-heartbeat-{ctx.job_id}", daemon=True)
        self.ctx, self.interval, self.halt = ctx, interval, threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.interval):
            try:
                self.ctx.sync()
            except Exception as exc:  # a transient database error must not kill the heartbeat
                reason = unavailable_reason(exc)
                if reason is not None:
                    log.warning(
                        "heartbeat of job %s: database unavailable (%s)", self.ctx.job_id, reason
                    )
                else:
                    log.warning("heartbeat of job %s failed", self.ctx.job_id, exc_info=True)
            if self.ctx.lost:
                return


def heartbeat_interval(settings: Settings) -> float:
    """Return how often a running job beats (writes progress, reads the cancel flag)."""
    return max(0.05, min(0.5, settings.job_heartbeat_timeout_s / 4))


def run_job(settings: Settings, job_id: int, worker_id: str) -> JobOut | None:
    """Claim and run one queued job; return its outcome, or None when it was not ours to run."""
    claim = _claim(settings, job_id, worker_id)
    if claim is None:
        return None
    ctx = JobContext(
        settings=settings,
        job_id=claim.job_id,
        worker_id=worker_id,
        attempt=claim.attempt,
        organization_id=claim.organization_id,
        submitted_by_id=claim.submitted_by_id,
    )
    beat = _Heartbeat(ctx, heartbeat_interval(settings))
    beat.start()
    status, result, error = "succeeded", None, None
    try:
        ref = kinds().get(claim.kind)
        if ref is None:
            raise LookupError(f"unknown job kind: {claim.kind}")
        handler: Callable[[JobContext, dict[str, Any]], Any] = load_ref(ref)
        out = handler(ctx, claim.params)
        result = out if isinstance(out, dict) else ({} if out is None else {"value": out})
        json.dumps(result)
        if ctx.cancelled():
            status = "cancelled"
    except (JobCancelled, JobLost):
        status = "cancelled"
    except MingyueError as exc:
        status, error = "failed", exc.message
    except Exception as exc:
        log.exception("job %s (%s) failed", job_id, claim.kind)
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    finally:
        beat.halt.set()
        beat.join(max(5.0, settings.job_heartbeat_timeout_s))
    if ctx.lost:
        log.warning(
            "job %s was reaped from %s while running; its outcome is dropped", job_id, worker_id
        )
        return None
    return _finish(ctx, status, result if status != "failed" else None, error)


def _finish(
    ctx: JobContext, status: str, result: dict[str, Any] | None, error: str | None
) -> JobOut | None:
    now = utcnow()
    values: dict[str, Any] = {
        "status": status,
        "result": result,
        "finished_at": now,
        "heartbeat_at": now,
        "error": error[:_MAX_ERROR] if error else None,
    }
    pending = ctx._take_pending()
    if status == "succeeded":
        values.update(progress=100, message="done")
    elif pending is not None:
        values.update(progress=pending[0], message=pending[1])
    if status == "cancelled":
        values["message"] = "cancelled"
    with unit_of_work(SYSTEM, ctx.settings) as uow:
        res = uow.session.execute(
            update(Job)
            .where(ctx._owned())
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if getattr(res, "rowcount", 0) != 1:
            return None
        payload: dict[str, Any] = {
            "status": status,
            "attempt": ctx.attempt,
            "worker": ctx.worker_id,
        }
        if error:
            payload["error"] = error[:500]
        uow.audit(
            "core.job.finished",
            f"core_job:{ctx.job_id}",
            payload,
            organization_id=ctx.organization_id,
        )
        job = uow.session.scalars(select(Job).where(Job.id == ctx.job_id)).one()
        return JobOut.model_validate(job)


def run_job_now(
    settings: Settings,
    job_id: int,
    worker_id: str | None = None,
    *,
    wait_s: float = 1800.0,
) -> JobOut:
    """Run one queued job in this thread and return its outcome (tests, CLI, demo seeding).

    Against a running deployment a worker may take the job first: then this waits, polling the
    job's state, until that worker finishes it and returns that outcome (a worker that dies
    meanwhile is reaped and the job, queued again, is run here). A job queued behind its
    organization's limit of running jobs is claimed as soon as a slot frees. TimeoutError after
    ``wait_s`` seconds without an outcome; Conflict when the job was cancelled before it ran.
    """
    worker_id = worker_id or new_worker_id("inline")
    deadline = time.monotonic() + wait_s
    pause, next_reap = 0.05, time.monotonic() + settings.job_heartbeat_timeout_s
    while True:
        out = run_job(settings, job_id, worker_id)
        if out is not None:
            return out
        with system_session(settings, "jobs: wait") as s:
            job = s.scalars(select(Job).where(Job.id == job_id)).first()
            state = JobOut.model_validate(job) if job is not None else None
            cancelled = bool(job is not None and job.cancel_requested)
        if state is None:
            raise Conflict("core.job.not_queued", f"job {job_id} is not queued", job_id=job_id)
        if state.status in FINISHED:
            return state
        if state.status == "queued" and cancelled:
            raise Conflict("core.job.not_queued", f"job {job_id} is not queued", job_id=job_id)
        now = time.monotonic()
        if now >= deadline:
            raise TimeoutError(
                f"job {job_id} has no outcome after {wait_s:.0f} s (status {state.status})"
            )
        if state.status == "running" and now >= next_reap:
            reap(settings)  # its worker may be gone, with no reaper running anywhere
            next_reap = now + settings.job_heartbeat_timeout_s
        time.sleep(min(pause, max(0.0, deadline - now)))
        pause = min(1.0, pause * 1.5)


def queued_ids(settings: Settings, limit: int = 20) -> list[int]:
    """Return the ids of queued jobs a worker may claim now, fairest first.

    Fair: the oldest job of the organization with the fewest running jobs comes first, and an
    organization at its limit (``max_running_per_org``) is left out until one of its jobs ends.
    """
    cap = max_running_per_org(settings)
    with system_session(settings, "jobs: poll") as s:
        running = (
            select(Job.organization_id.label("org"), func.count().label("n"))
            .where(Job.status == "running", ~_is_platform(Job))
            .group_by(Job.organization_id)
            .subquery()
        )
        busy = func.coalesce(running.c.n, 0)
        q = (
            select(Job.id)
            .outerjoin(running, running.c.org == Job.organization_id)
            .where(Job.status == "queued", Job.cancel_requested.is_(False))
            .order_by(busy, Job.queued_at, Job.id)
            .limit(limit)
        )
        if cap is not None:
            q = q.where(or_(_is_platform(Job), busy < cap))
        return list(s.scalars(q))


def is_waiting(settings: Settings, job_id: int) -> bool:
    """Tell whether a job is still queued to run (e.g. refused for its organization's limit)."""
    with system_session(settings, "jobs: poll") as s:
        status = s.scalar(
            select(Job.status).where(Job.id == job_id, Job.cancel_requested.is_(False))
        )
        return status == "queued"


def run_pending(settings: Settings, *, max_jobs: int | None = None) -> list[JobOut]:
    """Run queued jobs synchronously (including jobs they queue) until none is left."""
    worker_id = new_worker_id("inline")
    done: list[JobOut] = []
    while max_jobs is None or len(done) < max_jobs:
        ran = False
        for job_id in queued_ids(settings):
            out = run_job(settings, job_id, worker_id)
            if out is not None:
                done.append(out)
                ran = True
            if max_jobs is not None and len(done) >= max_jobs:
                break
        if not ran:
            break
    return done


_next_sweep: dict[str, float] = {}


def _sweep_partial_files(settings: Settings) -> None:
    # A worker killed while writing a file leaves a temporary file; sweep them once an hour.
    key = str(settings.data_dir)
    if time.monotonic() < _next_sweep.get(key, 0.0):
        return
    _next_sweep[key] = time.monotonic() + 3600
    try:
        gone = sweep_partial(settings.data_dir)
    except OSError:
        log.warning("could not sweep partial uploads in %s", key, exc_info=True)
        return
    if gone:
        log.warning("swept %d partial uploads left by killed processes", len(gone))


def reap(settings: Settings, *, now: datetime | None = None) -> list[JobOut]:
    """Retry or fail running jobs whose worker sent no heartbeat in time; return them."""
    _load_registry()  # the ledger refuses unregistered events; a bare worker process has none yet
    _sweep_partial_files(settings)
    now = now or utcnow()
    timeout = settings.job_heartbeat_timeout_s
    cutoff = now - timedelta(seconds=timeout)
    stale_cond = and_(
        Job.status == "running",
        or_(Job.heartbeat_at < cutoff, and_(Job.heartbeat_at.is_(None), Job.started_at < cutoff)),
    )
    with system_session(settings, "jobs: reaper scan") as s:
        stale = list(s.scalars(select(Job.id).where(stale_cond).order_by(Job.id)))
    out: list[JobOut] = []
    for job_id in stale:
        with unit_of_work(SYSTEM, settings) as uow:
            job = uow.session.scalars(select(Job).where(Job.id == job_id, stale_cond)).first()
            if job is None:
                continue
            lost = f"worker lost: {job.worker_id} sent no heartbeat for {timeout}s"
            subject = f"core_job:{job.id}"
            if job.cancel_requested or job.attempts >= job.max_attempts:
                status = "cancelled" if job.cancel_requested else "failed"
                values: dict[str, Any] = {
                    "status": status,
                    "finished_at": now,
                    "error": f"{lost} (attempt {job.attempts} of {job.max_attempts})",
                }
                action, payload = (
                    "core.job.finished",
                    {"status": status, "attempt": job.attempts, "reason": "worker lost"},
                )
            else:
                values = {
                    "status": "queued",
                    "worker_id": None,
                    "heartbeat_at": None,
                    "queued_at": now,
                    "message": f"retrying: {lost}",
                }
                action, payload = (
                    "core.job.retried",
                    {"attempt": job.attempts, "worker": job.worker_id, "reason": "worker lost"},
                )
            res = uow.session.execute(
                update(Job)
                .where(Job.id == job.id, stale_cond)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if getattr(res, "rowcount", 0) != 1:
                continue
            uow.audit(action, subject, payload, organization_id=job.organization_id)
            if values["status"] == "queued" and settings.redis_url:
                push_after_commit(uow.session, settings.redis_url, queue_key(settings), job.id)
            uow.session.refresh(job)
            out.append(JobOut.model_validate(job))
            log.warning("job %s: %s -> %s", job.id, lost, values["status"])
    return out


class EmbeddedRunner:
    """Threads that poll the database for queued jobs (no Redis); one of them also reaps."""

    def __init__(self, settings: Settings, threads: int = 2, poll_s: float = 0.5) -> None:
        self.settings, self.threads, self.poll_s = settings, max(1, threads), poll_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.worker_id = new_worker_id("embedded")

    def start(self) -> None:
        """Start the runner threads."""
        _load_registry()
        self._stop.clear()
        for i in range(self.threads):
            t = threading.Thread(target=self._loop, args=(i,), name=f"mingyue-job-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the threads to stop after their current job and wait for them."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        # A thread still inside a long job stays listed (and `running`) until it ends.
        self._threads = [t for t in self._threads if t.is_alive()]

    @property
    def running(self) -> bool:
        """Tell whether any runner thread is alive."""
        return any(t.is_alive() for t in self._threads)

    def _loop(self, index: int) -> None:
        worker_id = f"{self.worker_id}:{index}"
        next_reap = next_head = 0.0
        reap_every = max(0.5, self.settings.job_heartbeat_timeout_s / 2)
        while not self._stop.is_set():
            ran = False
            try:
                if index == 0 and time.monotonic() >= next_reap:
                    reap(self.settings)
                    next_reap = time.monotonic() + reap_every
                if index == 0 and time.monotonic() >= next_head:
                    # A quiet ledger still gets its last entries signed within the interval.
                    audit.seal_head(self.settings)
                    next_head = time.monotonic() + _HEAD_TICK_S
                # One job at a time from a fresh poll: a lost claim race means the running counts
                # changed, and the rest of an old list would no longer be the fair order.
                for _ in range(self.threads * 2):
                    ids = queued_ids(self.settings, limit=1)
                    if not ids or self._stop.is_set():
                        break
                    if run_job(self.settings, ids[0], worker_id) is not None:
                        ran = True
                        break
            except Exception as exc:
                reason = unavailable_reason(exc)
                if reason is not None:  # a database restart: one line, the next poll retries
                    log.warning(
                        "embedded job runner %s: database unavailable (%s)", worker_id, reason
                    )
                else:
                    log.exception("embedded job runner %s: loop error", worker_id)
            if not ran:
                self._stop.wait(self.poll_s)
