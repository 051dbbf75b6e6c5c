"""Shared job workers are shared fairly: a per-organization limit of running jobs and a claim
order that favours the organization with the fewest running jobs (GitHub issue 12, item 5)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from mingyue.core import jobs
from mingyue.core.config import Settings
from mingyue.core.db import system_session
from mingyue.core.errors import Forbidden
from mingyue.core.jobs import execution


def _enqueue(uow_as: Any, actor: Any, seconds: float = 0.0) -> int:
    with uow_as(actor) as uow:
        return jobs.enqueue(
            uow=uow, kind="core.selftest", params={"seconds": seconds, "steps": 4}
        ).id


def _job(settings: Settings, job_id: int) -> jobs.Job:
    with system_session(settings, "test") as s:
        return s.scalars(select(jobs.Job).where(jobs.Job.id == job_id)).one()


def test_default_limit_follows_the_workers(tmp_path: Any) -> None:
    def cap(**kw: Any) -> int | None:
        return execution.max_running_per_org(Settings(data_dir=tmp_path, **kw))

    assert cap() == 1  # 2 embedded workers
    assert cap(embedded_workers=1) == 1
    assert cap(embedded_workers=8) == 4
    assert cap(embedded_workers=8, job_max_running_per_org=3) == 3
    assert cap(job_max_running_per_org=0) is None


def test_poll_order_and_claim_honour_the_limit(
    settings: Settings, tenants: Any, actor_of: Any, uow_as: Any
) -> None:
    a, b = actor_of(tenants.a.member), actor_of(tenants.b.member)
    a1, a2, a3 = (_enqueue(uow_as, a) for _ in range(3))
    b1 = _enqueue(uow_as, b)
    assert execution.queued_ids(settings) == [a1, a2, a3, b1]  # nobody runs: oldest first
    assert execution._claim(settings, a1, "other-worker") is not None  # a1 now runs
    assert execution.queued_ids(settings) == [b1]  # A is at its limit of 1
    assert execution._claim(settings, a2, "w") is None  # refused: A runs its limit
    assert execution.is_waiting(settings, a2) and not execution.is_waiting(settings, a1)
    two = settings.model_copy(update={"job_max_running_per_org": 2})
    assert execution.queued_ids(two) == [b1, a2, a3]  # B runs fewer jobs: B first
    assert execution._claim(two, a2, "w") is not None
    assert execution.queued_ids(two) == [b1]
    unlimited = settings.model_copy(update={"job_max_running_per_org": 0})
    assert execution.queued_ids(unlimited) == [b1, a3]


@pytest.mark.parametrize("cap", [None, 2])
def test_other_tenant_runs_before_the_third_long_job(
    settings: Settings, tenants: Any, actor_of: Any, uow_as: Any, cap: int | None
) -> None:
    s = settings.model_copy(update={"job_max_running_per_org": cap, "embedded_workers": 2})
    a, b = actor_of(tenants.a.member), actor_of(tenants.b.member)
    long_jobs = [_enqueue(uow_as, a, seconds=1.5) for _ in range(3)]
    quick = _enqueue(uow_as, b, seconds=0.05)
    runner = jobs.EmbeddedRunner(s, threads=2, poll_s=0.05)
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while _job(s, quick).status != "succeeded" and time.monotonic() < deadline:
            time.sleep(0.05)
        b_job, third = _job(s, quick), _job(s, long_jobs[2])
        assert b_job.status == "succeeded"
        assert third.started_at is None or b_job.started_at < third.started_at
        if cap is None:  # 1 per organization with 2 workers: A's others wait for its own job
            assert _job(s, long_jobs[1]).status == third.status == "queued"
    finally:
        for job_id in long_jobs:
            with uow_as(a) as uow:
                if _job(s, job_id).status not in jobs.FINISHED:
                    jobs.request_cancel(uow=uow, actor=a, job_id=job_id)
        runner.stop()


def test_selftest_is_a_platform_admin_tool(
    settings: Settings, tenants: Any, actor_of: Any, uow_as: Any
) -> None:
    for user in (tenants.a.member, tenants.a.admin, tenants.regulator.admin):
        actor = actor_of(user)
        with pytest.raises(Forbidden), uow_as(actor) as uow:
            jobs.submit(uow=uow, actor=actor, kind="core.selftest", params={"seconds": 0})
    admin = actor_of(tenants.operator.admin)
    with uow_as(admin) as uow:
        out = jobs.submit(uow=uow, actor=admin, kind="core.selftest", params={"seconds": 0})
    assert out.organization_id == tenants.operator.org.id


def test_a_platform_job_does_not_take_the_organizations_slot(
    settings: Settings, tenants: Any, actor_of: Any, uow_as: Any
) -> None:
    a = actor_of(tenants.a.member)
    with uow_as(a) as uow:
        platform_job = jobs.enqueue(
            uow=uow, kind="core.selftest", params={"seconds": 0, "steps": 1}, platform=True
        ).id
    own = _enqueue(uow_as, a)
    assert execution._claim(settings, platform_job, "w") is not None  # the platform job runs
    assert _job(settings, platform_job).submitted_by_id is None
    assert execution.queued_ids(settings) == [own]  # and A still has its one slot
    assert execution._claim(settings, own, "w") is not None
