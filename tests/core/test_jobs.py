"""Jobs: enqueue, run, progress, results, errors, cancel, the reaper and the embedded runner."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from mingyue.core import jobs
from mingyue.core.db import system_session, utcnow
from mingyue.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from mingyue.core.jobs import models as jobs_models
from mingyue.core.jobs.execution import JobContext, JobLost, _claim
from mingyue.core.ledger.audit import AuditEntry
from mingyue.core.tenancy.access import SYSTEM


def _enqueue(uow_as: Any, actor: Any, **kw: Any) -> jobs.JobOut:
    with uow_as(actor) as uow:
        return jobs.enqueue(uow=uow, kind=kw.pop("kind", "core.selftest"), **kw)


def _job(settings: Any, job_id: int) -> jobs.Job:
    with system_session(settings, "test") as s:
        job = s.scalars(select(jobs.Job).where(jobs.Job.id == job_id)).one()
        s.expunge(job)
        return job


def _actions(settings: Any, job_id: int) -> list[str]:
    with system_session(settings, "test") as s:
        return list(
            s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.subject == f"core_job:{job_id}")
                .order_by(AuditEntry.seq)
            )
        )


@pytest.fixture
def member(tenants: Any, actor_of: Any) -> Any:
    return actor_of(tenants.a.member)


def test_enqueue_and_run_records_result_progress_and_ledger(
    settings: Any, uow_as: Any, member: Any
) -> None:
    out = _enqueue(uow_as, member, params={"seconds": 0.05, "steps": 3, "echo": "hi"})
    assert out.status == "queued" and out.organization_id == member.organization_id
    assert out.submitted_by == member.username and out.submitted_by_id == member.user_id
    done = jobs.run_pending(settings)
    assert [j.id for j in done] == [out.id]
    job = done[0]
    assert job.status == "succeeded" and job.progress == 100 and job.attempts == 1
    assert job.result == {"steps_done": 3, "seconds": 0.05, "echo": "hi"}
    assert job.started_at is not None and job.finished_at is not None
    assert job.finished_at >= job.started_at
    assert _actions(settings, out.id) == ["core.job.enqueued", "core.job.finished"]
    assert jobs.run_pending(settings) == []


def test_handler_error_marks_failed_with_message(settings: Any, uow_as: Any, member: Any) -> None:
    out = _enqueue(uow_as, member, params={"seconds": 0, "steps": 1, "fail": "disk on fire"})
    job = jobs.run_job_now(settings, out.id)
    assert job.status == "failed" and job.result is None
    assert job.error == "RuntimeError: disk on fire"
    # a finished job is not run again: its outcome is returned (a worker may have run it first)
    again = jobs.run_job_now(settings, out.id)
    assert again.status == "failed" and again.attempts == job.attempts == 1


def test_enqueue_refuses_unknown_kind_and_bad_params(uow_as: Any, member: Any) -> None:
    with pytest.raises(InvalidInput) as e:
        _enqueue(uow_as, member, kind="core.nope")
    assert e.value.key == "core.job.unknown_kind"
    with pytest.raises(InvalidInput):
        _enqueue(uow_as, member, params={"x": object()})
    with uow_as(SYSTEM) as uow, pytest.raises(InvalidInput):
        jobs.enqueue(uow=uow, kind="core.selftest")  # the system actor has no organization


def test_enqueue_rolls_back_with_its_unit_of_work(settings: Any, uow_as: Any, member: Any) -> None:
    with pytest.raises(RuntimeError), uow_as(member) as uow:
        jobs.enqueue(uow=uow, kind="core.selftest")
        raise RuntimeError("boom")
    assert jobs.run_pending(settings) == []


def test_tenant_scoping_of_reads_and_cancel(
    settings: Any, uow_as: Any, tenants: Any, actor_of: Any, member: Any
) -> None:
    out = _enqueue(uow_as, member)
    other = actor_of(tenants.b.admin)
    with uow_as(other) as uow:
        assert jobs.list_jobs(uow=uow, actor=other) == []
        with pytest.raises(NotFound):
            jobs.get_job(uow=uow, actor=other, job_id=out.id)
        with pytest.raises(NotFound):
            jobs.request_cancel(uow=uow, actor=other, job_id=out.id)
    # an enqueue into a foreign organization is refused by the session
    with uow_as(other) as uow, pytest.raises(Forbidden):
        jobs.enqueue(uow=uow, kind="core.selftest", organization_id=tenants.a.org.id)
    # the regulator sees every organization's jobs but may not cancel them
    reg = actor_of(tenants.regulator.member)
    with uow_as(reg) as uow:
        assert [j.id for j in jobs.list_jobs(uow=uow, actor=reg)] == [out.id]
        with pytest.raises(Forbidden):
            jobs.request_cancel(uow=uow, actor=reg, job_id=out.id)


def test_list_filters(uow_as: Any, member: Any, settings: Any) -> None:
    a = _enqueue(uow_as, member, params={"seconds": 0, "steps": 1})
    b = _enqueue(uow_as, member, params={"seconds": 0, "steps": 1})
    jobs.run_job_now(settings, a.id)
    with uow_as(member) as uow:
        assert [j.id for j in jobs.list_jobs(uow=uow, actor=member)] == [b.id, a.id]
        assert [j.id for j in jobs.list_jobs(uow=uow, actor=member, status="queued")] == [b.id]
        assert jobs.list_jobs(uow=uow, actor=member, kind="other.kind") == []
        with pytest.raises(InvalidInput):
            jobs.list_jobs(uow=uow, actor=member, status="bogus")


def test_cancel_queued_job_ends_it_at_once(settings: Any, uow_as: Any, member: Any) -> None:
    out = _enqueue(uow_as, member)
    with uow_as(member) as uow:
        job = jobs.request_cancel(uow=uow, actor=member, job_id=out.id)
    assert job.status == "cancelled" and job.finished_at is not None
    assert jobs.run_pending(settings) == []
    assert _actions(settings, out.id) == [
        "core.job.enqueued",
        "core.job.cancel_requested",
        "core.job.finished",
    ]
    with uow_as(member) as uow, pytest.raises(Conflict) as e:
        jobs.request_cancel(uow=uow, actor=member, job_id=out.id)
    assert e.value.key == "core.job.already_finished"
    assert "already cancelled" in e.value.message


def test_cancel_running_job_stops_the_handler(settings: Any, uow_as: Any, member: Any) -> None:
    out = _enqueue(uow_as, member, params={"seconds": 20, "steps": 200})
    result: dict[str, Any] = {}
    t = threading.Thread(
        target=lambda: result.setdefault("job", jobs.run_job_now(settings, out.id))
    )
    t.start()
    deadline = time.monotonic() + 10
    while _job(settings, out.id).progress < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    with uow_as(member) as uow:
        mid = jobs.request_cancel(uow=uow, actor=member, job_id=out.id)
    assert mid.status == "running" and mid.cancel_requested
    t.join(10)
    job = result["job"]
    assert job.status == "cancelled" and job.result is not None and job.result["cancelled"]
    assert job.result["steps_done"] < 200
    assert _actions(settings, out.id)[-1] == "core.job.finished"


def test_finished_job_cannot_be_cancelled(settings: Any, uow_as: Any, member: Any) -> None:
    out = _enqueue(uow_as, member, params={"seconds": 0, "steps": 1})
    jobs.run_pending(settings)
    with uow_as(member) as uow, pytest.raises(Conflict) as e:
        jobs.request_cancel(uow=uow, actor=member, job_id=out.id)
    assert "already succeeded" in e.value.message


def test_only_submitter_or_admin_cancels(
    settings: Any, uow_as: Any, tenants: Any, actor_of: Any, make_user: Any
) -> None:
    mine = actor_of(tenants.a.member)
    colleague = actor_of(make_user(tenants.a.org, roles=("member",)))
    out = _enqueue(uow_as, mine)
    with uow_as(colleague) as uow, pytest.raises(Forbidden):
        jobs.request_cancel(uow=uow, actor=colleague, job_id=out.id)
    admin = actor_of(tenants.a.admin)
    with uow_as(admin) as uow:
        assert jobs.request_cancel(uow=uow, actor=admin, job_id=out.id).status == "cancelled"


def _ctx_unit_of_work_handler(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.unit_of_work() as uow:
        child = jobs.enqueue(uow=uow, kind="core.selftest", params={"seconds": 0, "steps": 1})
        # progress and the cancel flag stay usable while this transaction holds SQLite's lock
        ctx.progress(50, "inside the unit of work")
        time.sleep(0.3)
        assert not ctx.cancelled()
        return {
            "actor": uow.actor.username,
            "org": uow.actor.organization_id,
            "child": child.id,
            "job": ctx.job_id,
        }


def test_context_unit_of_work_acts_as_submitter(
    settings: Any, uow_as: Any, member: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(
        jobs_models._kinds, "core.test_ctx", f"{__name__}:_ctx_unit_of_work_handler"
    )
    out = _enqueue(uow_as, member, kind="core.test_ctx")
    started = time.monotonic()
    done = jobs.run_pending(settings)
    assert time.monotonic() - started < 10
    first = next(j for j in done if j.id == out.id)
    assert first.result == {
        "actor": member.username,
        "org": member.organization_id,
        "child": first.result["child"],
        "job": out.id,
    }
    child = next(j for j in done if j.id == first.result["child"])
    assert child.status == "succeeded" and child.submitted_by == member.username


def test_reaper_retries_then_fails_a_lost_job(settings: Any, uow_as: Any, member: Any) -> None:
    out = _enqueue(uow_as, member, params={"seconds": 0, "steps": 1}, max_attempts=2)
    assert _claim(settings, out.id, "w-dead-1") is not None  # a worker took it, then died
    assert jobs.reap(settings) == []  # heartbeat is fresh
    later = utcnow() + timedelta(seconds=settings.job_heartbeat_timeout_s + 1)
    [retried] = jobs.reap(settings, now=later)
    assert retried.status == "queued" and retried.attempts == 1 and retried.worker_id is None
    assert "worker lost" in retried.message
    assert _claim(settings, out.id, "w-dead-2") is not None
    later = utcnow() + timedelta(seconds=settings.job_heartbeat_timeout_s + 1)
    [failed] = jobs.reap(settings, now=later)
    assert failed.status == "failed" and failed.attempts == 2
    assert failed.error is not None and failed.error.startswith("worker lost: w-dead-2")
    assert _actions(settings, out.id) == [
        "core.job.enqueued",
        "core.job.retried",
        "core.job.finished",
    ]
    assert jobs.reap(settings, now=later) == []


def test_reaped_worker_cannot_overwrite_the_outcome(
    settings: Any, uow_as: Any, member: Any
) -> None:
    out = _enqueue(uow_as, member, params={"seconds": 0, "steps": 1})
    claim = _claim(settings, out.id, "w-slow")
    assert claim is not None
    ctx = JobContext(
        settings=settings,
        job_id=out.id,
        worker_id="w-slow",
        attempt=claim.attempt,
        organization_id=claim.organization_id,
        submitted_by_id=claim.submitted_by_id,
    )
    ctx.progress(40, "working")
    ctx.sync()
    assert _job(settings, out.id).progress == 40 and not ctx.lost
    jobs.reap(settings, now=utcnow() + timedelta(seconds=settings.job_heartbeat_timeout_s + 1))
    ctx.progress(50, "still here")
    ctx.sync()
    assert ctx.lost and ctx.cancelled()
    with pytest.raises(JobLost):
        ctx.progress(60, "still here")
    assert _job(settings, out.id).status == "queued"


def test_embedded_runner_runs_jobs_and_reaps(settings: Any, uow_as: Any, member: Any) -> None:
    stale = _enqueue(uow_as, member, params={"seconds": 0, "steps": 1})
    _claim(settings, stale.id, "w-gone")
    with system_session(settings, "test: age heartbeat") as s:
        s.execute(
            update(jobs.Job)
            .where(jobs.Job.id == stale.id)
            .values(heartbeat_at=utcnow() - timedelta(seconds=settings.job_heartbeat_timeout_s + 5))
        )
    fresh = _enqueue(uow_as, member, params={"seconds": 0.1, "steps": 2})
    runner = jobs.EmbeddedRunner(settings, threads=2, poll_s=0.05)
    runner.start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            states = {_job(settings, i).status for i in (stale.id, fresh.id)}
            if states == {"succeeded"}:
                break
            time.sleep(0.1)
    finally:
        runner.stop()
    assert not runner.running
    assert _job(settings, fresh.id).status == "succeeded"
    reaped = _job(settings, stale.id)
    assert reaped.status == "succeeded" and reaped.attempts == 2


def test_selftest_validates_params(settings: Any, uow_as: Any, member: Any) -> None:
    out = _enqueue(uow_as, member, params={"seconds": -1})
    job = jobs.run_job_now(settings, out.id)
    assert job.status == "failed" and job.error is not None and "seconds" in job.error


def test_selftest_long_step_is_cancelled_promptly(settings: Any, uow_as: Any, member: Any) -> None:
    out = _enqueue(uow_as, member, params={"seconds": 60, "steps": 1})
    result: dict[str, Any] = {}
    t = threading.Thread(
        target=lambda: result.setdefault("job", jobs.run_job_now(settings, out.id))
    )
    t.start()
    deadline = time.monotonic() + 10
    while _job(settings, out.id).status != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    with uow_as(member) as uow:
        jobs.request_cancel(uow=uow, actor=member, job_id=out.id)
    started = time.monotonic()
    t.join(15)
    assert time.monotonic() - started < 10
    assert result["job"].status == "cancelled" and result["job"].result == {
        "steps_done": 0,
        "cancelled": True,
    }


def test_claim_is_atomic_under_contention(settings: Any, uow_as: Any, member: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    out = _enqueue(uow_as, member, params={"seconds": 0, "steps": 1})
    barrier = threading.Barrier(6)

    def grab(i: int) -> bool:
        barrier.wait()
        return _claim(settings, out.id, f"racer-{i}") is not None

    with ThreadPoolExecutor(6) as pool:
        wins = list(pool.map(grab, range(6)))
    assert wins.count(True) == 1
    job = _job(settings, out.id)
    assert job.status == "running" and job.attempts == 1
    assert job.worker_id == f"racer-{wins.index(True)}"
