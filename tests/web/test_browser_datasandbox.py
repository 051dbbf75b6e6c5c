"""Browser test (zh-CN): an enterprise member runs an aggregate query on another organization's
open dataset, watches its page turn from 已批准，运行中 to the result without reloading, reads the
result as a table and downloads it as CSV; a refused query reads as a refusal, in Chinese.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SQL = "SELECT industry, count(*) AS n FROM enterprises GROUP BY industry"


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


def _login(browser: Any, base: str, username: str) -> Any:
    ctx = browser.new_context(
        locale="zh-CN", viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    page = ctx.new_page()
    page.goto(f"{base}/login?lang=zh_CN")
    page.fill("#username", username)
    page.fill("#password", "password123")
    page.click("#login-submit")
    page.wait_for_url(f"{base}/")
    return page


def _publish_enterprises(base: str, tenant: Any, tmp_path: Path) -> None:
    """The data owner publishes its enterprise register, open to every organization."""
    import httpx

    from mingyue.enablers.datasandbox.engine import demo

    files = demo.generate(tmp_path / "demo-in", n_enterprises=400, seed=11)
    with open(files.enterprises, "rb") as f:
        r = httpx.post(
            f"{base}/api/datasandbox/datasets",
            headers=tenant.headers(admin=True),
            files={"file": (files.enterprises.name, f, "text/csv")},
            data={
                "name": "enterprises",
                "identifiers": ["uscc"],
                "min_group": "5",
                "epsilon_per_period": "3",
                "open_to_all": "true",
            },
            timeout=60,
        )
    assert r.status_code == 201, r.text


def test_query_result_table_and_csv(
    live_server: str, browser: Any, tenants: Any, run_jobs: Any, tmp_path: Path
) -> None:
    base = live_server
    _publish_enterprises(base, tenants.a, tmp_path)

    page = _login(browser, base, tenants.b.member.username)
    page.goto(f"{base}/datasandbox")
    assert page.input_value("#q-epsilon") == "0.5"  # the default is a value, not a placeholder
    assert "默认 0.5" in page.inner_text("#q-epsilon-hint")
    page.fill("#q-sql", SQL)
    sent = page.evaluate("Object.fromEntries(new FormData(document.querySelector('#query-form')))")
    page.click("#query-submit")
    page.wait_for_url(re.compile(r".*/datasandbox/requests/\d+$"))
    url = page.url
    assert page.inner_text("#req-state") == "已批准，运行中"
    assert SQL in page.inner_text("#req-sql")  # the SQL stays with its request

    # the sandbox job runs; the page notices by itself and shows the result
    run_jobs()
    page.wait_for_selector("#req-result", timeout=30_000)
    assert page.inner_text("#req-state") == "已发布"
    text = page.inner_text("main")
    assert '{"' not in text and "\\u" not in text
    headers = page.locator("#req-result thead th").all_inner_texts()
    assert headers == ["industry", "n"]
    cells = page.locator("#req-result tbody td").all_inner_texts()
    assert len(cells) >= 4 and any(re.search(r"[\u4e00-\u9fff]", c) for c in cells)

    with page.expect_download() as dl:
        page.click("#req-csv")
    body = Path(dl.value.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["industry", "n"]
    assert [c for r in rows[1:] for c in r] == cells

    # a reload and the same form sent again start nothing new
    page.reload()
    assert page.url == url
    again = page.request.post(f"{base}/datasandbox/query", form=sent, max_redirects=0)
    assert again.status == 303 and again.headers["location"] == url.removeprefix(base)
    page.goto(f"{base}/datasandbox")
    assert page.locator("#requests tbody tr").count() == 1

    # a query the sandbox refuses reads as a refusal, in Chinese, with the SQL kept
    page.fill("#q-sql", "SELECT * FROM enterprises")
    page.click("#query-submit")
    page.wait_for_selector("#req-refusal")
    assert page.inner_text("#req-state") == "已拒绝"
    refusal = page.inner_text("#req-refusal")
    assert "禁止 SELECT *" in refusal and "select_star" not in refusal
    assert "error" in (page.get_attribute("#req-refusal p", "class") or "")
    page.click("text=修改 SQL 后再次提交")
    assert page.input_value("#q-sql") == "SELECT * FROM enterprises"
    page.context.close()
