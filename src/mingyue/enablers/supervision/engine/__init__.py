"""The supervision engine: pure decisions, deadlines, exemption lists and self-checks.

Imports nothing of the platform but ``mingyue.sdk.errors``; the service adds the clock, the
calendar, storage and the audit trail.
"""

from .decision import (
    CORRECTIONS,
    DECISIONS,
    FIELDS,
    HARMS,
    Decision,
    Facts,
    Note,
    Reason,
    decide,
    load_rulebook,
    read_facts,
    rules_version,
)
from .errors import DeadlineError, DocumentError, FactsError, FieldError, SelfCheckError
from .exemptions import (
    Applicable,
    ExemptionItem,
    ExemptionList,
    applicable_item,
    covers,
    list_in_force,
    lists_from_documents,
    load_exemption_lists,
)
from .guidelines import (
    Guideline,
    RuleResult,
    SelfCheckResult,
    check_answers,
    load_guidelines,
    run_self_check,
)
from .workdays import deadline, working_days_between

__all__ = [
    "CORRECTIONS",
    "DECISIONS",
    "FIELDS",
    "HARMS",
    "Applicable",
    "DeadlineError",
    "Decision",
    "DocumentError",
    "ExemptionItem",
    "ExemptionList",
    "Facts",
    "FactsError",
    "FieldError",
    "Guideline",
    "Note",
    "Reason",
    "RuleResult",
    "SelfCheckError",
    "SelfCheckResult",
    "applicable_item",
    "check_answers",
    "covers",
    "deadline",
    "decide",
    "list_in_force",
    "lists_from_documents",
    "load_exemption_lists",
    "load_guidelines",
    "load_rulebook",
    "read_facts",
    "rules_version",
    "run_self_check",
    "working_days_between",
]
