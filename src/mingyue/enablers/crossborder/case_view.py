"""How a filing's case shows its subject: the filing's sections, as the enterprise wrote them.

Named by the filing case kinds (``subject_view``); only :mod:`mingyue.sdk` and the enabler's
table, so the case page never needs the crossborder extra.
"""

from __future__ import annotations

from sqlalchemy import select

from mingyue.sdk import CaseOut, SubjectView, UnitOfWork

from .models import CrossborderFiling

SECTIONS = (
    "purpose",
    "retention",
    "security_measures",
    "recipient_legal_environment",
    "risks_and_mitigations",
)


def subject_view(*, uow: UnitOfWork, case: CaseOut) -> SubjectView | None:
    """Return the filing a case decides on: recipient, volume and every section of the form."""
    row = uow.session.scalars(
        select(CrossborderFiling).where(CrossborderFiling.case_id == case.id)
    ).first()
    if row is None:
        return None
    form = row.form or {}
    recipient = form.get("recipient") or {}
    where = ", ".join(str(x) for x in (recipient.get("country"), recipient.get("address")) if x)
    fields: list[tuple[str, str]] = [
        ("crossborder.subject.recipient", f"{recipient.get('name', '')}（{where}）"),
        ("crossborder.form.pi_individuals", str(form.get("pi_individuals", 0))),
        ("crossborder.form.sensitive_pi_individuals", str(form.get("sensitive_pi_individuals", 0))),
        ("crossborder.form.important_data", "✓" if form.get("important_data") else "—"),
        ("crossborder.form.categories", "、".join(str(c) for c in form.get("categories") or [])),
    ]
    fields += [(f"crossborder.form.{s}", str(form.get(s) or "—")) for s in SECTIONS]
    if form.get("contact_person"):
        fields.append(("crossborder.form.contact_person", str(form["contact_person"])))
    if row.valid_until is not None:
        fields.append(("crossborder.subject.valid_until", row.valid_until.date().isoformat()))
    return SubjectView(
        title="crossborder.subject.title",
        fields=tuple(fields),
        link=f"/crossborder/assessments/{row.assessment_id}" if row.assessment_id else None,
        link_label="crossborder.assess.verdict" if row.assessment_id else None,
    )
