"""Browser test (zh-CN): a digital collectible from registration to the regulator's freeze.

The issuer's administrator registers a work (its file uploaded through the form); the operator's
reviewer opens it, marks it reviewed and approves it (the registration certificate is issued);
the issuer deploys an ERC-721 collection and issues the work; a buyer of another enterprise opens
a custody account and the reviewer verifies the buyer's real name; the issuer offers the
collectible priced in USDT and the page refuses it, naming rule CN-NFT-2022-4 and its source,
then sells it for CNY; the regulator freezes the token and reads its trace. axe-core finds no serious violation on the
pages walked. Writes the README screenshot (``docs/img/digitalasset.png``, the trace) when
``MINGYUE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.web.browser_support import (  # noqa: F401 - the shared fixtures (CSP kept, axe-core)
    assert_no_serious_axe,
    browser,
    live_server,
)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
RIGHTS = "著作权归明月文创所有；授权平台以数字藏品形式展示与发行，不含改编权。"


def _login(chromium: Any, base: str, username: str) -> tuple[Any, Any]:
    ctx = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(f"{base}/login?lang=zh_CN")
    page.fill("#username", username)
    page.fill("#password", "password123")
    page.click("#login-submit")
    page.wait_for_url(f"{base}/")
    return ctx, page


def test_register_approve_issue_refuse_freeze(
    live_server: str,  # noqa: F811 - the shared fixture
    browser: Any,  # noqa: F811 - the shared fixture
    tenants: Any,
    tmp_path: Path,
) -> None:
    base = live_server
    art = tmp_path / "明月图.png"
    art.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64)

    # The issuer registers the work.
    ctx, page = _login(browser, base, tenants.a.admin.username)
    page.goto(f"{base}/digitalasset")
    assert_no_serious_axe(page)
    page.fill("#title", "明月图")
    page.select_option("#kind", "image")
    page.fill("#creator_name", "李白")
    page.fill("#rights_statement", RIGHTS)
    page.set_input_files("#file", str(art))
    page.click("#register-submit")
    page.wait_for_url(re.compile(r".*/digitalasset/works/\d+$"))
    work_url = page.url
    assert "已提交" in page.inner_text("#review-status")
    assert len(page.inner_text("#sm3").strip()) == 64
    ctx.close()

    # The operator's reviewer reviews and approves it.
    ctx, page = _login(browser, base, tenants.operator.member.username)
    page.goto(work_url)
    assert_no_serious_axe(page)
    page.click("#step-review")
    page.wait_for_selector("#step-approve")
    page.click("#step-approve")
    page.wait_for_selector("#certificate-link")
    assert "审核通过" in page.inner_text("#review-status")
    ctx.close()

    # The issuer deploys a collection and issues the work.
    ctx, page = _login(browser, base, tenants.a.admin.username)
    page.goto(f"{base}/digitalasset/issuance")
    page.fill("#collection-name", "明月集")
    page.fill("#collection-symbol", "MOON")
    page.click("#collection-submit")
    page.wait_for_selector("#collection-table")
    page.fill("#issue-price", "99.00")
    page.click("#issue-submit")
    page.wait_for_selector("#token-table")
    assert_no_serious_axe(page)
    ctx.close()

    # A buyer of another enterprise opens a custody account; the reviewer verifies the name.
    ctx, page = _login(browser, base, tenants.b.member.username)
    page.goto(f"{base}/digitalasset/holdings")
    page.click("#open-account")
    page.wait_for_selector("#my-address")
    buyer = page.inner_text("#my-address").strip()
    ctx.close()
    ctx, page = _login(browser, base, tenants.operator.member.username)
    page.goto(f"{base}/digitalasset/accounts")
    row = page.locator("#account-table tr", has_text=buyer)
    row.locator("input[name=real_name]").fill("杜甫")
    row.locator("button[type=submit]").click()
    page.wait_for_selector(f"#account-table tr:has-text('{buyer}') .v-ok")
    assert_no_serious_axe(page)
    ctx.close()

    # The issuer offers it priced in USDT: the page refuses with the rule and its source.
    ctx, page = _login(browser, base, tenants.a.admin.username)
    page.goto(f"{base}/digitalasset/holdings")
    page.check("#transfer-from-issuer")
    page.fill("#transfer-to", buyer)
    page.select_option("#transfer-mode", "sale")
    page.fill("#transfer-price", "99")
    page.select_option("#transfer-currency", "USDT")
    page.click("#transfer-submit")
    page.wait_for_selector("#refusal-rule")
    refusal = page.inner_text("#refusal-rule")
    assert "CN-NFT-2022-4" in refusal and "第四条" in refusal
    assert_no_serious_axe(page)
    page.select_option("#transfer-currency", "CNY")
    page.click("#transfer-submit")
    page.wait_for_url(re.compile(r".*/digitalasset/holdings(#transfers)?$"))
    assert "已完成" in page.inner_text("#transfer-table")
    ctx.close()

    # The regulator freezes the token and reads its trace.
    ctx, page = _login(browser, base, tenants.regulator.member.username)
    page.goto(f"{base}/digitalasset/supervision")
    token = page.locator("#sup-tokens tbody tr").first
    token.locator("input[name=reason]").fill("涉嫌违规转让，冻结核查")
    token.locator("button[type=submit]").click()
    page.wait_for_selector("#sup-tokens .v-bad")
    assert "已冻结" in page.inner_text("#sup-tokens")
    assert_no_serious_axe(page)
    page.locator("#sup-tokens a", has_text="全链追溯").first.click()
    page.wait_for_selector("#trace-table")
    assert "铸造" in page.inner_text("#trace-table") and "已拒绝" in page.inner_text("#trace-table")
    assert_no_serious_axe(page)
    if os.environ.get("MINGYUE_SCREENSHOTS") == "1":
        out = ROOT / "docs" / "img" / "digitalasset.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        page.wait_for_timeout(800)  # the force layout of the flow graph settles
        page.screenshot(path=str(out), full_page=False)
    ctx.close()
