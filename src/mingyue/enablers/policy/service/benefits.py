"""免申即享: the approval list of a measure that needs no application.

An enterprise a campaign (or the daily job) finds eligible for such a measure gets a benefit row
and a ``policy.benefit`` case for the department to confirm; it never applies. The case's
``grant`` or ``reject`` (``service.casehooks``) records the decision on the benefit and tells the
enterprise. One benefit per enterprise, measure and rules version.
"""

from __future__ import annotations

from sqlalchemy import select

from mingyue.enablers.policy.engine.eligibility import Match, Measure
from mingyue.enablers.policy.models_service import PolicyBenefit
from mingyue.enablers.policy.schemas_service import BenefitOut
from mingyue.enablers.policy.service.common import READ, reasons_of, rulebook
from mingyue.sdk import Actor, UnitOfWork, check, open_case


def propose(
    uow: UnitOfWork, measure: Measure, m: Match, *, campaign_id: int | None
) -> tuple[PolicyBenefit, bool]:
    """Put an eligible enterprise on the measure's approval list (once); return (row, created)."""
    version = rulebook().sha256
    found = uow.session.scalars(
        select(PolicyBenefit).where(
            PolicyBenefit.organization_id == m.organization_id,
            PolicyBenefit.measure_key == measure.key,
            PolicyBenefit.rules_version == version,
        )
    ).first()
    if found is not None:
        return found, False
    row = PolicyBenefit(
        organization_id=m.organization_id,
        measure_key=measure.key,
        clause_id=measure.clause,
        rules_version=version,
        status="proposed",
        checks=reasons_of(m),
        campaign_id=campaign_id,
    )
    uow.session.add(row)
    uow.flush()
    case = open_case(
        uow=uow,
        kind="policy.benefit",
        title=f"免申即享：{measure.title['zh']}",
        organization_id=m.organization_id,
        subject=f"policy_benefit:{row.id}",
        data={
            "benefit_id": row.id,
            "measure": measure.key,
            "clause_id": measure.clause,
            "department": measure.department,
        },
    )
    row.case_id = case.id
    uow.audit(
        "policy.benefit.proposed",
        f"policy_benefit:{row.id}",
        {"measure": measure.key, "clause": measure.clause, "case_id": case.id},
        organization_id=m.organization_id,
    )
    return row, True


def list_benefits(
    *, uow: UnitOfWork, actor: Actor, status: str | None = None, limit: int = 200
) -> list[BenefitOut]:
    """Return the approval lists in scope (an enterprise: its own), newest first."""
    check(actor, READ)
    q = select(PolicyBenefit)
    if status:
        q = q.where(PolicyBenefit.status == status)
    rows = uow.session.scalars(q.order_by(PolicyBenefit.id.desc()).limit(limit)).all()
    return [BenefitOut.model_validate(r) for r in rows]
