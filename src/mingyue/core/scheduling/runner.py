"""The scheduler process: APScheduler 4 decides when a schedule is due; ``firing`` claims it.

APScheduler keeps each schedule's trigger and next due time in its own SQLAlchemy data store
(``scheduler.sqlite3`` in the data dir, or the schema ``scheduler_schema`` of the PostgreSQL
database), so due times missed while no scheduler ran are found on the next start. Several
processes may share a store; whatever APScheduler hands to two of them (its issue #959 on
SQLite), the claim in ``core_schedule_run`` lets one due time queue one job.

To run it: ``mingyue scheduler`` (or ``mingyue serve``, which embeds one while the setting
``scheduler_embedded`` is true). Schedules come from the declarations (``Enabler.schedules``).
"""

from __future__ import annotations

import fcntl
import logging
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime

import anyio
import tenacity
from apscheduler import (
    CoalescePolicy,
    ConflictPolicy,
    RunState,
    Scheduler,
    current_async_scheduler,
    current_job,
)
from apscheduler.datastores.sqlalchemy import SQLAlchemyDataStore
from apscheduler.serializers.json import JSONSerializer
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from mingyue.core.config import Settings, ensure_data_dir
from mingyue.core.db import is_transient, system_session, unavailable_reason, utcnow
from mingyue.core.declaration import Schedule
from mingyue.core.jobs.execution import new_worker_id
from mingyue.core.scheduling import firing
from mingyue.core.scheduling.listing import declared
from mingyue.core.scheduling.models import ScheduleState
from mingyue.core.scheduling.triggers import describe, fingerprint, problems, trigger_of

log = logging.getLogger(__name__)

STORE_FILE = "scheduler.sqlite3"
_INIT_LOCK_KEY = 7216_3001  # pg_advisory_lock key of the scheduler set-up
# The scheduler processes running in this Python process, by APScheduler identity: the task
# function looks its runner up here (a stored schedule carries only the schedule's name).
_RUNNERS: dict[str, SchedulerRunner] = {}
_RUNNERS_LOCK = threading.Lock()


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, InterfaceError | OSError) or is_transient(exc)


class _Store(SQLAlchemyDataStore):
    """APScheduler's SQLAlchemy store, retrying every transient database error.

    APScheduler 4.0.0a6 retries only ``InterfaceError`` and ``OSError``; a PostgreSQL restart
    answers ``OperationalError`` ("terminating connection", "the database system is starting
    up"), which ended the scheduler's loop for good: no periodic work until the process was
    restarted (found by the restart fault test). Retries wait as APScheduler's settings say
    (exponential, 0.5 to 20 s, for 60 s); a longer outage is the runner's watchdog's case.
    """

    def _retry(self) -> tenacity.AsyncRetrying:
        def after_attempt(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            reason = unavailable_reason(exc) if exc is not None else None
            log.warning(
                "scheduler store: database unavailable (attempt %d): %s",
                state.attempt_number,
                reason or exc,
            )

        return tenacity.AsyncRetrying(
            stop=self.retry_settings.stop,
            wait=self.retry_settings.wait,
            retry=tenacity.retry_if_exception(_retryable),
            after=after_attempt,
            sleep=anyio.sleep,
            reraise=True,
        )


def _store_engine(settings: Settings) -> tuple[Engine, str | None]:
    if settings.is_sqlite:
        path = ensure_data_dir(settings) / STORE_FILE
        eng = create_engine(f"sqlite:///{path.resolve()}", connect_args={"timeout": 30})

        @event.listens_for(eng, "connect")
        def _wal(dbapi_conn: object, _record: object) -> None:
            cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return eng, None
    return create_engine(settings.sqlalchemy_url, pool_pre_ping=True), settings.scheduler_schema


@contextmanager
def _init_lock(settings: Settings, engine: Engine) -> Iterator[None]:
    # Two schedulers starting at once on a fresh database both create APScheduler's schema and
    # tables; PostgreSQL refuses the second CREATE SCHEMA IF NOT EXISTS (a unique violation in
    # pg_namespace), so the set-up is serialized: an advisory lock, or a lock file for SQLite.
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _INIT_LOCK_KEY})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _INIT_LOCK_KEY})
                conn.commit()
        return
    lock_path = ensure_data_dir(settings) / (STORE_FILE + ".lock")
    with lock_path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _fire_task(name: str) -> None:
    """Run by APScheduler at a due time: hand the firing to its runner (``firing.fire``)."""
    sched = current_async_scheduler.get()
    runner = _RUNNERS.get(sched.identity) if sched is not None else None
    if runner is None:
        log.error("schedule %s fired outside a mingyue scheduler; ignored", name)
        return
    due = current_job.get().scheduled_fire_time
    if due is None:  # only a schedule's job has a due time
        log.error("schedule %s fired without a due time; ignored", name)
        return
    runner.fire(name, due)


class SchedulerRunner:
    """One scheduler: APScheduler over its data store, firing declared schedules as platform jobs."""

    def __init__(
        self,
        settings: Settings,
        *,
        schedules: Mapping[str, Schedule] | None = None,
        identity: str | None = None,
        state_every_s: float = 10.0,
    ) -> None:
        self.settings = settings
        self.schedules = dict(declared() if schedules is None else schedules)
        self.identity = identity or new_worker_id("scheduler")
        self.state_every_s = state_every_s
        self._scheduler: Scheduler | None = None
        self._engine: Engine | None = None
        self._schema: str | None = None
        self._halt = threading.Event()
        self._state_thread: threading.Thread | None = None
        bad = [p for name, spec in self.schedules.items() for p in problems(name, spec, None)]
        if bad:
            raise ValueError("; ".join(bad))

    def start(self) -> None:
        """Open the data store, store the declared schedules and start firing (background)."""
        self._engine, self._schema = _store_engine(self.settings)
        with _RUNNERS_LOCK:
            _RUNNERS[self.identity] = self
        try:
            self._open()
        except BaseException:
            self.stop()
            raise
        self.write_state()
        self._state_thread = threading.Thread(
            target=self._state_loop, name=f"{self.identity}-state", daemon=True
        )
        self._state_thread.start()
        log.info("scheduler %s started with %d schedules", self.identity, len(self.schedules))

    def _open(self) -> None:
        if self._engine is None:
            raise RuntimeError("the scheduler's store is closed")
        store = _Store(self._engine, schema=self._schema, serializer=JSONSerializer())
        sched = Scheduler(store, identity=self.identity)
        with _init_lock(self.settings, self._engine):
            sched.__enter__()  # creates APScheduler's schema and tables when missing
        self._scheduler = sched
        self._sync(sched)
        sched.start_in_background()

    def revive(self) -> bool:
        """Start APScheduler again if its loop ended on its own (a database outage longer than
        its retries); return whether it was restarted. Called by the state thread each tick."""
        sched = self._scheduler
        if sched is None or self._halt.is_set() or sched.state is not RunState.stopped:
            return False
        log.warning(
            "scheduler %s: its loop stopped (database outage); starting it again", self.identity
        )
        self._scheduler = None
        try:
            sched.__exit__(None, None, None)
        except Exception as exc:  # the old loop is gone either way
            log.debug("old scheduler loop closed with %s", exc)
        try:
            self._open()
        except Exception as exc:
            self._scheduler = sched  # stopped: the next tick tries again
            reason = unavailable_reason(exc)
            log.warning(
                "scheduler %s not restarted yet: %s", self.identity, reason or repr(exc)[:200]
            )
            return False
        log.info("scheduler %s running again", self.identity)
        return True

    def stop(self) -> None:
        """Stop firing and close the data store."""
        self._halt.set()
        sched, self._scheduler = self._scheduler, None
        if sched is not None:
            try:
                sched.__exit__(None, None, None)
            except Exception:  # stopping must not hide the reason we stop
                log.warning("scheduler %s did not stop cleanly", self.identity, exc_info=True)
        if self._state_thread is not None:
            self._state_thread.join(timeout=5)
        with _RUNNERS_LOCK:
            _RUNNERS.pop(self.identity, None)
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def run_until(self, stop: threading.Event) -> None:
        """Run in the foreground until ``stop`` is set (``mingyue scheduler``)."""
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()

    def _sync(self, sched: Scheduler) -> None:
        # A schedule whose declaration is unchanged keeps its stored state (its next due time
        # survives downtime: that is what makes the misfire policy work); a changed one is
        # replaced; one no longer declared is removed.
        tz = self.settings.timezone
        stored = {s.id: s for s in sched.get_schedules()}
        for name, spec in self.schedules.items():
            fp = fingerprint(spec, tz)
            cur = stored.get(name)
            if cur is not None and cur.metadata.get("fingerprint") == fp:
                continue
            sched.add_schedule(
                _fire_task,
                trigger_of(spec, tz),
                id=name,
                args=[name],
                coalesce=CoalescePolicy.latest,  # after downtime: hand over the latest due time
                misfire_grace_time=None,  # lateness is judged in firing.fire, per policy
                metadata={"fingerprint": fp, "mingyue": True},
                conflict_policy=ConflictPolicy.replace,
            )
        for sid, cur in stored.items():
            if sid not in self.schedules and cur.metadata.get("mingyue"):
                sched.remove_schedule(sid)

    def fire(self, name: str, due_at: datetime) -> None:
        """Fire one due time of a schedule (called from APScheduler's worker thread)."""
        spec = self.schedules.get(name)
        if spec is None:
            log.warning("schedule %s is no longer declared; due time dropped", name)
            return
        out = firing.fire(
            self.settings,
            name=name,
            schedule=spec,
            due_at=due_at,
            scheduler_id=self.identity,
            grace_s=float(self.settings.scheduler_misfire_grace_s),
        )
        if out is not None:
            log.info("schedule %s due %s: %s job=%s", name, out.due_at, out.status, out.job_id)
        self.write_state()

    def write_state(self) -> None:
        """Record each schedule's trigger and next due time for ``schedule list`` and the console."""
        sched = self._scheduler
        if sched is None or sched.state is not RunState.started:
            return  # stopped or being restarted: the next tick writes it
        try:
            nxt = {s.id: s.next_fire_time for s in sched.get_schedules()}
            with system_session(self.settings, "scheduler: state") as s:
                for name, spec in self.schedules.items():
                    row = s.get(ScheduleState, name)
                    if row is None:
                        row = ScheduleState(name=name)
                        s.add(row)
                    row.trigger = describe(spec)
                    row.next_run_at = nxt.get(name)
                    row.scheduler = self.identity
                    row.seen_at = utcnow()
        except (IntegrityError, OperationalError):  # another scheduler wrote it at once
            log.debug("scheduler state not written this time", exc_info=True)

    def _state_loop(self) -> None:
        while not self._halt.wait(self.state_every_s):
            try:
                self.revive()
                self.write_state()
            except Exception as exc:  # the state is a display; firing goes on without it
                reason = unavailable_reason(exc)
                if reason is not None:
                    log.warning("scheduler state not written: database unavailable (%s)", reason)
                else:
                    log.warning("scheduler state update failed", exc_info=True)


def run_scheduler(settings: Settings) -> int:
    """Run one scheduler in the foreground until SIGTERM/SIGINT (``mingyue scheduler``)."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda _s, _f: stop.set())
    runner = SchedulerRunner(settings)
    sys.stderr.write(
        f"scheduler {runner.identity}: {len(runner.schedules)} schedules "
        f"({', '.join(sorted(runner.schedules)) or 'none'})\n"
    )
    sys.stderr.flush()
    runner.run_until(stop)
    return 0
