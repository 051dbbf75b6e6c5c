"""Browser test: Playwright drives Debian's headless Chromium through login and a case workflow."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def live_server(settings) -> Iterator[str]:
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
def browser() -> Iterator[object]:
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


def _login(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", "password123")
    page.click("#login-submit")
    page.wait_for_url(f"{base}/")


def test_login_and_case_workflow(live_server, browser, tenants, tmp_path) -> None:
    base = live_server
    ctx = browser.new_context()
    page = ctx.new_page()
    # an enterprise member opens a case from the console
    _login(page, base, tenants.a.member.username)
    assert "一屏通览" in page.content()
    page.goto(f"{base}/cases")
    page.fill("#case-new input[name=title]", "浏览器测试：算力券申领")
    page.click("#case-new-submit")
    page.wait_for_selector("#case-state")
    case_url = page.url
    assert page.get_attribute("#case-state", "data-state") == "submitted"
    assert page.locator("#act-start_review").count() == 0  # members cannot review
    ctx.close()
    # the operator's reviewer takes it through review to acceptance
    ctx = browser.new_context()
    page = ctx.new_page()
    _login(page, base, tenants.operator.member.username)
    page.goto(case_url)
    page.click("#act-start_review")
    page.wait_for_selector("#case-state[data-state=in_review]")
    page.click("#act-accept")
    page.wait_for_selector("#case-state[data-state=accepted]")
    page.screenshot(path=str(tmp_path / "case.png"), full_page=True)
    history = page.inner_text("#history")
    assert "accept" in history or "审核通过" in history
    # the English switch works on the same page
    page.goto(case_url + "?lang=en")
    assert "Accepted" in page.content()
    ctx.close()
