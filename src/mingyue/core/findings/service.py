"""Findings services: raise, observe, list, read, set status, re-verify. Services never commit.

Enabler code raises findings (``raise_finding``), also from jobs acting as the platform: the
session's tenant scope decides which organizations it may write for, as for usage records. People
read them through ``core.finding.read`` (an enterprise its own, oversight roles the organizations
they supervise) and decide on them through ``core.finding.manage`` (regulator, platform admin).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pydantic import ValidationError
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError

from mingyue.core import clock, plugins, registries
from mingyue.core.declaration import FindingRule, load_ref
from mingyue.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from mingyue.core.files.store import StoredFileRow
from mingyue.core.findings.models import (
    ACTIVE,
    MAX_EVIDENCE,
    MAX_SUBJECT,
    SEVERITIES,
    STATUSES,
    TERMINAL,
    EvidenceRef,
    Finding,
    FindingOut,
)
from mingyue.core.tenancy.access import Actor, can, check, scope_for
from mingyue.core.tenancy.identity import Organization
from mingyue.core.uow import UnitOfWork

MAX_ID = 2**31 - 1
MAX_DETAIL_BYTES = 16 * 1024
MAX_REASON = 2000
MAX_PAGE = 500


@runtime_checkable
class FindingVerifier(Protocol):
    """An enabler's re-check of a finding: ``def reverify(*, uow, finding, evidence) -> None``.

    Typically it enqueues a job of the enabler that checks the subject afresh and, when done,
    calls ``observe_subject``.
    """

    def __call__(
        self, *, uow: UnitOfWork, finding: FindingOut, evidence: list[EvidenceRef]
    ) -> None: ...


def subject_of(finding_id: int) -> str:
    """Return the ledger subject of a finding."""
    return f"core_finding:{finding_id}"


def finding_rules() -> dict[str, FindingRule]:
    """Return every declared finding rule (all loaded enablers) by name."""
    plugins.registry()
    return {name: rule for name, (_, rule) in registries.finding_rules().items()}


def _declared(rule: str) -> tuple[str, FindingRule]:
    plugins.registry()
    found = registries.finding_rule(rule) if isinstance(rule, str) else None
    if found is None:
        raise InvalidInput(
            "core.finding.unknown_rule", f"unknown finding rule {rule!r}", field="rule", rule=rule
        )
    return found


# -- input checks -----------------------------------------------------------------------------


def _subject(subject: str) -> str:
    text = subject.strip() if isinstance(subject, str) else ""
    if not text or len(text) > MAX_SUBJECT:
        raise InvalidInput(
            "core.finding.bad_subject",
            f"subject must be 1 to {MAX_SUBJECT} characters",
            field="subject",
            max=MAX_SUBJECT,
        )
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise InvalidInput(
            "core.finding.bad_subject", "subject has control characters", field="subject"
        )
    return text


def _severity(severity: str | None) -> str | None:
    if severity is not None and severity not in SEVERITIES:
        raise InvalidInput(
            "core.finding.bad_severity",
            f"severity must be one of {', '.join(SEVERITIES)}",
            field="severity",
        )
    return severity


def _statuses(status: str | Sequence[str] | None) -> list[str] | None:
    if status is None:
        return None
    wanted = [status] if isinstance(status, str) else list(status)
    bad = [s for s in wanted if s not in STATUSES]
    if bad or not wanted:
        raise InvalidInput(
            "core.finding.bad_status",
            f"status must be one of {', '.join(STATUSES)}",
            field="status",
        )
    return wanted


def _detail(detail: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if detail is None:
        return None
    if not isinstance(detail, Mapping):
        raise InvalidInput(
            "core.finding.bad_detail", "detail must be a JSON object", field="detail"
        )
    try:
        text = json.dumps(dict(detail), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        raise InvalidInput(
            "core.finding.bad_detail", "detail must be plain JSON", field="detail"
        ) from None
    if len(text.encode()) > MAX_DETAIL_BYTES or "\\u0000" in text or "\x00" in text:
        raise InvalidInput(
            "core.finding.bad_detail",
            f"detail must be at most {MAX_DETAIL_BYTES} bytes of text without NUL",
            field="detail",
            max=MAX_DETAIL_BYTES,
        )
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _evidence(
    items: Iterable[EvidenceRef | Mapping[str, Any]], at: datetime
) -> list[dict[str, Any]]:
    if isinstance(items, (str, bytes, Mapping)):
        raise InvalidInput(
            "core.finding.bad_evidence", "evidence must be a list of references", field="evidence"
        )
    out: list[dict[str, Any]] = []
    for item in items:
        try:
            ref = item if isinstance(item, EvidenceRef) else EvidenceRef.model_validate(item)
        except ValidationError as exc:
            raise InvalidInput(
                "core.finding.bad_evidence",
                f"bad evidence reference: {exc.errors()[0].get('msg', 'invalid')}",
                field="evidence",
            ) from None
        if ref.at is None:
            ref = ref.model_copy(update={"at": at})
        out.append(ref.model_dump(mode="json"))
    return out


def _reason(reason: str | None, *, required: bool) -> str | None:
    text = (reason or "").strip()
    if required and not text:
        raise InvalidInput(
            "core.finding.reason_required", "say why (a reason is required)", field="reason"
        )
    if len(text) > MAX_REASON or "\x00" in text:
        raise InvalidInput(
            "core.finding.bad_reason",
            f"reason must be at most {MAX_REASON} characters",
            field="reason",
            max=MAX_REASON,
        )
    return text or None


def _organization(uow: UnitOfWork, organization_id: int) -> None:
    if (
        not isinstance(organization_id, int)
        or not 1 <= organization_id <= MAX_ID
        or uow.session.get(Organization, organization_id) is None
    ):
        raise NotFound(
            "core.org.not_found",
            f"organization {organization_id} not found",
            field="organization_id",
        )


def _when(before: datetime) -> datetime:
    if not isinstance(before, datetime) or before.tzinfo is None:
        raise InvalidInput(
            "core.finding.bad_time", "a timezone-aware time is required", field="before"
        )
    return before


# -- rows -------------------------------------------------------------------------------------


def _out(row: Finding) -> FindingOut:
    return FindingOut.model_validate(row, from_attributes=True)


def _active_key(organization_id: int, rule: str, subject: str) -> str:
    return f"{organization_id}:{rule}:{subject}"


def _active(uow: UnitOfWork, key: str) -> Finding | None:
    return uow.session.scalars(select(Finding).where(Finding.active_key == key)).first()


def _load(uow: UnitOfWork, actor: Actor, finding_id: int) -> Finding:
    row = None
    if isinstance(finding_id, int) and 1 <= finding_id <= MAX_ID:
        row = uow.session.scalars(select(Finding).where(Finding.id == finding_id)).first()
    if row is None or not scope_for(actor).allows(row.organization_id):
        raise NotFound(
            "core.finding.not_found", f"finding {finding_id} not found", finding_id=finding_id
        )
    check(actor, "core.finding.read", row)
    return row


def _audit(uow: UnitOfWork, action: str, row: Finding, payload: dict[str, Any]) -> None:
    uow.audit(action, subject_of(row.id), payload, organization_id=row.organization_id)


def _refs(evidence: list[dict[str, Any]]) -> list[str]:
    return [f"{e['kind']}:{e['ref']}" for e in evidence]


def _seen_again(
    uow: UnitOfWork,
    row: Finding,
    evidence: list[dict[str, Any]],
    detail: dict[str, Any] | None,
    severity: str | None,
    at: datetime,
) -> FindingOut:
    row.last_seen = at
    row.occurrences = row.occurrences + 1
    if evidence:
        row.evidence = [*row.evidence, *evidence][-MAX_EVIDENCE:]
    if detail is not None:
        row.detail = detail
    if severity is not None:
        row.severity = severity
    if row.status == "fixed":
        row.status, row.status_reason = "open", "recurred"
        _audit(
            uow,
            "core.finding.recurred",
            row,
            {"rule": row.rule, "subject": row.subject, "evidence": _refs(evidence)},
        )
    uow.flush()
    return _out(row)


# -- services ---------------------------------------------------------------------------------


def raise_finding(
    *,
    uow: UnitOfWork,
    organization_id: int,
    rule: str,
    subject: str,
    evidence: Iterable[EvidenceRef | Mapping[str, Any]] = (),
    detail: Mapping[str, Any] | None = None,
    severity: str | None = None,
) -> FindingOut:
    """Record that ``subject`` of the organization breaks a declared rule (deduplicated).

    Among active findings (open, rectifying, fixed) the same organization, rule and subject is
    one finding: a new sighting updates it, and a ``fixed`` one reopens ("recurred"). A closed or
    dismissed finding is history: the new sighting is a new finding pointing to it.
    """
    enabler, declared = _declared(rule)
    subject = _subject(subject)
    at = clock.now()
    refs = _evidence(evidence, at)
    clean = _detail(detail)
    sev = _severity(severity)
    _organization(uow, organization_id)
    key = _active_key(organization_id, rule, subject)
    row = _active(uow, key)
    if row is not None:
        return _seen_again(uow, row, refs, clean, sev, at)
    previous = uow.session.scalars(
        select(Finding.id)
        .where(
            Finding.organization_id == organization_id,
            Finding.rule == rule,
            Finding.subject == subject,
            Finding.status.in_(TERMINAL),
        )
        .order_by(Finding.id.desc())
    ).first()
    row = Finding(
        organization_id=organization_id,
        enabler=enabler,
        rule=rule,
        subject=subject,
        severity=sev or declared.severity,
        title=dict(declared.title),
        citation=dict(declared.citation),
        detail=clean or {},
        evidence=refs[-MAX_EVIDENCE:],
        first_seen=at,
        last_seen=at,
        occurrences=1,
        status="open",
        status_reason=None,
        verification=None,
        previous_id=previous,
        rectify_working_days=declared.rectify_working_days,
        active_key=key,
    )
    try:
        with uow.session.begin_nested():
            uow.session.add(row)
    except IntegrityError:
        # Another unit of work raised the same finding first: this sighting is a repeat.
        found = _active(uow, key)
        if found is None:
            raise
        return _seen_again(uow, found, refs, clean, sev, at)
    _audit(
        uow,
        "core.finding.raised",
        row,
        {
            "rule": rule,
            "subject": subject,
            "severity": row.severity,
            "previous_id": previous,
            "evidence": _refs(refs),
        },
    )
    return _out(row)


def observe_subject(
    *,
    uow: UnitOfWork,
    organization_id: int,
    enabler: str,
    subject: str,
    present_rules: Iterable[str],
    evidence: Iterable[EvidenceRef | Mapping[str, Any]],
    checked_rules: Iterable[str] | None = None,
) -> list[FindingOut]:
    """Take in a complete fresh check of ``subject`` by ``enabler``; return the findings changed.

    Its active findings on the subject whose rule was not found again become ``fixed``
    (verification "fixed"); those found again get verification "still_present" (the caller
    raises them as usual). ``checked_rules`` names the rules this check covers when it is not
    every rule of the enabler: findings under other rules (raised by another kind of check of
    the same subject) are left as they are.
    """
    subject = _subject(subject)
    present = set(present_rules)
    checked = None if checked_rules is None else set(checked_rules) | present
    for name in sorted(present | (checked or set())):
        owner, _ = _declared(name)
        if owner != enabler:
            raise InvalidInput(
                "core.finding.foreign_rule",
                f"rule {name} is not declared by {enabler}",
                field="present_rules",
                rule=name,
            )
    at = clock.now()
    refs = _evidence(evidence, at)
    rows = uow.session.scalars(
        select(Finding)
        .where(
            Finding.organization_id == organization_id,
            Finding.enabler == enabler,
            Finding.subject == subject,
            Finding.status.in_(ACTIVE),
        )
        .order_by(Finding.id)
    ).all()
    changed: list[FindingOut] = []
    for row in rows:
        if checked is not None and row.rule not in checked:
            continue
        before = (row.verification or {}).get("state")
        state = "still_present" if row.rule in present else "fixed"
        if before == state and (state == "still_present" or row.status == "fixed"):
            continue
        row.verification = {"state": state, "at": at.isoformat(), "evidence": refs}
        if state == "fixed":
            row.status, row.status_reason = "fixed", "verified_fixed"
        action = "core.finding.verified_fixed" if state == "fixed" else "core.finding.still_present"
        _audit(uow, action, row, {"rule": row.rule, "subject": subject, "evidence": _refs(refs)})
        changed.append(_out(row))
    uow.flush()
    return changed


def _filtered(
    actor: Actor,
    stmt: Select[Any],
    *,
    organization_id: int | None,
    enabler: str | None,
    rule: str | None,
    severity: str | None,
    status: str | Sequence[str] | None,
) -> Select[Any]:
    check(actor, "core.finding.read")
    scope = scope_for(actor)
    if not scope.all_orgs:
        stmt = stmt.where(Finding.organization_id.in_(sorted(scope.org_ids)))
    if organization_id is not None:
        stmt = stmt.where(Finding.organization_id == organization_id)
    if enabler is not None:
        stmt = stmt.where(Finding.enabler == enabler)
    if rule is not None:
        stmt = stmt.where(Finding.rule == rule)
    if _severity(severity) is not None:
        stmt = stmt.where(Finding.severity == severity)
    wanted = _statuses(status)
    if wanted is not None:
        stmt = stmt.where(Finding.status.in_(wanted))
    return stmt


def list_findings(
    *,
    uow: UnitOfWork,
    actor: Actor,
    organization_id: int | None = None,
    enabler: str | None = None,
    rule: str | None = None,
    severity: str | None = None,
    status: str | Sequence[str] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[FindingOut]:
    """Return the findings the actor may read, most recently seen first."""
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise InvalidInput(
            "core.finding.bad_page",
            f"limit must be 1 to {MAX_PAGE} and offset at least 0",
            field="limit",
            max=MAX_PAGE,
        )
    stmt = _filtered(
        actor,
        select(Finding),
        organization_id=organization_id,
        enabler=enabler,
        rule=rule,
        severity=severity,
        status=status,
    )
    rows = uow.session.scalars(
        stmt.order_by(Finding.last_seen.desc(), Finding.id.desc()).limit(limit).offset(offset)
    ).all()
    return [_out(r) for r in rows]


def count_findings(
    *,
    uow: UnitOfWork,
    actor: Actor,
    organization_id: int | None = None,
    enabler: str | None = None,
    rule: str | None = None,
    severity: str | None = None,
    status: str | Sequence[str] | None = None,
) -> int:
    """Count the findings the actor may read under the same filters as ``list_findings``."""
    stmt = _filtered(
        actor,
        select(func.count(Finding.id)),
        organization_id=organization_id,
        enabler=enabler,
        rule=rule,
        severity=severity,
        status=status,
    )
    return int(uow.session.scalar(stmt) or 0)


def get_finding(*, uow: UnitOfWork, actor: Actor, finding_id: int) -> FindingOut:
    """Return one finding the actor may read (NotFound when absent or not visible)."""
    return _out(_load(uow, actor, finding_id))


def set_finding_status(
    *, uow: UnitOfWork, actor: Actor, finding_id: int, status: str, reason: str | None
) -> FindingOut:
    """Set a finding's status (rectifying, fixed, closed, dismissed …); a terminal one stays."""
    row = _load(uow, actor, finding_id)
    check(actor, "core.finding.manage", row)
    if not isinstance(status, str):
        raise InvalidInput("core.finding.bad_status", "status must be one word", field="status")
    (wanted,) = _statuses(status) or (status,)
    text = _reason(reason, required=wanted == "dismissed")
    if row.status in TERMINAL:
        raise Conflict(
            "core.finding.closed",
            f"finding {row.id} is {row.status}; a closed finding is not reopened",
            finding_id=row.id,
            status=row.status,
        )
    if wanted == row.status and text == row.status_reason:
        return _out(row)
    before = row.status
    row.status, row.status_reason = wanted, text
    if wanted in TERMINAL:
        row.active_key = None
    _audit(
        uow,
        "core.finding.status_changed",
        row,
        {"from": before, "to": wanted, "reason": text},
    )
    uow.flush()
    return _out(row)


def _verifier(enabler: str) -> FindingVerifier | None:
    plugins.registry()
    found = registries.finding_verifier(enabler)
    if found is None:
        return None
    fn = load_ref(found) if isinstance(found, str) else found
    if not callable(fn):
        raise TypeError(f"finding verifier of {enabler} is not callable: {found!r}")
    verifier: FindingVerifier = fn
    return verifier


def request_reverification(
    *,
    uow: UnitOfWork,
    actor: Actor,
    finding_id: int,
    evidence: Iterable[EvidenceRef | Mapping[str, Any]],
) -> FindingOut:
    """Ask the raising enabler to check a finding again, with the rectification's evidence.

    Open to a reader of the finding inside its organization, and to ``core.finding.manage``.
    """
    row = _load(uow, actor, finding_id)
    if actor.organization_id != row.organization_id and not can(actor, "core.finding.manage", row):
        raise Forbidden(
            "core.forbidden",
            "only the finding's organization or a supervisor may ask to re-verify it",
            permission="core.finding.manage",
        )
    if row.status in TERMINAL:
        raise Conflict(
            "core.finding.closed",
            f"finding {row.id} is {row.status}",
            finding_id=row.id,
            status=row.status,
        )
    verifier = _verifier(row.enabler)
    if verifier is None:
        raise Conflict(
            "core.finding.no_verifier",
            f"{row.enabler} declares no finding verifier; it cannot re-check findings",
            finding_id=row.id,
            enabler=row.enabler,
        )
    at = clock.now()
    refs = _evidence(evidence, at)
    _check_files_belong(uow, refs, row.organization_id)
    row.verification = {
        "state": "pending",
        "at": at.isoformat(),
        "evidence": refs,
        "requested_by": actor.label(),
    }
    _audit(uow, "core.finding.reverify_requested", row, {"rule": row.rule, "evidence": _refs(refs)})
    uow.flush()
    verifier(uow=uow, finding=_out(row), evidence=[EvidenceRef.model_validate(r) for r in refs])
    uow.flush()
    return _out(row)


def _check_files_belong(
    uow: UnitOfWork, refs: Sequence[Mapping[str, Any]], organization_id: int
) -> None:
    """Refuse ``core.file`` evidence that is not a stored file of the finding's organization.

    A verifier acts as the platform on the files it is given (e.g. re-scans an APK): evidence must
    never let one organization point it at another's upload.
    """
    for ref in refs:
        if ref.get("kind") != "core.file":
            continue
        raw = str(ref.get("ref", ""))
        file_id = int(raw) if raw.isdigit() and len(raw) < 19 else 0
        owner = (
            uow.session.scalar(
                select(StoredFileRow.organization_id).where(StoredFileRow.id == file_id)
            )
            if file_id
            else None
        )
        if owner != organization_id:
            raise InvalidInput(
                "core.finding.bad_evidence",
                f"evidence file {raw!r} is not a stored file of the finding's organization",
                field="evidence",
            )


def prior_findings(*, uow: UnitOfWork, organization_id: int, rule: str, before: datetime) -> int:
    """Count the organization's findings of ``rule`` first seen before ``before``.

    Closed and active findings count; dismissed ones (false positives) do not. The finding being
    judged is not counted when ``before`` is its own ``first_seen``.
    """
    stmt = select(func.count(Finding.id)).where(
        Finding.organization_id == organization_id,
        Finding.rule == rule,
        Finding.first_seen < _when(before),
        Finding.status != "dismissed",
    )
    return int(uow.session.scalar(stmt) or 0)
