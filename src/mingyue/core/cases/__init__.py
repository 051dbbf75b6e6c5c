"""Cases (workflow): declarative kinds, assignment, history, SLA supervision and assessment.

To add a case kind: 1. declare ``CaseKind(name="<key>.<thing>", ...)`` (see ``GENERAL``);
2. list it in your Enabler's ``case_kinds`` as ``"module:ATTR"``; 3. call ``open_case`` and
``transition`` from your service; hooks run as ``func(*, uow, case)`` in the same unit of work
(``case`` is the ``CaseOut`` after the move; raising rolls the whole step back; change the case's
data with ``update_data``). ``subject_view="module:func"`` shows the case's subject on its page:
``def view(*, uow, case) -> SubjectView | None``.

Who may take a transition: the actor holds ``core.case.act`` on the case, and one of the
transition's roles counts towards the case (``effective_roles``): org_admin/member only inside
the case's (submitting) organization, oversight roles on every case in their scope. A handler from
outside the submitting organization who acts first on an unassigned case takes it (领办).

SLA: each state's ``sla_hours`` sets ``due_at`` on entry; leaving late counts an SLA breach;
``escalate_overdue`` raises the escalation level once per SLA period overdue (督查, idempotent);
``assessment`` gives per-assignee handled count, on-time rate, mean and p90 handling time (考核).
"""

from __future__ import annotations

from mingyue.core.cases.kinds import (
    GENERAL,
    SUBMITTER_ROLES,
    CaseKind,
    State,
    SubjectView,
    Transition,
    check_declared,
    effective_roles,
    kind_names,
    kind_of,
    register_case_kind,
    unregister_case_kind,
)
from mingyue.core.cases.models import (
    AssigneeFigures,
    AttachmentOut,
    Case,
    CaseAttachment,
    CaseDetail,
    CaseEvent,
    CaseEventOut,
    CaseOut,
    TransitionOut,
)
from mingyue.core.cases.service import (
    assign,
    attach,
    available_transitions,
    comment,
    get_case,
    list_cases,
    load_case,
    open_case,
    transition,
    update_data,
    upload_attachment,
)
from mingyue.core.cases.sla import (
    assessment,
    escalate_overdue,
    escalation_level,
    find_overdue,
    percentile,
)

__all__ = [
    "GENERAL",
    "SUBMITTER_ROLES",
    "AssigneeFigures",
    "AttachmentOut",
    "Case",
    "CaseAttachment",
    "CaseDetail",
    "CaseEvent",
    "CaseEventOut",
    "CaseKind",
    "CaseOut",
    "State",
    "SubjectView",
    "Transition",
    "TransitionOut",
    "assessment",
    "assign",
    "attach",
    "available_transitions",
    "check_declared",
    "comment",
    "effective_roles",
    "escalate_overdue",
    "escalation_level",
    "find_overdue",
    "get_case",
    "kind_names",
    "kind_of",
    "list_cases",
    "load_case",
    "open_case",
    "percentile",
    "register_case_kind",
    "transition",
    "unregister_case_kind",
    "update_data",
    "upload_attachment",
]
