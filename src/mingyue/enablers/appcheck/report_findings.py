"""Which core findings an appcheck report stands for, and how a report feeds the register.

The engine's own rule codes stay the report's detail; the platform's findings register speaks the
three declared rules (see ``finding_rules`` in the declaration and docs/appcheck.md):

- ``PERM_NOT_NECESSARY`` → ``appcheck.permission_unnecessary`` (the dangerous permissions the
  declared App type does not need, 191号 四、1) and, for those of them that reach a category of
  personal information, ``appcheck.over_collection`` (the PI categories beyond the type's
  necessary PI, PIPL Art. 6);
- ``SDK_UNDISCLOSED`` → ``appcheck.sdk_undisclosed``.

Only failed static results count: a check that needs dynamic testing never raises a finding.
Only :mod:`mingyue.sdk` and the enabler's table: :mod:`.service` imports this module.
"""

from __future__ import annotations

import re
from typing import Any

from mingyue.sdk import EvidenceRef, UnitOfWork, observe_subject, raise_finding

from .models import Scan

OVER_COLLECTION = "appcheck.over_collection"
SDK_UNDISCLOSED = "appcheck.sdk_undisclosed"
PERMISSION_UNNECESSARY = "appcheck.permission_unnecessary"
RULES = (OVER_COLLECTION, SDK_UNDISCLOSED, PERMISSION_UNNECESSARY)


def _failed(report: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [
        f for f in report.get("findings", []) if f.get("rule") == code and f.get("status") == "fail"
    ]


def _named_in(name: str, texts: list[str]) -> bool:
    # a permission name followed by more of a longer one (READ_MEDIA_IMAGES_X) is another one
    pattern = re.compile(re.escape(name) + r"(?![A-Za-z0-9_])")
    return any(pattern.search(t) for t in texts)


def rules_in(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the finding rules a report breaks, each with its detail (engine codes kept)."""
    out: dict[str, dict[str, Any]] = {}
    app_type = report.get("app_type") or {}
    perm_evidence = [str(f.get("evidence", "")) for f in _failed(report, "PERM_NOT_NECESSARY")]
    if perm_evidence:
        flagged = [
            d
            for d in report.get("dangerous_permissions", [])
            if d.get("necessary") is False and _named_in(str(d.get("name")), perm_evidence)
        ]
        base = {
            "codes": ["PERM_NOT_NECESSARY"],
            "app_type": app_type.get("key"),
            "app_type_necessary": app_type.get("necessary"),
        }
        out[PERMISSION_UNNECESSARY] = {
            **base,
            "permissions": sorted(str(d["name"]) for d in flagged),
        }
        with_pi = [d for d in flagged if d.get("pi")]
        if with_pi:
            out[OVER_COLLECTION] = {
                **base,
                "pi_categories": sorted({str(d["pi"]) for d in with_pi}),
                "permissions": sorted(str(d["name"]) for d in with_pi),
            }
    undisclosed = _failed(report, "SDK_UNDISCLOSED")
    if undisclosed:
        sdks = (report.get("disclosure") or {}).get("undisclosed") or [
            str(f.get("evidence", "")).split(" (")[0] for f in undisclosed
        ]
        out[SDK_UNDISCLOSED] = {"codes": ["SDK_UNDISCLOSED"], "sdks": sorted(sdks)}
    return out


def subject_of(scan: Scan) -> str:
    """Return the App a scan's findings are about: its package name."""
    return scan.package or f"sha256:{scan.sha256}"


def report_evidence(scan: Scan, report_sha256: str | None = None) -> EvidenceRef:
    """Return the reference to a scan's report as finding evidence."""
    version = str((scan.report or {}).get("version_name") or "")
    label = f"{scan.file_name} {version}".strip()
    return EvidenceRef(
        kind="appcheck.report",
        ref=str(scan.id),
        path=f"/appcheck/scans/{scan.id}",
        label=f"App合规检测报告 / App check report: {label}"[:200],
        sha256=report_sha256,
    )


def raise_for_report(*, uow: UnitOfWork, scan: Scan, report_sha256: str) -> list[str]:
    """Raise one finding per broken rule for the App of an accepted report; return the rules."""
    found = rules_in(scan.report or {})
    evidence = [report_evidence(scan, report_sha256)]
    for rule, detail in sorted(found.items()):
        raise_finding(
            uow=uow,
            organization_id=scan.organization_id,
            rule=rule,
            subject=subject_of(scan),
            evidence=evidence,
            detail={**detail, "scan_id": scan.id, "apk_sha256": scan.sha256},
        )
    return sorted(found)


def observe_report(*, uow: UnitOfWork, scan: Scan, reverify: dict[str, Any]) -> dict[str, Any]:
    """Take a finished re-verification scan as a fresh check of the finding's App.

    The App's active findings whose rule the new report no longer breaks become fixed, the others
    still present; the new report is their evidence. A report of another package, or an
    incomplete one (a packed APK), decides nothing: the finding stays pending, and the ledger
    says why.
    """
    subject = str(reverify.get("subject") or "")
    why = None
    if scan.status != "done":
        why = "scan_failed"
    elif subject_of(scan) != subject:
        why = "other_package"
    elif scan.incomplete:
        why = "incomplete_report"
    if why is not None:
        uow.audit(
            "appcheck.finding.reverify_inconclusive",
            f"appcheck_scan:{scan.id}",
            {
                "finding_id": reverify.get("finding_id"),
                "reason": why,
                "expected_package": subject,
                "package": scan.package,
            },
            organization_id=scan.organization_id,
        )
        return {"outcome": "inconclusive", "reason": why}
    present = sorted(rules_in(scan.report or {}))
    changed = observe_subject(
        uow=uow,
        organization_id=scan.organization_id,
        enabler="appcheck",
        subject=subject,
        present_rules=present,
        evidence=[report_evidence(scan)],
        checked_rules=RULES,  # release-history findings are judged by the release diff
    )
    return {
        "outcome": "observed",
        "present_rules": present,
        "changed": {f.rule: (f.verification or {}).get("state") for f in changed},
    }
