"""appcheck feeds the core findings register: an accepted report raises one finding per rule per
App (deduplicated), visible to the organization and its regulator only; a corrected APK given as
evidence is scanned by the platform and the findings turn fixed (or stay present)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest

from mingyue.core.cases import service as case_service
from mingyue.enablers.appcheck import service
from mingyue.sdk import (
    EvidenceRef,
    InvalidInput,
    list_findings,
    request_reverification,
    store_upload,
)

PACKAGE = "com.jpush.hbuilderdemo"
POLICY = "<p>我们使用了极光推送 SDK（cn.jpush.android）用于消息推送。</p>".encode()
FIXED_POLICY = (
    "<p>我们使用了极光推送 SDK（cn.jpush.android）用于消息推送；"
    "腾讯 QQ 互联 SDK（com.tencent.connect）用于登录与分享。</p>"
).encode()
UNNEEDED = (
    "ACCESS_COARSE_LOCATION",
    "ACCESS_FINE_LOCATION",
    "CALL_PHONE",
    "READ_EXTERNAL_STORAGE",
    "READ_PHONE_STATE",
    "WRITE_EXTERNAL_STORAGE",
)
RULES = {
    "appcheck.over_collection",
    "appcheck.permission_unnecessary",
    "appcheck.sdk_undisclosed",
}


def _without_permissions(src: Path, dst: Path) -> Path:
    """Repack the APK with its dangerous permissions renamed in the binary manifest.

    Same-length names keep the AXML string pool valid: the App no longer asks for them.
    """
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "AndroidManifest.xml":
                for name in UNNEEDED:
                    old, new = f"android.permission.{name}", f"mingyue.removed.pm.{name}"
                    for enc in ("utf-16-le", "utf-8"):
                        data = data.replace(old.encode(enc), new.encode(enc))
            zout.writestr(info, data)
    return dst


def _scan_and_accept(
    settings: Any, tenants: Any, actor_of: Any, uow_as: Any, run_jobs: Any, apk: Path
) -> int:
    a = actor_of(tenants.a.member)
    with uow_as(a) as uow, apk.open("rb") as fh:
        scan = service.submit_scan(
            uow=uow, actor=a, data=fh, filename=apk.name, app_type="news", policy=POLICY
        )
    run_jobs()
    reviewer = actor_of(tenants.operator.member)
    with uow_as(reviewer) as uow:
        case_id = service.get_scan(uow=uow, actor=reviewer, scan_id=scan.id).case_id
        assert case_id
        case_service.transition(uow=uow, case_id=case_id, name="accept", actor=reviewer)
    return scan.id


def _findings(uow_as: Any, actor: Any) -> dict[str, Any]:
    with uow_as(actor) as uow:
        return {f.rule: f for f in list_findings(uow=uow, actor=actor, enabler="appcheck")}


def _store(uow_as: Any, actor: Any, path: Path | None, data: bytes | None = None) -> EvidenceRef:
    with uow_as(actor) as uow:
        stored = store_upload(
            uow=uow,
            upload=data if data is not None else path.read_bytes(),  # type: ignore[union-attr]
            filename=path.name if path else "policy.html",
            purpose="evidence",
        )
    return EvidenceRef(kind="core.file", ref=str(stored.id), label=stored.filename)


def test_accepted_report_raises_findings_once_per_rule_and_app(
    settings: Any, tenants: Any, actor_of: Any, uow_as: Any, run_jobs: Any, find_apk: Any
) -> None:
    apk = find_apk("jpush__hbuilder-hello")
    first = _scan_and_accept(settings, tenants, actor_of, uow_as, run_jobs, apk)
    admin = actor_of(tenants.a.admin)
    found = _findings(uow_as, admin)
    assert set(found) == RULES
    for f in found.values():
        assert f.subject == PACKAGE and f.status == "open" and f.occurrences == 1
        assert f.organization_id == tenants.a.org.id
        (ev,) = f.evidence
        assert ev.kind == "appcheck.report" and ev.ref == str(first)
        assert ev.path == f"/appcheck/scans/{first}" and ev.sha256
        assert f.citation["zh"] and f.citation["en"] and f.title["zh"] and f.title["en"]
    perms = found["appcheck.permission_unnecessary"].detail
    assert perms["codes"] == ["PERM_NOT_NECESSARY"] and perms["app_type"] == "news"
    assert "android.permission.READ_PHONE_STATE" in perms["permissions"]
    assert "device_id" in found["appcheck.over_collection"].detail["pi_categories"]
    assert found["appcheck.sdk_undisclosed"].detail["sdks"] == ["Tencent QQ Connect"]
    assert found["appcheck.over_collection"].severity == "high"
    # the same App accepted again: the same findings, seen twice, with both reports
    second = _scan_and_accept(settings, tenants, actor_of, uow_as, run_jobs, apk)
    again = _findings(uow_as, admin)
    assert {r: f.id for r, f in again.items()} == {r: f.id for r, f in found.items()}
    for f in again.values():
        assert f.occurrences == 2 and [e.ref for e in f.evidence] == [str(first), str(second)]
    # the regulator sees them; another enterprise does not
    assert set(_findings(uow_as, actor_of(tenants.regulator.member))) == RULES
    assert _findings(uow_as, actor_of(tenants.b.admin)) == {}


def test_returned_report_raises_nothing(
    settings: Any, tenants: Any, actor_of: Any, uow_as: Any, run_jobs: Any, find_apk: Any
) -> None:
    a = actor_of(tenants.a.member)
    with uow_as(a) as uow, find_apk("jpush__hbuilder-hello").open("rb") as fh:
        scan = service.submit_scan(uow=uow, actor=a, data=fh, filename="a.apk", app_type="news")
    run_jobs()
    reviewer = actor_of(tenants.operator.member)
    with uow_as(reviewer) as uow:
        case_id = service.get_scan(uow=uow, actor=reviewer, scan_id=scan.id).case_id
        assert case_id
        case_service.transition(
            uow=uow, case_id=case_id, name="return", actor=reviewer, comment="补充隐私政策"
        )
    assert _findings(uow_as, actor_of(tenants.a.admin)) == {}


def test_corrected_apk_turns_findings_fixed(
    settings: Any,
    tenants: Any,
    actor_of: Any,
    uow_as: Any,
    run_jobs: Any,
    find_apk: Any,
    tmp_path: Path,
) -> None:
    apk = find_apk("jpush__hbuilder-hello")
    _scan_and_accept(settings, tenants, actor_of, uow_as, run_jobs, apk)
    admin = actor_of(tenants.a.admin)
    found = _findings(uow_as, admin)
    fixed_apk = _store(uow_as, admin, _without_permissions(apk, tmp_path / "fixed.apk"))
    # 1. the corrected APK alone: the permissions are gone, the SDK is still not disclosed (the
    # original privacy policy is checked again)
    with uow_as(admin) as uow:
        pending = request_reverification(
            uow=uow,
            actor=admin,
            finding_id=found["appcheck.permission_unnecessary"].id,
            evidence=[fixed_apk],
        )
        assert pending.verification and pending.verification["state"] == "pending"
    run_jobs()
    now = _findings(uow_as, admin)
    assert now["appcheck.permission_unnecessary"].status == "fixed"
    assert now["appcheck.over_collection"].status == "fixed"
    assert now["appcheck.sdk_undisclosed"].status == "open"
    assert now["appcheck.sdk_undisclosed"].verification["state"] == "still_present"
    verified = now["appcheck.permission_unnecessary"].verification
    assert verified is not None and verified["state"] == "fixed"
    (new_report,) = verified["evidence"]
    assert new_report["kind"] == "appcheck.report"
    with uow_as(admin) as uow:
        rescan = service.get_scan(uow=uow, actor=admin, scan_id=int(new_report["ref"]))
        assert rescan.organization_id == tenants.a.org.id and rescan.status == "done"
        assert rescan.app_type == "news"
    # 2. a corrected privacy policy with the same APK: the SDK is disclosed now
    policy = _store(uow_as, admin, None, FIXED_POLICY)
    with uow_as(admin) as uow:
        request_reverification(
            uow=uow,
            actor=admin,
            finding_id=found["appcheck.sdk_undisclosed"].id,
            evidence=[fixed_apk, policy],
        )
    run_jobs()
    assert {f.status for f in _findings(uow_as, admin).values()} == {"fixed"}


def test_reverify_refuses_without_apk_and_ignores_another_app(
    settings: Any, tenants: Any, actor_of: Any, uow_as: Any, run_jobs: Any, find_apk: Any
) -> None:
    _scan_and_accept(
        settings, tenants, actor_of, uow_as, run_jobs, find_apk("jpush__hbuilder-hello")
    )
    admin = actor_of(tenants.a.admin)
    finding = _findings(uow_as, admin)["appcheck.permission_unnecessary"]
    policy = _store(uow_as, admin, None, FIXED_POLICY)
    with pytest.raises(InvalidInput) as info, uow_as(admin) as uow:
        request_reverification(uow=uow, actor=admin, finding_id=finding.id, evidence=[policy])
    assert info.value.key == "appcheck.reverify_needs_apk"
    # an APK of another package decides nothing: the finding stays pending
    other = _store(uow_as, admin, find_apk("TC-debug"))
    with uow_as(admin) as uow:
        request_reverification(uow=uow, actor=admin, finding_id=finding.id, evidence=[other])
    run_jobs()
    after = _findings(uow_as, admin)["appcheck.permission_unnecessary"]
    assert after.status == "open" and after.verification["state"] == "pending"
    # another enterprise cannot ask for it
    b = actor_of(tenants.b.admin)
    with pytest.raises(Exception) as denied, uow_as(b) as uow:
        request_reverification(uow=uow, actor=b, finding_id=finding.id, evidence=[other])
    assert getattr(denied.value, "key", "") in ("core.finding.not_found", "core.not_found")
