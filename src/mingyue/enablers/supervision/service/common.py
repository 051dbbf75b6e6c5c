"""Shared pieces of the supervision services: loading rows, clocks, the rectification view."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from mingyue.enablers.supervision.cases import RECTIFICATION_CASE
from mingyue.enablers.supervision.models import (
    SupervisionDecision,
    SupervisionRectification,
    SupervisionReport,
)
from mingyue.enablers.supervision.schemas import (
    DecisionOut,
    EvidenceFile,
    RectificationOut,
    ReportOut,
)
from mingyue.sdk import (
    Actor,
    FindingOut,
    NotFound,
    UnitOfWork,
    can,
    get_finding,
    get_visible,
    organization,
    working_days_between,
)
from mingyue.sdk import now as clock_now

OPEN_STATES = frozenset({"ordered", "overdue", "submitted", "reverifying", "verified", "returned"})
REPORTABLE = frozenset({"ordered", "overdue", "returned"})


def local_date(uow: UnitOfWork, at: datetime) -> date:
    """Return the calendar date of ``at`` in the display zone (Asia/Shanghai by default)."""
    return at.astimezone(ZoneInfo(uow.settings.timezone)).date()


def working_days_left(uow: UnitOfWork, deadline: datetime, at: datetime | None = None) -> int:
    """Working days from today to the deadline's day; negative once the deadline has passed."""
    t = at or clock_now()
    today, last = local_date(uow, t), local_date(uow, deadline)
    if t <= deadline:
        return working_days_between(today, last)
    return -max(working_days_between(last, today), 1)


def org_name(uow: UnitOfWork, organization_id: int, cache: dict[int, str] | None = None) -> str:
    """Return an organization's name (its id when it is out of reach)."""
    if cache is not None and organization_id in cache:
        return cache[organization_id]
    org = organization(uow=uow, organization_id=organization_id)
    name = org.name if org is not None else f"#{organization_id}"
    if cache is not None:
        cache[organization_id] = name
    return name


def load_rectification(
    uow: UnitOfWork, rectification_id: int, permission: str = "supervision.read"
) -> SupervisionRectification:
    """Load a rectification the actor may see (404 otherwise) and check ``permission`` on it."""
    return get_visible(
        uow,
        SupervisionRectification,
        rectification_id,
        permission,
        key="supervision.rectification.not_found",
    )


def rectification_of_finding(uow: UnitOfWork, finding_id: int) -> SupervisionRectification | None:
    """Return the rectification ordered on a finding, if any (tenant-scoped)."""
    return uow.session.scalars(
        select(SupervisionRectification).where(SupervisionRectification.finding_id == finding_id)
    ).first()


def rectification_of_case(uow: UnitOfWork, case_id: int) -> SupervisionRectification:
    """Return the rectification of a case or refuse."""
    row = uow.session.scalars(
        select(SupervisionRectification).where(SupervisionRectification.case_id == case_id)
    ).first()
    if row is None:
        raise NotFound(
            "supervision.rectification.not_found", f"no rectification for case {case_id}"
        )
    return row


def report_out(row: SupervisionReport) -> ReportOut:
    """Return the view of a report."""
    return ReportOut(
        id=row.id,
        rectification_id=row.rectification_id,
        text=row.text,
        files=[EvidenceFile.model_validate(f) for f in row.files],
        submitted_by=row.submitted_by,
        submitted_at=row.submitted_at,
    )


def decision_out(row: SupervisionDecision) -> DecisionOut:
    """Return the view of a decision."""
    return DecisionOut.model_validate(row, from_attributes=True)


def actions_for(actor: Actor, row: SupervisionRectification) -> list[str]:
    """Return the steps this reader may take on the rectification now."""
    out: list[str] = []
    state = row.status
    if state in REPORTABLE and can(actor, "supervision.rectification.report", row):
        out.append("report")
    may_order = can(actor, "supervision.rectification.order", row)
    if state in ("submitted", "verified") and (
        may_order or can(actor, "supervision.rectification.report", row)
    ):
        out.append("reverify")
    if state in ("submitted", "reverifying", "verified") and may_order:
        out.append("return")
    if state in OPEN_STATES and can(actor, "supervision.decide", row):
        out.append("decide")
    if state in OPEN_STATES and can(actor, "supervision.finding.dismiss", row):
        out.append("withdraw")
    return out


def rectification_out(
    uow: UnitOfWork,
    row: SupervisionRectification,
    *,
    finding: FindingOut | None = None,
    names: dict[int, str] | None = None,
) -> RectificationOut:
    """Return the full view of a rectification for the acting reader."""
    f = finding or get_finding(uow=uow, actor=uow.actor, finding_id=row.finding_id)
    reports = uow.session.scalars(
        select(SupervisionReport)
        .where(SupervisionReport.rectification_id == row.id)
        .order_by(SupervisionReport.id)
    ).all()
    decision = uow.session.scalars(
        select(SupervisionDecision)
        .where(SupervisionDecision.rectification_id == row.id)
        .order_by(SupervisionDecision.id.desc())
    ).first()
    verification = f.verification or {}
    left = working_days_left(uow, row.deadline)
    state = RECTIFICATION_CASE.states[row.status]
    return RectificationOut(
        id=row.id,
        finding_id=row.finding_id,
        case_id=row.case_id,
        organization_id=row.organization_id,
        organization_name=org_name(uow, row.organization_id, names),
        enabler=row.enabler,
        rule=row.rule,
        rule_title=dict(f.title),
        citation=dict(f.citation),
        severity=f.severity,
        subject=row.subject,
        status=row.status,
        status_title=dict(state.title),
        ordered_at=row.ordered_at,
        ordered_by=row.ordered_by,
        instructions=row.instructions,
        rule_working_days=row.rule_working_days,
        working_days=row.working_days,
        deadline=row.deadline,
        working_days_left=left,
        overdue=row.status in REPORTABLE and clock_now() > row.deadline,
        exemption_list_version=row.exemption_list_version,
        reverify_requested_at=row.reverify_requested_at,
        verification_state=row.verification_state or verification.get("state"),
        verified_at=row.verified_at,
        closed_at=row.closed_at,
        reports=[report_out(r) for r in reports],
        decision=decision_out(decision) if decision is not None else None,
        actions=actions_for(uow.actor, row),
    )
