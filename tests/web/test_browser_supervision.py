"""Browser test (zh-CN): finding → rectification ordered → evidence → re-verified → decision → verify.

The regulator opens a data-sandbox probing finding and orders it corrected; the enterprise's
administrator uploads its report with evidence; the sandbox's own verifier re-checks from its
records; the regulator previews and issues the decision; the downloaded credential verifies with
``mingyue credential verify`` run as a separate process. Also writes the README screenshot
(``docs/img/supervision.png``) of the regulator's desk when ``MINGYUE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import json
import os
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

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ROOT = Path(__file__).resolve().parents[2]
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


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
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


def _login(browser: Any, base: str, username: str) -> Any:
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(f"{base}/login?lang=zh_CN")
    page.fill("#username", username)
    page.fill("#password", "password123")
    page.click("#login-submit")
    page.wait_for_url(f"{base}/")
    return page


def _raise_probing(settings: Any, org_id: int) -> int:
    from mingyue.sdk import SYSTEM, EvidenceRef, raise_finding, unit_of_work

    with unit_of_work(SYSTEM, settings) as uow:
        f = raise_finding(
            uow=uow,
            organization_id=org_id,
            rule="datasandbox.probing",
            subject="small_group",
            evidence=[EvidenceRef(kind="datasandbox.request", ref="7", label="最小分组拒绝")],
            detail={"refusals_in_window": 5},
        )
    return f.id


def test_finding_to_verified_decision(
    live_server: str, browser: Any, tenants: Any, settings: Any, tmp_path: Path
) -> None:
    base = live_server
    finding_id = _raise_probing(settings, tenants.a.org.id)

    # the regulator finds it on the desk and orders it corrected within the list's time limit
    page = _login(browser, base, tenants.regulator.admin.username)
    page.goto(f"{base}/supervision")
    assert "监管工作台" in page.inner_text("h1")
    page.click(f"#finding-{finding_id} td:nth-child(4) a")
    page.wait_for_selector("#order-deadline")
    assert "个工作日" in page.inner_text("#order-deadline")
    assert "数据安全法" in page.inner_text("#citation")
    page.fill("#order textarea[name=instructions]", "停止试探性查询并提交书面说明")
    page.click("#order-submit")
    page.wait_for_selector("#clock")
    rect_url = page.url
    assert "/supervision/rectifications/" in rect_url
    assert "剩余" in page.inner_text("#days-left")
    page.reload()  # a reload after the redirect starts nothing again
    assert page.url == rect_url
    page.context.close()

    # the enterprise's administrator sees what to fix by when and reports with evidence
    page = _login(browser, base, tenants.a.admin.username)
    page.goto(f"{base}/supervision")
    page.wait_for_url(f"{base}/supervision/mine")
    assert "停止试探性查询并提交书面说明" in page.inner_text("#todo")
    page.click("#todo a")
    page.wait_for_selector("#report-form")
    evidence = tmp_path / "整改说明.pdf"
    evidence.write_bytes(PDF)
    page.fill("#report-form textarea[name=text]", "已停止试探性查询，附书面说明")
    page.set_input_files("#report-form input[name=files]", str(evidence))
    # "提交后立即申请复核" stays ticked: the report asks the sandbox (the enabler that raised the
    # finding) to re-check at once, and its result comes back into the case.
    assert page.is_checked("#report-form input[name=reverify]")
    page.click("#report-submit")
    page.wait_for_selector("#report-1")
    assert "整改说明.pdf" in page.inner_text("#reports")
    page.wait_for_selector("#verification-state[data-state=fixed]")
    page.reload()
    assert page.locator(".report").count() == 1
    page.context.close()

    # the regulator finds the re-verified case and decides
    page = _login(browser, base, tenants.regulator.admin.username)
    page.goto(rect_url)
    page.wait_for_selector("#verification-state[data-state=fixed]")
    assert "复核确认已改正" in page.inner_text("#status-card")
    # the platform's facts with their source, the regulator's three, a preview, then the decision
    derived = page.inner_text("#derived")
    assert "初次违法" in derived and "平台记录" in derived and "及时改正" in derived
    page.select_option("#preview-form select[name=harm]", "none")
    page.click("#preview-submit")
    page.wait_for_selector("#preview-decision")
    assert page.get_attribute("#preview-decision", "data-decision") == "no_penalty"
    assert "行政处罚法第三十三条" in page.inner_text("#preview")
    page.click("#issue-submit")
    page.wait_for_selector("#decision-outcome")
    assert "不予行政处罚" in page.inner_text("#decision-outcome")
    assert "行政处罚法第三十三条" in page.inner_text("#decision-basis")
    assert "/supervision/decisions/" in page.url
    page.context.close()

    # the enterprise downloads its signed decision; it verifies offline in a separate process
    page = _login(browser, base, tenants.a.admin.username)
    page.goto(f"{base}/supervision/mine")
    page.click("#my-decisions tbody a")
    page.wait_for_selector("#credential-download")
    with page.expect_download() as dl:
        page.click("#credential-download")
    saved = tmp_path / "decision.json"
    dl.value.save_as(str(saved))
    page.click("#credential-link")
    page.wait_for_load_state()
    page.context.close()
    vc = json.loads(saved.read_text(encoding="utf-8"))
    assert vc["credentialSubject"]["outcome"] == "no_penalty"
    exe = Path(sys.executable).with_name("mingyue")
    env = {**os.environ, "MINGYUE_DATA_DIR": str(settings.data_dir)}
    env.pop("MINGYUE_DATABASE_URL", None)
    res = subprocess.run(
        [str(exe), "credential", "verify", str(saved), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["valid"] is True

    if os.environ.get("MINGYUE_SCREENSHOTS") == "1":
        from mingyue.sdk import SYSTEM, EvidenceRef, raise_finding, unit_of_work

        with unit_of_work(SYSTEM, settings) as uow:  # a second enabler's finding, to be ordered
            other = raise_finding(
                uow=uow,
                organization_id=tenants.b.org.id,
                rule="appcheck.over_collection",
                subject="app:com.example.shop",
                evidence=[EvidenceRef(kind="appcheck.report", ref="3", label="检测报告")],
            )
        page = _login(browser, base, tenants.regulator.admin.username)
        page.goto(f"{base}/supervision/findings/{other.id}")
        page.click("#order-submit")
        page.wait_for_selector("#clock")
        page.goto(f"{base}/supervision")
        page.wait_for_timeout(800)  # the chart's animation
        out = ROOT / "docs" / "img" / "supervision.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=True)
        page.context.close()
