"""The closed loop's steps: 立案 / 不予立案, 派遣, a unit's 接单 / 回退 / 处理反馈, 核查 (结案 or
返工). Each checks who may act and prepares, then takes the core transition; the transition's hook
(:mod:`.hooks`) keeps every citygov row in step.

A unit's people act on the task dispatched to them (their own row); the case itself is the
centre's, so the platform takes the case's step for them after that check (``SYSTEM``, in an
explicit, recorded cross-organization scope): the case history names the platform, the ledger
entry and the task name the handler.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mingyue.enablers.citygov.models_cases import CitygovCase, CitygovTask, CitygovUnit
from mingyue.enablers.citygov.schemas import CityCaseOut, TaskOut
from mingyue.sdk import SYSTEM, Actor, UnitOfWork, assign, check, get_visible, now, transition
from mingyue.sdk.errors import Conflict, InvalidInput, NotFound

from .common import calendar, category, clean_text, is_centre, platform_scope
from .intake import details
from .photos import store_photo
from .views import case_out, task_out

MAX_PHOTOS = 6


def _case(uow: UnitOfWork, actor: Actor, city_case_id: int) -> CitygovCase:
    check(actor, "citygov.case.manage")
    return get_visible(uow, CitygovCase, city_case_id)


def _step(
    uow: UnitOfWork,
    row: CitygovCase,
    name: str,
    comment: str | None,
    idempotency_key: str | None,
) -> CityCaseOut:
    transition(
        uow=uow, case_id=row.case_id, name=name, comment=comment, idempotency_key=idempotency_key
    )
    uow.session.refresh(row)
    return case_out(uow, row)


def register(
    *,
    uow: UnitOfWork,
    actor: Actor,
    city_case_id: int,
    comment: str | None = None,
    idempotency_key: str | None = None,
) -> CityCaseOut:
    """立案: the problem is confirmed as the city's to handle."""
    return _step(uow, _case(uow, actor, city_case_id), "register", comment, idempotency_key)


def reject(
    *,
    uow: UnitOfWork,
    actor: Actor,
    city_case_id: int,
    comment: str | None,
    idempotency_key: str | None = None,
) -> CityCaseOut:
    """不予立案 (a reason is required)."""
    return _step(uow, _case(uow, actor, city_case_id), "reject", comment, idempotency_key)


def suggested_units(uow: UnitOfWork, row: CitygovCase) -> list[CitygovUnit]:
    """Return the active units of the case's department first, then the others."""
    units = uow.session.scalars(
        select(CitygovUnit).where(CitygovUnit.active.is_(True)).order_by(CitygovUnit.name)
    ).all()
    return sorted(units, key=lambda u: (u.department != row.department, u.name))


def dispatch(
    *,
    uow: UnitOfWork,
    actor: Actor,
    city_case_id: int,
    unit_org_id: int,
    instruction: str = "",
    idempotency_key: str | None = None,
) -> CityCaseOut:
    """派遣: give a registered case to a unit with its category's time limit."""
    row = _case(uow, actor, city_case_id)
    unit = uow.session.scalars(
        select(CitygovUnit).where(CitygovUnit.org_id == unit_org_id, CitygovUnit.active.is_(True))
    ).first()
    if unit is None:
        raise InvalidInput(
            "citygov.not_a_unit", "that organization is not an active unit", field="unit_org_id"
        )
    if row.stage != "registered":
        raise Conflict(
            "core.case.bad_state",
            f"dispatch is not possible in state {row.stage}",
            state=row.stage,
            transition="dispatch",
        )
    text = clean_text(instruction, field="instruction", max_len=2000, multiline=True)
    cat = category(row.category)
    t = now()
    task = CitygovTask(
        organization_id=unit.org_id,
        city_case_id=row.id,
        case_id=row.case_id,
        status="dispatched",
        snapshot=details(row),
        instruction=text,
        dispatcher=actor.label(),
        dispatched_at=t,
        handle_limit_hours=cat.limit.amount,
        limit_unit=cat.limit.unit,
        due_at=calendar(uow.settings).add(t, cat.limit.amount, cat.limit.unit),
    )
    uow.session.add(task)
    uow.flush()
    assign(uow=uow, case_id=row.case_id, organization_id=unit.org_id)
    return _step(uow, row, "dispatch", text or None, idempotency_key)


def verify(
    *,
    uow: UnitOfWork,
    actor: Actor,
    city_case_id: int,
    passed: bool,
    comment: str | None = None,
    idempotency_key: str | None = None,
) -> CityCaseOut:
    """核查: passed → 结案; failed → 返工 (a reason is required)."""
    row = _case(uow, actor, city_case_id)
    return _step(uow, row, "verify_pass" if passed else "rework", comment, idempotency_key)


# -- a unit's steps ---------------------------------------------------------------------------


def _task(uow: UnitOfWork, actor: Actor, task_id: int) -> CitygovTask:
    task = get_visible(uow, CitygovTask, task_id)
    if not is_centre(uow, actor):
        check(actor, "citygov.task.handle", task)
    return task


def _unit_step(
    uow: UnitOfWork,
    actor: Actor,
    task: CitygovTask,
    name: str,
    comment: str | None,
    idempotency_key: str | None,
) -> None:
    if is_centre(uow, actor):
        transition(
            uow=uow,
            case_id=task.case_id,
            name=name,
            comment=comment,
            idempotency_key=idempotency_key,
        )
        return
    with platform_scope(uow, "处置单位办理派遣给它的案件 / a unit acts on its dispatched case"):
        transition(
            uow=uow,
            case_id=task.case_id,
            name=name,
            comment=comment,
            actor=SYSTEM,
            idempotency_key=idempotency_key,
        )


def _expect(task: CitygovTask, *statuses: str) -> None:
    if task.status not in statuses:
        raise Conflict("citygov.task_bad_state", f"the task is {task.status}", state=task.status)


def accept_task(
    *, uow: UnitOfWork, actor: Actor, task_id: int, idempotency_key: str | None = None
) -> TaskOut:
    """接单: the unit takes the task."""
    task = _task(uow, actor, task_id)
    _expect(task, "dispatched")
    task.handler = actor.label()
    _unit_step(uow, actor, task, "accept", None, idempotency_key)
    uow.session.refresh(task)
    return task_out(task)


def send_back_task(
    *,
    uow: UnitOfWork,
    actor: Actor,
    task_id: int,
    comment: str | None,
    idempotency_key: str | None = None,
) -> TaskOut:
    """回退: not the unit's (wrong department or place); a reason is required."""
    task = _task(uow, actor, task_id)
    _expect(task, "dispatched", "handling")
    _unit_step(uow, actor, task, "send_back", comment, idempotency_key)
    uow.session.refresh(task)
    return task_out(task)


def feedback_task(
    *,
    uow: UnitOfWork,
    actor: Actor,
    task_id: int,
    text: str,
    photos: list[Any] | None = None,
    idempotency_key: str | None = None,
) -> TaskOut:
    """处理反馈: what was done, with photos of the result (metadata stripped)."""
    task = _task(uow, actor, task_id)
    _expect(task, "handling")
    body = clean_text(text, field="feedback", max_len=4000, required=True, multiline=True)
    photos = list(photos or [])
    if len(photos) > MAX_PHOTOS:
        raise InvalidInput(
            "citygov.too_many_photos",
            f"at most {MAX_PHOTOS} photos",
            field="photo",
            max=MAX_PHOTOS,
        )
    ids = [
        store_photo(uow, p, organization_id=task.organization_id, purpose="citygov.feedback")
        for p in photos
    ]
    task.feedback = body
    task.feedback_photo_ids = [*(task.feedback_photo_ids or []), *ids]
    task.handler = task.handler or actor.label()
    _unit_step(uow, actor, task, "feedback", body[:4000], idempotency_key)
    uow.session.refresh(task)
    return task_out(task)


def get_task(*, uow: UnitOfWork, actor: Actor, task_id: int) -> TaskOut:
    """Return one task the caller may read."""
    check(actor, "citygov.task.read")
    return task_out(get_visible(uow, CitygovTask, task_id))


def list_tasks(
    *, uow: UnitOfWork, actor: Actor, status: str | None = None, limit: int = 200
) -> list[TaskOut]:
    """Return the tasks the caller may read (a unit its own), open ones first by deadline."""
    check(actor, "citygov.task.read")
    q = select(CitygovTask)
    if status is not None:
        q = q.where(CitygovTask.status == status)
    rows = uow.session.scalars(q.order_by(CitygovTask.id.desc()).limit(max(1, min(limit, 500))))
    order = {"dispatched": 0, "handling": 1, "fed_back": 2, "closed": 3, "returned": 4}
    return sorted((task_out(r) for r in rows), key=lambda t: (order.get(t.status, 9), t.due_at))


def tasks_of_case(*, uow: UnitOfWork, actor: Actor, city_case_id: int) -> list[TaskOut]:
    """Return every dispatch of one case the caller may read, newest first."""
    check(actor, "citygov.task.read")
    rows = uow.session.scalars(
        select(CitygovTask)
        .where(CitygovTask.city_case_id == city_case_id)
        .order_by(CitygovTask.id.desc())
    )
    return [task_out(r) for r in rows]


def get_city_case(*, uow: UnitOfWork, actor: Actor, city_case_id: int) -> CityCaseOut:
    """Return one case of the centre's file (the centre and oversight roles)."""
    check(actor, "citygov.case.read")
    return case_out(uow, get_visible(uow, CitygovCase, city_case_id))


def list_city_cases(
    *,
    uow: UnitOfWork,
    actor: Actor,
    stage: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[CityCaseOut]:
    """Return cases of the centre's file, newest first (an organization outside sees none)."""
    check(actor, "citygov.case.read")
    q = select(CitygovCase)
    if stage is not None:
        q = q.where(CitygovCase.stage == stage)
    q = q.order_by(CitygovCase.created_at.desc(), CitygovCase.id.desc())
    rows = uow.session.scalars(q.limit(max(1, min(limit, 1000))).offset(max(0, offset)))
    return [case_out(uow, r) for r in rows]


def case_by_code(uow: UnitOfWork, code: str) -> CitygovCase:
    """Return a case of the file by its code (NotFound when absent or out of scope)."""
    row = uow.session.scalars(select(CitygovCase).where(CitygovCase.code == code)).first()
    if row is None:
        raise NotFound("core.not_found", "not found")
    return row
