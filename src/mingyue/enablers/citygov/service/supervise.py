"""督办 and escalation: an overdue task gets a 督办 notice every ``supervise_repeat_work_hours``;
after ``escalate_after_supervisions`` notices it is escalated to the supervising organization and
the finding ``citygov.case_escalated`` is raised against the unit (settled when the case closes).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mingyue.enablers.citygov.models_cases import CitygovCase, CitygovSupervision, CitygovTask
from mingyue.enablers.citygov.schemas import SupervisionOut
from mingyue.sdk import (
    Actor,
    EvidenceRef,
    JobContext,
    UnitOfWork,
    check,
    comment,
    get_visible,
    now,
    observe_subject,
    raise_finding,
)
from mingyue.sdk.errors import Conflict

from .common import calendar, clean_text, opts, platform_scope, supervisor_org

OPEN = ("dispatched", "handling")
RULE = "citygov.case_escalated"


def _subject(row: CitygovCase) -> str:
    return f"citygov_case:{row.code}"


def _notice(
    uow: UnitOfWork, row: CitygovCase, task: CitygovTask, *, level: int, note: str, by: str
) -> CitygovSupervision:
    t = now()
    cal = calendar(uow.settings)
    overdue = round(cal.elapsed(task.due_at, t, task.limit_unit), 2) if t > task.due_at else 0.0
    to_org = supervisor_org(uow).id if level == 2 else None
    sv = CitygovSupervision(
        organization_id=task.organization_id,
        task_id=task.id,
        city_case_id=row.id,
        level=level,
        at=t,
        overdue_hours=overdue,
        by=by,
        note=note,
        to_org_id=to_org,
    )
    uow.session.add(sv)
    uow.flush()
    event = "escalated" if level == 2 else "supervised"
    uow.audit(
        f"citygov.case.{event}",
        f"citygov_case:{row.id}",
        {
            "code": row.code,
            "task_id": task.id,
            "unit_org_id": task.organization_id,
            "overdue_hours": overdue,
            "to_org_id": to_org,
        },
        organization_id=row.organization_id,
    )
    text = f"{'升级督办' if level == 2 else '督办'}：{row.code} 超期 {overdue:g} 小时" + (
        f"。{note}" if note else ""
    )
    comment(uow=uow, case_id=row.case_id, text=text[:4000])
    return sv


def _escalate(uow: UnitOfWork, row: CitygovCase, task: CitygovTask, by: str) -> None:
    t = now()
    task.escalated_at = row.escalated_at = t
    _notice(uow, row, task, level=2, note="", by=by)
    raise_finding(
        uow=uow,
        organization_id=task.organization_id,
        rule=RULE,
        subject=_subject(row),
        evidence=[
            EvidenceRef(kind="citygov.case", ref=str(row.id), path=f"/citygov/cases/{row.id}")
        ],
        detail={"code": row.code, "category": row.category, "due_at": task.due_at.isoformat()},
    )


def supervise_overdue(uow: UnitOfWork) -> dict[str, int]:
    """Issue the 督办 notices and escalations that are due now (idempotent at a given moment)."""
    o = opts(uow)
    cal = calendar(uow.settings)
    t = now()
    counts = {"supervised": 0, "escalated": 0}
    tasks = uow.session.scalars(
        select(CitygovTask)
        .where(CitygovTask.status.in_(OPEN), CitygovTask.due_at < t)
        .order_by(CitygovTask.due_at)
    ).all()
    for task in tasks:
        row = uow.session.get(CitygovCase, task.city_case_id)
        if row is None:
            continue
        last = task.last_supervised_at
        if last is not None and cal.between(last, t) < o.supervise_repeat_work_hours:
            continue
        task.supervise_count += 1
        task.last_supervised_at = t
        _notice(uow, row, task, level=1, note="", by="system")
        counts["supervised"] += 1
        if task.supervise_count >= o.escalate_after_supervisions and task.escalated_at is None:
            _escalate(uow, row, task, "system")
            counts["escalated"] += 1
    uow.flush()
    return counts


def run_supervise_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """The scheduled overdue check (every 10 minutes)."""
    with ctx.unit_of_work() as uow, platform_scope(uow, "supervise overdue tasks", record=False):
        return supervise_overdue(uow)


def supervise(
    *, uow: UnitOfWork, actor: Actor, city_case_id: int, note: str = ""
) -> SupervisionOut:
    """督办 by a seat: a notice on the case's open task now, whatever the schedule."""
    check(actor, "citygov.case.manage")
    row = get_visible(uow, CitygovCase, city_case_id)
    task = uow.session.scalars(
        select(CitygovTask).where(CitygovTask.city_case_id == row.id, CitygovTask.status.in_(OPEN))
    ).first()
    if task is None:
        raise Conflict(
            "citygov.nothing_to_supervise", "the case has no task being handled", state=row.stage
        )
    text = clean_text(note, field="note", max_len=2000, multiline=True)
    task.supervise_count += 1
    task.last_supervised_at = now()
    sv = _notice(uow, row, task, level=1, note=text, by=actor.label())
    if task.supervise_count >= opts(uow).escalate_after_supervisions and task.escalated_at is None:
        _escalate(uow, row, task, actor.label())
    return SupervisionOut.model_validate(sv)


def list_supervisions(
    *, uow: UnitOfWork, actor: Actor, city_case_id: int | None = None, limit: int = 200
) -> list[SupervisionOut]:
    """Return 督办 notices the caller may read (a unit its own), newest first."""
    check(actor, "citygov.task.read")
    q = select(CitygovSupervision).order_by(CitygovSupervision.id.desc())
    if city_case_id is not None:
        q = q.where(CitygovSupervision.city_case_id == city_case_id)
    return [
        SupervisionOut.model_validate(s)
        for s in uow.session.scalars(q.limit(max(1, min(limit, 500))))
    ]


def settle(uow: UnitOfWork, row: CitygovCase, task: CitygovTask) -> None:
    """A closed case settles its escalation finding (marked fixed; it stays in the register)."""
    if task.escalated_at is None:
        return
    observe_subject(
        uow=uow,
        organization_id=task.organization_id,
        enabler="citygov",
        subject=_subject(row),
        present_rules=[],
        evidence=[
            EvidenceRef(kind="citygov.case", ref=str(row.id), path=f"/citygov/cases/{row.id}")
        ],
    )
