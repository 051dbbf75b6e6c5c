"""Browser test (zh-CN): an enterprise asks and sees its measures; the desk routes a request.

The enterprise's staff member asks the policy corpus a question, reads the cited clause with the
question's words highlighted, sees the measures the enterprise may use (the free compute pool,
免申即享) and opens one; then files a vague request, which waits on the dispatch desk. The
district's dispatcher (a reviewer of the operator) finds it in the queue, routes it to a
department with its kind, and the department's case opens. axe-core finds no serious problem on
any page. Writes the README screenshot (``docs/img/policy.png``, the enterprise's ask page) when
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
QUESTION = "明月湖的中小企业能免费使用算力吗？"
VAGUE = "有个问题想反映一下，希望尽快处理。"


def _login(chromium: Any, base: str, username: str) -> tuple[Any, Any]:
    ctx = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(f"{base}/login?lang=zh_CN")
    page.fill("#username", username)
    page.fill("#password", "password123")
    page.click("#login-submit")
    page.wait_for_url(f"{base}/")
    return ctx, page


def test_enterprise_asks_and_desk_dispatches(
    live_server: str,  # noqa: F811 - the shared fixture
    browser: Any,  # noqa: F811 - the shared fixture
    tenants: Any,
    settings: Any,
    actor_of: Any,
) -> None:
    from mingyue.enablers.policy.service import corpus
    from mingyue.sdk import unit_of_work
    from tests.enablers.policy.policy_service_support import ai_sme, save_profile

    base = live_server
    admin = actor_of(tenants.operator.admin)
    with unit_of_work(admin, settings) as uow:
        corpus.seed_corpus(uow=uow, actor=admin)
    save_profile(settings, actor_of(tenants.a.admin), ai_sme(qualifications=["hnte", "tsme"]))

    # the enterprise asks, reads the clause, sees what it may use
    ctx, page = _login(browser, base, tenants.a.member.username)
    page.goto(f"{base}/policy")
    assert "政策问答" in page.inner_text("h1")
    page.fill("#q", QUESTION)
    page.click("#ask-submit")
    page.wait_for_selector("#answer")
    answer = page.inner_text("#answer")
    assert "三.（十二）" in answer and "500PFLOPS" in answer
    assert page.locator("#answer mark").count() > 0
    mine = page.inner_text("#my-measures")
    assert "人工智能公共算力免费资源池" in mine and "免申即享" in mine and "符合" in mine
    assert_no_serious_axe(page)
    if os.environ.get("MINGYUE_SCREENSHOTS") == "1":
        page.screenshot(path=str(ROOT / "docs" / "img" / "policy.png"), full_page=True)
    page.click("#mine-free-compute-pool a")
    page.wait_for_url(re.compile(r".*/policy/measures/free-compute-pool$"))
    assert "符合" in page.inner_text("#my-verdict")
    assert_no_serious_axe(page)
    page.click("#nav-measures")
    page.wait_for_selector("#eligibility-table")
    assert "尚缺" in page.inner_text("#eligibility-table")
    assert_no_serious_axe(page)

    # a request the classifier cannot place waits for a person
    page.click("#nav-requests")
    page.fill("#request-text", VAGUE)
    page.click("#request-submit")
    page.wait_for_url(re.compile(r".*/policy/requests/\d+$"))
    request_url = page.url
    assert "待人工分拨" in page.inner_text("#request")
    assert_no_serious_axe(page)
    ctx.close()

    # the dispatcher routes it: a case opens at the department
    ctx, page = _login(browser, base, tenants.operator.member.username)
    page.goto(f"{base}/policy/requests")
    assert "诉求分拨台" in page.inner_text("h1")
    queue = page.inner_text("#queue")
    assert VAGUE in queue
    assert_no_serious_axe(page)
    page.click("#queue tbody tr:first-child td:first-child a")
    page.wait_for_url(request_url)
    page.select_option("#dispatch-department", "build")
    page.select_option("#dispatch-kind", "complaint")
    page.click("#dispatch-submit")
    page.wait_for_selector("#routed-to")
    assert "建设管理局" in page.inner_text("#routed-to")
    assert "投诉举报" in page.inner_text("#routed-to")
    assert_no_serious_axe(page)
    page.click("#case-link")
    page.wait_for_url(re.compile(r".*/cases/\d+$"))
    body = page.inner_text("main")
    assert "企业诉求" in body and "待签收" in body
    ctx.close()
