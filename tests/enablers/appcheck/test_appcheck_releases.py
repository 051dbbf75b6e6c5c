"""Release history (SDK 应用服务监测): two releases of one App, their diff, and the core findings a
release raises (an undisclosed new SDK, a watch-listed SDK version); tenancy; the pure diff."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mingyue.core.findings import service as findings
from mingyue.enablers.appcheck.engine.listing import load_rules
from mingyue.enablers.appcheck.engine.releases import diff, sdk_versions, watchlisted
from tests.enablers.appcheck.appcheck_variant import make_variant

POLICY = "第三方SDK清单：极光推送 SDK（JPush），用于消息推送。".encode()
UMENG = ["com.umeng.analytics.MobclickAgent", "com.umeng.commonsdk.UMConfigure"]


def _upload(client: Any, tenant: Any, apk: Path, policy: bytes | None = POLICY) -> dict[str, Any]:
    with apk.open("rb") as fh:
        files: dict[str, Any] = {"file": (apk.name, fh, "application/zip")}
        if policy is not None:
            files["policy"] = ("policy.txt", policy, "text/plain")
        r = client.post("/api/appcheck/scans", files=files, headers=tenant.headers())
    assert r.status_code == 201, r.text
    return r.json()


def test_second_release_shows_the_diff_and_raises_a_finding_for_an_undisclosed_new_sdk(
    client: Any,
    tenants: Any,
    run_jobs: Any,
    find_apk: Any,
    tmp_path: Path,
    uow_as: Any,
    actor_of: Any,
) -> None:
    v1 = find_apk("jpush__hbuilder-hello")
    # the next release adds Umeng (a DEX of its classes) and ships JPush 2.2.0 (its library)
    v2 = make_variant(
        v1, tmp_path / "hello-v2.apk", classes=UMENG, rename={"libjpush182": "libjpush220"}
    )
    _upload(client, tenants.a, v1)
    run_jobs()
    with uow_as(actor_of(tenants.a.admin)) as uow:
        assert not findings.list_findings(
            uow=uow, actor=uow.actor, rule="appcheck.release_sdk_undisclosed"
        )
    second = _upload(client, tenants.a, v2)
    run_jobs()
    r = client.get(
        "/api/appcheck/apps/com.jpush.hbuilderdemo/releases", headers=tenants.a.headers()
    )
    assert r.status_code == 200, r.text
    history = r.json()
    assert [x["scan_id"] for x in history["releases"]][-1] == second["id"]
    first, last = history["releases"]
    assert first["diff"] is None
    d = last["diff"]
    assert d["sdks_added"] == ["Umeng Analytics", "Umeng U-App / U-Push"]
    assert d["undisclosed_added"] == ["Umeng Analytics", "Umeng U-App / U-Push"]
    assert d["sdks_removed"] == [] and d["permissions_added"] == []
    assert d["sdk_versions_changed"] == [
        {"sdk": "JPush (极光推送)", "from": "1.8.2", "to": "2.2.0"}
    ]
    assert {"name": "JPush (极光推送)", "version": "2.2.0"} in last["sdks"]
    with uow_as(actor_of(tenants.a.admin)) as uow:
        (f,) = findings.list_findings(
            uow=uow, actor=uow.actor, rule="appcheck.release_sdk_undisclosed"
        )
        assert f.subject == "com.jpush.hbuilderdemo" and f.status == "open"
        assert f.detail["sdks"] == ["Umeng Analytics", "Umeng U-App / U-Push"]
        assert f.detail["scan_id"] == second["id"]
        assert f.evidence[-1].kind == "appcheck.release" and f.evidence[-1].ref == str(second["id"])
        assert "第二十三条" in f.citation["zh"]
        # no permission was added: no such alert
        assert not findings.list_findings(
            uow=uow, actor=uow.actor, rule="appcheck.release_permission_added"
        )
    # the console timeline shows both releases and the change (zh-CN first)
    r = client.post(
        "/login",
        data={"username": tenants.a.member.username, "password": "password123"},
        follow_redirects=False,
    )
    assert r.status_code in (302, 303)
    page = client.get("/appcheck/apps/com.jpush.hbuilderdemo")
    assert page.status_code == 200
    assert "新增且未披露的 SDK" in page.text and "1.8.2 → 2.2.0" in page.text
    # another enterprise sees neither the history nor the page
    r = client.get(
        "/api/appcheck/apps/com.jpush.hbuilderdemo/releases", headers=tenants.b.headers()
    )
    assert r.status_code == 404
    # the regulator (oversight) sees it, for the enterprise named
    r = client.get(
        f"/api/appcheck/apps/com.jpush.hbuilderdemo/releases?org={tenants.a.org.id}",
        headers=tenants.regulator.headers(),
    )
    assert r.status_code == 200 and len(r.json()["releases"]) == 2


def test_diff_of_permissions_and_findings() -> None:
    older = {
        "sdks": [{"name": "A"}],
        "permissions": ["android.permission.INTERNET"],
        "findings": [{"rule": "SEC_CLEARTEXT", "status": "fail"}],
        "disclosure": {"disclosed": ["A", "B"], "undisclosed": []},
    }
    newer = {
        "sdks": [{"name": "A"}, {"name": "B"}, {"name": "C"}],
        "permissions": ["android.permission.INTERNET", "android.permission.CAMERA"],
        "findings": [{"rule": "SEC_DEBUGGABLE", "status": "fail"}],
        "disclosure": {"disclosed": ["A", "B"], "undisclosed": ["C"]},
    }
    d = diff(older, newer)
    assert d.sdks_added == ["B", "C"] and d.undisclosed_added == ["C"]
    assert d.permissions_added == ["android.permission.CAMERA"]
    assert d.findings_added == ["SEC_DEBUGGABLE"] and d.findings_removed == ["SEC_CLEARTEXT"]
    # without a privacy policy nothing names a new SDK: every added SDK counts as undisclosed
    assert diff(older, {**newer, "disclosure": None}).undisclosed_added == ["B", "C"]
    assert not diff(newer, newer).changed


def test_version_markers_and_the_watch_list() -> None:
    report = {
        "sdks": [{"name": "Mintegral"}, {"name": "JPush (极光推送)"}],
        "native_libs": ["libjpush341.so", "libc++_shared.so"],
    }
    assert sdk_versions(report) == {"JPush (极光推送)": "3.4.1"}
    rules = {
        "markers": [
            {"sdk": "Mintegral", "lib": r"^libmtg_(\d+)_(\d+)\.so$"},
            {"sdk": "JPush", "lib": r"^libjpush(\d)(\d)(\d)\.so$"},
        ],
        "entries": [
            {"sdk": "Mintegral", "versions": ">=9.0.0", "zh": "z", "en": "e", "source": "s"},
            {"sdk": "JPush", "versions": "<3.0", "zh": "z", "en": "e", "source": "s"},
        ],
    }
    # a range matches only a version a marker shows
    assert watchlisted(report, rules) == []
    hit = watchlisted({**report, "native_libs": ["libmtg_9_1.so"]}, rules)
    assert [(h["sdk"], h["version"]) for h in hit] == [("Mintegral", "9.1")]
    # the shipped watch list: every entry names its source
    shipped = load_rules("sdk_watchlist.yaml")
    assert shipped["entries"] and all(e["source"] for e in shipped["entries"])
