"""Re-verification of appcheck findings: scan the corrected APK the organization supplies.

The core calls :func:`reverify` when someone asks a finding to be checked again. The evidence
must hold the corrected APK as a stored file (``EvidenceRef(kind="core.file", ref=<file id>)``)
and may hold a corrected privacy policy / SDK list the same way (any stored file that is not a
zip archive). The platform starts a real scan of it for the finding's organization through the
ordinary scan path (:func:`.service.submit_scan`), with the App type and — unless a new one is
given — the privacy policy of the report that raised the finding, so that every rule the finding
was judged by is judged again. When that scan's report is complete the scan job observes the App
(:func:`.report_findings.observe_report`): fixed or still present, with the new report linked.
"""

from __future__ import annotations

from pathlib import Path

from mingyue.sdk import (
    SYSTEM,
    EvidenceRef,
    FindingOut,
    FindingVerifier,
    InvalidInput,
    UnitOfWork,
    get_visible,
    stored_path,
)

from .models import Scan
from .service import MAX_POLICY_BYTES, submit_scan

_ZIP_MAGIC = b"PK\x03\x04"


def _file_id(ref: EvidenceRef) -> int:
    try:
        return int(ref.ref)
    except ValueError:
        raise InvalidInput(
            "appcheck.reverify_bad_file",
            f"evidence {ref.kind}:{ref.ref} does not name a stored file",
            field="evidence",
        ) from None


def _split_files(uow: UnitOfWork, evidence: list[EvidenceRef]) -> tuple[Path, str, Path | None]:
    """Return (APK path, its file name, policy path or None) from the evidence's stored files."""
    apks: list[tuple[Path, str]] = []
    policies: list[Path] = []
    for ref in evidence:
        if ref.kind != "core.file":
            continue
        path = stored_path(uow=uow, file_id=_file_id(ref))  # NotFound when absent or foreign
        with path.open("rb") as fh:
            magic = fh.read(4)
        if magic == _ZIP_MAGIC:
            apks.append((path, ref.label or f"file-{ref.ref}.apk"))
        else:
            policies.append(path)
    if len(apks) != 1 or len(policies) > 1:
        raise InvalidInput(
            "appcheck.reverify_needs_apk",
            "give the corrected APK as one stored file (core.file evidence), and at most one "
            "privacy policy / SDK list",
            field="evidence",
        )
    apk, name = apks[0]
    return apk, name, policies[0] if policies else None


def _raising_scan(uow: UnitOfWork, finding: FindingOut) -> Scan:
    reports = [e for e in finding.evidence if e.kind == "appcheck.report" and e.ref.isdigit()]
    if not reports:
        raise InvalidInput(
            "appcheck.reverify_no_report",
            f"finding {finding.id} names no appcheck report to check against",
            field="finding",
        )
    return get_visible(
        uow, Scan, int(reports[-1].ref), "appcheck.report.read", key="appcheck.not_found"
    )


def reverify(*, uow: UnitOfWork, finding: FindingOut, evidence: list[EvidenceRef]) -> None:
    """Start a scan of the corrected APK for the finding's organization (the platform's scan)."""
    apk, name, policy_path = _split_files(uow, evidence)
    origin = _raising_scan(uow, finding)
    if policy_path is not None:
        if policy_path.stat().st_size > MAX_POLICY_BYTES:
            raise InvalidInput(
                "appcheck.sdk_list_too_large",
                "the privacy policy / SDK list is too large",
                field="policy",
            )
        policy: bytes | None = policy_path.read_bytes()
    elif origin.policy_file_id:
        policy = stored_path(uow=uow, file_id=origin.policy_file_id).read_bytes()
    else:
        policy = None
    with apk.open("rb") as fh:
        submit_scan(
            uow=uow,
            actor=SYSTEM,
            data=fh,
            filename=name,
            app_type=origin.app_type,
            policy=policy,
            organization_id=finding.organization_id,
            reverify={"finding_id": finding.id, "subject": finding.subject},
        )


# The verifier named in the declaration, checked against the sdk's protocol by mypy.
_REVERIFY: FindingVerifier = reverify
