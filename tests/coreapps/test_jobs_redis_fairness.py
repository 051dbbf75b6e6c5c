"""Redis workers honour the per-organization limit of running jobs (GitHub issue 12, item 5)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from sqlalchemy import select

from mingyue.core import jobs
from mingyue.core.config import Settings
from mingyue.core.db import system_session
from mingyue.core.jobs import execution
from mingyue.core.jobs.redis_queue import RedisWorker, prefix, queue_key
from mingyue.core.uow import unit_of_work

REDIS_URL = os.environ.get("MINGYUE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_settings(settings: Settings) -> Iterator[Settings]:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis unreachable at {REDIS_URL}: {exc}")
    s = settings.model_copy(
        update={
            "redis_url": REDIS_URL,
            "job_queue_prefix": f"mingyue-test:{uuid.uuid4().hex[:12]}",
            "job_max_running_per_org": 1,
        }
    )
    r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield s
    for key in r.scan_iter(match=f"{prefix(s)}:*"):
        r.delete(key)


def _status(s: Settings, job_id: int) -> str:
    with system_session(s, "test") as ses:
        return str(ses.scalar(select(jobs.Job.status).where(jobs.Job.id == job_id)))


def test_job_over_the_limit_is_put_back_behind_other_tenants(
    redis_settings: Settings, tenants: Any, actor_of: Any
) -> None:
    s = redis_settings
    a, b = actor_of(tenants.a.member), actor_of(tenants.b.member)
    ids = []
    for actor in (a, a, b):
        with unit_of_work(actor, s) as uow:  # these settings push to Redis
            ids.append(
                jobs.enqueue(uow=uow, kind="core.selftest", params={"seconds": 0, "steps": 1}).id
            )
    a1, a2, b1 = ids
    r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    r.lrem(queue_key(s), 0, str(a1))  # a1 is taken by a worker elsewhere and runs long
    assert execution._claim(s, a1, "worker-elsewhere") is not None
    worker = RedisWorker(s, poll_timeout_s=1)
    assert worker.run(max_jobs=1) == 1
    assert _status(s, b1) == "succeeded"  # a2 came first in the queue but A is at its limit
    assert _status(s, a2) == "queued"
    assert r.lrange(queue_key(s), 0, -1) == [str(a2)]  # put back, not lost
