"""Hooks and subject views of the policy case kinds (``cases.py``).

Light on purpose: the tables, the sdk and the rules files only (no scikit-learn, no openpyxl),
so that the cases of a platform without the policy extra still open and move.
"""

from __future__ import annotations

from decimal import Decimal

from mingyue.enablers.policy.models_service import (
    PolicyBenefit,
    PolicyIndicatorAlert,
    PolicyPush,
    PolicyRequest,
)
from mingyue.enablers.policy.service.common import catalogue, departments, rulebook
from mingyue.sdk import CaseOut, SubjectView, UnitOfWork, get_visible, now


def _benefit(uow: UnitOfWork, case: CaseOut) -> PolicyBenefit | None:
    bid = (case.data or {}).get("benefit_id")
    if not isinstance(bid, int):
        return None
    return get_visible(uow, PolicyBenefit, bid, key="policy.benefit.not_found")


def _decide(uow: UnitOfWork, case: CaseOut, status: str) -> None:
    row = _benefit(uow, case)
    if row is None:
        return
    row.status = status
    row.decided_at = now()
    row.decided_by = uow.actor.label()
    push = PolicyPush(
        organization_id=row.organization_id,
        kind="benefit",
        benefit_id=row.id,
        measure_key=row.measure_key,
        clause_id=row.clause_id,
        verdict=status,
        reasons=[],
        status="sent",
    )
    uow.session.add(push)
    uow.flush()
    uow.audit(
        f"policy.benefit.{status}",
        f"policy_benefit:{row.id}",
        {"measure": row.measure_key, "case_id": case.id, "push_id": push.id},
        organization_id=row.organization_id,
    )


def on_benefit_grant(*, uow: UnitOfWork, case: CaseOut) -> None:
    """The department confirmed a 免申即享 benefit: record it and tell the enterprise."""
    _decide(uow, case, "granted")


def on_benefit_reject(*, uow: UnitOfWork, case: CaseOut) -> None:
    """The department declined a 免申即享 benefit (its reason is on the case)."""
    _decide(uow, case, "rejected")


def _request(uow: UnitOfWork, case: CaseOut) -> PolicyRequest | None:
    rid = (case.data or {}).get("request_id")
    if not isinstance(rid, int):
        return None
    return get_visible(uow, PolicyRequest, rid, key="policy.request.not_found")


def on_request_answer(*, uow: UnitOfWork, case: CaseOut) -> None:
    """The department answered the request: it is done."""
    row = _request(uow, case)
    if row is None:
        return
    row.status = "answered"
    uow.flush()
    uow.audit(
        "policy.request.answered",
        f"policy_request:{row.id}",
        {"case_id": case.id, "department": row.department},
        organization_id=row.organization_id,
    )


def on_request_return(*, uow: UnitOfWork, case: CaseOut) -> None:
    """The department says it is not theirs: back to the dispatch desk for a person to route."""
    row = _request(uow, case)
    if row is None:
        return
    returned_from = row.department
    row.status = "review"
    row.reason_key = "policy.request.returned"
    row.reason_text = f"returned by {returned_from}"
    row.department = None
    row.kind = None
    uow.flush()
    uow.audit(
        "policy.request.returned",
        f"policy_request:{row.id}",
        {"case_id": case.id, "from": returned_from},
        organization_id=row.organization_id,
    )


def _both(text: dict[str, str]) -> str:
    return f"{text['zh']} / {text['en']}"


def benefit_view(*, uow: UnitOfWork, case: CaseOut) -> SubjectView | None:
    """Show the measure, its clause and each condition the enterprise meets."""
    row = _benefit(uow, case)
    if row is None:
        return None
    measure = rulebook().get(row.measure_key)
    fields: list[tuple[str, str]] = [
        ("policy.console.measure", _both(measure.title) if measure else row.measure_key),
        ("policy.console.clause", row.clause_id),
    ]
    if measure is not None:
        dept = departments().get(measure.department)
        fields.append(("policy.console.department", _both(dept) if dept else measure.department))
        fields.append(("policy.console.benefit", _both(measure.benefit)))
    for c in row.checks or []:
        label = c.get("label") or {}
        fields.append((f"policy.check.{c.get('status')}", str(label.get("zh", c.get("id")))))
    return SubjectView(
        title="policy.case.benefit_subject",
        fields=tuple(fields),
        link=f"/policy/measures/{row.measure_key}",
        link_label="policy.console.open_measure",
    )


def request_view(*, uow: UnitOfWork, case: CaseOut) -> SubjectView | None:
    """Show the request's text and how it was routed."""
    row = _request(uow, case)
    if row is None:
        return None
    dept = departments().get(row.department or "", None)
    return SubjectView(
        title="policy.case.request_subject",
        fields=(
            ("policy.console.request_text", row.text),
            ("policy.console.department", _both(dept) if dept else "—"),
            ("policy.console.confidence", f"{row.department_confidence:.0%}"),
            ("policy.console.routed_by", row.dispatched_by or "—"),
        ),
        link=f"/policy/requests/{row.id}",
        link_label="policy.console.open_request",
    )


def indicator_view(*, uow: UnitOfWork, case: CaseOut) -> SubjectView | None:
    """Show the lagging indicator: actual, path, gap and the responsible unit."""
    aid = (case.data or {}).get("alert_id")
    if not isinstance(aid, int):
        return None
    row = get_visible(uow, PolicyIndicatorAlert, aid, key="policy.indicator.not_found")
    ind = catalogue().get(row.indicator)
    unit = ind.unit if ind else ""
    return SubjectView(
        title="policy.case.indicator_subject",
        fields=(
            ("policy.console.indicator", _both(ind.title) if ind else row.indicator),
            ("policy.console.district", row.district),
            ("policy.console.period", row.period),
            ("policy.console.actual", f"{_num(row.actual)} {unit}"),
            ("policy.console.path", f"{_num(row.path)} {unit}"),
            ("policy.console.gap", f"{row.gap_ratio * 100:.1f}%"),
            ("policy.console.responsible", row.responsible),
        ),
        link=f"/policy/indicators?indicator={row.indicator}&district={row.district}",
        link_label="policy.console.open_indicator",
    )


def _num(value: Decimal) -> str:
    text = f"{value.quantize(Decimal('0.01')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
