"""Browser test (zh-CN): a sensor alarm becomes a case, is dispatched, handled and closed.

A septic-tank gas monitor of the municipal unit reports methane past the second alarm level; the
critical alarm opens a city case by itself. The command centre's seat sees the alarm on 一屏通览,
opens its case, registers (立案) and dispatches (派遣) it to the municipal unit; the unit's field
handler, on a phone-sized screen, accepts the task and reports back with a photo (处理反馈); the
seat verifies and closes it (核查结案). axe-core finds no serious violation on each page. Writes
the README screenshot (``docs/img/citygov.png``, the overview) when ``MINGYUE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.enablers.citygov.citygov_cases_support import jpeg_with_gps
from tests.web.browser_support import (
    assert_no_serious_axe,
    browser,  # noqa: F401 - the shared fixture
    live_server,  # noqa: F401 - the shared fixture
)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]


def _login(chromium: Any, base: str, username: str, *, phone: bool = False) -> tuple[Any, Any]:
    size = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 900}
    ctx = chromium.new_context(locale="zh-CN", viewport=size)
    page = ctx.new_page()
    page.goto(f"{base}/login?lang=zh_CN")
    page.fill("#username", username)
    page.fill("#password", "password123")
    page.click("#login-submit")
    page.wait_for_url(f"{base}/")
    return ctx, page


def test_alarm_to_case_to_dispatch_to_close(
    live_server: str,  # noqa: F811 - the shared fixture
    browser: Any,  # noqa: F811 - the shared fixture
    app: Any,
    tenants: Any,
    tmp_path: Path,
) -> None:
    base = live_server
    seat, unit = tenants.operator.member, tenants.b.member  # 坐席 (reviewer); 市政 field handler
    with TestClient(app) as api:
        for org, dept in ((tenants.a.org, "sanitation"), (tenants.b.org, "municipal")):
            r = api.post(
                "/api/citygov/units",
                json={"org_id": org.id, "department": dept},
                headers=tenants.operator.headers(),
            )
            assert r.status_code == 200, r.text
        r = api.post(
            "/api/citygov/devices",
            headers=tenants.b.headers(admin=True),
            json={
                "device_id": "st-0012",
                "kind": "septic_tank",
                "name": "解放碑化粪池1号",
                "lon": 106.5771,
                "lat": 29.5572,
            },
        )
        assert r.status_code == 201, r.text
        r = api.post(
            "/api/citygov/telemetry/septic_tank/st-0012",
            headers=tenants.b.headers(),
            json={"ch4": 62.5, "h2s": 3.0},
        )
        assert r.status_code == 202, r.text

    ctx, page = _login(browser, base, seat.username)
    page.goto(f"{base}/citygov?lang=zh_CN")
    page.wait_for_url(f"{base}/citygov/overview")
    page.wait_for_selector("#citygov-alarms [data-severity='critical']")
    assert "化粪池甲烷浓度超限" in page.inner_text("#citygov-alarms")
    page.wait_for_function("() => document.querySelector('#chart-map canvas') !== null")
    assert_no_serious_axe(page)
    if os.environ.get("MINGYUE_SCREENSHOTS") == "1":
        page.screenshot(path=str(ROOT / "docs" / "img" / "citygov.png"), full_page=True)
    page.click("#citygov-alarms a[href^='/citygov/cases/']")
    page.wait_for_selector("#step-register")
    case_url = page.url
    assert "物联感知" in page.inner_text("#file") and "信息采集" in page.inner_text("h1")
    assert_no_serious_axe(page)
    page.click("#step-register")
    page.wait_for_selector("#dispatch-form")
    page.select_option("#unit", value=str(tenants.b.org.id))
    page.fill("#instruction", "请立即到场通风排险")
    page.click("#step-dispatch")
    page.wait_for_selector("h1 [data-stage='dispatched']")
    assert "任务派遣" in page.inner_text("h1")

    uctx, phone = _login(browser, base, unit.username, phone=True)
    phone.goto(f"{base}/citygov?lang=zh_CN")
    phone.wait_for_url(f"{base}/citygov/tasks")
    assert_no_serious_axe(phone)
    phone.click("#task-list a")
    phone.wait_for_selector("#task-accept")
    assert "请立即到场通风排险" in phone.inner_text("#task-file")
    phone.click("#task-accept")
    phone.wait_for_selector("#feedback-form")
    photo = tmp_path / "after.jpg"
    photo.write_bytes(jpeg_with_gps())
    phone.fill("#feedback-text", "已通风排险，甲烷浓度回落")
    phone.set_input_files("#feedback-photo", str(photo))
    assert_no_serious_axe(phone)
    phone.click("#task-feedback")
    phone.wait_for_selector("#task-feedback-shown img")
    assert "已反馈待核查" in phone.inner_text("h1")
    uctx.close()

    page.goto(case_url)
    page.wait_for_selector("#step-verify")
    assert "已通风排险" in page.inner_text("#tasks")
    page.click("#step-verify")
    page.wait_for_selector("h1 [data-stage='closed']")
    assert "核查结案" in page.inner_text("h1")
    history = page.inner_text("#history")
    for step in ("立案", "派遣", "接单处置", "处理反馈", "核查通过并结案"):
        assert step in history
    assert re.search(r"按期", page.inner_text("#tasks"))
    assert_no_serious_axe(page)
    ctx.close()
