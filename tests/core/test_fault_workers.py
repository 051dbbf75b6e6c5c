"""Jobs under faults, with real `mingyue worker` processes and a private Redis server.

1. Redis restarted while jobs run (without persistence: the queue is wiped; with AOF: it comes
   back): every job runs exactly once, none is lost, none is retried.
2. A worker killed (SIGKILL) while its job writes a file: no half-written file is ever stored
   under its content address or named by a row; the retry stores the whole file.

The Redis server is started by the test on its own port (the shared one is never restarted),
next to the kill -9 test of ``tests/coreapps/test_jobs_worker.py``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from alembic import command
from sqlalchemy import select

from mingyue.core import jobs, migrate
from mingyue.core.config import Settings
from mingyue.core.db import system_session
from mingyue.core.files.store import StoredFileRow, path_of, sweep_partial
from mingyue.core.ledger import audit
from mingyue.core.ledger.audit import AuditEntry
from mingyue.core.tenancy.access import SYSTEM
from mingyue.core.uow import unit_of_work

HEARTBEAT_TIMEOUT_S = 5  # generous: a loaded 2-core machine must not look like a dead worker
WORKER_CMD = [sys.executable, "-m", "mingyue.cli", "worker"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A redis-server of this test only, on its own port, that the test may restart."""

    def __init__(self, root: Path, persistence: str) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.skip("redis-server is not installed")
        self.exe, self.root, self.port = exe, root, _free_port()
        self.persistence = persistence
        self.url = f"redis://127.0.0.1:{self.port}/0"
        root.mkdir(parents=True, exist_ok=True)
        persist = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if persistence == "aof"
            else ["--appendonly", "no"]
        )
        self.args = [
            exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--dir", str(root), "--logfile", str(root / "redis.log"), *persist,
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it answers."""
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise AssertionError("the private redis-server did not start")

    def stop(self) -> None:
        """Shut the server down (SIGTERM: what `systemctl restart redis` sends)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def private_redis(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[PrivateRedis]:
    srv = PrivateRedis(tmp_path / "redis", getattr(request, "param", "none"))
    srv.start()
    yield srv
    srv.stop()


def _redis_settings(settings: Settings, srv: PrivateRedis) -> Settings:
    s = settings.model_copy(
        update={
            "redis_url": srv.url,
            "job_heartbeat_timeout_s": HEARTBEAT_TIMEOUT_S,
            "job_queue_prefix": f"mingyue-fault:{uuid.uuid4().hex[:12]}",
            "job_max_running_per_org": 0,
        }
    )
    # The test database is built by create_all; mark it migrated so `mingyue worker` leaves it.
    command.stamp(migrate.alembic_config(s), "heads")
    return s


def _env(s: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINGYUE_")}
    env.update(
        MINGYUE_DATA_DIR=str(s.data_dir),
        MINGYUE_REDIS_URL=str(s.redis_url),
        MINGYUE_ENV="test",
        MINGYUE_JOB_HEARTBEAT_TIMEOUT_S=str(HEARTBEAT_TIMEOUT_S),
        MINGYUE_JOB_QUEUE_PREFIX=str(s.job_queue_prefix),
        MINGYUE_JOB_MAX_RUNNING_PER_ORG="0",
    )
    if s.database_url:
        env["MINGYUE_DATABASE_URL"] = s.database_url
    return env


def _start_worker(s: Settings, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [*WORKER_CMD, "--data-dir", str(s.data_dir)],
            env=_env(s),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def _stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def _jobs(s: Settings, ids: list[int]) -> dict[int, jobs.Job]:
    with system_session(s, "test: read jobs") as ses:
        rows = list(ses.scalars(select(jobs.Job).where(jobs.Job.id.in_(ids))))
        ses.expunge_all()
    return {j.id: j for j in rows}


def _wait(pred: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


def _enqueue(s: Settings, actor: Any, n: int, **params: Any) -> list[int]:
    with unit_of_work(actor, s) as uow:
        return [
            jobs.enqueue(uow=uow, kind="core.selftest", params=params, max_attempts=2).id
            for _ in range(n)
        ]


def _job_events(s: Settings) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    with system_session(s, "test: read ledger") as ses:
        for subject, action in ses.execute(
            select(AuditEntry.subject, AuditEntry.action)
            .where(AuditEntry.action.like("core.job.%"))
            .order_by(AuditEntry.seq)
        ):
            out.setdefault(int(subject.split(":")[1]), []).append(action)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("private_redis", ["none", "aof"], indirect=True)
def test_redis_restart_loses_and_doubles_no_job(
    settings: Settings,
    private_redis: PrivateRedis,
    tenants: Any,
    actor_of: Any,
    tmp_path: Path,
) -> None:
    s = _redis_settings(settings, private_redis)
    log = tmp_path / "workers.log"
    a, b = actor_of(tenants.a.member), actor_of(tenants.b.member)
    ids = _enqueue(s, a, 20, seconds=0.3, steps=3) + _enqueue(s, b, 20, seconds=0.3, steps=3)
    workers = [_start_worker(s, log) for _ in range(3)]
    try:

        def done() -> int:
            return sum(j.status in jobs.FINISHED for j in _jobs(s, ids).values())

        _wait(lambda: done() >= 8, 90, "the first jobs", log)
        finished_before = done()
        t0 = time.monotonic()
        private_redis.stop()
        # Jobs queued while Redis is down: their push fails, the reaper pushes them later.
        ids += _enqueue(s, a, 5, seconds=0.1, steps=1) + _enqueue(s, b, 5, seconds=0.1, steps=1)
        time.sleep(2.0)
        private_redis.start()
        down_s = time.monotonic() - t0
        _wait(
            lambda: done() == len(ids),
            120,
            f"all {len(ids)} jobs after the Redis restart",
            log,
        )
        drained_s = time.monotonic() - t0
        assert all(w.poll() is None for w in workers), "a worker died with Redis"
    finally:
        for w in workers:
            _stop(w)
    rows = _jobs(s, ids)
    assert Counter(j.status for j in rows.values()) == {"succeeded": len(ids)}
    assert {j.attempts for j in rows.values()} == {1}  # none ran twice
    events = _job_events(s)
    assert {i: events[i] for i in ids} == {
        i: ["core.job.enqueued", "core.job.finished"] for i in ids
    }
    with unit_of_work(SYSTEM, s) as uow:
        assert audit.verify_chain(uow.session, settings=s).ok
    print(
        f"\nRedis restart (persistence: {private_redis.persistence}): "
        f"{len(ids)} jobs on 3 workers, {finished_before} done before the restart, Redis down "
        f"{down_s:.1f} s, all done {drained_s:.1f} s after the stop; "
        f"statuses {dict(Counter(j.status for j in rows.values()))}, attempts 1 each"
    )


def _blobs(files: Path) -> dict[str, int]:
    out = {}
    for p in files.glob("??/*"):
        out[p.name] = p.stat().st_size
        # Every stored blob is whole: its content hashes to its name.
        assert hashlib.sha256(p.read_bytes()).hexdigest() == p.name, f"half-written blob {p}"
    return out


@pytest.mark.slow
def test_worker_killed_while_writing_a_file_stores_no_half_file(
    settings: Settings,
    private_redis: PrivateRedis,
    tenants: Any,
    actor_of: Any,
    tmp_path: Path,
) -> None:
    s = _redis_settings(settings, private_redis)
    log = tmp_path / "workers.log"
    size = 4 * 1024 * 1024
    [job_id] = _enqueue(s, actor_of(tenants.a.member), 1, seconds=4, steps=8, write_bytes=size)
    files = s.data_dir / "files"
    first = _start_worker(s, log)

    def half_written() -> bool:
        # Watched on disk, not through the job's progress: on SQLite the job's unit of work
        # holds the write lock while it streams, so its heartbeat writes wait until it commits.
        tmp = files / "tmp"
        return tmp.is_dir() and any(p.stat().st_size >= size // 4 for p in tmp.glob("up-*"))

    try:
        _wait(half_written, 60, "the file to be a quarter written", log)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(5)
    partial = [p for p in (files / "tmp").iterdir() if p.name.startswith("up-")]
    assert len(partial) == 1 and 0 < partial[0].stat().st_size < size
    assert _blobs(files) == {}  # nothing under a content address
    with system_session(s, "test: rows") as ses:
        assert list(ses.scalars(select(StoredFileRow.id))) == []  # nothing to serve

    second = _start_worker(s, log)
    try:
        _wait(lambda: _jobs(s, [job_id])[job_id].status in jobs.FINISHED, 60, "the retry", log)
    finally:
        _stop(second)
    job = _jobs(s, [job_id])[job_id]
    assert job.status == "succeeded" and job.attempts == 2, job.error
    assert job.result is not None
    sha = job.result["sha256"]
    assert _blobs(files) == {sha: size}
    with unit_of_work(actor_of(tenants.a.member), s) as uow:
        path = path_of(uow=uow, file_id=job.result["file_id"])
    assert path.name == sha and path.stat().st_size == size
    # The killed attempt's temporary file is swept (by the reaper, after a day; here at once).
    assert sweep_partial(s.data_dir, older_than_s=0) == [partial[0].name]
    assert list((files / "tmp").iterdir()) == []
    assert _job_events(s)[job_id] == ["core.job.enqueued", "core.job.retried", "core.job.finished"]
