"""Periodic work: declared schedules fire once per due time across scheduler processes (issue 14 §2).

The process tests start real ``SchedulerRunner`` processes (APScheduler 4 over its SQLAlchemy
data store) against one SQLite data dir, and against one PostgreSQL database, with a short
interval; the claim table must turn every due time into exactly one queued job.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from mingyue.core import config, migrate
from mingyue.core.config import Settings
from mingyue.core.db import dispose_engines, system_session
from mingyue.core.declaration import Enabler, Schedule
from mingyue.core.jobs.models import Job
from mingyue.core.scheduling import firing, listing, triggers
from mingyue.core.scheduling.models import ScheduleRun
from mingyue.core.tenancy.identity import Organization
from mingyue.testing import PG_ADMIN_URL

_RUNNER = r"""
import json, signal, sys, threading
from mingyue.core import config
from mingyue.core.declaration import Schedule
from mingyue.core.scheduling.runner import SchedulerRunner

specs = {k: Schedule(**v) for k, v in json.loads(sys.argv[1]).items()}
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
runner = SchedulerRunner(config.get_settings(), schedules=specs, state_every_s=0.5)
if len(sys.argv) > 3:  # start when told: the test picks the moment within the interval
    print("ready", flush=True)
    sys.stdin.readline()
runner.start()
print("started", flush=True)
stop.wait(float(sys.argv[2]))
runner.stop()
print("stopped", flush=True)
"""


def _spawn(
    env: dict[str, str], specs: dict[str, dict[str, Any]], seconds: float, *, wait: bool = False
) -> Any:
    full = {**os.environ, "MINGYUE_ENV": "test", **env}
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            _RUNNER,
            json.dumps(specs),
            str(seconds),
            *(["wait"] if wait else []),
        ],
        env=full,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_started(proc: Any) -> None:
    line = proc.stdout.readline()
    if line.strip() != "started":
        proc.kill()
        raise AssertionError(f"scheduler did not start: {line!r} {proc.stderr.read()[-3000:]}")


def _stop(proc: Any) -> None:
    # One SIGTERM only: a second one may land while the interpreter shuts down, when Python
    # has put back the default handler, and kill it.
    if proc.poll() is None and not getattr(proc, "stop_sent", False):
        proc.send_signal(signal.SIGTERM)
        proc.stop_sent = True


def _finish(proc: Any) -> None:
    _stop(proc)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 0, err[-3000:]
    assert "stopped" in out, err[-3000:]


def _runs(settings: Settings, name: str) -> list[ScheduleRun]:
    with system_session(settings, "test") as s:
        return list(
            s.scalars(
                select(ScheduleRun).where(ScheduleRun.schedule == name).order_by(ScheduleRun.due_at)
            )
        )


def _jobs(settings: Settings, kind: str) -> list[Job]:
    with system_session(settings, "test") as s:
        return list(s.scalars(select(Job).where(Job.kind == kind).order_by(Job.id)))


def _add_operator(settings: Settings) -> int:
    with system_session(settings, "test") as s:
        org = Organization(name="运营方", kind="operator", is_sme=False, settings={})
        s.add(org)
        s.flush()
        return org.id


def _two_schedulers_fire_once(settings: Settings, env: dict[str, str]) -> None:
    specs = {"test.tick": {"job_kind": "core.selftest", "every_s": 1, "params": {"n": 1}}}
    a = _spawn(env, specs, 30)
    b = _spawn(env, specs, 30)
    try:
        _wait_started(a)
        _wait_started(b)
        time.sleep(6)
    finally:
        _stop(a)
        _stop(b)
        _finish(a)
        _finish(b)
    runs = _runs(settings, "test.tick")
    queued = [r for r in runs if r.status == "queued"]
    assert len(queued) >= 4, [(r.due_at, r.status, r.message) for r in runs]
    assert all(r.status == "queued" for r in runs), [(r.status, r.message) for r in runs]
    # every due time on the one-second grid between the first and the last fired once, and
    # each firing queued exactly one job
    dues = [r.due_at for r in queued]
    assert len(set(dues)) == len(dues)
    span = int((dues[-1] - dues[0]).total_seconds())
    assert len(dues) == span + 1, dues
    jobs = _jobs(settings, "core.selftest")
    assert sorted(j.id for j in jobs) == sorted(r.job_id or 0 for r in queued)
    assert all(j.submitted_by == "system" and j.submitted_by_id is None for j in jobs)
    assert all(j.params == {"n": 1} for j in jobs)


def test_two_scheduler_processes_sqlite_fire_each_due_time_once(settings: Settings) -> None:
    if not settings.is_sqlite:
        pytest.skip("the SQLite variant (the PostgreSQL one has its own test)")
    _add_operator(settings)
    _two_schedulers_fire_once(
        settings, {"MINGYUE_DATA_DIR": str(settings.data_dir), "MINGYUE_DATABASE_URL": ""}
    )
    assert (settings.data_dir / "scheduler.sqlite3").exists()


@pytest.fixture
def pg_settings(tmp_path: Path) -> Iterator[Settings]:
    """Settings over a private, migrated PostgreSQL database (dropped afterwards)."""
    name = f"mingyue_sched_{os.getpid()}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is required for this test: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    data_dir = tmp_path / "pgdata"
    data_dir.mkdir()
    config.reset()
    s = config.configure(data_dir=data_dir, env="test", database_url=url)
    try:
        migrate.upgrade(s)
        yield s
    finally:
        dispose_engines()
        config.reset()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.pg
def test_two_scheduler_processes_postgres_fire_each_due_time_once(pg_settings: Settings) -> None:
    _add_operator(pg_settings)
    env = {
        "MINGYUE_DATA_DIR": str(pg_settings.data_dir),
        "MINGYUE_DATABASE_URL": str(pg_settings.database_url),
    }
    _two_schedulers_fire_once(pg_settings, env)
    with system_session(pg_settings, "test") as s:
        tables = s.scalars(
            text(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = :s"
                " ORDER BY table_name"
            ),
            {"s": pg_settings.scheduler_schema},
        ).all()
    assert "schedules" in tables  # APScheduler's own tables stay in their schema


EVERY = 4  # seconds between due times in the downtime test


def test_misfire_skip_and_run_once_after_downtime(settings: Settings) -> None:
    if not settings.is_sqlite:
        pytest.skip("one database is enough for the downtime semantics")
    _add_operator(settings)
    grace = 1.0
    env = {
        "MINGYUE_DATA_DIR": str(settings.data_dir),
        "MINGYUE_DATABASE_URL": "",
        "MINGYUE_SCHEDULER_MISFIRE_GRACE_S": "1",
    }
    specs = {
        "test.skip": {"job_kind": "core.selftest", "every_s": EVERY, "misfire": "skip"},
        "test.once": {"job_kind": "core.selftest", "every_s": EVERY, "misfire": "run_once"},
    }
    a = _spawn(env, specs, 60)
    try:
        _wait_started(a)
        # stop right after a firing, far from the next due time
        deadline = time.monotonic() + 20
        while len(_runs(settings, "test.once")) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_runs(settings, "test.once")) >= 2, a.stderr
    finally:
        _finish(a)
    last_a = {n: _runs(settings, n)[-1].due_at for n in specs}
    b = _spawn(env, specs, 60, wait=True)
    try:
        assert b.stdout.readline().strip() == "ready"
        # the downtime: at least two due times pass; B then starts mid-interval, so that the
        # latest missed due time is well past the grace when B finds it
        restart = max(last_a.values()) + timedelta(seconds=2 * EVERY + EVERY / 2 + 0.3)
        time.sleep(max(0.0, (restart - datetime.now(UTC)).total_seconds()))
        b.stdin.write("go\n")
        b.stdin.flush()
        _wait_started(b)
        time.sleep(EVERY + 1)
    finally:
        _finish(b)

    def after(name: str) -> list[ScheduleRun]:
        return [r for r in _runs(settings, name) if r.due_at > last_a[name]]

    def late(r: ScheduleRun) -> bool:
        return (r.fired_at - r.due_at).total_seconds() > grace

    once = after("test.once")
    catch_up = [r for r in once if late(r)]
    assert len(catch_up) == 1, [(r.due_at, r.fired_at, r.status) for r in once]
    c = catch_up[0]
    assert c.status == "queued" and c.job_id is not None and "run_once" in c.message
    # the due times missed before it were folded into it: no row of their own
    assert (c.due_at - last_a["test.once"]) >= timedelta(seconds=2 * EVERY)
    assert [r for r in once if r.due_at < c.due_at] == []

    skip = after("test.skip")
    dropped = [r for r in skip if r.status == "skipped"]
    assert len(dropped) == 1, [(r.due_at, r.status) for r in skip]
    assert dropped[0].job_id is None and "skip" in dropped[0].message
    assert (dropped[0].due_at - last_a["test.skip"]) >= timedelta(seconds=2 * EVERY)
    assert not [r for r in skip if r.status == "queued" and late(r)]
    assert [r for r in skip if r.due_at < dropped[0].due_at] == []
    # the scheduler went on firing both on time after the catch-up
    assert any(r.status == "queued" and not late(r) for r in skip)
    assert any(r.status == "queued" and not late(r) for r in once)


# --- one firing, in-process -------------------------------------------------------------


def _fire(settings: Settings, spec: Schedule, due: datetime, now: datetime) -> Any:
    return firing.fire(
        settings, name="test.x", schedule=spec, due_at=due, scheduler_id="t", grace_s=60, now=now
    )


def test_fire_claims_a_due_time_once(settings: Settings) -> None:
    _add_operator(settings)
    spec = Schedule(job_kind="core.selftest", every_s=60)
    due = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    first = _fire(settings, spec, due, due + timedelta(seconds=1))
    assert first is not None and first.status == "queued" and first.job_id is not None
    assert _fire(settings, spec, due, due + timedelta(seconds=2)) is None
    assert len(_jobs(settings, "core.selftest")) == 1


def test_fire_policies_for_a_late_due_time(settings: Settings) -> None:
    _add_operator(settings)
    due = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    later = due + timedelta(hours=3)
    skipped = firing.fire(
        settings,
        name="test.s",
        schedule=Schedule(job_kind="core.selftest", every_s=60, misfire="skip"),
        due_at=due,
        scheduler_id="t",
        grace_s=60,
        now=later,
    )
    assert skipped is not None and skipped.status == "skipped" and skipped.job_id is None
    ran = firing.fire(
        settings,
        name="test.r",
        schedule=Schedule(job_kind="core.selftest", every_s=60, misfire="run_once"),
        due_at=due,
        scheduler_id="t",
        grace_s=60,
        now=later,
    )
    assert ran is not None and ran.status == "queued" and "late by 10800s" in ran.message


def test_fire_without_operator_or_with_unknown_kind_fails_visibly(settings: Settings) -> None:
    due = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    out = _fire(settings, Schedule(job_kind="core.selftest", every_s=60), due, due)
    assert out is not None and out.status == "failed" and "operator" in out.message
    _add_operator(settings)
    out = firing.fire(
        settings,
        name="test.unknown",
        schedule=Schedule(job_kind="nope.kind", every_s=60),
        due_at=due,
        scheduler_id="t",
        grace_s=60,
    )
    assert out is not None and out.status == "failed" and "core.job.unknown_kind" in out.message
    assert _jobs(settings, "nope.kind") == []


def test_fire_refuses_a_naive_due_time(settings: Settings) -> None:
    with pytest.raises(ValueError):
        firing.fire(
            settings,
            name="test.x",
            schedule=Schedule(job_kind="core.selftest", every_s=60),
            due_at=datetime(2026, 12, 1, 2, 0),  # noqa: DTZ001 - the naive time under test
            scheduler_id="t",
            grace_s=60,
        )


# --- declarations -----------------------------------------------------------------------


def test_core_declares_its_schedules() -> None:
    found = listing.declared()
    assert found["core.case.sla_escalation"].job_kind == "core.case.escalate"
    assert found["core.billing.month_close"].params == {"month": "previous"}


def test_problems_of_a_bad_declaration() -> None:
    kinds = {"core.selftest"}
    ok = Schedule(job_kind="core.selftest", cron="*/5 * * * *")
    assert triggers.problems("core.x", ok, kinds) == []
    both = Schedule(job_kind="core.selftest", cron="* * * * *", every_s=5)
    assert "exactly one" in triggers.problems("core.x", both, kinds)[0]
    neither = Schedule(job_kind="core.selftest")
    assert "exactly one" in triggers.problems("core.x", neither, kinds)[0]
    bad_cron = Schedule(job_kind="core.selftest", cron="61 * * * *")
    assert "does not parse" in triggers.problems("core.x", bad_cron, kinds)[0]
    short = Schedule(job_kind="core.selftest", cron="* * *")
    assert "does not parse" in triggers.problems("core.x", short, kinds)[0]
    unknown = Schedule(job_kind="core.nope", every_s=10)
    assert "not declared" in triggers.problems("core.x", unknown, kinds)[0]
    zero = Schedule(job_kind="core.selftest", every_s=0)
    assert "at least 1" in triggers.problems("core.x", zero, kinds)[0]


def test_a_schedule_name_outside_the_key_is_refused() -> None:
    from mingyue.core.plugins import Registry

    en = Enabler(
        key="demoapp",
        title={"zh": "演示", "en": "Demo"},
        schedules={"other.tick": Schedule(job_kind="core.selftest", every_s=5)},
    )
    with pytest.raises(ValueError, match="must start with 'demoapp'"):
        Registry().add(en)


def test_cron_uses_the_platform_zone() -> None:
    spec = Schedule(job_kind="core.selftest", cron="0 2 1 * *")
    at = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # 16:00 in Shanghai
    nxt = triggers.trigger_of(spec, "Asia/Shanghai", at).next()
    assert nxt is not None and nxt.astimezone(UTC) == datetime(2026, 12, 31, 18, 0, tzinfo=UTC)
    daily = Schedule(job_kind="core.selftest", cron="0 2 * * *")
    nxt = triggers.trigger_of(daily, "Asia/Shanghai", at).next()
    assert nxt is not None and nxt.astimezone(UTC) == datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
    every = Schedule(job_kind="core.selftest", every_s=60)
    nxt = triggers.trigger_of(every, "Asia/Shanghai", at + timedelta(seconds=1)).next()
    assert nxt == at + timedelta(seconds=60)


# --- what people see ---------------------------------------------------------------------


def test_schedule_list_shows_next_run_and_last_result(
    settings: Settings, cli: Callable[..., Any], run_jobs: Any
) -> None:
    _add_operator(settings)
    spec = listing.declared()["core.case.sla_escalation"]
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    out = firing.fire(
        settings,
        name="core.case.sla_escalation",
        schedule=spec,
        due_at=due,
        scheduler_id="t",
        grace_s=3600,
    )
    assert out is not None and out.status == "queued"
    run_jobs()
    res = cli("schedule", "list", "--json")
    assert res.exit_code == 0, res.stderr
    rows = {r["name"]: r for r in res.json()}
    esc = rows["core.case.sla_escalation"]
    assert esc["trigger"] == "cron */15 * * * *" and esc["misfire"] == "run_once"
    assert esc["last_status"] == "queued" and esc["last_job_status"] == "succeeded"
    assert esc["last_job_id"] == out.job_id
    assert datetime.fromisoformat(esc["last_due_at"]) == due
    nxt = datetime.fromisoformat(esc["next_run_at"])
    assert nxt > datetime.now(UTC) and nxt.minute % 15 == 0
    close = rows["core.billing.month_close"]
    assert close["last_status"] is None and close["job_kind"] == "core.billing.run"
    table = cli("schedule", "list")
    assert table.exit_code == 0
    assert "succeeded" in table.stdout and "*/15" in table.stdout


def test_schedule_list_on_a_missing_data_dir_is_one_line(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    res = cli("schedule", "list", "--data-dir", str(tmp_path / "nowhere"))
    assert res.exit_code == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "nowhere" in res.stderr


def _login(client: Any, username: str) -> None:
    r = client.post(
        "/login", data={"username": username, "password": "password123"}, follow_redirects=False
    )
    assert r.status_code in (302, 303), r.text


def test_console_schedules_page_for_the_platform_admin_only(
    settings: Settings, client: Any, tenants: Any
) -> None:
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    out = firing.fire(
        settings,
        name="core.case.sla_escalation",
        schedule=listing.declared()["core.case.sla_escalation"],
        due_at=due,
        scheduler_id="scheduler:test",
        grace_s=3600,
    )
    assert out is not None and out.status == "queued"
    _login(client, tenants.operator.admin.username)
    page = client.get("/admin/schedules")
    assert page.status_code == 200, page.text
    assert "定时任务" in page.text and "core.case.sla_escalation" in page.text
    assert "补跑一次" in page.text and "已入队" in page.text and f"#{out.job_id}" in page.text
    assert "core.billing.month_close" in page.text and "每月1日02:00出具上月账单" in page.text
    en = client.get("/admin/schedules?lang=en")
    assert "Scheduled work" in en.text and "Run once" in en.text
    assert 'href="/admin/schedules"' in client.get("/admin").text
    # an organization's admin (even the operator's member, a reviewer) may not see it
    for user in (tenants.a.admin, tenants.operator.member):
        client.cookies.clear()
        _login(client, user.username)
        denied = client.get("/admin/schedules")
        assert denied.status_code == 403, (user.username, denied.status_code)
        assert "core.case.sla_escalation" not in denied.text
        assert 'href="/admin/schedules"' not in client.get("/admin").text
    client.cookies.clear()
    anon = client.get("/admin/schedules", follow_redirects=False)
    assert anon.status_code in (302, 303, 401)


def test_month_close_schedule_closes_the_month_just_ended(
    settings: Settings, run_jobs: Any
) -> None:
    from mingyue.core.clock import local_now

    _add_operator(settings)
    spec = listing.declared()["core.billing.month_close"]
    out = firing.fire(
        settings,
        name="core.billing.month_close",
        schedule=spec,
        due_at=datetime.now(UTC),
        scheduler_id="t",
        grace_s=60,
    )
    assert out is not None and out.job_id is not None
    run_jobs()
    with system_session(settings, "test") as s:
        job = s.scalars(select(Job).where(Job.id == out.job_id)).one()
    expected = (local_now(settings.timezone).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    assert job.status == "succeeded", job.error
    assert job.result is not None and job.result["month"] == expected


# --- the loop ends on its own (a long database outage) ---------------------------------------


def test_a_scheduler_whose_loop_stopped_is_started_again(settings: Settings) -> None:
    if not settings.is_sqlite:
        pytest.skip("in-process on SQLite; the PostgreSQL restart has its own test")
    from apscheduler import RunState

    from mingyue.core.scheduling.runner import SchedulerRunner

    _add_operator(settings)
    spec = Schedule(job_kind="core.selftest", every_s=1, params={"n": 1})
    runner = SchedulerRunner(settings, schedules={"test.revive": spec}, state_every_s=3600)
    runner.start()
    try:
        assert runner.revive() is False  # running: nothing to do
        old = runner._scheduler
        assert old is not None
        old.stop()  # what APScheduler does when its data store fails past its retries
        deadline = time.monotonic() + 10
        while old.state is not RunState.stopped and time.monotonic() < deadline:
            time.sleep(0.05)
        before = len(_runs(settings, "test.revive"))
        time.sleep(2.5)
        assert len(_runs(settings, "test.revive")) == before  # stopped: nothing fires
        assert runner.revive() is True
        assert runner._scheduler is not old
        deadline = time.monotonic() + 10
        while len(_runs(settings, "test.revive")) < before + 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_runs(settings, "test.revive")) >= before + 2
    finally:
        runner.stop()
