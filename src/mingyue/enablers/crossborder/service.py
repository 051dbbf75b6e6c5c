"""Use cases of the crossborder enabler: the engine plus the core (access, audit, cases, credentials,
metering). Services never commit; every state change writes one audit entry in the same unit of work.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import event, select

from mingyue.core import cases, files, jobs, metering
from mingyue.core.cases.kinds import CaseKind, State, Transition
from mingyue.core.cases.models import CaseOut
from mingyue.core.config import Settings
from mingyue.core.db import utcnow
from mingyue.core.errors import InvalidInput, NotFound, PayloadTooLarge, Refused
from mingyue.core.jobs.models import JobOut
from mingyue.core.ledger import credentials
from mingyue.core.tenancy.access import OVERSIGHT_ROLES, Actor, check
from mingyue.core.tenancy.identity import Organization
from mingyue.core.tenancy.lookup import get_visible
from mingyue.core.uow import UnitOfWork

from .engine.decision import Decision, ScenarioError, assess
from .engine.flows.geo import open_resolver
from .engine.flows.monitor import Alert, DeclaredTransfer, FlowMonitor, FlowStore
from .engine.flows.watch import WatchProgress, watch_log, watch_pcap
from .engine.ner import make_ner
from .engine.pii import PiiDetector
from .engine.scan import ScanError, ScanResult, scan_file
from .models import CrossborderAssessment, CrossborderFiling, CrossborderScan, CrossborderTransfer
from .schemas import AssessmentOut, FilingIn, FilingOut, ScanOut, TransferIn, TransferOut

# 促进和规范数据跨境流动规定 Art. 9: an assessment result is valid for 3 years.
VALIDITY_DAYS = 3 * 365 + 1
EXPIRY_WARNING_DAYS = 90


def _flow(kind: str, zh: str, en: str, approve_zh: str, approve_en: str) -> CaseKind:
    return CaseKind(
        name=f"crossborder.{kind}",
        title={"zh": zh, "en": en},
        states={
            "submitted": State({"zh": "已提交", "en": "Submitted"}, sla_hours=72),
            "in_review": State({"zh": "审查中", "en": "In review"}, sla_hours=240),
            "returned": State({"zh": "退回补正", "en": "Returned for correction"}),
            "approved": State({"zh": approve_zh, "en": approve_en}, terminal=True),
            "rejected": State({"zh": "不予通过", "en": "Rejected"}, terminal=True),
            "withdrawn": State({"zh": "已撤回", "en": "Withdrawn"}, terminal=True),
        },
        initial="submitted",
        transitions=[
            Transition(
                "start_review",
                ("submitted",),
                "in_review",
                ("reviewer", "regulator"),
                {"zh": "开始审查", "en": "Start review"},
            ),
            Transition(
                "approve",
                ("in_review",),
                "approved",
                ("reviewer", "regulator"),
                {"zh": approve_zh, "en": approve_en},
            ),
            Transition(
                "reject",
                ("in_review",),
                "rejected",
                ("reviewer", "regulator"),
                {"zh": "不予通过", "en": "Reject"},
                requires_comment=True,
            ),
            Transition(
                "return",
                ("in_review",),
                "returned",
                ("reviewer", "regulator"),
                {"zh": "退回补正", "en": "Return for correction"},
                requires_comment=True,
            ),
            Transition(
                "resubmit",
                ("returned",),
                "submitted",
                ("org_admin", "member"),
                {"zh": "补正后重新提交", "en": "Resubmit"},
            ),
            Transition(
                "withdraw",
                ("submitted", "returned"),
                "withdrawn",
                ("org_admin",),
                {"zh": "撤回", "en": "Withdraw"},
            ),
        ],
        hooks={
            "approve": "mingyue.enablers.crossborder.service:on_approve",
            "reject": "mingyue.enablers.crossborder.service:on_reject",
            "return": "mingyue.enablers.crossborder.service:on_return",
            "resubmit": "mingyue.enablers.crossborder.service:on_resubmit",
            "withdraw": "mingyue.enablers.crossborder.service:on_withdraw",
        },
    )


SECURITY_ASSESSMENT_CASE = _flow(
    "security_assessment",
    "数据出境安全评估申报",
    "Security assessment declaration",
    "评估通过",
    "Approved",
)
STANDARD_CONTRACT_CASE = _flow(
    "standard_contract", "个人信息出境标准合同备案", "Standard-contract filing", "备案通过", "Filed"
)
PIPIA_CASE = _flow(
    "pipia", "个人信息保护影响评估（自评估）", "Self-assessment / PIPIA", "评估确认", "Confirmed"
)
FLOW_ALERT_CASE = CaseKind(
    name="crossborder.flow_alert",
    title={"zh": "数据出境流量告警", "en": "Cross-border flow alert"},
    states={
        "open": State({"zh": "待处理", "en": "Open"}, sla_hours=72),
        "acknowledged": State({"zh": "已确认", "en": "Acknowledged"}, sla_hours=240),
        "closed": State({"zh": "已关闭", "en": "Closed"}, terminal=True),
    },
    initial="open",
    transitions=[
        Transition(
            "acknowledge",
            ("open",),
            "acknowledged",
            ("org_admin", "reviewer", "regulator"),
            {"zh": "确认", "en": "Acknowledge"},
        ),
        Transition(
            "close",
            ("open", "acknowledged"),
            "closed",
            ("org_admin", "reviewer", "regulator"),
            {"zh": "关闭", "en": "Close"},
            requires_comment=True,
        ),
    ],
)
FILING_KINDS = {
    "security_assessment": SECURITY_ASSESSMENT_CASE,
    "standard_contract": STANDARD_CONTRACT_CASE,
    "pipia": PIPIA_CASE,
}


def hash_key(settings: Settings) -> bytes:
    """Key of the text hashes in reports (derived from the platform secret, never stored)."""
    return hmac.new(
        settings.secret_key.encode(), b"mingyue.crossborder.text_hash", hashlib.sha256
    ).digest()


def _usage(uow: UnitOfWork, org_id: int, meter: str, unit: str, ref: str) -> None:
    t = utcnow()
    # A count meter: the usage is the moment of the action (one second wide).
    metering.record_usage(
        uow=uow,
        organization_id=org_id,
        meter=meter,
        quantity=Decimal(1),
        unit=unit,
        start=t,
        end=t + timedelta(seconds=1),
        source="crossborder",
        ref=ref,
    )


def _org(actor: Actor) -> int:
    if actor.organization_id is None:
        raise InvalidInput(
            "crossborder.no_organization", "act as a user of an organization", field="--as"
        )
    return actor.organization_id


# --- assessment -------------------------------------------------------------------------------


def decide(scenario: dict[str, Any]) -> Decision:
    """Run the decision engine; turn a bad scenario into InvalidInput naming the field."""
    try:
        return assess(scenario)
    except ScenarioError as exc:
        raise InvalidInput(
            "crossborder.bad_scenario", str(exc), field=exc.field, reason=str(exc)
        ) from None


def create_assessment(*, uow: UnitOfWork, actor: Actor, scenario: dict[str, Any]) -> AssessmentOut:
    """Assess a transfer scenario and keep the answer (CAC 2024 Arts. 3-8)."""
    check(actor, "crossborder.assess")
    org = _org(actor)
    decision = decide(scenario)
    row = CrossborderAssessment(
        organization_id=org,
        created_by=actor.label(),
        scenario=dict(scenario),
        path=decision.path,
        result=decision.to_dict(),
    )
    uow.session.add(row)
    uow.flush()
    uow.audit(
        "crossborder.assessment.created",
        f"crossborder_assessment:{row.id}",
        {"path": decision.path, "basis": decision.basis},
        organization_id=org,
    )
    _usage(uow, org, "crossborder.assessments", "assessment", f"crossborder_assessment:{row.id}")
    return AssessmentOut.model_validate(row)


def list_assessments(*, uow: UnitOfWork, actor: Actor) -> list[AssessmentOut]:
    """Assessments visible to the actor, newest first."""
    check(actor, "crossborder.read")
    rows = uow.session.scalars(
        select(CrossborderAssessment).order_by(CrossborderAssessment.id.desc()).limit(200)
    )
    return [AssessmentOut.model_validate(r) for r in rows]


# --- filings ----------------------------------------------------------------------------------


def create_filing(*, uow: UnitOfWork, actor: Actor, body: FilingIn) -> FilingOut:
    """Open a filing as a case of its kind, with the structured form."""
    check(actor, "crossborder.filing.submit")
    org = _org(actor)
    if body.assessment_id is not None:
        get_visible(uow, CrossborderAssessment, body.assessment_id, "crossborder.read")
    kind = FILING_KINDS[body.kind]
    title = f"{kind.title['zh']} · {body.form.recipient.name}"[:200]
    case = cases.open_case(
        uow=uow,
        kind=kind.name,
        title=title,
        organization_id=org,
        subject=f"recipient:{body.form.recipient.name}"[:200],
        data={
            "filing_kind": body.kind,
            "recipient": body.form.recipient.name,
            "country": body.form.recipient.country,
        },
    )
    row = CrossborderFiling(
        organization_id=org,
        created_by=actor.label(),
        kind=body.kind,
        case_id=case.id,
        assessment_id=body.assessment_id,
        form=body.form.model_dump(mode="json"),
        status="submitted",
    )
    uow.session.add(row)
    uow.flush()
    uow.audit(
        "crossborder.filing.submitted",
        f"crossborder_filing:{row.id}",
        {"kind": body.kind, "case_id": case.id},
        organization_id=org,
    )
    _usage(uow, org, "crossborder.filings", "filing", f"crossborder_filing:{row.id}")
    return FilingOut.model_validate(row)


def _filing_of_case(uow: UnitOfWork, case_id: int) -> CrossborderFiling:
    row = uow.session.scalars(
        select(CrossborderFiling).where(CrossborderFiling.case_id == case_id)
    ).first()
    if row is None:
        raise NotFound("crossborder.filing_not_found", f"no filing for case {case_id}")
    return row


def on_approve(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Approve: sign the filing record (core credential); assessments are valid 3 years."""
    row = _filing_of_case(uow, case.id)
    now = utcnow()
    row.status = "approved"
    row.decided_at = now
    valid_days = VALIDITY_DAYS if row.kind == "security_assessment" else None
    row.valid_until = now + timedelta(days=valid_days) if valid_days else None
    subject = {
        "id": f"crossborder_filing:{row.id}",
        "filingKind": row.kind,
        "organizationId": row.organization_id,
        "recipient": row.form.get("recipient", {}).get("name", ""),
        "recipientCountry": row.form.get("recipient", {}).get("country", ""),
        "categories": list(row.form.get("categories", [])),
        "decidedAt": now.replace(microsecond=0).isoformat(),
        "decidedBy": uow.actor.label(),
        "caseId": case.id,
        "basis": {
            "security_assessment": "促进和规范数据跨境流动规定 Art. 7, Art. 9",
            "standard_contract": "个人信息出境标准合同办法 Art. 7",
            "pipia": "个人信息保护法 Art. 55, Art. 56",
        }[row.kind],
    }
    vc = credentials.issue(
        uow=uow,
        type="CrossBorderFilingRecord",
        subject=subject,
        organization_id=row.organization_id,
        valid_days=valid_days,
    )
    row.credential_id = str(vc["id"])
    uow.flush()
    uow.audit(
        "crossborder.filing.approved",
        f"crossborder_filing:{row.id}",
        {
            "credential": row.credential_id,
            "valid_until": row.valid_until.isoformat() if row.valid_until else None,
        },
        organization_id=row.organization_id,
    )


def _set_status(uow: UnitOfWork, case: CaseOut, status: str) -> None:
    row = _filing_of_case(uow, case.id)
    row.status = status
    if status in ("rejected", "withdrawn"):
        row.decided_at = utcnow()
    uow.flush()
    event = "submitted_again" if status == "submitted" else status
    uow.audit(
        f"crossborder.filing.{event}",
        f"crossborder_filing:{row.id}",
        {"case_id": case.id},
        organization_id=row.organization_id,
    )


def on_reject(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Reject: the filing is closed."""
    _set_status(uow, case, "rejected")


def on_return(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Return for correction."""
    _set_status(uow, case, "returned")


def on_resubmit(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Resubmitted after correction."""
    _set_status(uow, case, "submitted")


def on_withdraw(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Withdrawn by the organization."""
    _set_status(uow, case, "withdrawn")


def list_filings(*, uow: UnitOfWork, actor: Actor) -> list[FilingOut]:
    """Filings visible to the actor, newest first."""
    check(actor, "crossborder.read")
    rows = uow.session.scalars(
        select(CrossborderFiling).order_by(CrossborderFiling.id.desc()).limit(500)
    )
    return [FilingOut.model_validate(r) for r in rows]


def get_filing(*, uow: UnitOfWork, actor: Actor, filing_id: int) -> FilingOut:
    """One filing (NotFound for a foreign one)."""
    return FilingOut.model_validate(
        get_visible(uow, CrossborderFiling, filing_id, "crossborder.read")
    )


def expiring_filings(
    *,
    uow: UnitOfWork,
    actor: Actor,
    within_days: int = EXPIRY_WARNING_DAYS,
    now: datetime | None = None,
) -> list[FilingOut]:
    """Approved filings whose validity ends within ``within_days`` (or has ended)."""
    check(actor, "crossborder.read")
    limit = (now or utcnow()) + timedelta(days=within_days)
    rows = uow.session.scalars(
        select(CrossborderFiling)
        .where(
            CrossborderFiling.status == "approved",
            CrossborderFiling.valid_until.is_not(None),
            CrossborderFiling.valid_until <= limit,
        )
        .order_by(CrossborderFiling.valid_until)
    )
    return [FilingOut.model_validate(r) for r in rows]


def warn_expiring(
    *,
    uow: UnitOfWork,
    actor: Actor,
    within_days: int = EXPIRY_WARNING_DAYS,
    now: datetime | None = None,
) -> list[FilingOut]:
    """Comment on each case whose approval expires soon (once per filing); return those warned."""
    warned = []
    for f in expiring_filings(uow=uow, actor=actor, within_days=within_days, now=now):
        row = uow.session.get(CrossborderFiling, f.id)
        if row is None or row.expiry_warned_at is not None:
            continue
        until = row.valid_until.date().isoformat() if row.valid_until else "?"
        cases.comment(
            uow=uow,
            case_id=row.case_id,
            actor=actor,
            text=f"安全评估结果将于 {until} 到期，如需继续出境请在届满前60个工作日内申请延期"
            f"（促进和规范数据跨境流动规定 Art. 9）。/ The assessment expires on {until}; "
            "apply to extend within 60 working days before expiry.",
        )
        row.expiry_warned_at = now or utcnow()
        uow.flush()
        uow.audit(
            "crossborder.filing.expiry_warned",
            f"crossborder_filing:{row.id}",
            {"valid_until": until},
            organization_id=row.organization_id,
        )
        warned.append(FilingOut.model_validate(row))
    return warned


# --- declared transfers -----------------------------------------------------------------------


def declare_transfer(*, uow: UnitOfWork, actor: Actor, body: TransferIn) -> TransferOut:
    """Declare a transfer (recipient, country, endpoints, categories, legal basis)."""
    check(actor, "crossborder.transfer.declare")
    org = _org(actor)
    if body.filing_id is not None:
        get_visible(uow, CrossborderFiling, body.filing_id, "crossborder.read")
    try:
        DeclaredTransfer.from_dict({"id": "new", **body.model_dump()})
    except ValueError as exc:
        raise InvalidInput(
            "crossborder.bad_transfer", str(exc), field=str(exc).split(":")[0], reason=str(exc)
        ) from None
    row = CrossborderTransfer(
        organization_id=org,
        recipient=body.recipient,
        country=body.country.upper(),
        endpoints=[e.lower() for e in body.endpoints],
        categories=list(body.categories),
        legal_basis=body.legal_basis,
        filing_id=body.filing_id,
    )
    uow.session.add(row)
    uow.flush()
    uow.audit(
        "crossborder.transfer.declared",
        f"crossborder_transfer:{row.id}",
        {"recipient": body.recipient, "country": row.country, "endpoints": row.endpoints},
        organization_id=org,
    )
    return TransferOut.model_validate(row)


def list_transfers(*, uow: UnitOfWork, actor: Actor) -> list[TransferOut]:
    """Declared transfers visible to the actor."""
    check(actor, "crossborder.read")
    rows = uow.session.scalars(select(CrossborderTransfer).order_by(CrossborderTransfer.id))
    return [TransferOut.model_validate(r) for r in rows]


# --- scanning ---------------------------------------------------------------------------------

NER_MAX_UPLOAD_BYTES = 2 << 20  # an API request with ner=true stays within about 30 CPU-seconds


def scan_path(
    path: Path, settings: Settings, *, show_values: bool = False, ner: bool = False
) -> tuple[ScanResult, dict[str, Any]]:
    """Scan a local file with the engine; return the result and its report (hashes by default).

    ``ner`` adds names, places and organisations with the default NER backend (``make_ner()``).
    """
    try:
        result = scan_file(path, PiiDetector(ner=make_ner() if ner else None))
    except ScanError as exc:
        raise InvalidInput(
            "crossborder.bad_file", str(exc), field="file", reason=str(exc)
        ) from None
    report = result.to_dict(hash_key(settings), show_values=show_values)
    report["ner"] = ner  # whether names, places and organisations were looked for
    return result, report


NER_AUTO_MAX_FILE_BYTES = 4 << 20  # the CLI's default NER stays within about a CPU-minute


def scan_local(
    *, path: Path, settings: Settings, show_values: bool = False, ner: bool | None = None
) -> dict[str, Any]:
    """Scan a local file for the CLI; ``show_values`` only for the file's owner (same OS user).

    ``ner`` None looks for names, places and organisations in files up to
    ``NER_AUTO_MAX_FILE_BYTES`` (NER reads ~65 KB per CPU-second); True forces it on any size.
    """
    if not path.is_file():
        raise InvalidInput(
            "crossborder.bad_file",
            f"no such file: {path}",
            field="file",
            reason=f"no such file: {path}",
        )
    if ner is None:
        ner = path.stat().st_size <= NER_AUTO_MAX_FILE_BYTES
    if show_values and path.stat().st_uid != os.geteuid():
        raise Refused(
            "crossborder.values_owner_only",
            "--show-values is only for the owner of the file",
            field="--show-values",
        )
    _result, report = scan_path(path, settings, show_values=show_values, ner=ner)
    return {
        "entities": report["entities"],
        "counts": report["counts"],
        **({"columns": report["columns"]} if "columns" in report else {}),
        "kind": report["kind"],
        "sensitive": report["sensitive"],
        "ner": report["ner"],
    }


def scan_upload(
    *,
    uow: UnitOfWork,
    actor: Actor,
    data: bytes,
    filename: str,
    show_values: bool = False,
    ner: bool | None = None,
) -> ScanOut:
    """Scan an uploaded file and keep the report (never the values, which only the uploader sees).

    ``ner`` None (the default) looks for names, places and organisations in uploads up to
    ``NER_MAX_UPLOAD_BYTES`` and not in larger ones; the report's ``ner`` says which happened.
    """
    check(actor, "crossborder.scan")
    if ner is None:
        ner = len(data) <= NER_MAX_UPLOAD_BYTES
    if ner and len(data) > NER_MAX_UPLOAD_BYTES:  # NER reads ~65 KB per CPU-second
        raise PayloadTooLarge(
            "crossborder.ner_too_large",
            f"NER scans uploads up to {NER_MAX_UPLOAD_BYTES} bytes; use the CLI's "
            "scan --ner for larger files",
            field="ner",
            limit=NER_MAX_UPLOAD_BYTES,
        )
    org = _org(actor)
    if show_values and not actor.has_role("org_admin", "member"):
        raise Refused(
            "crossborder.values_owner_only",
            "values are shown only to the data's owner",
            field="show_values",
        )
    tmp_dir = uow.settings.data_dir / "crossborder" / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    safe = Path(filename).name or "upload"
    tmp = tmp_dir / f"{os.getpid()}-{hashlib.sha256(data).hexdigest()[:16]}-{safe}"
    tmp.write_bytes(data)
    try:
        result, report = scan_path(tmp, uow.settings, show_values=False, ner=ner)
        shown = result.to_dict(hash_key(uow.settings), show_values=True) if show_values else report
    finally:
        tmp.unlink(missing_ok=True)
    row = CrossborderScan(
        organization_id=org,
        created_by=actor.label(),
        filename=safe[:255],
        sha256=hashlib.sha256(data).hexdigest(),
        kind=result.kind,
        counts=dict(result.counts),
        sensitive=bool(report["sensitive"]),
        report=report,
    )
    uow.session.add(row)
    uow.flush()
    uow.audit(
        "crossborder.scan.completed",
        f"crossborder_scan:{row.id}",
        {"sha256": row.sha256, "counts": row.counts},
        organization_id=org,
    )
    _usage(uow, org, "crossborder.scans", "scan", f"crossborder_scan:{row.id}")
    return ScanOut(
        id=row.id,
        filename=row.filename,
        sha256=row.sha256,
        kind=row.kind,
        counts=row.counts,
        sensitive=row.sensitive,
        entities=shown["entities"],
        columns=shown.get("columns"),
        ner=bool(report.get("ner")),
    )


def list_scans(*, uow: UnitOfWork, actor: Actor) -> list[ScanOut]:
    """Scan reports visible to the actor (hashes only)."""
    check(actor, "crossborder.read")
    rows = uow.session.scalars(
        select(CrossborderScan).order_by(CrossborderScan.id.desc()).limit(200)
    )
    return [
        ScanOut(
            id=r.id,
            filename=r.filename,
            sha256=r.sha256,
            kind=r.kind,
            counts=r.counts,
            sensitive=r.sensitive,
            entities=r.report.get("entities", []),
            columns=r.report.get("columns"),
            ner=bool(r.report.get("ner")),
        )
        for r in rows
    ]


# --- flow monitoring --------------------------------------------------------------------------


def flow_store_path(settings: Settings, organization_id: int) -> Path:
    """Where an organization's flow-monitor state lives (distinct-individual sets, offsets)."""
    path = settings.data_dir / "crossborder" / f"org_{organization_id}" / "flows.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def build_monitor(*, uow: UnitOfWork, actor: Actor, geoip: Path | None = None) -> FlowMonitor:
    """A flow monitor over the organization's declared transfers."""
    check(actor, "crossborder.watch")
    org = _org(actor)
    transfers = [
        DeclaredTransfer(
            str(t.id),
            t.recipient,
            t.country,
            tuple(t.endpoints),
            tuple(t.categories),
            t.legal_basis,
        )
        for t in list_transfers(uow=uow, actor=actor)
        if t.organization_id == org
    ]
    geo = uow.settings.crossborder.get("geoip") if geoip is None else geoip
    try:
        resolver = open_resolver(geo)
    except (ValueError, OSError) as exc:
        raise InvalidInput(
            "crossborder.bad_geoip", str(exc), field="--geoip", reason=str(exc)
        ) from None
    return FlowMonitor(
        FlowStore(flow_store_path(uow.settings, org)),
        transfers,
        hash_key=hash_key(uow.settings),
        geo=resolver,
    )


def raise_alert_cases(*, uow: UnitOfWork, actor: Actor, alerts: list[Alert]) -> list[int]:
    """Open one flow-alert case per new alert; return the case ids."""
    org = _org(actor)
    ids = []
    for a in alerts:
        title = {
            "undeclared_overseas_endpoint": f"未申报的境外端点 {a.detail.get('endpoint')} ({a.detail.get('country')})",
        }.get(a.kind, f"{a.recipient}: {a.kind} ({a.count} ≥ {a.threshold})")
        case = cases.open_case(
            uow=uow,
            kind="crossborder.flow_alert",
            title=title[:200],
            organization_id=org,
            subject=a.recipient[:200],
            data=a.to_dict(),
        )
        uow.audit(
            "crossborder.flow.alerted", f"core_case:{case.id}", a.to_dict(), organization_id=org
        )
        ids.append(case.id)
    return ids


def watch_source(
    *,
    uow: UnitOfWork,
    actor: Actor,
    source: Path,
    fmt: str | None = None,
    geoip: Path | None = None,
    follow: bool = False,
    workers: int = 1,
    on_progress: Callable[[WatchProgress], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, Any]:
    """Read a log or pcap from its last offset, count individuals, open alert cases.

    With ``follow`` it tails the source until interrupted (Ctrl-C ends it cleanly: every batch read
    so far is already committed). Alerts the monitor stored but that never became cases (a crash
    between the two) are opened now.
    """
    monitor = build_monitor(uow=uow, actor=actor, geoip=geoip)
    if not source.is_file():
        monitor.store.close()
        raise InvalidInput(
            "crossborder.bad_file",
            f"no such file: {source}",
            field="source",
            reason=f"no such file: {source}",
        )
    progress: WatchProgress | None = None
    try:
        with source.open("rb") as fp:
            magic = fp.read(4)
        if fmt == "pcap" or magic in (
            b"\xd4\xc3\xb2\xa1",
            b"\xa1\xb2\xc3\xd4",
            b"\x4d\x3c\xb2\xa1",
            b"\xa1\xb2\x3c\x4d",
            b"\x0a\x0d\x0d\x0a",
        ):
            progress = watch_pcap(monitor, source, follow=follow, should_stop=should_stop)
        else:
            progress = watch_log(
                monitor,
                source,
                fmt,
                follow=follow,
                workers=workers,
                on_progress=on_progress,
                should_stop=should_stop,
            )
    except KeyboardInterrupt:
        if not follow:
            raise
    except ValueError as exc:
        monitor.store.close()
        raise InvalidInput(
            "crossborder.bad_source", str(exc), field="source", reason=str(exc)
        ) from None
    store = monitor.store
    try:
        pending = store.pending_alerts()
        case_ids = raise_alert_cases(uow=uow, actor=actor, alerts=[a for _, a in pending])
        uow.flush()
        counts = [
            {"recipient": r, "year": y, "kind": k, "individuals": n}
            for (r, y, k), n in sorted(store.counts().items())
        ]
        cp = store.checkpoint(str(source.resolve()))
    finally:
        store.close()
    # Marked handed over only once the cases are committed with the platform's unit of work; a
    # crash before that leaves them pending, and the next run opens them.
    store_path = flow_store_path(uow.settings, _org(actor))
    ids = [i for i, _ in pending]

    def _handed_over(_session: object) -> None:
        done = FlowStore(store_path)
        try:
            done.mark_handed_over(ids)
        finally:
            done.close()

    if ids:
        event.listen(uow.session, "after_commit", _handed_over, once=True)
    lines = cp.lines if cp else 0
    events = cp.events if cp else 0
    offset = cp.offset if cp else 0
    uow.audit(
        "crossborder.flow.watched",
        f"source:{source.name}",
        {"lines": lines, "events": events, "offset": offset},
        organization_id=_org(actor),
    )
    out = (
        progress.to_dict()
        if progress
        else {
            "source": str(source.resolve()),
            "offset": offset,
            "lines": lines,
            "events": events,
            "bad_lines": cp.bad_lines if cp else 0,
        }
    )
    out["alerts"] = [a.to_dict() for _, a in pending]
    return {**out, "alert_cases": case_ids, "counts": counts}


def flow_counts(
    *, uow: UnitOfWork, actor: Actor, organization_id: int | None = None
) -> dict[str, Any]:
    """Distinct individuals per recipient and year, observed endpoints (declared or not) and
    alerts of one organization: the caller's own, or any one for oversight roles (regulators)."""
    check(actor, "crossborder.read")
    org = organization_id if organization_id is not None else _org(actor)
    if org != actor.organization_id and not actor.has_role(*OVERSIGHT_ROLES):
        raise NotFound(
            "crossborder.flows_not_found",
            f"no flow data for organization {org}",
            field="organization_id",
        )
    if organization_id is not None and uow.session.get(Organization, org) is None:
        raise NotFound(
            "crossborder.flows_not_found", f"no organization {org}", field="organization_id"
        )
    store = FlowStore(flow_store_path(uow.settings, org))
    try:
        return {
            "counts": [
                {"recipient": r, "year": y, "kind": k, "individuals": n}
                for (r, y, k), n in sorted(store.counts().items())
            ],
            "observed": store.observed(),
            "alerts": [a.to_dict() for a in store.alerts()],
        }
    finally:
        store.close()


def enqueue_watch(*, uow: UnitOfWork, actor: Actor, file_id: int, fmt: str | None = None) -> JobOut:
    """Queue a job that reads a stored log or pcap (core file) into the flow monitor."""
    check(actor, "crossborder.watch")
    files.path_of(uow=uow, file_id=file_id)  # NotFound for an absent or foreign file
    if fmt is not None and fmt not in ("combined", "nginx", "squid", "zeek", "pcap"):
        raise InvalidInput(
            "crossborder.bad_source",
            f"unknown format {fmt!r}",
            field="format",
            reason=f"unknown format {fmt!r}",
        )
    return jobs.enqueue(
        uow=uow, kind="crossborder.watch", params={"file_id": file_id, "format": fmt}
    )


def run_watch_job(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Job handler: read the file from its last offset, with progress and cancellation."""

    def progress(p: WatchProgress) -> None:
        ctx.progress(
            min(99.0, 100.0 * p.offset / p.size) if p.size else 99.0,
            f"{p.lines} lines, {p.events} events",
        )

    with ctx.unit_of_work() as uow:
        path = files.path_of(uow=uow, file_id=int(params["file_id"]))
        out = watch_source(
            uow=uow,
            actor=uow.actor,
            source=path,
            fmt=params.get("format"),
            on_progress=progress,
            should_stop=ctx.cancelled,
        )
    return {k: v for k, v in out.items() if k != "source"}
