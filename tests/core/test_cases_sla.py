"""Cases: SLA clocks on a frozen clock, overdue detection, escalation (督查), assessment (考核)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from mingyue.core import cases
from mingyue.core import db as core_db
from mingyue.core.errors import Forbidden, InvalidInput
from mingyue.core.ledger.audit import AuditEntry

try:
    from .test_cases_helpers import World
except ImportError:
    from test_cases_helpers import World  # type: ignore[no-redef]

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 Asia/Shanghai, a Monday


class Clock:
    """A frozen clock that tests move by hand."""

    def __init__(self, start: datetime) -> None:
        self.t = start

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **kw: float) -> datetime:
        self.t += timedelta(**kw)
        return self.t


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(T0)
    monkeypatch.setattr(core_db, "utcnow", c)
    return c


@pytest.fixture
def world(settings: Any, make_org: Any, make_user: Any, actor_of: Any, uow_as: Any) -> World:
    return World.build(settings, make_org, make_user, actor_of, uow_as)


def _open(world: World, title: str = "c", org: str = "A") -> cases.CaseOut:
    who = "a_member" if org == "A" else "b_admin"
    with world.uow_as(world.actors[who]) as uow:
        return cases.open_case(
            uow=uow, kind="core.general", title=title, organization_id=world.orgs[org]
        )


def _act(world: World, who: str, case_id: int, name: str, comment: str | None = None) -> None:
    with world.uow_as(world.actors[who]) as uow:
        cases.transition(uow=uow, case_id=case_id, name=name, comment=comment)


def test_sla_clock_overdue_and_idempotent_escalation(world: World, clock: Clock) -> None:
    c = _open(world)
    assert c.created_at == T0 and c.due_at == T0 + timedelta(hours=24)
    reg = world.actors["regulator"]
    with world.uow_as(reg) as uow:
        assert cases.find_overdue(uow=uow, now=T0 + timedelta(hours=24)) == []
        assert [x.id for x in cases.find_overdue(uow=uow, now=T0 + timedelta(hours=25))] == [c.id]
    # 25 h: past due -> level 1; running again at the same time or later changes nothing.
    with world.uow_as(reg) as uow:
        esc = cases.escalate_overdue(uow=uow, now=clock.advance(hours=25))
    assert [(x.id, x.escalated, x.escalation_level) for x in esc] == [(c.id, True, 1)]
    for hours in (0, 5, 17.9):
        with world.uow_as(reg) as uow:
            assert cases.escalate_overdue(uow=uow, now=clock.advance(hours=hours)) == []
    # One more SLA period overdue (48 h + 1 s after opening) -> level 2; the cap is level 3.
    with world.uow_as(reg) as uow:
        assert [
            x.escalation_level
            for x in cases.escalate_overdue(uow=uow, now=T0 + timedelta(hours=48, seconds=1))
        ] == [2]
    with world.uow_as(reg) as uow:
        assert [
            x.escalation_level for x in cases.escalate_overdue(uow=uow, now=clock.advance(days=30))
        ] == [3]
    with world.uow_as(reg) as uow:
        assert cases.escalate_overdue(uow=uow, now=clock.advance(days=30)) == []
    with world.system() as s:
        esc_entries = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "core.case.escalated")
        ).all()
        assert [e.payload["level"] for e in esc_entries] == [1, 2, 3]
        assert esc_entries[0].organization_id == world.orgs["A"]
    # Taking the case into review late counts a breach and restarts the clock at level 0.
    clock.advance(hours=1)
    _act(world, "reviewer", c.id, "start_review")
    with world.uow_as(world.actors["a_member"]) as uow:
        d = cases.get_case(uow=uow, case_id=c.id)
    assert d.state == "in_review" and d.escalation_level == 0 and d.escalated
    assert d.sla_breaches == 1 and d.due_at == clock.t + timedelta(hours=72)
    assert [e.kind for e in d.events] == [
        "open",
        "escalate",
        "escalate",
        "escalate",
        "transition",
        "assign",
    ]
    assert d.events[-2].late is True  # the transition event (the claim follows it)


def test_escalation_needs_supervise_and_aware_time(world: World, clock: Clock) -> None:
    _open(world)
    with pytest.raises(Forbidden), world.uow_as(world.actors["reviewer"]) as uow:
        cases.escalate_overdue(uow=uow, now=T0 + timedelta(days=2))
    with pytest.raises(InvalidInput), world.uow_as(world.actors["regulator"]) as uow:
        cases.find_overdue(uow=uow, now=datetime(2026, 3, 5))  # noqa: DTZ001 (naive on purpose)


def test_overdue_is_scoped(world: World, clock: Clock) -> None:
    a = _open(world, "a", "A")
    _open(world, "b", "B")
    later = T0 + timedelta(hours=30)
    with world.uow_as(world.actors["a_admin"]) as uow:
        assert [x.id for x in cases.find_overdue(uow=uow, now=later)] == [a.id]
    with world.uow_as(world.actors["regulator"]) as uow:
        assert len(cases.find_overdue(uow=uow, now=later)) == 2
        assert len(cases.list_cases(uow=uow, overdue_at=later)) == 2
    # A closed case is never overdue.
    _act(world, "a_member", a.id, "withdraw")
    with world.uow_as(world.actors["regulator"]) as uow:
        assert len(cases.find_overdue(uow=uow, now=later)) == 1


def _handle(world: World, clock: Clock, reviewer: str, review_h: float, wait_h: float = 1) -> int:
    """Open at the clock, wait, start review, review, accept; return the case id."""
    c = _open(world)
    clock.advance(hours=wait_h)
    _act(world, reviewer, c.id, "start_review")
    clock.advance(hours=review_h)
    _act(world, reviewer, c.id, "accept")
    return c.id


def test_assessment_figures(world: World, clock: Clock) -> None:
    # reviewer: four cases, handling times 2, 3, 11, 81 h (1 h waiting each); the last one
    # spends 80 h in review (SLA 72 h) and so is late.
    for review_h in (1, 2, 10, 80):
        _handle(world, clock, "reviewer", review_h)
    # reviewer2: one case on time (5 h), one whose waiting (30 h > 24 h SLA) was escalated.
    _handle(world, clock, "reviewer2", 4)
    c = _open(world)
    clock.advance(hours=30)
    with world.uow_as(world.actors["regulator"]) as uow:
        assert len(cases.escalate_overdue(uow=uow, now=clock.t)) == 1
    _act(world, "reviewer2", c.id, "start_review")
    clock.advance(hours=2)
    _act(world, "reviewer2", c.id, "accept")
    # An open case is not counted; nor is a case closed outside the period.
    _open(world)
    until = clock.t + timedelta(seconds=1)
    with world.uow_as(world.actors["regulator"]) as uow:
        figs = cases.assessment(uow=uow, since=T0, until=until)
        assert cases.assessment(uow=uow, since=until, until=until + timedelta(days=1)) == []
        with pytest.raises(InvalidInput):
            cases.assessment(uow=uow, since=until, until=T0)
    by_user = {f.assignee_user_id: f for f in figs}
    r1 = by_user[world.users["reviewer"]]
    assert (r1.handled, r1.on_time, r1.on_time_rate) == (4, 3, 0.75)
    assert r1.mean_hours == pytest.approx((2 + 3 + 11 + 81) / 4)
    assert r1.p90_hours == 81  # nearest rank: ceil(0.9 * 4) = 4th of [2, 3, 11, 81]
    assert r1.assignee_org_id == world.orgs["OP"] and r1.label == "运营方 / reviewer"
    r2 = by_user[world.users["reviewer2"]]
    assert (r2.handled, r2.on_time, r2.on_time_rate) == (2, 1, 0.5)
    assert r2.mean_hours == pytest.approx((5 + 32) / 2) and r2.p90_hours == 32
    assert [f.assignee_user_id for f in figs] == [world.users["reviewer"], world.users["reviewer2"]]


def test_percentile_nearest_rank() -> None:
    assert cases.percentile([5.0], 90) == 5.0
    values = [float(v) for v in range(1, 11)]
    assert cases.percentile(values, 90) == 9.0
    assert cases.percentile(values, 100) == 10.0
    assert cases.percentile(list(reversed(values)), 50) == 5.0
    with pytest.raises(ValueError):
        cases.percentile([], 90)


def test_escalation_job(world: World, clock: Clock, run_jobs: Any) -> None:
    from mingyue.core import jobs

    c = _open(world)
    clock.advance(hours=25)
    with world.uow_as(world.actors["regulator"]) as uow:
        job = jobs.enqueue(uow=uow, kind="core.case.escalate")
    run_jobs()
    with world.uow_as(world.actors["regulator"]) as uow:
        done = jobs.get_job(uow=uow, actor=world.actors["regulator"], job_id=job.id)
        assert done.status == "succeeded", done.error
        assert done.result == {"escalated": [c.id], "count": 1}
        assert cases.get_case(uow=uow, case_id=c.id).escalation_level == 1
    # A job submitted by someone without the supervise permission fails with the reason.
    with world.uow_as(world.actors["reviewer"]) as uow:
        job = jobs.enqueue(uow=uow, kind="core.case.escalate")
    run_jobs()
    with world.uow_as(world.actors["reviewer"]) as uow:
        failed = jobs.get_job(uow=uow, actor=world.actors["reviewer"], job_id=job.id)
    assert failed.status == "failed" and "core.case.supervise" in (failed.error or "")
