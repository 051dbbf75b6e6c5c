"""Rectification (整改): order with a deadline, report with evidence, re-verify, return, withdraw.

APL (2021) Art. 28(1): a party is ordered to correct, or to correct within a time limit. The
time limit is the rule's (its FindingRule, or the exemption list item in force at the finding's
date), counted in working days on the core's mainland calendar. Every step is taken through the
service: the case hooks refuse a transition taken around it (``pending_step``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from mingyue.enablers.supervision.models import SupervisionRectification, SupervisionReport
from mingyue.enablers.supervision.schemas import OrderIn, RectificationOut
from mingyue.sdk import (
    SYSTEM,
    Actor,
    CaseOut,
    Conflict,
    EvidenceRef,
    Forbidden,
    InvalidInput,
    UnitOfWork,
    can,
    check,
    comment,
    deadline_after,
    finding_rules,
    get_finding,
    open_case,
    request_reverification,
    set_finding_status,
    store_upload,
    transition,
)
from mingyue.sdk import now as clock_now

from .common import (
    OPEN_STATES,
    REPORTABLE,
    load_rectification,
    rectification_of_case,
    rectification_of_finding,
    rectification_out,
    working_days_left,
)
from .docformat import correction_days
from .documents import exemption_item

MAX_FILES = 10
MAX_TEXT = 8000


def step(
    uow: UnitOfWork,
    row: SupervisionRectification,
    name: str,
    text: str | None = None,
    *,
    actor: Actor | None = None,
) -> CaseOut:
    """Take a case transition on the rectification's case as this service's own step.

    ``actor`` overrides the unit of work's actor: recording the raising enabler's re-verification
    result is the platform's step (``SYSTEM``), whoever's request made the result arrive.
    """
    row.pending_step = name
    uow.flush()
    case = transition(uow=uow, case_id=row.case_id, name=name, comment=text, actor=actor)
    row.status = case.state
    row.pending_step = None
    if case.closed_at is not None:
        row.closed_at = case.closed_at
    uow.flush()
    return case


def _guard(uow: UnitOfWork, case: CaseOut, name: str) -> None:
    row = rectification_of_case(uow, case.id)
    if row.pending_step != name:
        raise Conflict(
            "supervision.use_service",
            f"take '{name}' through /api/supervision, which records what the step needs",
            transition=name,
        )


def on_report(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Hook: a report is only submitted with its text and evidence (the service's step)."""
    _guard(uow, case, "report")


def on_reverify(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Hook: re-verification goes to the raising enabler (the service's step)."""
    _guard(uow, case, "reverify")


def on_verified(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Hook: the result is the raising enabler's, recorded by the service."""
    _guard(uow, case, "verified")


def on_return(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Hook: returning resets the finding to rectifying (the service's step)."""
    _guard(uow, case, "return")


def on_overdue(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Hook: overdue follows the deadline on the rectification row (the reminders job)."""
    _guard(uow, case, "overdue")


def on_decide(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Hook: a decision is recorded and signed by the service before the case closes."""
    _guard(uow, case, "decide")


def on_withdraw(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Hook: withdrawal dismisses the finding (the service's step)."""
    _guard(uow, case, "withdraw")


def order_rectification(*, uow: UnitOfWork, actor: Actor, body: OrderIn) -> RectificationOut:
    """Order a finding corrected within its time limit (APL Art. 28(1)); open its case."""
    check(actor, "supervision.rectification.order")
    finding = get_finding(uow=uow, actor=actor, finding_id=body.finding_id)
    check(actor, "supervision.rectification.order", finding)
    if finding.status not in ("open", "fixed", "rectifying"):
        raise Conflict(
            "supervision.finding.closed",
            f"finding {finding.id} is {finding.status}",
            field="finding_id",
            status=finding.status,
        )
    if rectification_of_finding(uow, finding.id) is not None:
        raise Conflict(
            "supervision.rectification.exists",
            f"rectification of finding {finding.id} was already ordered",
            field="finding_id",
        )
    declared = finding_rules().get(finding.rule)
    rule_days = finding.rectify_working_days or (declared.rectify_working_days if declared else 15)
    listed = exemption_item(uow, finding.rule, finding.first_seen)
    version = listed.version
    rule_days = correction_days(listed.item) or rule_days
    days = body.working_days or rule_days
    at = clock_now()
    deadline = deadline_after(at, days, tz=uow.settings.timezone)
    case = open_case(
        uow=uow,
        kind="supervision.rectification",
        title=f"{finding.title.get('zh', finding.rule)} · {finding.subject}"[:200],
        organization_id=finding.organization_id,
        subject=f"core_finding:{finding.id}",
        data={
            "finding_id": finding.id,
            "rule": finding.rule,
            "deadline": deadline.isoformat(),
            "working_days": days,
        },
        actor=actor,
    )
    row = SupervisionRectification(
        organization_id=finding.organization_id,
        finding_id=finding.id,
        case_id=case.id,
        enabler=finding.enabler,
        rule=finding.rule,
        subject=finding.subject,
        ordered_at=at,
        ordered_by=actor.label(),
        instructions=body.instructions or None,
        rule_working_days=rule_days,
        working_days=days,
        deadline=deadline,
        exemption_list_version=version,
        status="ordered",
    )
    uow.session.add(row)
    uow.flush()
    set_finding_status(
        uow=uow,
        actor=actor,
        finding_id=finding.id,
        status="rectifying",
        reason=f"rectification ordered by {deadline.date().isoformat()}",
    )
    uow.audit(
        "supervision.rectification.ordered",
        f"supervision_rectification:{row.id}",
        {
            "finding_id": finding.id,
            "rule": finding.rule,
            "working_days": days,
            "rule_working_days": rule_days,
            "deadline": deadline.isoformat(),
            "case_id": case.id,
            "exemption_list_version": version,
        },
        organization_id=row.organization_id,
    )
    return rectification_out(uow, row, finding=None)


def get_rectification(*, uow: UnitOfWork, actor: Actor, rectification_id: int) -> RectificationOut:
    """Return one rectification the actor may see."""
    check(actor, "supervision.read")
    return rectification_out(uow, load_rectification(uow, rectification_id))


def list_rectifications(
    *,
    uow: UnitOfWork,
    actor: Actor,
    open_only: bool = False,
    organization_id: int | None = None,
    limit: int = 200,
) -> list[RectificationOut]:
    """Return rectifications the actor may see, nearest deadline first (open ones first)."""
    check(actor, "supervision.read")
    stmt = select(SupervisionRectification)
    if open_only:
        stmt = stmt.where(SupervisionRectification.status.in_(sorted(OPEN_STATES)))
    if organization_id is not None:
        stmt = stmt.where(SupervisionRectification.organization_id == organization_id)
    rows = uow.session.scalars(
        stmt.order_by(
            SupervisionRectification.closed_at.is_not(None),
            SupervisionRectification.deadline,
            SupervisionRectification.id,
        ).limit(limit)
    ).all()
    names: dict[int, str] = {}
    return [rectification_out(uow, r, names=names) for r in rows]


def submit_report(
    *,
    uow: UnitOfWork,
    actor: Actor,
    rectification_id: int,
    text: str,
    files: list[Any],
) -> RectificationOut:
    """Record the enterprise's rectification report; evidence passes the core's file checks.

    ``files`` holds web uploads or ``(filename, bytes)`` pairs.
    """
    row = load_rectification(uow, rectification_id, "supervision.rectification.report")
    if row.status not in REPORTABLE:
        raise Conflict(
            "supervision.rectification.not_reportable",
            f"rectification {row.id} is {row.status}; a report is not taken now",
            status=row.status,
        )
    clean = (text or "").strip()
    if not clean:
        raise InvalidInput("supervision.report.empty", "say what was corrected", field="text")
    if len(clean) > MAX_TEXT:
        raise InvalidInput(
            "supervision.report.too_long", f"at most {MAX_TEXT} characters", field="text"
        )
    if len(files) > MAX_FILES:
        raise InvalidInput(
            "supervision.report.too_many_files", f"at most {MAX_FILES} files", field="files"
        )
    stored = []
    for f in files:
        # A web upload, or (filename, bytes) from the CLI and the demo.
        upload, name = (f[1], f[0]) if isinstance(f, tuple) else (f, None)
        stored.append(
            store_upload(
                uow=uow,
                upload=upload,
                filename=name,
                purpose="supervision.evidence",
                organization_id=row.organization_id,
            )
        )
    report = SupervisionReport(
        organization_id=row.organization_id,
        rectification_id=row.id,
        text=clean,
        files=[
            {"id": s.id, "filename": s.filename, "sha256": s.sha256, "size": s.size, "mime": s.mime}
            for s in stored
        ],
        submitted_by=actor.label(),
        submitted_at=clock_now(),
    )
    uow.session.add(report)
    uow.flush()
    step(uow, row, "report")
    uow.audit(
        "supervision.rectification.reported",
        f"supervision_rectification:{row.id}",
        {
            "report_id": report.id,
            "files": [{"id": s.id, "sha256": s.sha256} for s in stored],
            "late": report.submitted_at > row.deadline,
        },
        organization_id=row.organization_id,
    )
    return rectification_out(uow, row)


def _evidence(uow: UnitOfWork, row: SupervisionRectification) -> list[EvidenceRef]:
    report = uow.session.scalars(
        select(SupervisionReport)
        .where(SupervisionReport.rectification_id == row.id)
        .order_by(SupervisionReport.id.desc())
    ).first()
    if report is None:
        return []
    refs = [
        EvidenceRef(
            kind="supervision.report",
            ref=str(report.id),
            label=report.text[:200],
            path=f"/supervision/rectifications/{row.id}",
        )
    ]
    refs += [
        EvidenceRef(
            kind="core.file", ref=str(f["id"]), label=f["filename"][:200], sha256=f["sha256"]
        )
        for f in report.files
    ]
    return refs


def request_reverify(*, uow: UnitOfWork, actor: Actor, rectification_id: int) -> RectificationOut:
    """Ask the enabler that raised the finding to check it again with the report's evidence."""
    row = load_rectification(uow, rectification_id)
    if not (
        can(actor, "supervision.rectification.report", row)
        or can(actor, "supervision.rectification.order", row)
    ):
        raise Forbidden(
            "core.forbidden",
            "re-verification is asked by the enterprise or its regulator",
            permission="supervision.rectification.report",
        )
    if row.status not in ("submitted", "verified"):
        raise Conflict(
            "supervision.rectification.not_reverifiable",
            f"rectification {row.id} is {row.status}; re-verification follows a report",
            status=row.status,
        )
    step(uow, row, "reverify")
    row.reverify_requested_at = clock_now()
    row.verification_state = "pending"
    row.verified_at = None
    request_reverification(
        uow=uow, actor=actor, finding_id=row.finding_id, evidence=_evidence(uow, row)
    )
    uow.audit(
        "supervision.rectification.reverify_requested",
        f"supervision_rectification:{row.id}",
        {"finding_id": row.finding_id},
        organization_id=row.organization_id,
    )
    sync_row(uow, row)
    return rectification_out(uow, row)


def sync_row(uow: UnitOfWork, row: SupervisionRectification) -> bool:
    """Take over the raising enabler's re-verification result, once; tell whether it moved."""
    if row.status != "reverifying":
        return False
    finding = get_finding(uow=uow, actor=uow.actor, finding_id=row.finding_id)
    v = finding.verification or {}
    state = v.get("state")
    if state not in ("fixed", "still_present"):
        return False
    at = v.get("at")
    row.verification_state = state
    row.verified_at = _parse_time(at) or clock_now()
    # The enabler's result is recorded by the platform, not by the person whose request (an
    # enterprise asking to re-verify, a page polling) happened to bring it in.
    step(uow, row, "verified", actor=SYSTEM)
    uow.audit(
        "supervision.rectification.verified",
        f"supervision_rectification:{row.id}",
        {"finding_id": row.finding_id, "state": state, "at": row.verified_at.isoformat()},
        organization_id=row.organization_id,
    )
    return True


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def sync_verification(*, uow: UnitOfWork, actor: Actor, rectification_id: int) -> RectificationOut:
    """Record the re-verification result if the raising enabler has reported it (idempotent)."""
    row = load_rectification(uow, rectification_id, "supervision.rectification.order")
    sync_row(uow, row)
    return rectification_out(uow, row)


def return_rectification(
    *, uow: UnitOfWork, actor: Actor, rectification_id: int, text: str
) -> RectificationOut:
    """Return a report that does not correct the finding; the enterprise reports again."""
    row = load_rectification(uow, rectification_id, "supervision.rectification.order")
    sync_row(uow, row)
    if row.status not in ("submitted", "reverifying", "verified"):
        raise Conflict(
            "supervision.rectification.not_returnable",
            f"rectification {row.id} is {row.status}",
            status=row.status,
        )
    step(uow, row, "return", text)
    finding = get_finding(uow=uow, actor=actor, finding_id=row.finding_id)
    if finding.status == "fixed":
        set_finding_status(
            uow=uow, actor=actor, finding_id=finding.id, status="rectifying", reason=text[:2000]
        )
    uow.audit(
        "supervision.rectification.returned",
        f"supervision_rectification:{row.id}",
        {"comment": text},
        organization_id=row.organization_id,
    )
    return rectification_out(uow, row)


def dismiss_finding(
    *, uow: UnitOfWork, actor: Actor, finding_id: int, reason: str
) -> RectificationOut | None:
    """Dismiss a finding as not a breach; withdraw its rectification if one was ordered."""
    check(actor, "supervision.finding.dismiss")
    finding = get_finding(uow=uow, actor=actor, finding_id=finding_id)
    check(actor, "supervision.finding.dismiss", finding)
    row = rectification_of_finding(uow, finding.id)
    if row is not None and row.status in OPEN_STATES:
        step(uow, row, "withdraw", reason)
        uow.audit(
            "supervision.rectification.withdrawn",
            f"supervision_rectification:{row.id}",
            {"finding_id": finding.id, "reason": reason},
            organization_id=row.organization_id,
        )
    set_finding_status(
        uow=uow, actor=actor, finding_id=finding.id, status="dismissed", reason=reason
    )
    uow.audit(
        "supervision.finding.dismissed",
        f"core_finding:{finding.id}",
        {"rule": finding.rule, "reason": reason},
        organization_id=finding.organization_id,
    )
    return rectification_out(uow, row) if row is not None else None


def remind(uow: UnitOfWork, *, remind_days: int = 3) -> dict[str, list[int]]:
    """Announce coming deadlines, mark passed ones overdue, take over re-verification results."""
    out: dict[str, list[int]] = {"reminded": [], "overdue": [], "verified": []}
    rows = uow.session.scalars(
        select(SupervisionRectification)
        .where(SupervisionRectification.status.in_(sorted(OPEN_STATES)))
        .order_by(SupervisionRectification.id)
    ).all()
    t = clock_now()
    for row in rows:
        if row.status == "reverifying" and sync_row(uow, row):
            out["verified"].append(row.id)
            continue
        if row.status not in ("ordered", "returned"):
            continue
        if t > row.deadline:
            step(uow, row, "overdue")
            uow.audit(
                "supervision.rectification.overdue",
                f"supervision_rectification:{row.id}",
                {"deadline": row.deadline.isoformat()},
                organization_id=row.organization_id,
            )
            out["overdue"].append(row.id)
        elif row.reminded_at is None and working_days_left(uow, row.deadline, t) <= remind_days:
            row.reminded_at = t
            comment(
                uow=uow,
                case_id=row.case_id,
                text=f"整改期限 {row.deadline.isoformat()} 将至 / rectification due {row.deadline.isoformat()}",
            )
            uow.audit(
                "supervision.rectification.reminded",
                f"supervision_rectification:{row.id}",
                {"deadline": row.deadline.isoformat()},
                organization_id=row.organization_id,
            )
            out["reminded"].append(row.id)
    return out
