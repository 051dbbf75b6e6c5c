"""The decision on a finding: facts from the platform's records and the regulator, the rules, a signed record.

Which facts the platform knows it states itself, never typed in by hand: ``first_offence`` (the
organization's findings of the rule before this one, and earlier decisions), ``on_exemption_list``
(the list governing the finding's date, APL Art. 37 从旧兼从轻) and ``corrected`` (the
rectification deadline against the raising enabler's re-verification). The regulator states
``prohibited``, ``harm`` and ``no_fault_evidence``. APL (2021) Art. 33; the rules are the engine's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from mingyue.enablers.supervision.engine.decision import Decision, decide
from mingyue.enablers.supervision.models import (
    SupervisionDecision,
    SupervisionRectification,
    SupervisionReport,
)
from mingyue.enablers.supervision.schemas import (
    DecisionIn,
    DecisionOut,
    DecisionPreview,
    FactSource,
    RectificationOut,
)
from mingyue.sdk import (
    Actor,
    Conflict,
    FindingOut,
    InvalidInput,
    UnitOfWork,
    check,
    get_finding,
    issue_credential,
    prior_findings,
    record_count,
    set_finding_status,
)
from mingyue.sdk import now as clock_now

from .common import OPEN_STATES, decision_out, load_rectification, org_name, rectification_out
from .documents import ExemptionAnswer, exemption_item
from .rectify import step, sync_row


def _first_offence(uow: UnitOfWork, finding: FindingOut) -> tuple[bool, FactSource]:
    prior = prior_findings(
        uow=uow,
        organization_id=finding.organization_id,
        rule=finding.rule,
        before=finding.first_seen,
    )
    earlier = int(
        uow.session.scalar(
            select(func.count(SupervisionDecision.id)).where(
                SupervisionDecision.organization_id == finding.organization_id,
                SupervisionDecision.rule == finding.rule,
                SupervisionDecision.finding_id != finding.id,
                SupervisionDecision.decided_at < finding.first_seen,
            )
        )
        or 0
    )
    first = prior == 0 and earlier == 0
    return first, FactSource(
        source="platform",
        detail={
            "zh": f"该组织此前同一规则的问题 {prior} 项、监管决定 {earlier} 项",
            "en": f"{prior} earlier finding(s) and {earlier} decision(s) of this rule for the organization",
        },
    )


def _corrected(
    uow: UnitOfWork, row: SupervisionRectification, finding: FindingOut
) -> tuple[str, FactSource, datetime | None]:
    state = row.verification_state or (finding.verification or {}).get("state")
    fixed = state == "fixed" or finding.status == "fixed"
    if not fixed:
        if clock_now() > row.deadline:
            return (
                "late",
                FactSource(
                    source="platform",
                    detail={
                        "zh": f"整改期限 {row.deadline.isoformat()} 已过，复核未确认已改正",
                        "en": f"the deadline {row.deadline.isoformat()} passed without a confirmed correction",
                    },
                ),
                None,
            )
        return (
            "not_yet",
            FactSource(
                source="platform",
                detail={
                    "zh": "复核尚未确认已改正",
                    "en": "re-verification has not confirmed a correction",
                },
            ),
            None,
        )
    verified_at = row.verified_at or clock_now()
    # The party corrected when it reported the correction that re-verification then confirmed.
    report_at = uow.session.scalar(
        select(func.max(SupervisionReport.submitted_at)).where(
            SupervisionReport.rectification_id == row.id,
            SupervisionReport.submitted_at <= verified_at,
        )
    )
    at = report_at or verified_at
    value = "in_time" if at <= row.deadline else "late"
    return (
        value,
        FactSource(
            source="platform",
            detail={
                "zh": f"复核确认已改正；改正时间 {at.isoformat()}，期限 {row.deadline.isoformat()}",
                "en": f"re-verification confirmed the correction made {at.isoformat()}, "
                f"deadline {row.deadline.isoformat()}",
            },
        ),
        at,
    )


def _listed(answer: ExemptionAnswer) -> FactSource:
    if answer.item is not None:
        why = {
            "in_force_when_occurred": ("发现时施行的清单", "the list in force when it occurred"),
            "more_favourable_at_decision": (
                "决定时施行且更有利的清单",
                "the more favourable list in force at the decision",
            ),
        }.get(answer.why, (answer.why, answer.why))
        return FactSource(
            source="platform",
            detail={
                "zh": f"列入免责清单（{answer.label}）第 {answer.item.get('id')} 项；{why[0]}",
                "en": f"item {answer.item.get('id')} of the exemption list ({answer.label}); {why[1]}",
            },
        )
    if answer.why == "no_list":
        return FactSource(
            source="platform",
            detail={"zh": "发现时尚无施行的免责清单", "en": "no exemption list was in force"},
        )
    return FactSource(
        source="platform",
        detail={
            "zh": f"未列入免责清单（{answer.label}）",
            "en": f"not on the exemption list ({answer.label})",
        },
    )


def _facts(
    uow: UnitOfWork, row: SupervisionRectification, finding: FindingOut, body: DecisionIn
) -> tuple[dict[str, Any], dict[str, FactSource], ExemptionAnswer]:
    first, first_src = _first_offence(uow, finding)
    corrected, corrected_src, _ = _corrected(uow, row, finding)
    answer = exemption_item(uow, finding.rule, finding.first_seen)
    regulator = FactSource(
        source="regulator", detail={"zh": "执法人员认定", "en": "stated by the regulator"}
    )
    facts: dict[str, Any] = {
        "prohibited": body.prohibited,
        "first_offence": first,
        "harm": body.harm,
        "corrected": corrected,
        "no_fault_evidence": body.no_fault_evidence,
        "on_exemption_list": answer.item is not None,
    }
    derivation = {
        "prohibited": regulator,
        "first_offence": first_src,
        "harm": regulator,
        "corrected": corrected_src,
        "no_fault_evidence": regulator,
        "on_exemption_list": _listed(answer),
    }
    return facts, derivation, answer


def _prepare(
    uow: UnitOfWork, actor: Actor, rectification_id: int, body: DecisionIn
) -> tuple[
    SupervisionRectification,
    FindingOut,
    dict[str, Any],
    dict[str, FactSource],
    ExemptionAnswer,
    Decision,
]:
    check(actor, "supervision.decide")
    row = load_rectification(uow, rectification_id, "supervision.decide")
    sync_row(uow, row)
    if row.status not in OPEN_STATES:
        raise Conflict(
            "supervision.rectification.closed",
            f"rectification {row.id} is {row.status}",
            status=row.status,
        )
    finding = get_finding(uow=uow, actor=actor, finding_id=row.finding_id)
    facts, derivation, answer = _facts(uow, row, finding, body)
    return row, finding, facts, derivation, answer, decide(facts)


def preview_decision(
    *, uow: UnitOfWork, actor: Actor, rectification_id: int, body: DecisionIn
) -> DecisionPreview:
    """Show what the rules decide on these facts; nothing is recorded."""
    row, _, facts, derivation, answer, result = _prepare(uow, actor, rectification_id, body)
    return DecisionPreview(
        facts=facts,
        derivation=derivation,
        decision=result.decision,
        basis=list(result.basis),
        reason=result.to_dict(),
        needs_discretion=result.decision == "discretionary",
        exemption_list_version=answer.version,
        deadline=row.deadline if result.decision == "rectification_ordered" else None,
    )


def _outcome(result: Decision, body: DecisionIn, row: SupervisionRectification) -> str:
    if result.decision == "rectification_ordered":
        raise Conflict(
            "supervision.decision.awaits_correction",
            f"the rules order correction; decide after re-verification or the deadline "
            f"({row.deadline.isoformat()})",
            deadline=row.deadline.isoformat(),
        )
    if result.decision == "discretionary":
        if body.discretion is None:
            raise InvalidInput(
                "supervision.decision.discretion_required",
                "the rules leave this to a person: say waive or penalise",
                field="discretion",
            )
        if not (body.reasons or "").strip():
            raise InvalidInput(
                "supervision.decision.reasons_required",
                "record the reasons of a discretionary decision",
                field="reasons",
            )
        return "waived" if body.discretion == "waive" else "penalty_procedure"
    if body.discretion is not None:
        raise InvalidInput(
            "supervision.decision.no_discretion",
            f"the rules decide {result.decision}; there is nothing to weigh",
            field="discretion",
        )
    return result.decision


def decide_rectification(
    *, uow: UnitOfWork, actor: Actor, rectification_id: int, body: DecisionIn
) -> RectificationOut:
    """Decide on the finding under APL Art. 33, issue the decision as a signed credential."""
    row, finding, facts, derivation, answer, result = _prepare(uow, actor, rectification_id, body)
    outcome = _outcome(result, body, row)
    at = clock_now()
    dec = SupervisionDecision(
        organization_id=row.organization_id,
        rectification_id=row.id,
        finding_id=finding.id,
        rule=finding.rule,
        facts=facts,
        derivation={k: v.model_dump() for k, v in derivation.items()},
        decision=result.decision,
        outcome=outcome,
        basis=list(result.basis),
        reason=result.to_dict(),
        reasons=(body.reasons or "").strip() or None,
        exemption_list_version=answer.version,
        decided_by=actor.label(),
        decided_at=at,
    )
    uow.session.add(dec)
    uow.flush()
    subject = {
        "id": f"supervision_decision:{dec.id}",
        "organizationId": row.organization_id,
        "organizationName": org_name(uow, row.organization_id),
        "findingId": finding.id,
        "rule": finding.rule,
        "ruleTitle": dict(finding.title),
        "citation": dict(finding.citation),
        "subject": finding.subject,
        "decision": result.decision,
        "outcome": outcome,
        "basis": list(result.basis),
        "basisZh": list(result.basis_zh),
        "facts": facts,
        "factSources": {k: v.source for k, v in derivation.items()},
        "reasons": dec.reasons or "",
        "exemptionList": {"version": answer.version, "label": answer.label},
        "rulesVersion": result.rules_version,
        "rectificationId": row.id,
        "caseId": row.case_id,
        "deadline": row.deadline.isoformat(),
        "decidedAt": at.replace(microsecond=0).isoformat(),
        "decidedBy": actor.label(),
    }
    vc = issue_credential(
        uow=uow,
        type="SupervisionDecision",
        subject=subject,
        organization_id=row.organization_id,
        name={"zh": "包容审慎监管决定", "en": "Inclusive-prudent supervision decision"},
        description={"zh": result.title_zh, "en": result.title_en},
    )
    dec.credential_id = vc.id
    uow.flush()
    step(uow, row, "decide")
    set_finding_status(
        uow=uow,
        actor=actor,
        finding_id=finding.id,
        status="closed",
        reason=f"decided: {outcome} ({', '.join(result.basis)})"[:2000],
    )
    ref = f"supervision_decision:{dec.id}"
    uow.audit(
        "supervision.decision.issued",
        ref,
        {
            "rectification_id": row.id,
            "finding_id": finding.id,
            "decision": result.decision,
            "outcome": outcome,
            "basis": list(result.basis),
            "facts": facts,
            "credential": vc.urn,
        },
        organization_id=row.organization_id,
    )
    record_count(
        uow=uow,
        organization_id=row.organization_id,
        meter="supervision.decisions",
        unit="decision",
        source="supervision",
        ref=ref,
    )
    return rectification_out(uow, row)


def list_decisions(
    *, uow: UnitOfWork, actor: Actor, organization_id: int | None = None, limit: int = 500
) -> list[DecisionOut]:
    """Return the decisions the actor may see, newest first."""
    check(actor, "supervision.read")
    stmt = select(SupervisionDecision)
    if organization_id is not None:
        stmt = stmt.where(SupervisionDecision.organization_id == organization_id)
    rows = uow.session.scalars(stmt.order_by(SupervisionDecision.id.desc()).limit(limit))
    return [decision_out(r) for r in rows]
