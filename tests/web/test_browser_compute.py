"""Browser test (zh-CN): an enterprise member submits a compute job through the form, watches it
run on its page, and the billed amount reads the same on the job page, the billing row and the
month's statement (issued by the platform's billing run once the month has closed).
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PRICE = {"peak": "0.125", "flat": "0.125", "valley": "0.125"}  # CNY per CPU-second


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
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(f"{base}/login?lang=zh_CN")
    page.fill("#username", username)
    page.fill("#password", "password123")
    page.click("#login-submit")
    page.wait_for_url(f"{base}/")
    return page


def _jobs(settings: Any) -> int:
    from mingyue.core.tenancy.access import SYSTEM
    from mingyue.core.uow import unit_of_work
    from mingyue.enablers.compute.models import ComputeJob

    with unit_of_work(SYSTEM, settings) as uow, uow.unscoped(reason="test count"):
        return int(uow.session.scalar(select(func.count()).select_from(ComputeJob)) or 0)


def _after_month(settings: Any, month: str) -> datetime:
    from mingyue.sdk import month_bounds

    return month_bounds(month, settings)[1] + timedelta(minutes=5)


def test_compute_form_live_state_and_one_billed_amount(
    live_server: str,
    browser: Any,
    tenants: Any,
    settings: Any,
    run_jobs: Any,
) -> None:
    from mingyue.core.tenancy.access import SYSTEM
    from mingyue.core.uow import unit_of_work
    from mingyue.enablers.compute import service
    from mingyue.enablers.compute.schemas import PoolIn
    from mingyue.sdk import local_time, now

    base = live_server
    with unit_of_work(SYSTEM, settings) as uow:
        service.add_pool(
            uow=uow, pool=PoolIn(name="local-a", kind="local", cpus=2, tariff={"cpu_second": PRICE})
        )
    month = local_time(now(), settings, "%Y-%m")

    # an enterprise member (not an SME) fills in the form: command, CPUs, run time with units
    page = _login(browser, base, tenants.b.member.username)
    page.goto(f"{base}/compute")
    assert "中小企业" in page.inner_text("#quota-note")  # why its free quota is 0 / 0
    page.fill("#f-name", "浏览器测试作业")
    page.fill("#f-command", "sleep 2")
    page.fill("#f-cpus", "1")
    page.fill("#f-runtime", "1")
    page.select_option("#f-runtime-unit", "min")
    sent = page.evaluate("Object.fromEntries(new FormData(document.querySelector('#job-form')))")
    page.click("#job-submit")
    page.wait_for_url(re.compile(r".*/compute/jobs/\d+$"))
    job_url = page.url
    assert "1 分钟" in page.inner_text("#job-spec")
    assert "估算" in page.inner_text("#job-estimate")

    # the page follows the job until it ends, without a reload
    page.wait_for_selector("#job-state[data-state=succeeded]", timeout=60_000)
    assert page.inner_text("#job-state") == "已完成"
    billed = page.inner_text("#job-billed").strip()
    assert re.fullmatch(r"¥\d+\.\d\d", billed) and billed != "¥0.00"
    assert "CPU 核·秒" in page.inner_text("#job-lines")

    # a reload, and the browser sending the same form again, start nothing new
    page.reload()
    assert page.url == job_url
    again = page.request.post(f"{base}/compute/submit", form=sent, max_redirects=0)
    assert again.status == 303 and again.headers["location"] == job_url.removeprefix(base)
    assert _jobs(settings) == 1

    # the billing page's usage row of the job shows the same amount
    page.goto(f"{base}/billing?month={month}")
    row = page.locator("#usage-table tbody tr", has_text="local-a")
    assert row.count() == 1
    assert billed in row.inner_text()
    page.context.close()

    # the month closes: the platform's billing run issues the statement (clock past month end)
    after = _after_month(settings, month)

    from mingyue.core import clock

    with clock.frozen(after):
        import httpx

        r = httpx.post(
            f"{base}/api/statements/run-job",
            headers=tenants.operator.headers(admin=True),
            json={"month": month},
        )
        assert r.status_code == 202, r.text
        run_jobs()

    # the enterprise's administrator reads the statement: the same amount again
    page = _login(browser, base, tenants.b.admin.username)
    page.goto(f"{base}/billing?month={month}")
    page.click("#statements-table a >> nth=0")
    page.wait_for_selector("#st-total")
    assert page.inner_text("#st-total").strip() in (billed, billed.removeprefix("¥"))
    assert "CPU 核·秒" in page.inner_text("#lines-table")
    assert datetime.now(UTC) < after  # the real clock was not touched
    page.context.close()
