"""Cases (workflow): declarative kinds, assignment, history, SLA supervision and assessment.

To add a case kind: 1. declare ``CaseKind(name="<key>.<thing>", ...)`` (see ``GENERAL``);
2. list it in your Enabler's ``case_kinds`` as ``"module:ATTR"``; 3. call ``open_case`` and
``transition`` from your service; hooks run as ``func(*, uow, case)`` in the same unit of work.
"""

from __future__ import annotations

from mingyue.core.case_kinds import (
    GENERAL,
    SUBMITTER_ROLES,
    CaseKind,
    State,
    Transition,
    check_declared,
    effective_roles,
    kind_names,
    kind_of,
    register_case_kind,
    unregister_case_kind,
)
from mingyue.core.case_models import (
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
from mingyue.core.case_service import (
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
from mingyue.core.case_sla import (
    assessment,
    escalate_overdue,
    escalation_level,
    find_overdue,
    percentile,
)

__all__ = [
    "GENERAL", "SUBMITTER_ROLES", "AssigneeFigures", "AttachmentOut", "Case", "CaseAttachment",
    "CaseDetail", "CaseEvent", "CaseEventOut", "CaseKind", "CaseOut", "State", "Transition",
    "TransitionOut", "assessment", "assign", "attach", "available_transitions", "check_declared",
    "comment",
    "effective_roles", "escalate_overdue", "escalation_level", "find_overdue", "get_case",
    "kind_names", "kind_of", "list_cases", "load_case", "open_case", "percentile",
    "register_case_kind", "transition", "unregister_case_kind", "update_data",
    "upload_attachment",
]
