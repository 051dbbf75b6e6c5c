"""Assessments and filings: which legal path a transfer takes, and the filing that follows as a case.

Services never commit; every state change writes one audit entry in the same unit of work. The
case hooks named in :mod:`.cases` are here (``on_approve`` signs the filing record).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from mingyue.sdk import (
    Actor,
    CaseHook,
    CaseOut,
    InvalidInput,
    NotFound,
    UnitOfWork,
    check,
    comment,
    get_visible,
    issue_credential,
    open_case,
    record_count,
    require_org,
)
from mingyue.sdk import now as clock_now

from .cases import EXPIRY_WARNING_DAYS, FILING_KINDS, VALIDITY_DAYS
from .engine.decision import Decision, ScenarioError, assess
from .models import CrossborderAssessment, CrossborderFiling
from .schemas import AssessmentOut, FilingIn, FilingOut

_BASIS = {
    "security_assessment": "促进和规范数据跨境流动规定 Art. 7, Art. 9",
    "standard_contract": "个人信息出境标准合同办法 Art. 7",
    "pipia": "个人信息保护法 Art. 55, Art. 56",
}

# --- assessment -------------------------------------------------------------------------------


def decide(scenario: dict[str, Any]) -> Decision:
    """Run the decision engine; turn a bad scenario into InvalidInput naming the field."""
    try:
        return assess(scenario)
    except ScenarioError as exc:
        raise InvalidInput(
            "crossborder.bad_scenario", str(exc), field=exc.field, reason=str(exc)
        ) from None


def create_assessment(*, uow: UnitOfWork, actor: Actor, scenario: dict[str, Any]) -> AssessmentOut:
    """Assess a transfer scenario and keep the answer (CAC 2024 Arts. 3-8)."""
    check(actor, "crossborder.assess")
    org = require_org(actor, field="--as")
    decision = decide(scenario)
    row = CrossborderAssessment(
        organization_id=org,
        created_by=actor.label(),
        scenario=dict(scenario),
        path=decision.path,
        result=decision.to_dict(),
    )
    uow.session.add(row)
    uow.flush()
    ref = f"crossborder_assessment:{row.id}"
    uow.audit(
        "crossborder.assessment.created",
        ref,
        {"path": decision.path, "basis": decision.basis},
        organization_id=org,
    )
    record_count(
        uow=uow,
        organization_id=org,
        meter="crossborder.assessments",
        unit="assessment",
        source="crossborder",
        ref=ref,
    )
    return AssessmentOut.model_validate(row)


def list_assessments(*, uow: UnitOfWork, actor: Actor) -> list[AssessmentOut]:
    """Return the assessments visible to the actor, newest first."""
    check(actor, "crossborder.read")
    rows = uow.session.scalars(
        select(CrossborderAssessment).order_by(CrossborderAssessment.id.desc()).limit(200)
    )
    return [AssessmentOut.model_validate(r) for r in rows]


def get_assessment(*, uow: UnitOfWork, actor: Actor, assessment_id: int) -> AssessmentOut:
    """Return one assessment (NotFound for an absent or foreign one)."""
    check(actor, "crossborder.read")
    return AssessmentOut.model_validate(
        get_visible(uow, CrossborderAssessment, assessment_id, "crossborder.read")
    )


# --- filings ----------------------------------------------------------------------------------


def create_filing(*, uow: UnitOfWork, actor: Actor, body: FilingIn) -> FilingOut:
    """Open a filing as a case of its kind, with the structured form."""
    check(actor, "crossborder.filing.submit")
    org = require_org(actor, field="--as")
    if body.assessment_id is not None:
        get_visible(uow, CrossborderAssessment, body.assessment_id, "crossborder.read")
    kind = FILING_KINDS[body.kind]
    title = f"{kind.title['zh']} · {body.form.recipient.name}"[:200]
    case = open_case(
        uow=uow,
        kind=kind.name,
        title=title,
        organization_id=org,
        subject=f"recipient:{body.form.recipient.name}"[:200],
        data={
            "filing_kind": body.kind,
            "recipient": body.form.recipient.name,
            "country": body.form.recipient.country,
        },
    )
    row = CrossborderFiling(
        organization_id=org,
        created_by=actor.label(),
        kind=body.kind,
        case_id=case.id,
        assessment_id=body.assessment_id,
        form=body.form.model_dump(mode="json"),
        status="submitted",
    )
    uow.session.add(row)
    uow.flush()
    ref = f"crossborder_filing:{row.id}"
    uow.audit(
        "crossborder.filing.submitted",
        ref,
        {"kind": body.kind, "case_id": case.id},
        organization_id=org,
    )
    record_count(
        uow=uow,
        organization_id=org,
        meter="crossborder.filings",
        unit="filing",
        source="crossborder",
        ref=ref,
    )
    return FilingOut.model_validate(row)


def _filing_of_case(uow: UnitOfWork, case_id: int) -> CrossborderFiling:
    row = uow.session.scalars(
        select(CrossborderFiling).where(CrossborderFiling.case_id == case_id)
    ).first()
    if row is None:
        raise NotFound("crossborder.filing_not_found", f"no filing for case {case_id}")
    return row


def on_approve(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Approve: sign the filing record (core credential); assessments are valid 3 years."""
    row = _filing_of_case(uow, case.id)
    at = clock_now()
    row.status = "approved"
    row.decided_at = at
    valid_days = VALIDITY_DAYS if row.kind == "security_assessment" else None
    row.valid_until = at + timedelta(days=valid_days) if valid_days else None
    recipient = row.form.get("recipient", {})
    subject = {
        "id": f"crossborder_filing:{row.id}",
        "filingKind": row.kind,
        "organizationId": row.organization_id,
        "recipient": recipient.get("name", ""),
        "recipientCountry": recipient.get("country", ""),
        "categories": list(row.form.get("categories", [])),
        "decidedAt": at.replace(microsecond=0).isoformat(),
        "decidedBy": uow.actor.label(),
        "caseId": case.id,
        "basis": _BASIS[row.kind],
    }
    vc = issue_credential(
        uow=uow,
        type="CrossBorderFilingRecord",
        subject=subject,
        organization_id=row.organization_id,
        valid_days=valid_days,
    )
    row.credential_id = vc.urn
    uow.flush()
    uow.audit(
        "crossborder.filing.approved",
        f"crossborder_filing:{row.id}",
        {
            "credential": row.credential_id,
            "valid_until": row.valid_until.isoformat() if row.valid_until else None,
        },
        organization_id=row.organization_id,
    )


def _set_status(uow: UnitOfWork, case: CaseOut, status: str) -> None:
    row = _filing_of_case(uow, case.id)
    row.status = status
    if status in ("rejected", "withdrawn"):
        row.decided_at = clock_now()
    uow.flush()
    event = "submitted_again" if status == "submitted" else status
    uow.audit(
        f"crossborder.filing.{event}",
        f"crossborder_filing:{row.id}",
        {"case_id": case.id},
        organization_id=row.organization_id,
    )


def on_reject(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Reject: the filing is closed."""
    _set_status(uow, case, "rejected")


def on_return(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Return the filing for correction."""
    _set_status(uow, case, "returned")


def on_resubmit(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Mark the filing submitted again after correction."""
    _set_status(uow, case, "submitted")


def on_withdraw(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Mark the filing withdrawn by the organization."""
    _set_status(uow, case, "withdrawn")


# The hooks named in .cases, checked against the sdk's protocol by mypy.
HOOKS: tuple[CaseHook, ...] = (on_approve, on_reject, on_return, on_resubmit, on_withdraw)


def list_filings(*, uow: UnitOfWork, actor: Actor) -> list[FilingOut]:
    """Return the filings visible to the actor, newest first."""
    check(actor, "crossborder.read")
    rows = uow.session.scalars(
        select(CrossborderFiling).order_by(CrossborderFiling.id.desc()).limit(500)
    )
    return [FilingOut.model_validate(r) for r in rows]


def get_filing(*, uow: UnitOfWork, actor: Actor, filing_id: int) -> FilingOut:
    """Return one filing (NotFound for a foreign one)."""
    return FilingOut.model_validate(
        get_visible(uow, CrossborderFiling, filing_id, "crossborder.read")
    )


def filing_of_case(*, uow: UnitOfWork, actor: Actor, case_id: int) -> FilingOut | None:
    """Return the filing a case is about, if the actor may see it (None otherwise)."""
    check(actor, "crossborder.read")
    row = uow.session.scalars(
        select(CrossborderFiling).where(CrossborderFiling.case_id == case_id)
    ).first()
    return FilingOut.model_validate(row) if row is not None else None


def expiring_filings(
    *,
    uow: UnitOfWork,
    actor: Actor,
    within_days: int = EXPIRY_WARNING_DAYS,
    now: datetime | None = None,
) -> list[FilingOut]:
    """Return the approved filings whose validity ends within ``within_days`` (or has ended)."""
    check(actor, "crossborder.read")
    limit = (now or clock_now()) + timedelta(days=within_days)
    rows = uow.session.scalars(
        select(CrossborderFiling)
        .where(
            CrossborderFiling.status == "approved",
            CrossborderFiling.valid_until.is_not(None),
            CrossborderFiling.valid_until <= limit,
        )
        .order_by(CrossborderFiling.valid_until)
    )
    return [FilingOut.model_validate(r) for r in rows]


def warn_expiring(
    *,
    uow: UnitOfWork,
    actor: Actor,
    within_days: int = EXPIRY_WARNING_DAYS,
    now: datetime | None = None,
) -> list[FilingOut]:
    """Comment on each case whose approval expires soon (once per filing); return those warned."""
    warned = []
    for f in expiring_filings(uow=uow, actor=actor, within_days=within_days, now=now):
        row = uow.session.get(CrossborderFiling, f.id)
        if row is None or row.expiry_warned_at is not None:
            continue
        until = row.valid_until.date().isoformat() if row.valid_until else "?"
        comment(
            uow=uow,
            case_id=row.case_id,
            actor=actor,
            text=f"安全评估结果将于 {until} 到期，如需继续出境请在届满前60个工作日内申请延期"
            f"（促进和规范数据跨境流动规定 Art. 9）。/ The assessment expires on {until}; "
            "apply to extend within 60 working days before expiry.",
        )
        row.expiry_warned_at = now or clock_now()
        uow.flush()
        uow.audit(
            "crossborder.filing.expiry_warned",
            f"crossborder_filing:{row.id}",
            {"valid_until": until},
            organization_id=row.organization_id,
        )
        warned.append(FilingOut.model_validate(row))
    return warned
