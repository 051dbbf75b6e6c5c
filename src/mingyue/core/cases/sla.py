"""SLA supervision of cases: overdue detection, escalation (督查) and assessment figures (考核)."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from mingyue.core.cases.kinds import kind_of
from mingyue.core.cases.models import AssigneeFigures, Case, CaseOut
from mingyue.core.cases.service import _actor, _event, now, subject_of
from mingyue.core.errors import InvalidInput
from mingyue.core.tenancy.access import Actor, check
from mingyue.core.tenancy.identity import Organization, User
from mingyue.core.uow import UnitOfWork

if TYPE_CHECKING:
    from mingyue.core.jobs.execution import JobContext

# Escalation levels: 1 when the SLA has passed, one more for each further SLA period overdue.
MAX_LEVEL = 3


def _aware(t: datetime, field: str) -> datetime:
    if t.tzinfo is None:
        raise InvalidInput("core.naive_datetime", "a timezone-aware time is required", field=field)
    return t


def escalation_level(case: Case | CaseOut, now: datetime) -> int:
    """Return how far overdue the case is: 0 on time, 1 past due, +1 per further SLA period."""
    if case.closed_at is not None or case.due_at is None or now <= case.due_at:
        return 0
    period = case.due_at - case.state_entered_at
    if period.total_seconds() <= 0:
        return MAX_LEVEL
    return min(MAX_LEVEL, 1 + int((now - case.due_at) / period))


def find_overdue(*, uow: UnitOfWork, now: datetime, actor: Actor | None = None) -> list[CaseOut]:
    """Return the open cases in scope whose current state is past its SLA at ``now``."""
    actor = _actor(uow, actor)
    check(actor, "core.case.read")
    now = _aware(now, "now")
    q = (
        select(Case)
        .where(Case.closed_at.is_(None), Case.due_at.is_not(None), Case.due_at < now)
        .order_by(Case.due_at, Case.id)
    )
    return [CaseOut.model_validate(c) for c in uow.session.scalars(q).all()]


def escalate_overdue(
    *, uow: UnitOfWork, now: datetime, actor: Actor | None = None
) -> list[CaseOut]:
    """Escalate every overdue case whose level rose since its last escalation (idempotent)."""
    actor = _actor(uow, actor)
    check(actor, "core.case.supervise")
    now = _aware(now, "now")
    q = (
        select(Case)
        .where(Case.closed_at.is_(None), Case.due_at.is_not(None), Case.due_at < now)
        .order_by(Case.due_at, Case.id)
    )
    out: list[CaseOut] = []
    for case in uow.session.scalars(q).all():
        level = escalation_level(case, now)
        if level <= case.escalation_level:
            continue
        previous = case.escalation_level
        case.escalated = True
        case.escalation_level = level
        overdue_h = round((now - case.due_at).total_seconds() / 3600, 2) if case.due_at else 0.0
        payload: dict[str, Any] = {
            "state": case.state,
            "level": level,
            "previous_level": previous,
            "due_at": case.due_at.isoformat() if case.due_at else None,
            "overdue_hours": overdue_h,
        }
        _event(uow, case, actor, "escalate", from_state=case.state, at=now, data=payload)
        uow.audit(
            "core.case.escalated",
            subject_of(case.id),
            payload,
            organization_id=case.organization_id,
        )
        out.append(CaseOut.model_validate(case))
    uow.flush()
    return out


def escalate_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Escalate overdue cases as the job's submitter (job kind ``core.case.escalate``)."""
    with ctx.unit_of_work() as uow:
        out = escalate_overdue(uow=uow, now=now())
    return {"escalated": [c.id for c in out], "count": len(out)}


def percentile(values: list[float], pct: float) -> float:
    """Return the nearest-rank percentile (``pct`` in 0..100) of non-empty values."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def assessment(
    *,
    uow: UnitOfWork,
    since: datetime,
    until: datetime,
    kind: str | None = None,
    actor: Actor | None = None,
) -> list[AssigneeFigures]:
    """Return per-assignee figures for cases closed in [since, until): count, on-time, times.

    Handling time runs from opening to closing; a case is on time when it left no state after
    that state's SLA (so an escalated case is never on time).
    """
    actor = _actor(uow, actor)
    check(actor, "core.case.read")
    since, until = _aware(since, "since"), _aware(until, "until")
    if until <= since:
        raise InvalidInput("core.case.bad_period", "until must be after since", field="until")
    if kind is not None:
        kind_of(kind)
    q = select(Case).where(
        Case.closed_at.is_not(None), Case.closed_at >= since, Case.closed_at < until
    )
    if kind is not None:
        q = q.where(Case.kind == kind)
    groups: dict[tuple[int | None, str | None, int | None], list[Case]] = defaultdict(list)
    for case in uow.session.scalars(q).all():
        groups[(case.assignee_org_id, case.assignee_department, case.assignee_user_id)].append(case)
    labels = _labels(uow, groups)
    out = []
    for key, cases in groups.items():
        hours = [
            ((c.closed_at or c.created_at) - c.created_at).total_seconds() / 3600 for c in cases
        ]
        on_time = sum(1 for c in cases if c.sla_breaches == 0 and not c.escalated)
        out.append(
            AssigneeFigures(
                assignee_org_id=key[0],
                assignee_department=key[1],
                assignee_user_id=key[2],
                label=labels[key],
                handled=len(cases),
                on_time=on_time,
                on_time_rate=round(on_time / len(cases), 4),
                mean_hours=round(sum(hours) / len(hours), 2),
                p90_hours=round(percentile(hours, 90), 2),
            )
        )
    out.sort(key=lambda f: (-f.handled, f.label))
    return out


def _labels(uow: UnitOfWork, keys: Any) -> dict[tuple[int | None, str | None, int | None], str]:
    org_ids = {k[0] for k in keys if k[0] is not None}
    user_ids = {k[2] for k in keys if k[2] is not None}
    orgs = (
        {
            o.id: o.name
            for o in uow.session.scalars(
                select(Organization).where(Organization.id.in_(org_ids))
            ).all()
        }
        if org_ids
        else {}
    )
    # Users outside the reader's scope stay anonymous (by id) rather than lifting the scope.
    users = (
        {
            u.id: u.display_name or u.username
            for u in uow.session.scalars(select(User).where(User.id.in_(user_ids))).all()
        }
        if user_ids
        else {}
    )
    labels = {}
    for key in keys:
        org_id, dept, user_id = key
        parts = []
        if org_id is not None:
            parts.append(orgs.get(org_id, f"org#{org_id}"))
        if dept:
            parts.append(dept)
        if user_id is not None:
            parts.append(users.get(user_id, f"user#{user_id}"))
        labels[key] = " / ".join(parts) if parts else "-"
    return labels
