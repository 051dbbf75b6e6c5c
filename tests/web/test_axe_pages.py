"""axe-core on every console page, as every demo role, in zh-CN: no critical or serious violation.

The demo (``mingyue demo``) is built once for the module and served over a local port. For each
demo role, the console is crawled in-process (``tests/web/console_pages.py``: the pages without
parameters, then same-site links, at most one concrete URL per route pattern) to learn the pages
that role can reach; one Chromium context per role then logs in through the form, opens each of
those pages (whole documents only: the fragments htmx swaps in are checked inside their page) and
runs axe-core on it. Each console route is one test over the results of every role.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.web.browser_support import AXE_JS, CHROMIUM, SERIOUS, login
from tests.web.console_pages import (
    Route,
    console_routes,
    crawl,
    demo_site,
    is_document,
    login_client,
    route_of,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROUTES = console_routes()
LOCALE = "zh_CN"


@dataclass
class Walk:
    """Per role: url → the critical/serious violations axe-core found there."""

    roles: list[str]
    found: dict[str, dict[str, list[dict[str, Any]]]]


def _serve(settings: Any) -> tuple[str, Any, threading.Thread]:
    import uvicorn

    from mingyue.web.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, start_workers=False),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, t


_AXE_RUN = """async () => {
    const r = await window.axe.run(document, {resultTypes: ['violations']});
    return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
}"""


def _axe(page: Any) -> list[dict[str, Any]]:
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    result: list[dict[str, Any]] = page.evaluate(_AXE_RUN)
    return [v for v in result if v.get("impact") in SERIOUS]


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory, _db_template: dict[str, Any]) -> Iterator[Walk]:
    """Build the demo, crawl it per role, and run axe-core on every page in one Chromium."""
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (scripts/core-setup.sh installs it)")
    if not AXE_JS.is_file():
        pytest.skip("axe-core is not installed (npm; scripts/core-setup.sh installs it)")
    from fastapi.testclient import TestClient
    from playwright.sync_api import sync_playwright

    from mingyue.web.app import create_app

    data_dir = tmp_path_factory.mktemp("axe_pages") / "data"
    with demo_site(data_dir, _db_template) as demo:
        urls: dict[str, list[str]] = {}
        with TestClient(create_app(demo.settings, start_workers=False)) as client:
            for username, password in demo.users:
                login_client(client, username, password, LOCALE)
                pages = crawl(client, ROUTES, per_route=1)
                urls[username] = [
                    u for u, (status, html) in pages.items() if status == 200 and is_document(html)
                ]
        base, server, thread = _serve(demo.settings)
        found: dict[str, dict[str, list[dict[str, Any]]]] = {}
        try:
            with sync_playwright() as p:
                b = p.chromium.launch(
                    executable_path=CHROMIUM,
                    headless=True,
                    args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
                )
                for username, password in demo.users:
                    ctx = b.new_context(bypass_csp=True, locale="zh-CN")
                    ctx.add_cookies([{"name": "mingyue_locale", "value": LOCALE, "url": base}])
                    page = ctx.new_page()
                    login(page, base, username, password)
                    found[username] = {}
                    for url in urls[username]:
                        page.goto(base + url, wait_until="load")
                        found[username][url] = _axe(page)
                    ctx.close()
                b.close()
        finally:
            server.should_exit = True
            thread.join(5)
        yield Walk([u for u, _p in demo.users], found)


@pytest.mark.parametrize("route", [pytest.param(r, id=r.path) for r in ROUTES])
def test_page_has_no_serious_axe_violation(walk: Walk, route: Route) -> None:
    """Every rendering of this route, for every role, passes axe-core's serious checks."""
    rendered = 0
    failures: list[str] = []
    for role in walk.roles:
        for url, violations in walk.found[role].items():
            if route_of([route], url) is None:
                continue
            rendered += 1
            failures.extend(
                f"{role} {url}: {v['impact']} {v['id']}: {v['help']} → {', '.join(v['nodes'])}"
                for v in violations
            )
    if rendered == 0:
        pytest.skip(f"no demo page of {route.path} is reachable by a link for any role")
    assert not failures, "\n".join(sorted(set(failures))[:60])


def test_the_check_finds_a_serious_violation() -> None:
    """The same axe-core run flags an unlabelled field and a nameless button on a bare page."""
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (scripts/core-setup.sh installs it)")
    if not AXE_JS.is_file():
        pytest.skip("axe-core is not installed (npm; scripts/core-setup.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = b.new_page()
        page.set_content(
            '<html lang="zh-CN"><head><title>t</title></head><body><main>'
            '<input type="text"><button></button></main></body></html>'
        )
        ids = {v["id"] for v in _axe(page)}
        b.close()
    assert {"label", "button-name"} <= ids, ids
