"""Browser test (zh-CN): an AI firm's engineer registers its model, tries it in the trial chat
and rates a reply; the operator's reviewer turns the rating into a probe of the firm's set.

The endpoint is the tests' real OpenAI-compatible HTTP server (loopback, allowed outside prod).
The pages have no serious axe-core violation; a reload of the send form sends nothing twice.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.enablers.modeleval.modeleval_fake_openai import base_url, serve
from tests.web.browser_support import (  # noqa: F401 - the shared fixtures (CSP kept, axe-core)
    assert_no_serious_axe,
    browser,
    live_server,
)

pytestmark = pytest.mark.browser


def _login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login?lang=zh_CN")
    page.fill("#username", username)
    page.fill("#password", "password123")
    page.click("#login-submit")
    page.wait_for_url(f"{base}/")


def test_engineer_tries_and_rates_reviewer_makes_a_probe(
    live_server: str,  # noqa: F811 - the shared fixture
    browser: Any,  # noqa: F811 - the shared fixture
    tenants: Any,
) -> None:
    server = serve()
    fake = next(server)
    try:
        ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        _login(page, live_server, tenants.a.member.username)
        page.goto(f"{live_server}/modeleval/models")
        assert "模型广场" in page.inner_text("h1")
        assert_no_serious_axe(page)
        page.fill("#f-name", "两江政务大模型")
        page.fill("#f-version", "v1")
        page.fill("#f-provider", "明月湖智能")
        page.fill("#f-licence", "Apache-2.0")
        page.fill("#f-intended", "政务咨询问答")
        page.fill("#f-endpoint", base_url(fake))
        page.fill("#f-served", "fake-model")
        page.fill("#f-price", "0.02")
        page.select_option("#f-visibility", "district")
        page.click("#register")
        page.wait_for_url(f"{live_server}/modeleval/models/*")
        assert "模型卡" in page.inner_text("#model-card") and "明月湖智能" in page.inner_text(
            "#model-card"
        )
        assert "尚未评测" in page.inner_text("#versions")
        assert_no_serious_axe(page)

        page.click("#start-chat")
        page.wait_for_url(f"{live_server}/modeleval/trial/*")
        page.fill("#f-text", "请问 6 乘 7 等于多少？我的手机 13812345678")
        page.click("#send")
        page.wait_for_selector(".msg-assistant[data-status='ok']")
        chat = page.inner_text("#messages")
        assert "The answer is 42." in chat and "[PHONE]" in chat and "13812345678" not in chat
        assert "提示 10 个 token，回复 5 个 token" in chat
        page.reload()  # a reload of the page after the redirect sends nothing
        assert page.locator(".msg").count() == 2
        assert fake.requests == 1
        assert_no_serious_axe(page)

        page.click(".msg-assistant details.rate summary")
        page.check(".msg-assistant input[name='rating'][value='2']")
        page.select_option(".msg-assistant select[name='category']", "inaccurate")
        page.fill(".msg-assistant textarea[name='comment']", "答案格式不符合中文习惯")
        page.click(".msg-assistant .rate-form button[type='submit']")
        page.wait_for_selector(".msg-assistant .rated")
        assert "评分 2/5" in page.inner_text(".msg-assistant .rated")
        ctx.close()

        ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        _login(page, live_server, tenants.operator.member.username)  # the operator's reviewer
        page.goto(f"{live_server}/modeleval/feedback")
        assert "试用反馈" in page.inner_text("h1")
        item = page.locator("#feedback article").first
        assert "答案格式不符合中文习惯" in item.inner_text() and "回答不准确" in item.inner_text()
        assert_no_serious_axe(page)
        item.locator("details.probe summary").click()
        item.locator("input[name='harmful'][value='no']").check()
        item.locator(".probe-form button[type='submit']").click()
        page.wait_for_selector("#probes tbody tr")
        row = page.inner_text("#probes tbody tr")
        assert "请问 6 乘 7 等于多少？我的手机 [PHONE]" in row and "回答不准确" in row
        assert "已转为探测题" in page.inner_text("#feedback")
        ctx.close()
    finally:
        server.close()
