"""Findings: one contract in the core that every enabler feeds (issue 15 §1).

A finding is a declared rule broken by one subject of one organization, with its evidence, its
legal citation and its lifecycle (open → rectifying → fixed → closed, or dismissed).

To raise findings from an enabler: 1. declare its rules in the Enabler,
``finding_rules={"<key>.<rule>": FindingRule(title=..., citation=..., severity=...)}`` (and
optionally ``finding_verifier="module:func"``, a ``FindingVerifier``); 2. call
``raise_finding(uow=..., organization_id=..., rule=..., subject=..., evidence=[EvidenceRef(...)])``
for each breach a check finds; 3. after a complete check of a subject call ``observe_subject`` so
that what is no longer found is marked fixed.
"""

from __future__ import annotations

from mingyue.core.declaration import FindingRule, Severity
from mingyue.core.findings.models import (
    ACTIVE,
    MAX_EVIDENCE,
    STATUSES,
    TERMINAL,
    EvidenceRef,
    Finding,
    FindingOut,
    FindingStatus,
)
from mingyue.core.findings.service import (
    FindingVerifier,
    count_findings,
    finding_rules,
    get_finding,
    list_findings,
    observe_subject,
    prior_findings,
    raise_finding,
    request_reverification,
    set_finding_status,
    subject_of,
)

__all__ = [
    "ACTIVE",
    "MAX_EVIDENCE",
    "STATUSES",
    "TERMINAL",
    "EvidenceRef",
    "Finding",
    "FindingOut",
    "FindingRule",
    "FindingStatus",
    "FindingVerifier",
    "Severity",
    "count_findings",
    "finding_rules",
    "get_finding",
    "list_findings",
    "observe_subject",
    "prior_findings",
    "raise_finding",
    "request_reverification",
    "set_finding_status",
    "subject_of",
]
