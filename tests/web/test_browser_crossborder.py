"""Browser tests (zh-CN) of crossborder: an enterprise member scans pasted text for personal
information and reads the counts by type; an enterprise member assesses a transfer, files it,
and the operator's reviewer reads the filing on its case page and approves it.
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.web.browser_support import assert_no_serious_axe

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


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


def _count(settings: Any, actor: Any, model: Any) -> int:
    from mingyue.sdk import unit_of_work

    with unit_of_work(actor, settings) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


def test_pii_scan_of_pasted_text_shows_counts(
    live_server: str, browser: Any, tenants: Any, settings: Any, actor_of: Any
) -> None:
    from mingyue.enablers.crossborder.models import CrossborderScan

    base = live_server
    ctx, page = _login(browser, base, tenants.a.member.username)
    page.goto(f"{base}/crossborder")
    page.click("a[href='/crossborder/scans']")
    page.wait_for_url(f"{base}/crossborder/scans")
    assert "尚无扫描记录" in page.inner_text("main")
    assert_no_serious_axe(page)
    page.fill("#scan-text", "订单联系人：李四，电话 13912345678、13812345679，邮箱 li@example.com")
    page.click("#scan-submit")
    page.wait_for_url(re.compile(r".*/crossborder/scans/\d+$"))
    page.reload()  # a reload after the submit creates nothing new
    assert _count(settings, actor_of(tenants.a.member), CrossborderScan) == 1
    counts = page.inner_text("#scan-counts")
    assert "手机号码" in counts and "电子邮箱" in counts
    row = page.locator("#scan-counts tr[data-type=CN_MOBILE]").inner_text()
    assert "2" in row
    assert "CN_MOBILE" not in page.inner_text("main") and "13912345678" not in page.content()
    assert_no_serious_axe(page)
    page.goto(f"{base}/crossborder/scans")
    assert "手机号码 2" in page.inner_text("#scans")
    ctx.close()


def test_assessment_filing_reviewed_on_its_case_and_approved(
    live_server: str, browser: Any, tenants: Any, settings: Any, actor_of: Any
) -> None:
    from mingyue.enablers.crossborder.models import CrossborderAssessment, CrossborderFiling

    base = live_server
    ctx, page = _login(browser, base, tenants.a.member.username)
    page.goto(f"{base}/crossborder")
    assert page.input_value("#assess-form input[name=pi_individuals]") == "0"  # a value, shown
    assert_no_serious_axe(page)
    page.fill("#assess-form input[name=pi_individuals]", "150000")
    page.click("#assess-submit")
    page.wait_for_url(re.compile(r".*/crossborder/assessments/\d+$"))
    page.reload()
    assert _count(settings, actor_of(tenants.a.member), CrossborderAssessment) == 1
    assert page.input_value("#assess-form input[name=pi_individuals]") == "150000"  # kept
    verdict = page.inner_text("#assess-verdict")
    assert verdict == "需订立标准合同或通过认证"
    result = page.inner_text("#assess-result")
    assert "促进和规范数据跨境流动规定第八条" in result and "Art." not in result
    assert_no_serious_axe(page)
    page.click("#assess-result a.button")
    page.wait_for_url(re.compile(r".*/crossborder/filings/new\?kind=standard_contract$"))
    page.fill("input[name=recipient_name]", "新加坡伙伴有限公司")
    page.fill("input[name=recipient_country]", "SG")
    page.fill("input[name=pi_individuals]", "150000")
    page.fill("textarea[name=purpose]", "跨境客户服务")
    page.fill("textarea[name=categories]", "姓名，手机号")
    page.fill("textarea[name=retention]", "一年，到期删除")
    page.fill("textarea[name=security_measures]", "传输加密与访问控制")
    page.fill("textarea[name=recipient_legal_environment]", "新加坡个人数据保护法")
    page.fill("textarea[name=risks_and_mitigations]", "合同约束再转移")
    page.click("#filing-submit")
    page.wait_for_url(re.compile(r".*/cases/\d+$"))
    case_url = page.url
    page.reload()
    assert _count(settings, actor_of(tenants.a.member), CrossborderFiling) == 1
    ctx.close()

    ctx, page = _login(browser, base, tenants.operator.member.username)
    page.goto(case_url)
    subject = page.inner_text("#case-subject")
    assert "申报内容" in subject and "新加坡伙伴有限公司" in subject
    assert "一年，到期删除" in subject and "合同约束再转移" in subject
    assert "\\u" not in page.content()
    assert_no_serious_axe(page)
    page.click("#act-start_review")
    page.wait_for_selector("#case-state[data-state=in_review]")
    assert page.get_attribute("#act-approve", "class") != page.get_attribute("#act-return", "class")
    page.click("#act-approve")
    page.wait_for_selector("#case-state[data-state=approved]")
    ctx.close()
    ctx, page = _login(browser, base, tenants.a.member.username)
    page.goto(f"{base}/crossborder")
    assert "已通过" in page.inner_text("#filings")
    ctx.close()
