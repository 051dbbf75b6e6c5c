"""Browser test (zh-CN): the enterprise's compliance officer opens a store-listing review and an
algorithm-ethics review of its scanned App, attaches a screenshot and answers the questionnaire;
the operator's reviewer decides each on its page and both are signed. axe-core on every page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.enablers.appcheck.appcheck_variant import make_variant
from tests.web.browser_support import (  # noqa: F401 - the shared fixtures (CSP kept, axe-core)
    assert_no_serious_axe,
    browser,
    live_server,
)

pytestmark = pytest.mark.browser

APKS = Path(__file__).resolve().parents[3] / "shared" / "data" / "apks"
SETTINGS = "<p>关闭个性化推荐</p><p>本图片由AI生成</p><p>App备案号：京ICP备12345678号-1A</p>"


def _login(chromium: Any, base: str, username: str) -> tuple[Any, Any]:
    ctx = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(f"{base}/login?lang=zh_CN")
    page.fill("#username", username)
    page.fill("#password", "password123")
    page.click("#login-submit")
    page.wait_for_url(f"{base}/")
    return ctx, page


def _open(page: Any, base: str, kind: str) -> str:
    page.goto(f"{base}/appcheck/reviews")
    page.select_option("#review-kind", kind)
    page.click("#review-open-submit")
    page.wait_for_url(re.compile(r".*/appcheck/reviews/\d+$"))
    return str(page.url)


def test_listing_and_ethics_reviews_walked_in_chinese(
    live_server: str,  # noqa: F811 - the shared fixture
    browser: Any,  # noqa: F811 - the shared fixture
    client: Any,
    tenants: Any,
    run_jobs: Any,
    tmp_path: Path,
) -> None:
    src = sorted(APKS.glob("*jpush__hbuilder-hello*.apk"))
    if not src:
        pytest.skip(f"shared APK corpus not found at {APKS}")
    apk = make_variant(
        src[0],
        tmp_path / "hello.apk",
        classes=["com.faceunity.core.FURenderKit"],
        assets={"assets/web/settings.html": SETTINGS},
    )
    with apk.open("rb") as fh:
        r = client.post(
            "/api/appcheck/scans",
            files={"file": (apk.name, fh, "application/zip")},
            data={"app_type": "news"},
            headers=tenants.a.headers(),
        )
    assert r.status_code == 201, r.text
    run_jobs()
    base = live_server
    shot = tmp_path / "permission-prompts.png"
    shot.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)

    # the enterprise opens a listing review and attaches a screenshot of the permission prompts
    ctx, page = _login(browser, base, tenants.a.member.username)
    page.goto(f"{base}/appcheck/reviews")
    assert "上架审核与算法伦理审查" in page.inner_text("main")
    assert_no_serious_axe(page)
    listing_url = _open(page, base, "listing")
    results = page.inner_text("#review-results")
    assert "App 备案号" in results and "京ICP备12345678号-1A" in results
    assert "需补充证据" in results and "不通过" in results
    assert_no_serious_axe(page)
    page.select_option("#evidence-item", "permission_purposes")
    page.set_input_files("#evidence-file", str(shot))
    page.click("#review-evidence-submit")
    page.wait_for_selector("#review-results a[href*='/evidence/']")
    page.reload()  # a reload after the upload attaches nothing twice
    assert page.locator("#review-results a[href*='/evidence/']").count() == 1

    # ... and an ethics review, answering the questionnaire
    ethics_url = _open(page, base, "ethics")
    signals = page.inner_text("#review-signals")
    assert "人脸编辑/换脸 SDK" in signals and "个性化推荐开关文案" in signals
    page.check("#q-personalisation_off input[value=yes]")
    page.check("#q-deep_synthesis_label input[value=yes]")
    page.check("#q-filing input[value=na]")
    page.fill("#q-filing input[name='note.filing']", "不具有舆论属性")
    page.click("#review-answers-submit")
    page.wait_for_selector("tr[data-item=deep_synthesis_label][data-result=pass]")
    assert_no_serious_axe(page)
    ctx.close()

    # the operator's reviewer decides both
    ctx, page = _login(browser, base, tenants.operator.member.username)
    page.goto(listing_url)
    assert page.locator("#review-evidence").count() == 0  # the reviewer attaches nothing
    assert_no_serious_axe(page)
    page.check("#decide-permission_purposes input[value=pass]")
    page.fill("#review-opinion-input", "权限弹窗截图已核实。")
    page.click("#review-accept")
    page.wait_for_selector("#review-decision[data-decision=accepted]")
    assert "已通过并签发" in page.inner_text("#review-decision")
    assert page.locator("#review-credential").count() == 1
    assert "由审核人员判定" in page.inner_text("tr[data-item=permission_purposes]")
    assert_no_serious_axe(page)
    page.goto(ethics_url)
    page.fill("#review-opinion-input", "深度合成标识已展示，同意通过。")
    page.click("#review-accept")
    page.wait_for_selector("#review-decision[data-decision=accepted]")
    assert "深度合成标识已展示" in page.inner_text("#review-opinion")
    page.goto(f"{base}/appcheck/apps/com.jpush.hbuilderdemo")
    assert "版本历史" in page.inner_text("main")
    assert_no_serious_axe(page)
    ctx.close()
