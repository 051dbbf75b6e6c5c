"""Browser test (zh-CN): an enterprise member uploads an APK, watches the scan run on its page,
reads the report's summary; the operator's reviewer approves it from the case page, which shows
what is approved; the signed report verifies on its certificate page and, downloaded, with
``mingyue credential verify`` in a subprocess.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.web.browser_support import assert_no_serious_axe

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
APKS = Path(__file__).resolve().parents[3] / "shared" / "data" / "apks"


@pytest.fixture
def live_server(settings: Any) -> Iterator[str]:
    import uvicorn

    from mingyue.web.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    config = uvicorn.Config(
        create_app(settings, start_workers=False), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    t.join(5)


@pytest.fixture
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (scripts/core-setup.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"],
        )
        yield b
        b.close()


def _login(browser: Any, base: str, username: str) -> tuple[Any, Any]:
    ctx = browser.new_context(locale="zh-CN", accept_downloads=True, bypass_csp=True)  # axe-core
    page = ctx.new_page()
    page.goto(f"{base}/login?lang=zh_CN")
    page.fill("#username", username)
    page.fill("#password", "password123")
    page.click("#login-submit")
    page.wait_for_url(f"{base}/")
    return ctx, page


def _scans(settings: Any, actor: Any) -> int:
    from mingyue.enablers.appcheck.models import Scan
    from mingyue.sdk import unit_of_work

    with unit_of_work(actor, settings) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(Scan)) or 0)


def test_apk_upload_live_progress_summary_review_and_credential(
    live_server: str,
    browser: Any,
    tenants: Any,
    settings: Any,
    run_jobs: Any,
    actor_of: Any,
    tmp_path: Path,
) -> None:
    apks = sorted(APKS.glob("*jpush__hbuilder-hello*.apk"))
    if not apks:
        pytest.skip(f"shared APK corpus not found at {APKS}")
    base = live_server
    # the enterprise's compliance officer uploads the App
    ctx, page = _login(browser, base, tenants.a.member.username)
    page.goto(f"{base}/appcheck")
    assert_no_serious_axe(page)
    page.set_input_files("#appcheck-upload input[name=file]", str(apks[0]))
    page.select_option("#appcheck-upload select[name=app_type]", "news")
    page.click("#appcheck-submit")
    page.wait_for_url(re.compile(r".*/appcheck/scans/\d+$"))
    scan_url = page.url
    assert "检测进度" in page.inner_text("main")
    page.wait_for_selector(".live-job")
    page.reload()  # a reload after the submit creates nothing new
    assert _scans(settings, actor_of(tenants.a.member)) == 1
    run_jobs()  # the page notices by itself and shows the report
    page.wait_for_selector("#appcheck-summary", timeout=30_000)
    summary = page.inner_text("#appcheck-summary")
    assert "检测摘要" in summary and "结论" in summary and "需整改" in summary
    assert "JPush" in summary and "共 6 项，其中 6 项非所声明 App 类型基本功能所必需" in summary
    body = page.inner_text("main")
    assert "静态分析无法判定" in body and "Static analysis" not in body
    assert page.inner_text("#scan-status") == "已完成"
    assert_no_serious_axe(page)
    case_href = page.get_attribute("#scan-case", "href")
    assert case_href
    ctx.close()

    # the operator's reviewer decides on the case page, which shows what is decided on
    ctx, page = _login(browser, base, tenants.operator.member.username)
    page.goto(base + case_href)
    subject = page.inner_text("#case-subject")
    assert "待审核的检测报告" in subject and "com.jpush.hbuilderdemo" in subject
    assert "结论：发现问题，需整改" in subject
    assert page.get_attribute("#act-accept", "class") != page.get_attribute("#act-return", "class")
    assert_no_serious_axe(page)
    page.click("#case-subject-link")
    page.wait_for_url(scan_url)
    page.go_back()
    page.click("#act-accept")
    page.wait_for_selector("#case-state[data-state=accepted]")
    page.reload()
    assert page.get_attribute("#case-state", "data-state") == "accepted"
    ctx.close()

    # the enterprise sees the signed report and verifies it
    ctx, page = _login(browser, base, tenants.a.member.username)
    page.goto(scan_url)
    assert page.inner_text("#scan-review").startswith("已通过并签发")
    page.click("#scan-credential")
    page.wait_for_url(re.compile(r".*/credentials/[0-9a-f-]+$"))
    cert = page.inner_text("main")
    assert "App 合规检测报告" in cert
    with page.expect_download() as dl:
        page.click("a[href$='/download']")
    saved = tmp_path / "credential.json"
    dl.value.save_as(saved)
    assert "credentialSubject" in json.loads(saved.read_text())
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "mingyue"),
            "credential",
            "verify",
            str(saved),
            "--data-dir",
            str(settings.data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip(), out.stderr  # the verdict is printed
    ctx.close()
