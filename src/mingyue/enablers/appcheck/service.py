"""appcheck use cases: upload -> scan job -> report -> review case -> signed report credential.

Engine work (:mod:`.engine`) runs outside any database transaction; every state change writes one
audit entry in the same unit of work, and every finished scan one usage record.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, BinaryIO

from sqlalchemy import select

from mingyue.sdk import (
    Actor,
    CaseOut,
    Conflict,
    InvalidInput,
    JobContext,
    Settings,
    UnitOfWork,
    check,
    enqueue,
    get_visible,
    issue_credential,
    now,
    open_case,
    record_count,
    require_org,
    store_upload,
    stored_path,
)

from .engine import AppcheckError, analyze_apk, load_catalogue, load_rulesets
from .models import Scan
from .pdf import render_pdf
from .report_findings import observe_report, raise_for_report
from .schemas import AppTypeOut, RuleSetOut, ScanOut
from .service_releases import compare_release

MAX_APK_BYTES = 512 * 1024 * 1024
MAX_POLICY_BYTES = 5 * 1024 * 1024
CREDENTIAL_TYPE = "AppComplianceReport"


def _engine_error(exc: AppcheckError) -> InvalidInput:
    key = exc.key
    params = exc.params or {}
    # Name the input that was wrong: the declared type, the policy / SDK list, or the APK.
    field = {"appcheck.unknown_app_type": "app_type", "appcheck.bad_sdk_list": "policy"}.get(
        key, "file"
    )
    return InvalidInput(
        key,
        exc.message,
        field=field,
        **{k: v for k, v in params.items() if k not in ("key", "field")},
    )


def _out(scan: Scan) -> ScanOut:
    return ScanOut.model_validate(scan)


def validate_app_type(app_type: str | None) -> str | None:
    """Return the canonical key of a declared App type (InvalidInput if unknown)."""
    if not app_type:
        return None
    try:
        return load_rulesets().app_type(app_type).key
    except AppcheckError as exc:
        raise _engine_error(exc) from None


def submit_scan(
    *,
    uow: UnitOfWork,
    actor: Actor,
    data: bytes | BinaryIO,
    filename: str,
    app_type: str | None = None,
    policy: bytes | None = None,
    organization_id: int | None = None,
    reverify: dict[str, Any] | None = None,
) -> ScanOut:
    """Store an uploaded APK (and optional privacy policy / SDK list) and queue its scan.

    ``organization_id`` is for system actors (demo data, imports, re-verification); users submit
    for their own. ``reverify`` (``{"finding_id", "subject"}``) makes the scan a re-check of a
    finding: when its report is complete it is observed (:func:`.report_findings.observe_report`).
    """
    check(actor, "appcheck.scan.submit")
    org_id = organization_id if organization_id is not None else require_org(actor)
    key = validate_app_type(app_type)
    if policy is not None and len(policy) > MAX_POLICY_BYTES:
        raise InvalidInput(
            "appcheck.sdk_list_too_large",
            "the privacy policy / SDK list is too large",
            field="policy",
        )
    stored = store_upload(
        uow=uow,
        upload=data,
        filename=filename or "app.apk",
        max_bytes=MAX_APK_BYTES,
        purpose="apk",
        organization_id=org_id,
    )
    policy_id = None
    if policy is not None:
        policy_id = store_upload(
            uow=uow,
            upload=policy,
            filename="policy.txt",
            max_bytes=MAX_POLICY_BYTES,
            purpose="policy",
            organization_id=stored.organization_id,
        ).id
    scan = Scan(
        organization_id=stored.organization_id,
        submitted_by=actor.label(),
        file_id=stored.id,
        file_name=stored.filename,
        sha256=stored.sha256,
        size=stored.size,
        policy_file_id=policy_id,
        app_type=key,
        status="queued",
    )
    uow.session.add(scan)
    uow.flush()
    job = enqueue(
        uow=uow,
        kind="appcheck.scan",
        params={"scan_id": scan.id, **({"reverify": reverify} if reverify else {})},
        organization_id=scan.organization_id,
    )
    scan.job_id = job.id
    uow.flush()
    uow.audit(
        "appcheck.scan.submitted",
        f"appcheck_scan:{scan.id}",
        {"sha256": scan.sha256, "file_name": scan.file_name, "app_type": key, "job_id": job.id},
        organization_id=scan.organization_id,
    )
    return _out(scan)


def run_scan_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Job handler: run the engine on the stored APK, save the report, open the review case."""
    scan_id = int(params["scan_id"])
    with ctx.unit_of_work() as uow:
        scan = get_visible(uow, Scan, scan_id)
        apk_path = stored_path(uow=uow, file_id=scan.file_id)
        policy = (
            stored_path(uow=uow, file_id=scan.policy_file_id).read_bytes()
            if scan.policy_file_id
            else None
        )
        app_type = scan.app_type
    ctx.raise_if_cancelled()
    ctx.progress(10, "parsing APK in the sandbox")
    started = now()
    verified: dict[str, Any] = {}
    report: dict[str, Any] | None = None
    error: dict[str, Any] = {}
    try:
        rep = analyze_apk(apk_path, app_type=app_type, policy=policy)
        report = rep.to_dict(load_rulesets())
    except AppcheckError as exc:
        error = exc.to_dict()
    ctx.raise_if_cancelled()
    ctx.progress(80, "saving the report")
    with ctx.unit_of_work() as uow:
        scan = get_visible(uow, Scan, scan_id)
        scan.finished_at = now()
        if report is None:
            scan.status, scan.error = "failed", error
            uow.audit(
                "appcheck.scan.failed",
                f"appcheck_scan:{scan.id}",
                {"sha256": scan.sha256, "error": error.get("key")},
                organization_id=scan.organization_id,
            )
        else:
            scan.status, scan.report = "done", report
            scan.package, scan.incomplete = report["package"], bool(report["incomplete"])
            case = open_case(
                uow=uow,
                kind="appcheck.review",
                organization_id=scan.organization_id,
                title=f"App合规检测 / App check: {scan.package or scan.file_name}"[:200],
                subject=f"appcheck_scan:{scan.id}",
                data={"scan_id": scan.id, "sha256": scan.sha256, "package": scan.package},
            )
            scan.case_id = case.id
            # every finished scan of a package is a release: compare it with the previous one
            compare_release(uow=uow, scan=scan)
            uow.audit(
                "appcheck.scan.completed",
                f"appcheck_scan:{scan.id}",
                {
                    "sha256": scan.sha256,
                    "package": scan.package,
                    "findings": len(report["findings"]),
                    "incomplete": scan.incomplete,
                    "case_id": case.id,
                },
                organization_id=scan.organization_id,
            )
        if params.get("reverify"):
            verified = observe_report(uow=uow, scan=scan, reverify=dict(params["reverify"]))
        # one usage record per scan the engine ran (a refused file costs a scan too)
        record_count(
            uow=uow,
            organization_id=scan.organization_id,
            meter="appcheck.scans",
            unit="scan",
            source="appcheck.scan",
            ref=f"appcheck_scan:{scan.id}",
            at=started,
        )
        uow.flush()
    out = {"scan_id": scan_id, "status": "done" if report else "failed", "error": error.get("key")}
    return {**out, "reverify": verified} if params.get("reverify") else out


def _report_digest(report: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(report, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()


def _scan_of_case(uow: UnitOfWork, case: CaseOut) -> Scan:
    scan_id = int((case.data or {}).get("scan_id", 0))
    scan = uow.session.scalars(select(Scan).where(Scan.id == scan_id)).first()
    if scan is None:
        raise Conflict("appcheck.case_without_scan", "the review case names no scan")
    return scan


def on_accept(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Case hook: sign the report (core credential with the APK's SHA-256) on acceptance."""
    scan = _scan_of_case(uow, case)
    report = scan.report or {}
    summary = {
        "scan_id": scan.id,
        "file_name": scan.file_name,
        "apk_sha256": scan.sha256,
        "package": scan.package,
        "app_type": scan.app_type or "",
        "report_sha256": _report_digest(report),
        "incomplete": scan.incomplete,
        "findings": {
            sev: sum(
                1
                for f in report.get("findings", [])
                if f["severity"] == sev and f["status"] != "needs_dynamic_testing"
            )
            for sev in ("high", "medium", "low", "info")
        },
        "sdks": sorted(s["name"] for s in report.get("sdks", []))[:200],
        "reviewed_by": uow.actor.label(),
        "case_id": case.id,
    }
    vc = issue_credential(
        uow=uow,
        type=CREDENTIAL_TYPE,
        subject=summary,
        organization_id=scan.organization_id,
        # what anyone scanning the report's QR code may see: the App, not the reviewer
        public_fields=("file_name", "package", "apk_sha256", "report_sha256", "findings"),
    )
    scan.credential_id = vc.id
    scan.review = "accepted"
    uow.flush()
    # the accepted report is the platform's word on the App: its breaches enter the register
    raised = raise_for_report(uow=uow, scan=scan, report_sha256=str(summary["report_sha256"]))
    uow.audit(
        "appcheck.report.signed",
        f"appcheck_scan:{scan.id}",
        {
            "credential_id": scan.credential_id,
            "apk_sha256": scan.sha256,
            "report_sha256": summary["report_sha256"],
            "findings_raised": raised,
        },
        organization_id=scan.organization_id,
    )


def on_return(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Case hook: mark the scan's report as returned to the submitter."""
    scan = _scan_of_case(uow, case)
    scan.review = "returned"
    uow.flush()
    uow.audit(
        "appcheck.report.returned",
        f"appcheck_scan:{scan.id}",
        {"case_id": case.id},
        organization_id=scan.organization_id,
    )


def list_scans(*, uow: UnitOfWork, actor: Actor, limit: int = 100) -> list[ScanOut]:
    """List the scans the actor may see, newest first."""
    check(actor, "appcheck.report.read")
    rows = uow.session.scalars(select(Scan).order_by(Scan.id.desc()).limit(limit)).all()
    return [_out(s) for s in rows]


def get_scan(*, uow: UnitOfWork, actor: Actor, scan_id: int) -> ScanOut:
    """Return one scan the actor may see."""
    return _out(get_visible(uow, Scan, scan_id, "appcheck.report.read", key="appcheck.not_found"))


def get_report(*, uow: UnitOfWork, actor: Actor, scan_id: int) -> dict[str, Any]:
    """Return the JSON export of a finished scan's report (with its review state)."""
    scan = get_visible(uow, Scan, scan_id, "appcheck.report.read", key="appcheck.not_found")
    if scan.status != "done":
        raise Conflict(
            "appcheck.report_not_ready",
            f"scan {scan_id} is {scan.status}",
            status=scan.status,
            error=scan.error.get("key") if scan.error else None,
        )
    return {
        **scan.report,
        "scan_id": scan.id,
        "review": scan.review,
        "credential_id": scan.credential_id,
        "case_id": scan.case_id,
    }


def report_pdf(*, uow: UnitOfWork, actor: Actor, scan_id: int, lang: str = "zh") -> bytes:
    """Return the report of a finished scan as a PDF (zh or en)."""
    report = get_report(uow=uow, actor=actor, scan_id=scan_id)
    report["categories"] = report.get("categories") or []
    verify = verify_url(uow.settings, report["credential_id"]) if report["credential_id"] else None
    return render_pdf(report, lang="en" if lang == "en" else "zh", verify_url=verify)


def verify_url(settings: Settings, credential_id: str) -> str:
    """Return the public page that verifies a signed report (what its QR code points to)."""
    return f"{settings.base_url.rstrip('/')}/verify/{credential_id}"


def rule_sets() -> list[RuleSetOut]:
    """Return the loaded rule sets with versions and sources."""
    cat = load_catalogue()
    out = [
        RuleSetOut(
            name=f"sdk_catalogue/{s['id']}",
            version=str(s.get("version") or cat.version),
            source=f"{s['name']} — {s['origin']} ({s['licence']})",
        )
        for s in cat.sources
    ]
    out += [RuleSetOut(**r) for r in load_rulesets().summary()]
    return out


def app_types() -> list[AppTypeOut]:
    """Return the 39 App types of the 2021 necessary-PI rule."""
    return [
        AppTypeOut(
            n=t.n,
            key=t.key,
            zh=t.zh,
            en=t.en,
            necessary=t.necessary,
            no_pi=t.no_pi,
            article=t.article,
        )
        for t in load_rulesets().types()
    ]
