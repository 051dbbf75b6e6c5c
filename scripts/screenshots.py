#!/usr/bin/env python3
"""Regenerate the README screenshots (zh-CN) from a fresh demo: overview, App report, supervision
desk, satellite-terminal bench run.

Usage: .venv/bin/python scripts/screenshots.py [--out docs/img] [--keep]

Seeds ``mingyue demo`` into a temporary data dir (the App report needs the demo APKs in
``../shared/data/apks`` or ``$MINGYUE_APPCHECK_DEMO_APKS``), serves it with ``mingyue serve`` on a
free local port, logs in as the demo user who does each job in real life and writes, with
Debian's headless Chromium through Playwright (``scripts/core-setup.sh`` installs both):

- ``overview.png``         the platform operator's overview (op_admin)
- ``appcheck-report.png``  the first demo App report, as its enterprise (ent2_admin)
- ``supervision.png``      the regulator's supervision desk (reg_admin)
- ``satcert.png``          the demo bench run, as the test lab (op_member)
- ``policy.png``           the policy Q&A with the enterprise's measures, as ent1 (ent1_admin)
- ``citygov.png``          the city at a glance (一屏通览), as the command centre's seat (op_member)

``--keep`` leaves the data dir for a look; the server is always stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MINGYUE = ROOT / ".venv" / "bin" / "mingyue"
VIEWPORT = {"width": 1280, "height": 900}


def _say(msg: str) -> None:
    sys.stderr.write(f"screenshots: {msg}\n")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(
                f"screenshots: mingyue serve exited with {proc.returncode} (see serve.log, --keep)"
            )
        try:
            with urllib.request.urlopen(f"{base}/login", timeout=2) as r:  # noqa: S310 (loopback)
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"screenshots: {base} did not answer within {timeout:.0f} s")


def _login(browser: Any, base: str, username: str, password: str) -> Any:
    ctx = browser.new_context(viewport=VIEWPORT, locale="zh-CN", device_scale_factor=1)
    ctx.add_cookies([{"name": "mingyue_locale", "value": "zh_CN", "url": base}])
    page = ctx.new_page()
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(f"{base}/")
    return page


def _first_link(page: Any, pattern: str) -> str:
    hrefs: list[str] = page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)")
    for h in hrefs:
        if re.search(pattern, h):
            return h
    raise SystemExit(f"screenshots: no link matching {pattern} on {page.url}")


def _oldest_link(page: Any, pattern: str) -> str:
    hrefs: list[str] = page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)")
    found = {int(m.group(1)): h for h in hrefs if (m := re.search(pattern, h))}
    if not found:
        raise SystemExit(f"screenshots: no link matching {pattern} on {page.url}")
    return found[min(found)]


def _shoot(page: Any, out: Path, *, full_page: bool = False, height: int | None = None) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(900)  # the charts' entry animation
    if height:
        page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
    page.screenshot(path=str(out), full_page=full_page)
    _say(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


def take(base: str, passwords: dict[str, str], out: Path) -> None:
    """Log in as each role and write the four screenshots into ``out``."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("screenshots: Debian's chromium is missing (scripts/core-setup.sh)")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        page = _login(browser, base, "op_admin", passwords["op_admin"])
        _shoot(page, out / "overview.png")
        page.context.close()

        page = _login(browser, base, "ent2_admin", passwords["ent2_admin"])
        page.goto(f"{base}/appcheck")
        page.goto(_oldest_link(page, r"/appcheck/scans/(\d+)$"))  # the signed demo report
        page.wait_for_selector("#report-summary, h2", timeout=30_000)
        _shoot(page, out / "appcheck-report.png", height=1400)
        page.context.close()

        page = _login(browser, base, "reg_admin", passwords["reg_admin"])
        page.goto(f"{base}/supervision")
        _shoot(page, out / "supervision.png", full_page=True)
        page.context.close()

        page = _login(browser, base, "op_member", passwords["op_member"])
        page.goto(f"{base}/satcert")
        page.goto(_first_link(page, r"/satcert/samples/\d+$"))
        run = _first_link(page, r"/satcert/runs/\d+$")
        page.goto(run)
        _shoot(page, out / "satcert.png", height=1500)
        page.context.close()

        page = _login(browser, base, "ent1_admin", passwords["ent1_admin"])
        page.goto(f"{base}/policy?q=" + urllib.parse.quote("明月湖的中小企业能免费使用算力吗？"))
        page.wait_for_selector("#answer", timeout=60_000)
        _shoot(page, out / "policy.png", full_page=True)
        page.context.close()

        page = _login(browser, base, "op_member", passwords["op_member"])
        page.goto(f"{base}/citygov/overview")
        page.wait_for_function("() => document.querySelector('#chart-map canvas') !== null")
        _shoot(page, out / "citygov.png", full_page=True)
        page.context.close()
        browser.close()


def main() -> int:
    """Seed the demo, serve it, take the screenshots, stop the server."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    ap.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="mingyue-screens-"))
    env = {**os.environ, "MINGYUE_DATA_DIR": str(data_dir), "MINGYUE_ENV": "dev"}
    for var in ("MINGYUE_DATABASE_URL", "MINGYUE_REDIS_URL"):
        env.pop(var, None)  # a fresh embedded database, whatever the shell points at
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server: subprocess.Popen[bytes] | None = None
    log = (data_dir / "serve.log").open("wb")
    try:
        _say(f"seeding the demo into {data_dir} (about a minute)")
        seeded = subprocess.run(
            [str(MINGYUE), "demo", "--json", "--port", str(port)],
            env=env,
            capture_output=True,
            check=True,
        )
        users = json.loads(seeded.stdout)["users"]
        passwords = {u["username"]: u["password"] for u in users}
        server = subprocess.Popen(
            [str(MINGYUE), "serve", "--port", str(port)], env=env, stdout=log, stderr=log
        )
        _wait_ready(base, server)
        take(base, passwords, args.out)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
        log.close()
        if args.keep:
            _say(f"data dir kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
