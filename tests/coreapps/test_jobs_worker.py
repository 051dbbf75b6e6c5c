"""Redis mode: real `mingyue worker` processes against real Redis; kill -9 one mid-job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from alembic import command
from sqlalchemy import select

from mingyue.core import jobs, migrate
from mingyue.core.config import Settings
from mingyue.core.db import system_session, utcnow
from mingyue.core.jobs.redis_queue import RedisWorker, prefix, queue_key
from mingyue.core.ledger.audit import AuditEntry

REDIS_URL = os.environ.get("MINGYUE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
HEARTBEAT_TIMEOUT_S = 2

# The real command line: `mingyue worker --data-dir ...` (python -m keeps it inside this venv).
WORKER_CMD = [sys.executable, "-m", "mingyue.cli", "worker"]


@pytest.fixture
def redis_settings(settings: Settings) -> Iterator[Settings]:
    """Return the test settings in Redis mode with a short heartbeat timeout; skip without Redis."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        print(f"SKIP: Redis unreachable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis unreachable at {REDIS_URL}: {exc}")
    update: dict[str, Any] = {
        "redis_url": REDIS_URL,
        "job_heartbeat_timeout_s": HEARTBEAT_TIMEOUT_S,
    }
    if "job_queue_prefix" in Settings.model_fields:
        update["job_queue_prefix"] = f"mingyue-test:{uuid.uuid4().hex[:12]}"
    s = settings.model_copy(update=update)
    # The test database is built by create_all; mark it as migrated so that the worker's schema
    # check (`mingyue worker` upgrades a database that is behind) leaves it alone.
    command.stamp(migrate.alembic_config(s), "heads")
    r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    _clear(r, prefix(s))
    yield s
    _clear(r, prefix(s))


def _clear(r: redis.Redis, p: str) -> None:
    for key in r.scan_iter(match=f"{p}:*"):
        r.delete(key)


def _env(s: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINGYUE_")}
    env.update(
        MINGYUE_DATA_DIR=str(s.data_dir),
        MINGYUE_REDIS_URL=REDIS_URL,
        MINGYUE_ENV="test",
        MINGYUE_JOB_HEARTBEAT_TIMEOUT_S=str(HEARTBEAT_TIMEOUT_S),
    )
    if s.database_url:
        env["MINGYUE_DATABASE_URL"] = s.database_url
    if "job_queue_prefix" in Settings.model_fields:
        env["MINGYUE_JOB_QUEUE_PREFIX"] = prefix(s)
    return env


def _start_worker(s: Settings, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [*WORKER_CMD, "--data-dir", str(s.data_dir)],
            env=_env(s),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def _job(s: Settings, job_id: int) -> jobs.Job:
    with system_session(s, "test") as ses:
        job = ses.scalars(select(jobs.Job).where(jobs.Job.id == job_id)).one()
        ses.expunge(job)
        return job


def _wait(pred: Callable[[], bool], timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


def _stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def _enqueue(s: Settings, uow_as: Any, actor: Any, **kw: Any) -> jobs.JobOut:
    from mingyue.core.uow import unit_of_work

    with unit_of_work(actor, s) as uow:
        return jobs.enqueue(uow=uow, kind="core.selftest", **kw)


@pytest.mark.slow
def test_worker_killed_mid_job_is_retried_then_failed(
    redis_settings: Settings, tenants: Any, actor_of: Any, uow_as: Any, tmp_path: Path
) -> None:
    s = redis_settings
    member = actor_of(tenants.a.member)
    log = tmp_path / "workers.log"
    r = redis.Redis.from_url(REDIS_URL, decode_responses=True)

    # 1. A job that may be attempted twice: kill its worker mid-job; a second worker retries it.
    job = _enqueue(s, uow_as, member, params={"seconds": 3, "steps": 30}, max_attempts=2)
    assert r.lrange(queue_key(s), 0, -1) == [str(job.id)]  # pushed after the commit
    first = _start_worker(s, log)
    try:
        _wait(lambda: _job(s, job.id).progress >= 10, 30, "the first worker's progress", log)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(5)
    killed = _job(s, job.id)
    assert killed.status == "running" and killed.attempts == 1 and killed.progress < 100
    second = _start_worker(s, log)
    try:
        _wait(lambda: _job(s, job.id).status in jobs.FINISHED, 40, "the retry to finish", log)
        done = _job(s, job.id)
        assert done.status == "succeeded", done.error
        assert done.attempts == 2 and done.worker_id != killed.worker_id
        assert done.result == {"steps_done": 30, "seconds": 3, "echo": None}

        # 2. A job with one attempt only: its worker is killed, so it fails with a reason.
        lone = _enqueue(s, uow_as, member, params={"seconds": 30, "steps": 300}, max_attempts=1)
        _wait(lambda: _job(s, lone.id).progress >= 2, 30, "the second worker's progress", log)
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait(5)
    third = _start_worker(s, log)
    try:
        _wait(lambda: _job(s, lone.id).status in jobs.FINISHED, 30, "the reaper", log)
    finally:
        _stop(third)
    failed = _job(s, lone.id)
    assert failed.status == "failed" and failed.attempts == 1
    assert failed.error is not None and failed.error.startswith("worker lost:")
    assert failed.finished_at is not None

    with system_session(s, "test") as ses:
        actions = list(
            ses.execute(
                select(AuditEntry.subject, AuditEntry.action)
                .where(AuditEntry.action.like("core.job.%"))
                .order_by(AuditEntry.seq)
            )
        )
    assert [a for subj, a in actions if subj == f"core_job:{job.id}"] == [
        "core.job.enqueued",
        "core.job.retried",
        "core.job.finished",
    ]
    assert [a for subj, a in actions if subj == f"core_job:{lone.id}"] == [
        "core.job.enqueued",
        "core.job.finished",
    ]
    # the dead workers' processing lists were cleaned up
    assert list(r.scan_iter(match=f"{prefix(s)}:processing:*")) == []


def test_worker_in_process_runs_and_cancels(
    redis_settings: Settings, tenants: Any, actor_of: Any, uow_as: Any
) -> None:
    s = redis_settings
    member = actor_of(tenants.a.member)
    a = _enqueue(s, uow_as, member, params={"seconds": 0.05, "steps": 2})
    b = _enqueue(s, uow_as, member, params={"seconds": 0.05, "steps": 2})
    from mingyue.core.uow import unit_of_work

    with unit_of_work(member, s) as uow:
        jobs.request_cancel(uow=uow, actor=member, job_id=b.id)
    worker = RedisWorker(s, poll_timeout_s=1)
    assert worker.run(until_empty=True) == 1  # b's queue entry is skipped: it was cancelled
    assert _job(s, a.id).status == "succeeded"
    assert _job(s, b.id).status == "cancelled"
    r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    assert r.llen(queue_key(s)) == 0 and not r.exists(worker.processing_key)


def test_lost_push_is_requeued_by_the_reaper(
    redis_settings: Settings, tenants: Any, actor_of: Any, uow_as: Any
) -> None:
    s = redis_settings
    member = actor_of(tenants.a.member)
    job = _enqueue(s, uow_as, member, params={"seconds": 0, "steps": 1})
    r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    r.delete(queue_key(s))  # as if Redis had been down at commit time
    from datetime import timedelta

    from sqlalchemy import update

    with system_session(s, "test: age") as ses:
        ses.execute(
            update(jobs.Job)
            .where(jobs.Job.id == job.id)
            .values(queued_at=utcnow() - timedelta(seconds=HEARTBEAT_TIMEOUT_S + 1))
        )
    worker = RedisWorker(s, poll_timeout_s=1)
    assert worker.reap_once()["orphans"] == [job.id]
    assert worker.run(until_empty=True) == 1
    assert _job(s, job.id).status == "succeeded"


def test_rolled_back_enqueue_pushes_nothing(
    redis_settings: Settings, tenants: Any, actor_of: Any
) -> None:
    from mingyue.core.uow import unit_of_work

    s = redis_settings
    member = actor_of(tenants.a.member)
    r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    with pytest.raises(RuntimeError), unit_of_work(member, s) as uow:
        jobs.enqueue(uow=uow, kind="core.selftest")
        assert r.llen(queue_key(s)) == 0  # not before the commit either
        raise RuntimeError("the request failed after queueing")
    assert r.llen(queue_key(s)) == 0
    with unit_of_work(member, s) as uow:
        a = jobs.enqueue(uow=uow, kind="core.selftest")
        b = jobs.enqueue(uow=uow, kind="core.selftest")
    assert r.lrange(queue_key(s), 0, -1) == [str(b.id), str(a.id)]
