"""The flow monitor's alerts as core findings, and each watch run as a fresh check of what it saw.

- ``undeclared_overseas_endpoint`` alert → ``crossborder.undeclared_endpoint`` on the endpoint;
- a threshold alert (促进和规范数据跨境流动规定 Arts. 7-8) that the recipient's declared legal basis
  does not cover → ``crossborder.threshold_exceeded`` on the recipient (critical when the security
  assessment is what is missing). A threshold the declaration covers opens its alert case as
  before but is no breach.

After every watch run the endpoints and recipients the run saw are observed
(``observe_subject``): an endpoint now routed to a declared transfer is fixed, a recipient whose
count a new declaration now covers is fixed; what is still there is still present and counted
as seen again. Re-verification (:func:`reverify`) is the next watch run: with a stored log or
capture as evidence it queues that run at once. Only the sdk, the engine's types and the
enabler's transfers: :mod:`.flows` imports this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mingyue.sdk import (
    EvidenceRef,
    FindingOut,
    FindingVerifier,
    InvalidInput,
    UnitOfWork,
    can,
    enqueue,
    observe_subject,
    raise_finding,
    stored_path,
)

from .engine.flows.monitor import Alert, DeclaredTransfer, FlowMonitor

UNDECLARED = "crossborder.undeclared_endpoint"
THRESHOLD = "crossborder.threshold_exceeded"
_RANK = {"exempt": 0, "standard_contract_or_certification": 1, "security_assessment": 2}

Sighting = tuple[str, str]  # (rule, subject)


def _needed(alert_kind: str) -> str:
    return (
        "security_assessment"
        if "assessment" in alert_kind
        else "standard_contract_or_certification"
    )


def finding_of_alert(alert: Alert) -> tuple[str, str, dict[str, Any]] | None:
    """Return (rule, subject, detail) of the breach an alert stands for, or None for none."""
    if alert.kind == "undeclared_overseas_endpoint":
        endpoint = str(alert.detail.get("endpoint") or alert.recipient.removeprefix("undeclared:"))
        return UNDECLARED, endpoint, {"alert": alert.to_dict()}
    if alert.kind.endswith("_threshold") and not alert.detail.get("covered_by_declaration"):
        return THRESHOLD, alert.recipient, {"alert": alert.to_dict()}
    return None


def case_evidence(case_id: int, label: str) -> EvidenceRef:
    """Return the reference to a flow-alert case as finding evidence."""
    return EvidenceRef(kind="core.case", ref=str(case_id), path=f"/cases/{case_id}", label=label)


def raise_for_alert(
    *, uow: UnitOfWork, organization_id: int, alert: Alert, case_id: int, title: str
) -> Sighting | None:
    """Raise the finding an alert stands for (deduplicated); return (rule, subject) or None."""
    found = finding_of_alert(alert)
    if found is None:
        return None
    rule, subject, detail = found
    severity = None
    if rule == THRESHOLD and _needed(alert.kind) == "security_assessment":
        severity = "critical"
    raise_finding(
        uow=uow,
        organization_id=organization_id,
        rule=rule,
        subject=subject[:300],
        evidence=[case_evidence(case_id, title[:200])],
        detail=detail,
        severity=severity,
    )
    return rule, subject[:300]


def _seen(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the observed table that this run added events to."""
    old = {(r["recipient"], r["endpoint"], r["year"]): r["events"] for r in before}
    return [
        r for r in after if r["events"] > old.get((r["recipient"], r["endpoint"], r["year"]), 0)
    ]


def _uncovered(
    monitor: FlowMonitor, counts: dict[tuple[str, int, str], int], recipient: str, year: int
) -> dict[str, Any] | None:
    """The highest threshold the recipient is over that its declaration does not cover."""
    # the strongest basis among the recipient's declarations: a later filing covers it
    declared: list[DeclaredTransfer] = [t for t in monitor.transfers if t.recipient == recipient]
    basis = max((t.legal_basis for t in declared), key=lambda b: _RANK.get(b, -1), default=None)
    worst: dict[str, Any] | None = None
    for kind, threshold, akind in monitor.thresholds:
        n = counts.get((recipient, year, kind), 0)
        needed = _needed(akind)
        uncovered = n >= threshold and _RANK.get(basis or "", -1) < _RANK[needed]
        if uncovered and (worst is None or _RANK[needed] >= _RANK[worst["required_path"]]):
            worst = {
                "alert_kind": akind,
                "year": year,
                "threshold": threshold,
                "count": n,
                "required_path": needed,
                "declared_basis": basis,
            }
    return worst


def observe_run(
    *,
    uow: UnitOfWork,
    organization_id: int,
    monitor: FlowMonitor,
    before: list[dict[str, Any]],
    after: list[dict[str, Any]],
    counts: dict[tuple[str, int, str], int],
    evidence: EvidenceRef,
) -> dict[Sighting, dict[str, Any]]:
    """Observe every endpoint and recipient this run saw; return the breaches still there.

    An endpoint seen only on declared routes is no longer undeclared; a recipient whose count
    its (new) declaration covers no longer exceeds. Returns {(rule, subject): detail}.
    """
    present: dict[Sighting, dict[str, Any]] = {}
    subjects: set[str] = set()
    for row in _seen(before, after):
        endpoint, recipient, year = str(row["endpoint"])[:300], str(row["recipient"]), row["year"]
        subjects.update((endpoint, recipient[:300]))
        if not row["declared"]:
            present[(UNDECLARED, endpoint)] = {
                "endpoint": endpoint,
                "country": row["country"],
                "year": year,
            }
        over = _uncovered(monitor, counts, recipient, year)
        if over is not None:
            present[(THRESHOLD, recipient[:300])] = over
    for subject in sorted(subjects):
        observe_subject(
            uow=uow,
            organization_id=organization_id,
            enabler="crossborder",
            subject=subject,
            present_rules=sorted({rule for rule, s in present if s == subject}),
            evidence=[evidence],
        )
    return present


def raise_sightings(
    *,
    uow: UnitOfWork,
    organization_id: int,
    present: dict[Sighting, dict[str, Any]],
    already: Iterable[Sighting],
    evidence: EvidenceRef,
) -> None:
    """Count the breaches a run saw again (those its new alerts did not already raise)."""
    done = set(already)
    for (rule, subject), detail in sorted(present.items()):
        if (rule, subject) in done:
            continue
        critical = rule == THRESHOLD and detail.get("required_path") == "security_assessment"
        raise_finding(
            uow=uow,
            organization_id=organization_id,
            rule=rule,
            subject=subject,
            evidence=[evidence],
            detail=detail,
            severity="critical" if critical else None,
        )


def reverify(*, uow: UnitOfWork, finding: FindingOut, evidence: list[EvidenceRef]) -> None:
    """Re-check on the next watch run; a stored log or capture in the evidence is watched now.

    Without one the finding waits for the organization's next watch run (it observes every
    endpoint and recipient it sees). A file is watched only for its own organization by someone
    who may run the flow monitor there.
    """
    files = [e for e in evidence if e.kind == "core.file"]
    if not files:
        return
    actor = uow.actor
    if actor.organization_id != finding.organization_id or not can(actor, "crossborder.watch"):
        raise InvalidInput(
            "crossborder.reverify_watch_forbidden",
            "only the organization's flow-monitor operator can give a log to watch; without a "
            "log the finding is checked on the next watch run",
            field="evidence",
        )
    for ref in files:
        if not ref.ref.isdigit():
            raise InvalidInput(
                "crossborder.reverify_bad_file",
                f"evidence {ref.ref} names no stored file",
                field="evidence",
            )
        stored_path(uow=uow, file_id=int(ref.ref))  # NotFound for an absent or foreign file
        enqueue(
            uow=uow,
            kind="crossborder.watch",
            params={"file_id": int(ref.ref), "format": None},
            organization_id=finding.organization_id,
        )


# The verifier named in the declaration, checked against the sdk's protocol by mypy.
_REVERIFY: FindingVerifier = reverify
