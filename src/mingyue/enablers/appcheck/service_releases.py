"""Release history (SDK 应用服务监测): every finished scan of a package is a release of that App.

When a scan finishes, :func:`compare_release` compares it with the previous release of the same
package of the same organization and raises core findings for what a release must not bring
silently: an added SDK its privacy policy / SDK list does not name, an added permission, an SDK
version on the watch list (checked on every release, the first included). :func:`app_history`
gives the per-App timeline. Only :mod:`mingyue.sdk`, the tables and the pure engine modules.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mingyue.sdk import Actor, EvidenceRef, NotFound, UnitOfWork, check, raise_finding

from .engine.releases import diff, sdk_versions, watchlisted
from .models import Scan
from .schemas_reviews import AppHistoryOut, ReleaseOut

SDK_UNDISCLOSED = "appcheck.release_sdk_undisclosed"
PERMISSION_ADDED = "appcheck.release_permission_added"
WATCHLISTED = "appcheck.sdk_watchlisted"


def _previous(uow: UnitOfWork, scan: Scan) -> Scan | None:
    return uow.session.scalars(
        select(Scan)
        .where(
            Scan.organization_id == scan.organization_id,
            Scan.package == scan.package,
            Scan.status == "done",
            Scan.id < scan.id,
        )
        .order_by(Scan.id.desc())
        .limit(1)
    ).first()


def _evidence(scan: Scan) -> list[EvidenceRef]:
    version = str((scan.report or {}).get("version_name") or "")
    return [
        EvidenceRef(
            kind="appcheck.release",
            ref=str(scan.id),
            path=f"/appcheck/apps/{scan.package}?org={scan.organization_id}",
            label=f"App版本 / release: {scan.file_name} {version}".strip()[:200],
        )
    ]


def compare_release(*, uow: UnitOfWork, scan: Scan) -> dict[str, Any]:
    """Compare a finished scan with the package's previous release; raise the alerts."""
    if scan.status != "done" or not scan.package:
        return {}
    report = scan.report or {}
    prev = _previous(uow, scan)
    raised: list[str] = []
    d = diff(prev.report or {}, report) if prev is not None else None
    base = {"scan_id": scan.id, "previous_scan_id": prev.id if prev else None}
    if d is not None and d.undisclosed_added:
        raise_finding(
            uow=uow,
            organization_id=scan.organization_id,
            rule=SDK_UNDISCLOSED,
            subject=scan.package,
            evidence=_evidence(scan),
            detail={**base, "sdks": d.undisclosed_added},
        )
        raised.append(SDK_UNDISCLOSED)
    # The alert is about personal information: an added permission counts when it is one of the
    # dangerous (PI-bearing) permissions the report judges; an App's own custom permissions or
    # normal ones stay in the diff only.
    dangerous = {str(x.get("name")) for x in report.get("dangerous_permissions", [])}
    pi_added = [p for p in (d.permissions_added if d is not None else []) if p in dangerous]
    if pi_added:
        raise_finding(
            uow=uow,
            organization_id=scan.organization_id,
            rule=PERMISSION_ADDED,
            subject=scan.package,
            evidence=_evidence(scan),
            detail={**base, "permissions": pi_added},
        )
        raised.append(PERMISSION_ADDED)
    watch = watchlisted(report)
    if watch:
        raise_finding(
            uow=uow,
            organization_id=scan.organization_id,
            rule=WATCHLISTED,
            subject=scan.package,
            evidence=_evidence(scan),
            detail={**base, "sdks": watch},
        )
        raised.append(WATCHLISTED)
    if prev is not None or raised:
        uow.audit(
            "appcheck.release.compared",
            f"appcheck_scan:{scan.id}",
            {**base, "diff": d.to_dict() if d else None, "findings_raised": raised},
            organization_id=scan.organization_id,
        )
    return {**base, "findings_raised": raised}


def app_history(
    *, uow: UnitOfWork, actor: Actor, package: str, organization_id: int | None = None
) -> AppHistoryOut:
    """Return the releases of one package (oldest first), each with its diff to the previous.

    The history is one organization's: ``organization_id`` picks it for oversight roles (default:
    the organization of the package's latest scan the actor may see).
    """
    check(actor, "appcheck.report.read")
    q = select(Scan).where(Scan.package == package, Scan.status == "done")
    if organization_id is not None:
        q = q.where(Scan.organization_id == organization_id)
    rows = list(uow.session.scalars(q.order_by(Scan.id)).all())
    if not rows:
        raise NotFound("appcheck.app_not_found", f"no finished scan of {package}")
    org = rows[-1].organization_id
    rows = [r for r in rows if r.organization_id == org]
    releases: list[ReleaseOut] = []
    prev: Scan | None = None
    for s in rows:
        rep = s.report or {}
        versions = sdk_versions(rep)
        releases.append(
            ReleaseOut(
                scan_id=s.id,
                created_at=s.created_at,
                file_name=s.file_name,
                version_name=str(rep.get("version_name") or ""),
                version_code=str(rep.get("version_code") or ""),
                sdks=[
                    {"name": str(x["name"]), "version": versions.get(str(x["name"]), "")}
                    for x in rep.get("sdks", [])
                ],
                permissions=len(rep.get("permissions", [])),
                watchlisted=watchlisted(rep),
                diff=diff(prev.report or {}, rep).to_dict() if prev is not None else None,
            )
        )
        prev = s
    return AppHistoryOut(package=package, organization_id=org, releases=releases)
