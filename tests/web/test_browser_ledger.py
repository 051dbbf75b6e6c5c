"""Browser test (zh-CN): the regulator verifies the ledger and walks it, newest first.

Two enterprises' entries from a month ago and today's are written to the ledger. The regulator
logs in, verifies the chain from the console, pages from the newest entries (today's on the
first page) down to the oldest and back up, filters by organization and by event through the
form (the filter stays on while paging), and reads translated event names and a labelled time
zone with the UTC time in the tooltip. axe-core runs on every page visited.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mingyue.core import clock
from mingyue.core.config import Settings
from mingyue.core.tenancy.access import Actor
from mingyue.core.uow import unit_of_work
from mingyue.i18n import event_label, zone_label
from mingyue.testing import Tenants
from tests.web.browser_support import (  # fixtures: live_server, browser
    assert_no_serious_axe,
    browser,
    live_server,
    login,
)

pytestmark = pytest.mark.browser
__all__ = ["browser", "live_server"]

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def _write(
    settings: Settings, n: int, *, org_id: int, actor: str, event: str, at: datetime
) -> None:
    who = Actor(
        user_id=1,
        username=actor,
        organization_id=org_id,
        org_kind="enterprise",
        roles=frozenset({"member"}),
    )
    with clock.frozen(at), unit_of_work(who, settings) as uow:
        for i in range(n):
            uow.audit(event, f"core_case:{i + 1}", {"i": i}, organization_id=org_id)


def _seqs(page: Any) -> list[int]:
    return [
        int(s)
        for s in page.eval_on_selector_all(
            "#audit-table tbody tr[data-seq]", "rs => rs.map(r => r.dataset.seq)"
        )
    ]


def _column(page: Any, n: int) -> list[str]:
    cells: list[str] = page.eval_on_selector_all(
        f"#audit-table tbody tr[data-seq] td:nth-child({n})", "cs => cs.map(c => c.innerText)"
    )
    return [c.strip() for c in cells]


def test_regulator_verifies_and_walks_the_ledger(
    live_server: str, browser: Any, tenants: Tenants, settings: Settings
) -> None:
    base = live_server
    now = datetime.now(UTC).replace(microsecond=0)
    month_ago = now - timedelta(days=30)
    a, b = tenants.a.org, tenants.b.org
    _write(settings, 70, org_id=a.id, actor="alice", event="core.case.commented", at=month_ago)
    _write(settings, 30, org_id=b.id, actor="bob", event="core.case.opened", at=month_ago)
    _write(settings, 4, org_id=a.id, actor="carol", event="core.login.failed", at=now)
    tz = clock.zone(settings.timezone)
    today = now.astimezone(tz).strftime("%Y-%m-%d")
    zone = zone_label(str(settings.timezone), "zh_CN")

    ctx = browser.new_context(locale="zh-CN")
    page = ctx.new_page()
    login(page, base, tenants.regulator.member.username)
    page.click("nav >> text=存证审计")
    page.wait_for_url(f"{base}/audit")
    assert_no_serious_axe(page)

    # verify the chain from the console
    page.click("#verify-btn")
    page.wait_for_selector("#verify-result .ok")
    assert "存证链校验通过" in page.inner_text("#verify-result")

    # newest first: today's entries lead the first page, with translated events and local time
    assert zone in page.inner_text("#audit-zone")
    assert zone in page.inner_text("#audit-table thead")
    first = _seqs(page)
    assert len(first) == 50 and first == sorted(first, reverse=True)
    events = _column(page, 5)
    assert "登录失败" in events
    assert not any(e.startswith(("core.", "event.")) for e in events), events
    assert page.locator("#pager-top .pager-newer").count() == 0
    stamp = page.locator("#audit-table tbody time").first
    assert stamp.inner_text().startswith(today)
    assert ISO_UTC.match(stamp.get_attribute("title") or "")

    # page down to the oldest entry, then back up to the newest
    seen = list(first)
    pages = [first]
    while page.locator("#pager-bottom .pager-older").count():
        page.click("#pager-bottom .pager-older")
        page.wait_for_load_state()
        got = _seqs(page)
        assert got and got[0] < seen[-1], (got[:3], seen[-3:])
        seen.extend(got)
        pages.append(got)
        assert_no_serious_axe(page)
    assert seen[-1] == 1 and seen == sorted(seen, reverse=True) and len(seen) == len(set(seen))
    assert _column(page, 2)[0].startswith(month_ago.astimezone(tz).strftime("%Y-%m-%d"))
    back = 1
    while page.locator("#pager-top .pager-newer").count():
        page.click("#pager-top .pager-newer")
        page.wait_for_load_state()
        back += 1
        got = _seqs(page)
        assert got == sorted(got, reverse=True)
        assert set(got) <= set(seen)
    assert back <= len(pages) + 1
    assert _seqs(page)[0] == first[0]

    # filter by organization through the form: only its entries, and the filter survives paging
    page.goto(f"{base}/audit")
    page.select_option("#f-organization", label=b.name)
    page.click("#filter-btn")
    page.wait_for_url(re.compile(rf".*organization={b.id}.*"))
    orgs = _column(page, 3)
    assert orgs and set(orgs) == {b.name}, set(orgs)
    assert "bob" in _column(page, 4) and "alice" not in _column(page, 4)
    assert page.locator("#f-organization option:checked").inner_text() == b.name
    assert_no_serious_axe(page)

    # filter by event (its Chinese name in the list) within organization A, and page within it
    label = event_label("core.case.commented", "zh_CN")
    assert label != "core.case.commented"
    page.select_option("#f-organization", label=a.name)
    page.select_option("#f-event", label=label)
    page.click("#filter-btn")
    page.wait_for_url(re.compile(r".*event=core\.case\.commented.*"))
    assert set(_column(page, 5)) == {label}
    assert set(_column(page, 3)) == {a.name}
    got = _seqs(page)
    page.click("#pager-bottom .pager-older")
    page.wait_for_url(re.compile(r".*before=.*"))
    assert "event=core.case.commented" in page.url and f"organization={a.id}" in page.url
    more = _seqs(page)
    assert len(got) + len(more) == 70 and more[0] < got[-1]
    assert set(_column(page, 5)) == {label}
    assert_no_serious_axe(page)
    ctx.close()
