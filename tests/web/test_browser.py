"""Browser test: Playwright drives Debian's headless Chromium through login and a case workflow."""

from __future__ import annotations

import pytest

from tests.web.browser_support import (  # fixtures: live_server, browser
    assert_no_serious_axe,
    browser,
    live_server,
    login,
)

pytestmark = pytest.mark.browser
__all__ = ["browser", "live_server"]


def _login(page, base: str, username: str) -> None:
    login(page, base, username)


def test_login_and_case_workflow(live_server, browser, tenants, tmp_path) -> None:
    base = live_server
    ctx = browser.new_context()
    page = ctx.new_page()
    # an enterprise member opens a case from the console
    page.goto(f"{base}/login")
    assert_no_serious_axe(page)
    _login(page, base, tenants.a.member.username)
    assert "一屏通览" in page.content()
    assert_no_serious_axe(page)
    page.goto(f"{base}/cases")
    assert_no_serious_axe(page)
    page.fill("#case-new input[name=title]", "浏览器测试：算力券申领")
    page.click("#case-new-submit")
    page.wait_for_selector("#case-state")
    case_url = page.url
    assert page.get_attribute("#case-state", "data-state") == "submitted"
    assert page.locator("#act-start_review").count() == 0  # members cannot review
    assert_no_serious_axe(page)
    # a reload of the submitted form's answer opens nothing new
    page.reload()
    page.goto(f"{base}/cases")
    assert page.locator("text=浏览器测试：算力券申领").count() == 1
    for path in ("/jobs", "/billing", "/audit"):
        page.goto(base + path)
        assert_no_serious_axe(page)
    ctx.close()
    # the operator's reviewer takes it through review to acceptance
    ctx = browser.new_context()
    page = ctx.new_page()
    _login(page, base, tenants.operator.member.username)
    page.goto(case_url)
    page.click("#act-start_review")
    page.wait_for_selector("#case-state[data-state=in_review]")
    assert "primary" in (page.get_attribute("#act-accept", "class") or "")
    assert "danger" in (page.get_attribute("#act-reject", "class") or "")
    assert_no_serious_axe(page)
    page.click("#act-accept")
    page.wait_for_selector("#case-state[data-state=accepted]")
    page.screenshot(path=str(tmp_path / "case.png"), full_page=True)
    history = page.inner_text("#history")
    assert "审核通过" in history and "领办" in history and "assignee_org_id" not in history
    # the English switch works on the same page
    page.goto(case_url + "?lang=en")
    assert "Accepted" in page.content()
    ctx.close()
