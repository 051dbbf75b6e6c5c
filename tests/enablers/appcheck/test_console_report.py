"""appcheck console: one upload per form, live status, summary, evidence in words, PDF text."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from mingyue.core.cases import service as case_service
from mingyue.enablers.appcheck import report_view
from mingyue.enablers.appcheck.case_view import subject_view
from mingyue.enablers.appcheck.models import Scan
from mingyue.enablers.appcheck.pdf import extract_text
from mingyue.sdk import unit_of_work


def _login(client: Any, username: str) -> str:
    r = client.post(
        "/login", data={"username": username, "password": "password123"}, follow_redirects=False
    )
    assert r.status_code in (302, 303), r.text
    page = client.get("/appcheck")
    return str(page.text.split('name="csrf-token" content="')[1].split('"')[0])


def _key(page: str) -> str:
    m = re.search(r'name="form_key" value="([^"]+)"', page)
    assert m, "the upload form carries a one-time key"
    return m.group(1)


def test_upload_once_live_status_then_summary_and_chinese_evidence(
    client: Any,
    tenants: Any,
    settings: Any,
    run_jobs: Any,
    find_apk: Any,
    actor_of: Any,
) -> None:
    csrf = _login(client, tenants.a.member.username)
    apk = find_apk("jpush__hbuilder-hello").read_bytes()
    form = {"csrf_token": csrf, "form_key": _key(client.get("/appcheck").text), "app_type": "news"}
    files = {"file": ("hello.apk", apk, "application/zip")}
    r = client.post("/appcheck/scans", data=form, files=files, follow_redirects=False)
    assert r.status_code == 303, r.text
    again = client.post("/appcheck/scans", data=form, files=files, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == r.headers["location"]
    with unit_of_work(actor_of(tenants.a.member), settings) as uow:
        assert uow.session.scalar(select(func.count()).select_from(Scan)) == 1
    waiting = client.get(r.headers["location"]).text
    assert "live-job" in waiting and "/jobs/" in waiting  # follows its job live
    run_jobs()
    page = client.get(r.headers["location"] + "?lang=zh_CN").text
    summary = page.split('id="appcheck-summary"')[1].split("</section>")[0]
    assert "JPush" in summary and "Tencent QQ Connect" in summary
    assert "共 6 项，其中 6 项非所声明 App 类型基本功能所必需" in summary
    assert "需整改" in summary  # the conclusion
    assert page.index('id="appcheck-summary"') < page.index('id="cat-1"')
    assert "Static analysis cannot establish" not in page and "listens to" not in page
    assert "静态分析无法判定" in page and "基本功能无须个人信息" in page
    assert page.count('data-rule="PERM_NOT_NECESSARY"') == 1  # six permissions, one row
    english = client.get(r.headers["location"] + "?lang=en").text
    assert "Static analysis cannot establish this" in english and "needs no personal" in english
    # the review case embeds the summary and links to the report
    scan_id = int(r.headers["location"].rsplit("/", 1)[1])
    with unit_of_work(actor_of(tenants.operator.member), settings) as uow:
        scan = uow.session.get(Scan, scan_id)
        assert scan is not None and scan.case_id
        case = case_service.get_case(uow=uow, case_id=scan.case_id)
        view = subject_view(uow=uow, case=case)
    assert view is not None and view.link == f"/appcheck/scans/{scan_id}"
    fields = dict(view.fields)
    assert fields["appcheck.subject.dangerous"] == "6" and fields["appcheck.package"]
    # another tenant sees nothing of it
    _login(client, tenants.b.member.username)
    assert client.get(r.headers["location"]).status_code == 404
    assert client.get(r.headers["location"] + "/report.pdf").status_code == 404


def test_engine_evidence_templates_are_all_translated(find_apk: Any, tmp_path: Path) -> None:
    from mingyue.enablers.appcheck.engine import analyze_apk, load_rulesets

    data_only = {"SEC_DEBUG_CERT", "SEC_PACKED"}  # a certificate subject, a packer's matches
    seen = set()
    for stem, app_type in (("jpush__hbuilder-hello", "news"), ("TC-debug", None)):
        report = analyze_apk(find_apk(stem), app_type=app_type).to_dict(load_rulesets())
        for f in report["findings"]:
            if f["rule"] in data_only:
                continue
            assert report_view.known_evidence(f), f
            zh = report_view.evidence_text(f, "zh_CN")
            assert zh != f["evidence"] or not zh.isascii(), f
            seen.add(f["rule"])
    assert {"PERM_NOT_NECESSARY", "SELF_START_BOOT", "SEC_DEBUGGABLE"} <= seen
    assert report_view.sdk_category("Location, Social / login", "zh_CN") == "定位、社交 / 登录"


def test_pdf_text_holds_the_chinese_labels_credential_and_verify_link(
    client: Any, tenants: Any, run_jobs: Any, find_apk: Any, settings: Any
) -> None:
    with find_apk("jpush__hbuilder-hello").open("rb") as fh:
        scan = client.post(
            "/api/appcheck/scans",
            files={"file": ("hello.apk", fh, "application/zip")},
            data={"app_type": "news"},
            headers=tenants.a.headers(),
        ).json()
    run_jobs()
    s = client.get(f"/api/appcheck/scans/{scan['id']}", headers=tenants.a.headers()).json()
    r = client.post(
        f"/api/cases/{s['case_id']}/transitions",
        json={"name": "accept"},
        headers=tenants.operator.headers(),
    )
    assert r.status_code == 200, r.text
    cred = client.get(f"/api/appcheck/scans/{scan['id']}", headers=tenants.a.headers()).json()[
        "credential_id"
    ]
    pdf = client.get(f"/api/appcheck/scans/{scan['id']}/report.pdf", headers=tenants.a.headers())
    assert pdf.status_code == 200, pdf.text
    text = extract_text(pdf.content)
    assert "App 合规检测报告" in text and "审核结论：通过" in text and "检测摘要" in text
    assert "accepted" not in text and "issues_found" not in text
    assert cred in text.replace("\n", "")
    assert f"/verify/{cred}" in text.replace("\n", "")
    assert "静态分析无法判定" in text
    english = extract_text(
        client.get(
            f"/api/appcheck/scans/{scan['id']}/report.pdf?lang=en", headers=tenants.a.headers()
        ).content
    )
    assert "Review decision: Accepted" in english


def test_pdf_refused_without_a_cjk_font(tmp_path: Path) -> None:
    dejavu = Path("/usr/share/fonts/truetype/dejavu")
    conf = tmp_path / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        f"<dir>{dejavu}</dir><cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>"
    )
    report = {
        "file_name": "a.apk",
        "package": "com.example",
        "sha256": "0" * 64,
        "review": "",
        "credential_id": None,
        "sdks": [],
        "dangerous_permissions": [],
        "findings": [],
        "categories": [],
        "rulesets": [],
    }
    code = (
        "import json, sys\n"
        "from mingyue.enablers.appcheck.pdf import render_pdf, MissingGlyphs\n"
        "try:\n"
        "    render_pdf(json.loads(sys.argv[1]))\n"
        "except MissingGlyphs as exc:\n"
        "    print(exc.key, exc.status)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(report)],
        env={**os.environ, "FONTCONFIG_FILE": str(conf)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.split() == ["appcheck.pdf_no_cjk_font", "503"], out.stderr[-2000:]


def test_console_pdf_error_page_says_why(
    client: Any, tenants: Any, run_jobs: Any, find_apk: Any, monkeypatch: Any
) -> None:
    from mingyue.enablers.appcheck import pdf

    _login(client, tenants.a.member.username)
    with find_apk("TC-debug").open("rb") as fh:
        scan = client.post(
            "/api/appcheck/scans",
            files={"file": ("tc.apk", fh, "application/zip")},
            headers=tenants.a.headers(),
        ).json()
    run_jobs()

    def no_font(html: str, data: bytes) -> None:
        raise pdf.MissingGlyphs("appcheck.pdf_no_cjk_font", "no CJK font")

    monkeypatch.setattr(pdf, "check_glyphs", no_font)
    r = client.get(f"/appcheck/scans/{scan['id']}/report.pdf", headers={"accept": "text/html"})
    assert r.status_code == 503 and "服务器未安装中文字体" in r.text
