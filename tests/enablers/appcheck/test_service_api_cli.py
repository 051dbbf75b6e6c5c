"""appcheck on the core: upload, job, report, review case, signed credential; tenancy; CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mingyue.core import clock
from mingyue.core.cases import service as case_service
from mingyue.core.ledger import credentials
from mingyue.core.metering.models import UsageRecord
from mingyue.enablers.appcheck import service
from mingyue.enablers.appcheck.models import Scan


def _upload(client: Any, tenant: Any, apk: Path, **form: str) -> dict[str, Any]:
    with apk.open("rb") as fh:
        r = client.post(
            "/api/appcheck/scans",
            files={"file": (apk.name, fh, "application/zip")},
            data=form,
            headers=tenant.headers(),
        )
    assert r.status_code == 201, r.text
    return r.json()


def test_upload_job_report_review_and_signed_credential(
    client: Any,
    tenants: Any,
    run_jobs: Any,
    find_apk: Any,
    settings: Any,
    uow_as: Any,
    actor_of: Any,
) -> None:
    apk = find_apk("jpush__hbuilder-hello")
    scan = _upload(client, tenants.a, apk, app_type="news")
    assert scan["status"] == "queued" and scan["app_type"] == "news" and scan["job_id"]
    run_jobs()
    s = client.get(f"/api/appcheck/scans/{scan['id']}", headers=tenants.a.headers()).json()
    assert s["status"] == "done" and s["package"] == "com.jpush.hbuilderdemo" and s["case_id"]
    rep = client.get(f"/api/appcheck/scans/{scan['id']}/report", headers=tenants.a.headers()).json()
    assert rep["sha256"] == s["sha256"]
    assert [c["category"] for c in rep["categories"]][:6] == ["1", "2", "3", "4", "5", "6"]
    assert any(f["rule"] == "PERM_NOT_NECESSARY" for f in rep["findings"])
    # the reviewer (operator member) accepts through the core cases API
    hr = tenants.operator.headers()
    r = client.post(f"/api/cases/{s['case_id']}/transitions", json={"name": "accept"}, headers=hr)
    assert r.status_code == 200, r.text
    s = client.get(f"/api/appcheck/scans/{scan['id']}", headers=tenants.a.headers()).json()
    assert s["review"] == "accepted" and s["credential_id"]
    with uow_as(actor_of(tenants.a.admin)) as uow:
        vc = credentials.get_credential(uow=uow, actor=uow.actor, credential_id=s["credential_id"])
        doc = vc.credential
        subj = doc["credentialSubject"]
        assert subj["apk_sha256"] == s["sha256"] and subj["package"] == "com.jpush.hbuilderdemo"
        assert vc.type == "AppComplianceReport"
        assert credentials.verify(doc).ok
        usage = uow.session.scalars(
            select(UsageRecord).where(UsageRecord.meter == "appcheck.scans")
        ).all()
        assert len(usage) == 1 and usage[0].organization_id == tenants.a.org.id


def _pdf_plain(pdf: bytes) -> bytes:
    """Return the PDF with its Flate streams inflated (font names sit in object streams)."""
    import re
    import zlib

    out = [pdf]
    for m in re.finditer(rb"stream\r?\n(.*?)endstream", pdf, re.DOTALL):
        try:
            out.append(zlib.decompress(m.group(1)))
        except zlib.error:
            continue
    return b"".join(out)


def test_pdf_export_with_cjk_font(client: Any, tenants: Any, run_jobs: Any, find_apk: Any) -> None:
    scan = _upload(client, tenants.a, find_apk("jpush__hbuilder-hello"), app_type="news")
    run_jobs()
    r = client.get(f"/api/appcheck/scans/{scan['id']}/report.pdf", headers=tenants.a.headers())
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF") and len(r.content) > 10_000
    assert b"CJK" in _pdf_plain(r.content)  # a Noto CJK font is embedded for the Chinese text
    r = client.get(
        f"/api/appcheck/scans/{scan['id']}/report.pdf?lang=en", headers=tenants.a.headers()
    )
    assert r.status_code == 200
    assert (
        client.get(
            f"/api/appcheck/scans/{scan['id']}/report.pdf", headers=tenants.b.headers()
        ).status_code
        == 404
    )


def test_return_needs_comment_and_marks_scan(
    client: Any, tenants: Any, run_jobs: Any, find_apk: Any
) -> None:
    scan = _upload(client, tenants.a, find_apk("TC-debug"))
    run_jobs()
    s = client.get(f"/api/appcheck/scans/{scan['id']}", headers=tenants.a.headers()).json()
    hr = tenants.operator.headers()
    r = client.post(f"/api/cases/{s['case_id']}/transitions", json={"name": "return"}, headers=hr)
    assert r.status_code == 422
    r = client.post(
        f"/api/cases/{s['case_id']}/transitions",
        json={"name": "return", "comment": "请补充隐私政策"},
        headers=hr,
    )
    assert r.status_code == 200, r.text
    s = client.get(f"/api/appcheck/scans/{scan['id']}", headers=tenants.a.headers()).json()
    assert s["review"] == "returned" and s["credential_id"] is None
    # the submitter cannot accept its own report
    r = client.post(
        f"/api/cases/{s['case_id']}/transitions",
        json={"name": "accept"},
        headers=tenants.a.headers(),
    )
    assert r.status_code in (403, 409)


def test_bad_apk_fails_cleanly_with_usage(
    client: Any,
    tenants: Any,
    run_jobs: Any,
    tmp_path: Path,
    settings: Any,
    uow_as: Any,
    actor_of: Any,
) -> None:
    bad = tmp_path / "bad.apk"
    bad.write_bytes(b"not a zip at all" * 100)
    scan = _upload(client, tenants.a, bad)
    run_jobs()
    s = client.get(f"/api/appcheck/scans/{scan['id']}", headers=tenants.a.headers()).json()
    assert s["status"] == "failed" and s["error"]["key"] == "appcheck.not_a_zip"
    r = client.get(f"/api/appcheck/scans/{scan['id']}/report", headers=tenants.a.headers())
    assert r.status_code == 409 and r.json()["key"] == "appcheck.report_not_ready"
    with uow_as(actor_of(tenants.a.admin)) as uow:
        assert uow.session.scalars(select(Scan)).one().case_id is None


def test_unknown_app_type_refused(client: Any, tenants: Any, find_apk: Any) -> None:
    with find_apk("TC-debug").open("rb") as fh:
        r = client.post(
            "/api/appcheck/scans",
            files={"file": ("a.apk", fh)},
            data={"app_type": "spaceship"},
            headers=tenants.a.headers(),
        )
    assert r.status_code == 422 and r.json()["key"] == "appcheck.unknown_app_type"


def test_two_tenants_do_not_leak(client: Any, tenants: Any, run_jobs: Any, find_apk: Any) -> None:
    scan = _upload(client, tenants.a, find_apk("TC-debug"))
    run_jobs()
    hb = tenants.b.headers()
    assert client.get("/api/appcheck/scans", headers=hb).json() == []
    assert client.get(f"/api/appcheck/scans/{scan['id']}", headers=hb).status_code == 404
    assert client.get(f"/api/appcheck/scans/{scan['id']}/report", headers=hb).status_code == 404
    assert (
        client.get(
            f"/api/appcheck/scans/{scan['id']}", headers=tenants.b.headers(admin=True)
        ).status_code
        == 404
    )
    # oversight roles see it
    assert (
        client.get(
            f"/api/appcheck/scans/{scan['id']}", headers=tenants.regulator.headers()
        ).status_code
        == 200
    )
    assert [
        x["id"] for x in client.get("/api/appcheck/scans", headers=tenants.a.headers()).json()
    ] == [scan["id"]]
    # regulators read but do not submit
    with find_apk("TC-debug").open("rb") as fh:
        r = client.post(
            "/api/appcheck/scans",
            files={"file": ("a.apk", fh)},
            headers=tenants.regulator.headers(),
        )
    assert r.status_code == 403


def test_rules_and_app_types_endpoints(client: Any, tenants: Any) -> None:
    rules = client.get("/api/appcheck/rules", headers=tenants.a.headers()).json()
    names = {r["name"] for r in rules}
    assert {"sdk_catalogue/exodus", "sdk_catalogue/libchecker", "app_types"} <= names
    types = client.get("/api/appcheck/app-types", headers=tenants.a.headers()).json()
    assert len(types) == 39 and types[0]["article"] == "第五条第（一）项"


def test_cli_scan_file_dir_and_bad_file(
    cli: Any, find_apk: Any, apk_dir: Path, tmp_path: Path
) -> None:
    r = cli("appcheck", "scan", str(find_apk("bugly__upgrade-demo")), "--json")
    assert r.exit_code == 0, r.stderr
    d = r.json()
    for key in (
        "sha256",
        "package",
        "permissions",
        "dangerous_permissions",
        "sdks",
        "findings",
        "incomplete",
    ):
        assert key in d
    assert any("Bugly" in s["name"] and "code" in s["matched_by"] for s in d["sdks"])
    bad = tmp_path / "x.apk"
    bad.write_bytes(b"garbage")
    r = cli("appcheck", "scan", str(bad), "--json")
    assert r.exit_code == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1
    sub = tmp_path / "dir"
    sub.mkdir()
    for stem in ("TC-debug", "Test-debug"):
        (sub / find_apk(stem).name).write_bytes(find_apk(stem).read_bytes())
    (sub / "broken.apk").write_bytes(b"nope")
    r = cli("appcheck", "scan", str(sub), "--json")
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert r.exit_code == 0 and len(lines) == 3
    assert sum(1 for x in lines if "error" in x) == 1
    policy = tmp_path / "sdk.txt"
    policy.write_text("第三方SDK清单：Bugly（腾讯）", encoding="utf-8")
    r = cli(
        "appcheck",
        "scan",
        str(find_apk("bugly__upgrade-demo")),
        "--app-type",
        "utilities",
        "--sdk-list",
        str(policy),
        "--json",
    )
    d = r.json()
    assert d["app_type"]["key"] == "utilities" and "Tencent Bugly" in d["disclosure"]["disclosed"]
    r = cli("appcheck", "scan", str(find_apk("TC-debug")), "--app-type", "nope")
    assert r.exit_code == 2


def test_cli_rules(cli: Any) -> None:
    r = cli("appcheck", "rules", "--json")
    assert r.exit_code == 0
    assert {x["name"] for x in r.json()} >= {"sdk_catalogue/exodus", "findings", "app_types"}


def test_console_pages(client: Any, tenants: Any, run_jobs: Any, find_apk: Any) -> None:
    scan = _upload(client, tenants.a, find_apk("jpush__hbuilder-hello"))
    run_jobs()
    r = client.post(
        "/login",
        data={"username": tenants.a.member.username, "password": "password123"},
        follow_redirects=False,
    )
    assert r.status_code in (302, 303)
    page = client.get("/appcheck")
    assert page.status_code == 200 and "jpush__hbuilder-hello.apk" in page.text
    page = client.get(f"/appcheck/scans/{scan['id']}?lang=zh_CN")
    assert page.status_code == 200
    assert "未公开收集使用规则" in page.text and "JPush" in page.text
    assert "需动态检测" in page.text


def test_service_without_api(
    uow_as: Any, actor_of: Any, tenants: Any, find_apk: Any, run_jobs: Any
) -> None:
    with uow_as(actor_of(tenants.a.member)) as uow:
        out = service.submit_scan(
            uow=uow, actor=uow.actor, data=find_apk("TC-debug").read_bytes(), filename="tc.apk"
        )
    run_jobs()
    with uow_as(actor_of(tenants.a.member)) as uow:
        s = service.get_scan(uow=uow, actor=uow.actor, scan_id=out.id)
        assert s.status == "done"
        case = case_service.get_case(uow=uow, case_id=s.case_id)
        assert case.kind == "appcheck.review" and case.state == "submitted"


def test_unknown_app_type_names_the_field(client, tenants) -> None:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("AndroidManifest.xml", b"\x00")
    r = client.post(
        "/api/appcheck/scans",
        headers=tenants.a.headers(),
        files={"file": ("a.apk", buf.getvalue())},
        data={"app_type": "no_such_type"},
    )
    assert r.status_code == 422
    assert r.json()["field"] == "app_type"


def test_console_times_follow_the_timezone_setting(
    client: Any, tenants: Any, settings: Any, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.apk"
    bad.write_bytes(b"not a zip")
    with clock.frozen(datetime(2026, 1, 2, 3, 4, tzinfo=UTC)):
        _upload(client, tenants.a, bad)
    r = client.post(
        "/login",
        data={"username": tenants.a.member.username, "password": "password123"},
        follow_redirects=False,
    )
    assert r.status_code in (302, 303)
    assert "2026-01-02 11:04" in client.get("/appcheck").text  # Asia/Shanghai, the default
    settings.timezone = "Europe/London"
    assert "2026-01-02 03:04" in client.get("/appcheck").text
