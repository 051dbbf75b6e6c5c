"""Shared Playwright support for the browser tests: a live server, Chromium, login, axe-core.

Use from a test module (``pytestmark = pytest.mark.browser``)::

    from tests.web.browser_support import assert_no_serious_axe, browser, live_server, login

``assert_no_serious_axe(page)`` injects axe-core (npm, the exact version pinned in
``tests/web/axe/package.json``, installed by ``scripts/core-setup.sh``) into the page and fails
on any violation of impact "critical" or "serious", naming the rule and the elements. Without
Chromium the fixtures skip; without the axe-core package the check skips with the reason.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
AXE_JS = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("critical", "serious")


@pytest.fixture
def live_server(settings: Any) -> Iterator[str]:
    """Serve the app over the test settings on a free local port; yield its base URL."""
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
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    t.join(5)


@pytest.fixture
def browser() -> Iterator[Any]:
    """Launch Debian's headless Chromium through Playwright (skip when it is not installed)."""
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
        yield _Browser(b)
        b.close()


class _Browser:
    """Chromium whose new contexts bypass the console's Content-Security-Policy for the test
    scripts only (axe-core is injected inline); the pages' own CSP headers are unchanged."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser

    def new_context(self, **kw: Any) -> Any:
        kw.setdefault("bypass_csp", True)
        return self._browser.new_context(**kw)

    def new_page(self, **kw: Any) -> Any:
        kw.setdefault("bypass_csp", True)
        return self._browser.new_page(**kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)


def login(page: Any, base: str, username: str, password: str = "password123") -> None:  # noqa: S107
    """Log in through the login form and wait for the overview."""
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(f"{base}/")


def axe_violations(page: Any, impacts: tuple[str, ...] = SERIOUS) -> list[dict[str, Any]]:
    """Run axe-core on the page; return the violations of the given impacts."""
    if not AXE_JS.is_file():
        print(f"axe-core check skipped: {AXE_JS} is missing (run scripts/core-setup.sh)")
        pytest.skip("axe-core is not installed (npm; scripts/core-setup.sh installs it)")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    result = page.evaluate(
        """async () => {
            const r = await window.axe.run(document, {resultTypes: ['violations']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
              nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
        }"""
    )
    return [v for v in result if v.get("impact") in impacts]


def assert_no_serious_axe(page: Any) -> None:
    """Fail on any critical or serious axe-core violation of the page, naming rule and nodes."""
    bad = axe_violations(page)
    assert not bad, f"axe-core on {page.url}:\n" + "\n".join(
        f"  {v['impact']} {v['id']}: {v['help']} → {', '.join(v['nodes'])}" for v in bad
    )
