"""Probing as a core finding: one organization's requests refused again and again by one rule.

A refusal is the sandbox working; the same guard refusing the same consumer ``probing_refusals``
times within ``probing_window_s`` (settings, defaults 5 in an hour) looks like a search for a way
around it — small groups, identifiers, the budget. Each refusal past that raises
``datasandbox.probing`` for the organization, the subject being the refusing rule (deduplicated:
a further refusal counts the same finding again). Only the rules in ``probing_rules`` count;
syntax errors and unknown names are mistakes, not probing.

Re-verification reads the sandbox's own records: a refusal by that rule for that organization
after the finding was last seen keeps it present (and counts as seen again, so the next check
starts from there); none makes it fixed. Only the sdk, the
enabler's tables and settings: :mod:`.requests` imports this module.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from mingyue.sdk import (
    EvidenceRef,
    FindingOut,
    FindingVerifier,
    UnitOfWork,
    now,
    observe_subject,
    raise_finding,
)

from .models import SandboxRequest
from .settings import options

PROBING = "datasandbox.probing"
MAX_IDS = 20  # request ids kept in the finding's detail


def counts_as_probing(rule: str, watched: tuple[str, ...]) -> bool:
    """Tell whether a refusal rule is one of the watched rules (an id or a '.'/'_' prefix)."""
    return any(rule == w or (w.endswith((".", "_")) and rule.startswith(w)) for w in watched)


def _refusals(
    uow: UnitOfWork, organization_id: int, rule: str, since: datetime
) -> list[SandboxRequest]:
    rows = uow.session.scalars(
        select(SandboxRequest)
        .where(
            SandboxRequest.organization_id == organization_id,
            SandboxRequest.status == "refused",
            SandboxRequest.updated_at > since,
        )
        .order_by(SandboxRequest.id)
    ).all()
    return [r for r in rows if str((r.reason or {}).get("rule", "")) == rule]


def request_evidence(req: SandboxRequest) -> EvidenceRef:
    """Return the reference to a refused request as finding evidence."""
    reason = req.reason or {}
    return EvidenceRef(
        kind="datasandbox.request",
        ref=str(req.id),
        label=f"{reason.get('rule', '')}: {reason.get('message', '')}"[:200],
    )


def note_refusal(*, uow: UnitOfWork, req: SandboxRequest, rule: str) -> FindingOut | None:
    """Raise ``datasandbox.probing`` when this refusal makes the rule's count reach the limit."""
    opts = options(uow.settings)
    if not counts_as_probing(rule, opts.probing_rules):
        return None
    window = timedelta(seconds=opts.probing_window_s)
    # refuse() set the refusal time just now: the query's autoflush counts this one too
    recent = _refusals(uow, req.organization_id, rule, now() - window)
    if len(recent) < opts.probing_refusals:
        return None
    detail: dict[str, Any] = {
        "refusal_rule": rule,
        "refusals_in_window": len(recent),
        "threshold": opts.probing_refusals,
        "window_s": opts.probing_window_s,
        "request_ids": [r.id for r in recent][-MAX_IDS:],
        "datasets": sorted({str(d) for r in recent for d in (r.datasets or [])}),
    }
    return raise_finding(
        uow=uow,
        organization_id=req.organization_id,
        rule=PROBING,
        subject=rule,
        evidence=[request_evidence(req)],
        detail=detail,
    )


def reverify(*, uow: UnitOfWork, finding: FindingOut, evidence: list[EvidenceRef]) -> None:
    """Check the records: any refusal by the rule since the finding was last seen keeps it."""
    since = finding.last_seen
    again = _refusals(uow, finding.organization_id, finding.subject, since)
    if again:
        proof = [request_evidence(r) for r in again[-5:]]
        # seen again: counted, and a finding marked fixed meanwhile is open again
        raise_finding(
            uow=uow,
            organization_id=finding.organization_id,
            rule=PROBING,
            subject=finding.subject,
            evidence=proof,
        )
    else:
        proof = [
            EvidenceRef(
                kind="datasandbox.refusal_log",
                ref=f"{finding.subject}@{since.isoformat()}"[:200],
                label=f"自 {since.isoformat()} 起无该规则拒绝 / no refusal by "
                f"{finding.subject} since {since.isoformat()}"[:200],
            )
        ]
    observe_subject(
        uow=uow,
        organization_id=finding.organization_id,
        enabler="datasandbox",
        subject=finding.subject,
        present_rules=[PROBING] if again else [],
        evidence=proof,
    )


# The verifier named in the declaration, checked against the sdk's protocol by mypy.
_REVERIFY: FindingVerifier = reverify
