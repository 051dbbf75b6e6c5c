"""Demo seeding and inline job runs against a deployment whose workers run (issue 14 leftovers).

`run_job_now` used to fail with core.job.not_queued when a live worker had taken the job first;
it now waits for that worker's outcome (and runs the job itself if that worker died).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from alembic import command
from sqlalchemy import select

from mingyue.core import jobs, migrate
from mingyue.core.config import Settings
from mingyue.core.db import system_session
from mingyue.core.errors import Conflict
from mingyue.core.jobs import execution
from mingyue.core.jobs.models import Job
from mingyue.core.ledger.audit import AuditEntry
from mingyue.core.tenancy import accounts
from mingyue.core.tenancy.access import SYSTEM
from mingyue.core.uow import unit_of_work
from mingyue.demo import build_demo
from mingyue.testing import make_uscc

REDIS_URL = os.environ.get("MINGYUE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _queue(settings: Settings, org_id: int, **params: Any) -> int:
    with unit_of_work(SYSTEM, settings) as uow:
        return jobs.enqueue(uow=uow, kind="core.selftest", params=params, organization_id=org_id).id


def _status(settings: Settings, job_id: int) -> str:
    with system_session(settings, "test") as s:
        return str(s.scalar(select(Job.status).where(Job.id == job_id)))


def _finished_entries(settings: Settings, job_id: int) -> int:
    with system_session(settings, "test") as s:
        rows = s.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "core.job.finished",
                AuditEntry.subject == f"core_job:{job_id}",
            )
        ).all()
        return len(rows)


def test_run_job_now_waits_for_the_worker_that_took_the_job(
    settings: Settings, make_org: Any
) -> None:
    org = make_org()
    job_id = _queue(settings, org.id, seconds=1.0, steps=4, echo="hello")
    other = threading.Thread(target=execution.run_job, args=(settings, job_id, "worker:other"))
    other.start()
    try:
        deadline = time.monotonic() + 30
        while _status(settings, job_id) == "queued" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _status(settings, job_id) == "running"
        out = execution.run_job_now(settings, job_id)  # formerly: Conflict core.job.not_queued
    finally:
        other.join(60)
    assert out.status == "succeeded"
    assert out.worker_id == "worker:other"  # the other worker's outcome, not a second run
    assert out.result is not None and out.result["echo"] == "hello"
    assert out.attempts == 1
    assert _finished_entries(settings, job_id) == 1


def test_run_job_now_returns_a_finished_jobs_outcome(settings: Settings, make_org: Any) -> None:
    job_id = _queue(settings, make_org().id, seconds=0, steps=1, echo=1)
    first = execution.run_job_now(settings, job_id)
    again = execution.run_job_now(settings, job_id)
    assert first.status == again.status == "succeeded"
    assert again.attempts == 1 and _finished_entries(settings, job_id) == 1


def test_run_job_now_runs_a_job_whose_worker_died(settings: Settings, make_org: Any) -> None:
    s = settings.model_copy(update={"job_heartbeat_timeout_s": 1})
    job_id = _queue(s, make_org().id, seconds=0, steps=1)
    # a worker claims it, then dies without a heartbeat and without any reaper running
    assert execution._claim(s, job_id, "worker:dead") is not None
    started = time.monotonic()
    out = execution.run_job_now(s, job_id, "worker:inline", wait_s=60)
    assert out.status == "succeeded" and out.worker_id == "worker:inline"
    assert out.attempts == 2
    assert time.monotonic() - started < 30


def test_run_job_now_returns_a_cancelled_jobs_outcome(settings: Settings, make_org: Any) -> None:
    job_id = _queue(settings, make_org().id, seconds=0, steps=1)
    with unit_of_work(SYSTEM, settings) as uow:
        jobs.request_cancel(uow=uow, actor=SYSTEM, job_id=job_id)
    out = execution.run_job_now(settings, job_id, wait_s=5)
    assert out.status == "cancelled" and out.attempts == 0


def test_run_job_now_refuses_an_unknown_job(settings: Settings) -> None:
    with pytest.raises(Conflict) as exc:
        execution.run_job_now(settings, 999_999, wait_s=1)
    assert exc.value.key == "core.job.not_queued"


def test_run_job_now_gives_up_after_its_wait(settings: Settings, make_org: Any) -> None:
    s = settings.model_copy(update={"job_heartbeat_timeout_s": 600})
    job_id = _queue(s, make_org().id, seconds=0, steps=1)
    assert execution._claim(s, job_id, "worker:slow") is not None  # running, alive for now
    with pytest.raises(TimeoutError, match=f"job {job_id} has no outcome after 1 s"):
        execution.run_job_now(s, job_id, wait_s=1)


def _worker_env(s: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINGYUE_")}
    env.update(
        MINGYUE_DATA_DIR=str(s.data_dir),
        MINGYUE_ENV="test",
        MINGYUE_REDIS_URL=str(s.redis_url),
        MINGYUE_JOB_QUEUE_PREFIX=str(s.job_queue_prefix),
        MINGYUE_JOB_MAX_RUNNING_PER_ORG="0",
    )
    if s.database_url:
        env["MINGYUE_DATABASE_URL"] = s.database_url
    return env


@pytest.mark.slow
@pytest.mark.service
def test_demo_seeds_while_a_worker_process_runs(settings: Settings, tmp_path: Path) -> None:
    # The deployment's shape: jobs go to Redis and a `mingyue worker` process takes each one the
    # moment it is committed, also the jobs the enablers' demos queue and then run inline.
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        print(f"SKIP: Redis unreachable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis unreachable at {REDIS_URL}: {exc}")
    s = settings.model_copy(
        update={
            "redis_url": REDIS_URL,
            "job_queue_prefix": f"mingyue-demo-test:{uuid.uuid4().hex[:12]}",
            "job_max_running_per_org": 0,
        }
    )
    command.stamp(migrate.alembic_config(s), "heads")  # built by create_all: the worker leaves it
    log = tmp_path / "worker.log"
    with log.open("ab") as err:
        worker = subprocess.Popen(
            [sys.executable, "-m", "mingyue.cli", "worker", "--data-dir", str(s.data_dir)],
            env=_worker_env(s),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        # the worker is up once it has taken a job of its own
        probe = _queue(s, _org_id(s), seconds=0, steps=1)
        deadline = time.monotonic() + 120
        while _status(s, probe) != "succeeded" and time.monotonic() < deadline:
            assert worker.poll() is None, log.read_text(errors="replace")[-3000:]
            time.sleep(0.1)
        assert _status(s, probe) == "succeeded", log.read_text(errors="replace")[-3000:]
        result = build_demo(s)  # formerly: core.job.not_queued when the worker won the race
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)
        redis.Redis.from_url(REDIS_URL).delete(*_queue_keys(s))
    assert len(result["users"]) >= 8  # the core's eight logins, then those enablers' demos seed
    with system_session(s, "test") as ses:
        demo_jobs = ses.scalars(select(Job)).all()
        states = [(j.id, j.kind, j.status, j.worker_id, j.error) for j in demo_jobs]
    assert all(st in ("succeeded", "queued", "running") for _i, _k, st, _w, _e in states), states
    by_worker = [k for _i, k, _st, w, _e in states if (w or "").startswith("worker:")]
    print(f"jobs run by the worker process during the demo: {by_worker}")
    assert "core.selftest" in by_worker


def _org_id(s: Settings) -> int:
    with unit_of_work(SYSTEM, s) as uow:
        return accounts.create_org(
            uow=uow, actor=SYSTEM, name="探针企业", kind="enterprise", uscc=make_uscc()
        ).id


def _queue_keys(s: Settings) -> list[str]:
    r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    return list(r.scan_iter(f"{s.job_queue_prefix}*")) or [f"{s.job_queue_prefix}:none"]
