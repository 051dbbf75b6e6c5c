"""Browser test (zh-CN): a terminal from intake to a certificate anyone can verify.

The lab publishes its test plan; the maker's administrator registers the terminal; lab staff start
a bench run on the simulated module and watch its live log until the verdict, send the sample to
review and approve it; the maker opens its certificate and downloads it; a stranger (a fresh,
logged-out browser) sees 有效 on the public verification page and no IMEI; the downloaded file
passes ``mingyue satcert verify`` in a subprocess. Writes the README screenshot
(``docs/img/satcert.png``, the run page) when ``MINGYUE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
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
IMEI = "861234051234568"  # what the simulated module answers to AT+CGSN


def _login(chromium: Any, base: str, username: str) -> tuple[Any, Any]:
    ctx = chromium.new_context(
        locale="zh-CN", accept_downloads=True, viewport={"width": 1280, "height": 900}
    )
    page = ctx.new_page()
    page.goto(f"{base}/login?lang=zh_CN")
    page.fill("#username", username)
    page.fill("#password", "password123")
    page.click("#login-submit")
    page.wait_for_url(f"{base}/")
    return ctx, page


def _count(settings: Any, actor: Any, model: Any) -> int:
    from sqlalchemy import func, select

    from mingyue.sdk import unit_of_work

    with unit_of_work(actor, settings) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


def test_terminal_intake_bench_run_review_certificate_verify(
    live_server: str,  # noqa: F811 - the shared fixture
    browser: Any,  # noqa: F811 - the shared fixture
    tenants: Any,
    settings: Any,
    run_jobs: Any,
    actor_of: Any,
    tmp_path: Path,
) -> None:
    from mingyue.enablers.satcert.models import SatcertRun, SatcertSample
    from mingyue.enablers.satcert.plans import PLANS_DIR

    base = live_server
    lab_actor = actor_of(tenants.operator.member)

    # the lab publishes its test plan (a version, audited)
    ctx, page = _login(browser, base, tenants.operator.member.username)
    page.goto(f"{base}/satcert/plans")
    page.fill("#plan-yaml", (PLANS_DIR / "ntn-terminal-basic.yaml").read_text(encoding="utf-8"))
    page.click("#publish-submit")
    page.wait_for_url(re.compile(r".*/satcert/plans/\d+$"))
    assert "冷启动后测首次定位时间" in page.inner_text("#plan-cases")
    ctx.close()

    # the maker's administrator registers its terminal
    ctx, page = _login(browser, base, tenants.a.admin.username)
    page.goto(f"{base}/satcert")
    assert "送检样品" in page.inner_text("h1")
    assert_no_serious_axe(page)
    page.fill("#manufacturer", "Mingyue Lab")
    page.fill("#model", "NTN-SIM-1")
    page.select_option("#terminal_kind", "combo")
    page.fill("#declared_imei", IMEI)
    page.click("#intake-submit")
    page.wait_for_url(re.compile(r".*/satcert/samples/\d+$"))
    sample_url = page.url
    assert page.inner_text("#case-state") == "样品受理"
    page.reload()  # a reload after the redirect registers nothing again
    assert _count(settings, lab_actor, SatcertSample) == 1
    ctx.close()

    # lab staff start a run on the simulated module and watch the live log until the verdict
    ctx, page = _login(browser, base, tenants.operator.member.username)
    page.goto(sample_url)
    assert_no_serious_axe(page)
    page.check("#transport-sim")
    page.click("#run-submit")
    page.wait_for_url(re.compile(r".*/satcert/runs/\d+$"))
    run_url = page.url
    assert page.get_attribute("#log-poll", "data-done") == "no"
    page.reload()
    assert _count(settings, lab_actor, SatcertRun) == 1
    bench = threading.Thread(target=run_jobs, daemon=True)
    bench.start()
    page.wait_for_selector("#log-lines samp.ln", timeout=30_000)  # lines arrive as it runs
    page.wait_for_selector("#run-verdict [data-verdict=pass]", timeout=90_000)
    bench.join(60)
    assert page.url == run_url
    log = page.inner_text("#log-lines")
    assert ">> AT+CGSN" in log and IMEI in log
    assert page.inner_text("#run-verdict") == "合格"
    results = page.inner_text("#verdict-table")
    assert "3GPP TS 27.007" in results and "首次定位时间中位数" in results and "合格" in results
    assert "关键指标" in page.inner_text("#figures-h")
    assert page.locator("#log-poll").count() == 0  # polling stopped with the run
    assert_no_serious_axe(page)
    if os.environ.get("MINGYUE_SCREENSHOTS") == "1":
        out = ROOT / "docs" / "img" / "satcert.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        page.set_viewport_size({"width": 1280, "height": 1500})
        page.screenshot(path=str(out), full_page=False)
        page.set_viewport_size({"width": 1280, "height": 900})

    # ... send it to review, then approve (distinct buttons)
    page.goto(sample_url)
    page.click("#do-submit_review")
    page.wait_for_selector("#case-state[data-state=review]")
    classes = {n: page.get_attribute(f"#do-{n}", "class") for n in ("approve", "return", "reject")}
    assert len(set(classes.values())) == 3, classes
    assert_no_serious_axe(page)
    page.click("#do-approve")
    page.wait_for_url(re.compile(r".*/satcert/certificates/\d+$"))
    cert_url = page.url
    assert "有效" in page.inner_text("main")
    ctx.close()

    # the maker opens its certificate and downloads the signed file
    ctx, page = _login(browser, base, tenants.a.admin.username)
    page.goto(sample_url)
    page.click("#certificates a")
    page.wait_for_url(cert_url)
    main = page.inner_text("main")
    assert "卫星终端检测证书" in main and "NTN-SIM-1" in main and "合格" in main
    assert re.search(r"[0-9a-f]{64}", page.inner_text("#cert-log-sha256"))
    assert_no_serious_axe(page)
    public_href = page.get_attribute("#public-verify-link", "href")
    assert public_href and public_href.startswith("/verify/")
    assert page.get_attribute("#credential-link", "href") == public_href.replace(
        "/verify/", "/credentials/"
    )
    with page.expect_download() as dl:
        page.click("#credential-download")
    saved = tmp_path / "terminal-certificate.json"
    dl.value.save_as(str(saved))
    ctx.close()

    # anyone, logged out, checks it on the public page: valid, and no IMEI
    stranger = browser.new_context(locale="zh-CN")
    page = stranger.new_page()
    page.goto(base + public_href)
    body = page.inner_text("main")
    assert page.inner_text("#public-status") == "有效" and "NTN-SIM-1" in body
    assert IMEI not in page.content()
    assert_no_serious_axe(page)
    stranger.close()

    # and offline, with the platform's CLI in a separate process
    vc = json.loads(saved.read_text(encoding="utf-8"))
    assert vc["credentialSubject"]["model"] == "NTN-SIM-1"
    env = {**os.environ, "MINGYUE_DATA_DIR": str(settings.data_dir)}
    env.pop("MINGYUE_DATABASE_URL", None)
    res = subprocess.run(
        [str(Path(sys.executable).with_name("mingyue")), "satcert", "verify", str(saved), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads(res.stdout)["valid"] is True
