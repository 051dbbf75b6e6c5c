"""Transition hooks of the city case: keep the centre's file, the unit's task, the reporters'
reports, rewards, shared events and findings in step with the core case, in the same unit of work.

Whichever way a step is taken (the dispatch desk, the API, the core's case page), the hook of its
transition does the bookkeeping and writes the citygov ledger entry; the service functions only
check and prepare (the task of a dispatch, the text of a feedback) before the transition.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mingyue.enablers.citygov.models_cases import CitygovCase, CitygovTask
from mingyue.sdk import CaseOut, SubjectView, UnitOfWork, now
from mingyue.sdk.errors import Conflict, InvalidInput

from . import reports, sharing, supervise
from .common import calendar, catalogue, org_name
from .views import category_name


def _file(uow: UnitOfWork, case: CaseOut) -> CitygovCase:
    row = uow.session.scalars(select(CitygovCase).where(CitygovCase.case_id == case.id)).first()
    if row is None:  # a citygov case always has its file; a missing one is a broken invariant
        raise Conflict("citygov.no_file", f"case {case.id} has no citygov file", case_id=case.id)
    return row


def _task(uow: UnitOfWork, row: CitygovCase, *statuses: str) -> CitygovTask | None:
    return uow.session.scalars(
        select(CitygovTask)
        .where(CitygovTask.city_case_id == row.id, CitygovTask.status.in_(statuses))
        .order_by(CitygovTask.id.desc())
    ).first()


def _audit(uow: UnitOfWork, event: str, row: CitygovCase, **extra: Any) -> None:
    uow.audit(
        f"citygov.case.{event}",
        f"citygov_case:{row.id}",
        {"code": row.code, "case_id": row.case_id, "stage": row.stage, **extra},
        organization_id=row.organization_id,
    )


def _stage_due(uow: UnitOfWork, stage: str) -> Any:
    limit = catalogue().stages[stage]
    return calendar(uow.settings).add(now(), limit.amount, limit.unit)


def on_register(*, uow: UnitOfWork, case: CaseOut) -> None:
    """立案: the problem is the city's to solve; the dispatch clock starts."""
    row = _file(uow, case)
    row.stage, row.registered_at = "registered", now()
    row.stage_due_at = _stage_due(uow, "dispatch")
    reports.sync_status(uow, row)
    _audit(uow, "registered", row)
    sharing.emit(uow, row, "registered")


def on_reject(*, uow: UnitOfWork, case: CaseOut) -> None:
    """不予立案: nothing to do (not a city problem, not found on site, already solved)."""
    row = _file(uow, case)
    row.stage, row.stage_due_at, row.closed_at = "invalid", None, now()
    reports.sync_status(uow, row)
    _audit(uow, "rejected", row)


def on_dispatch(*, uow: UnitOfWork, case: CaseOut) -> None:
    """派遣: the task the dispatch desk prepared goes to its unit; the handling clock runs."""
    row = _file(uow, case)
    task = _task(uow, row, "dispatched")
    if task is None:
        raise InvalidInput(
            "citygov.dispatch_needs_unit",
            "dispatch from the city desk, which chooses the unit and the time limit",
            field="unit_org_id",
        )
    row.stage, row.dispatched_at = "dispatched", task.dispatched_at
    row.unit_org_id, row.stage_due_at = task.organization_id, task.due_at
    row.dispatch_count += 1
    reports.sync_status(uow, row)
    _audit(
        uow,
        "dispatched",
        row,
        unit_org_id=task.organization_id,
        task_id=task.id,
        due_at=task.due_at.isoformat(),
    )
    sharing.emit(uow, row, "dispatched")


def on_accept(*, uow: UnitOfWork, case: CaseOut) -> None:
    """接单: the unit has taken the task."""
    row = _file(uow, case)
    task = _task(uow, row, "dispatched")
    if task is not None:
        task.status, task.accepted_at = "handling", now()
    row.stage = "handling"
    _audit(uow, "accepted", row, task_id=task.id if task else None)


def on_send_back(*, uow: UnitOfWork, case: CaseOut) -> None:
    """回退: the unit says the task is not its own; the case waits for another dispatch."""
    row = _file(uow, case)
    task = _task(uow, row, "dispatched", "handling")
    if task is not None:
        task.status, task.returned_at = "returned", now()
    row.stage, row.unit_org_id = "registered", None
    row.stage_due_at = _stage_due(uow, "dispatch")
    reports.sync_status(uow, row)
    _audit(
        uow,
        "sent_back",
        row,
        task_id=task.id if task else None,
        unit_org_id=task.organization_id if task else None,
    )


def on_feedback(*, uow: UnitOfWork, case: CaseOut) -> None:
    """处理反馈: the unit reports the problem handled; the verification clock runs."""
    row = _file(uow, case)
    task = _task(uow, row, "handling")
    t = now()
    due = _stage_due(uow, "verify")
    if task is not None:
        task.status, task.fed_back_at, task.verify_due_at = "fed_back", t, due
        task.feedback_count += 1
    row.stage, row.fed_back_at, row.stage_due_at = "fed_back", t, due
    reports.sync_status(uow, row)
    _audit(uow, "fed_back", row, task_id=task.id if task else None)


def _verified(task: CitygovTask | None) -> None:
    if task is not None:
        t = now()
        task.verified_at = t
        task.verified_on_time = task.verify_due_at is None or t <= task.verify_due_at


def on_verify_pass(*, uow: UnitOfWork, case: CaseOut) -> None:
    """核查结案: verified on site; the case closes, rewards are credited, findings settle."""
    row = _file(uow, case)
    task = _task(uow, row, "fed_back")
    _verified(task)
    t = now()
    if task is not None:
        task.status, task.closed_at = "closed", t
        task.on_time = task.fed_back_at is not None and task.fed_back_at <= task.due_at
    row.stage, row.closed_at, row.stage_due_at = "closed", t, None
    reports.sync_status(uow, row)
    _audit(
        uow,
        "closed",
        row,
        task_id=task.id if task else None,
        on_time=task.on_time if task else None,
    )
    reports.credit_rewards(uow, row)
    sharing.emit(uow, row, "closed")
    if task is not None:
        supervise.settle(uow, row, task)


def on_rework(*, uow: UnitOfWork, case: CaseOut) -> None:
    """核查不通过: back to the unit (返工); the original handling deadline still holds."""
    row = _file(uow, case)
    task = _task(uow, row, "fed_back")
    _verified(task)
    if task is not None:
        task.status, task.rework_count = "handling", task.rework_count + 1
        row.stage_due_at = task.due_at
    row.stage, row.rework_count = "handling", row.rework_count + 1
    reports.sync_status(uow, row)
    _audit(uow, "reworked", row, task_id=task.id if task else None)


def on_evaluate(*, uow: UnitOfWork, case: CaseOut) -> None:
    """综合评价: the closed case entered its month's ranking."""
    row = _file(uow, case)
    row.stage, row.evaluated_at = "evaluated", now()
    _audit(uow, "evaluated", row)


def subject_view(*, uow: UnitOfWork, case: CaseOut) -> SubjectView | None:
    """Show the city case's file above the core case's history."""
    row = uow.session.scalars(select(CitygovCase).where(CitygovCase.case_id == case.id)).first()
    if row is None:
        return None
    return SubjectView(
        title="citygov.subject.title",
        fields=[
            ("citygov.subject.code", row.code),
            ("citygov.subject.category", f"{row.category} {category_name(row.category)}"),
            ("citygov.subject.address", row.address or f"{row.lon:.5f}, {row.lat:.5f}"),
            ("citygov.subject.unit", org_name(uow, row.unit_org_id) or "—"),
        ],
        link=f"/citygov/cases/{row.id}",
        link_label="citygov.subject.open",
    )
