"""The ledger page: newest first, cursor paging past 200 entries, filters, labels, time zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mingyue.core import clock
from mingyue.core.config import Settings
from mingyue.core.ledger.audit import AuditEntry
from mingyue.core.registries import events
from mingyue.core.tenancy.access import Actor
from mingyue.core.uow import unit_of_work
from mingyue.i18n import event_label, missing_event_labels
from mingyue.testing import Tenants

DOTTED_KEY = re.compile(r"\b(core|appcheck|compute|crossborder|datasandbox)\.[a-z_]+\.[a-z_.]+")


class _Visible(HTMLParser):
    """Collect the text a person sees (no attributes, no scripts)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible(html: str) -> str:
    p = _Visible()
    p.feed(html)
    return " ".join(p.parts)


def _login(client: Any, username: str) -> str:
    client.cookies.clear()
    r = client.post(
        "/login", data={"username": username, "password": "password123"}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    page = client.get("/")
    return str(page.text.split('name="csrf-token" content="')[1].split('"')[0])


def _write(
    settings: Settings, n: int, *, org_id: int | None, actor: str, event: str, at: datetime
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


def _seqs(html: str) -> list[int]:
    return [int(s) for s in re.findall(r'<tr data-seq="(\d+)"', html)]


def _href(html: str, cls: str) -> str | None:
    m = re.search(rf'<a href="([^"]+)" class="{cls}"', html)
    return m.group(1).replace("&amp;", "&") if m else None


@pytest.fixture
def seeded(settings: Settings, tenants: Tenants) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    month_ago = now - timedelta(days=30)
    a, b = tenants.a.org.id, tenants.b.org.id
    _write(settings, 230, org_id=a, actor="alice", event="core.case.commented", at=month_ago)
    _write(settings, 20, org_id=b, actor="bob", event="core.case.opened", at=month_ago)
    _write(settings, 5, org_id=a, actor="carol", event="core.login.failed", at=now)
    return {"now": now, "month_ago": month_ago, "a": a, "b": b}


def test_newest_first_and_paging_reaches_everything(
    client: Any, tenants: Tenants, seeded: dict[str, Any], settings: Settings
) -> None:
    from mingyue.core.db import system_session

    _login(client, tenants.regulator.member.username)  # the login is itself an entry
    with system_session(settings, "test") as s:
        total = s.query(AuditEntry).count()
        newest = max(e.seq for e in s.query(AuditEntry))
    assert total > 255
    page = client.get("/audit")
    assert page.status_code == 200
    seqs = _seqs(page.text)
    assert seqs[0] == newest and seqs == sorted(seqs, reverse=True) and len(seqs) == 50
    text = visible(page.text)
    assert "登录失败" in text  # today's entries are on the first page
    assert _href(page.text, "pager-newer") is None
    seen = list(seqs)
    older = _href(page.text, "pager-older")
    while older:
        assert urlsplit(older).path == "/audit"
        page = client.get(older)
        assert page.status_code == 200
        got = _seqs(page.text)
        assert got and got[0] < seen[-1]
        seen.extend(got)
        older = _href(page.text, "pager-older")
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == total
    assert seen[-1] == 1
    # From the oldest page, "newer" walks back up without gaps and "newest" returns to the top.
    newer = _href(page.text, "pager-newer")
    assert newer and "after=" in newer
    up = _seqs(client.get(newer).text)
    assert up[-1] == _seqs(page.text)[0] + 1
    assert _href(page.text, "pager-newest") == "/audit?"
    # The page size can be raised to 200 but no further.
    assert len(_seqs(client.get("/audit?limit=200").text)) == 200
    r = client.get("/audit?limit=1000")
    assert r.status_code == 422 and "每页条数应为 1 至 200" in r.text


def test_filters_and_their_errors(
    client: Any, tenants: Tenants, seeded: dict[str, Any], settings: Settings
) -> None:
    _login(client, tenants.regulator.member.username)
    a, b = seeded["a"], seeded["b"]
    page = client.get(f"/audit?organization={b}&limit=200")
    assert page.status_code == 200 and len(_seqs(page.text)) >= 20  # + its users' tokens
    assert "bob" in visible(page.text) and "alice" not in visible(page.text)
    page = client.get(f"/audit?organization={b}&event=core.case.opened&limit=200")
    assert len(_seqs(page.text)) == 20
    page = client.get("/audit?actor=CAR")  # part of the name, any case
    assert len(_seqs(page.text)) == 5
    page = client.get("/audit?event=core.case.opened&limit=200")
    assert len(_seqs(page.text)) == 20
    assert 'value="core.case.opened" selected' in page.text
    tz = clock.zone(settings.timezone)
    day = seeded["month_ago"].astimezone(tz).date().isoformat()
    page = client.get(f"/audit?organization={a}&date_from={day}&date_to={day}&limit=200")
    assert len(_seqs(page.text)) == 200 and _href(page.text, "pager-older")
    older = _href(page.text, "pager-older")
    assert older and f"organization={a}" in older and f"date_from={day}" in older
    assert len(_seqs(client.get(older).text)) == 30
    today = seeded["now"].astimezone(tz).date().isoformat()
    page = client.get(f"/audit?date_from={today}&event=core.login.failed")
    assert len(_seqs(page.text)) == 5
    bad = {
        "organization=abc": "没有这个组织",
        "organization=999999": "没有这个组织",
        "event=core.nope.never": "未知的事件类型：core.nope.never",
        "event=DROP%20TABLE": "未知的事件类型",
        "date_from=2026-13-01": "日期应为 YYYY-MM-DD 格式",
        "date_to=yesterday": "日期应为 YYYY-MM-DD 格式",
        "date_from=0001-01-01": "日期应为 YYYY-MM-DD 格式",
        "date_to=9999-12-31": "日期应为 YYYY-MM-DD 格式",
        "date_from=2026-05-02&date_to=2026-05-01": "起始日期晚于截止日期",
        "before=-1": "翻页参数无效",
        "before=1&after=2": "翻页参数无效",
        f"after={2**70}": "翻页参数无效",
        "actor=" + "x" * 121: "操作者名称过长",
    }
    for query, message in bad.items():
        r = client.get(f"/audit?{query}")
        assert r.status_code == 422, query
        assert message in visible(r.text), (query, visible(r.text)[:400])
        assert 'id="audit-filters"' in r.text  # the form stays to correct it
    r = client.get("/audit?date_to=yesterday&lang=en")
    assert "A date must read YYYY-MM-DD" in r.text


def test_an_org_admin_sees_only_its_own_organization(
    client: Any, tenants: Tenants, seeded: dict[str, Any]
) -> None:
    _login(client, tenants.a.admin.username)
    page = client.get("/audit?limit=200")
    assert page.status_code == 200
    assert "bob" not in visible(page.text)
    r = client.get(f"/audit?organization={seeded['b']}")
    assert r.status_code == 422 and "无权查看" in r.text and "bob" not in visible(r.text)
    assert 'id="verify-btn"' not in page.text  # an org admin reads, the regulator verifies
    _login(client, tenants.a.member.username)
    assert client.get("/audit").status_code == 403


def test_labels_zone_and_verify(client: Any, tenants: Tenants, seeded: dict[str, Any]) -> None:
    csrf = _login(client, tenants.regulator.member.username)
    page = client.get("/audit")
    text = visible(page.text)
    assert "登录失败" in text and "UTC+8 北京时间" in text
    assert not DOTTED_KEY.search(text), DOTTED_KEY.search(text)
    assert 'title="core.login.failed"' in page.text  # the key stays reachable as a tooltip
    m = re.search(r'<time datetime="([^"]+)" title="([^"]+)">([^<]+)</time>', page.text)
    assert m and m.group(1) == m.group(2) and m.group(1).endswith("Z")
    utc = datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
    local = (utc + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")
    assert m.group(3) == local
    en = client.get("/audit?lang=en")
    text_en = visible(en.text)
    assert "Login failed" in text_en and "UTC+8 Beijing time" in text_en
    assert not DOTTED_KEY.search(text_en)
    r = client.post("/audit/verify", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and 'class="ok"' in r.text


def test_every_event_has_a_label_in_both_languages() -> None:
    for name, description in events().items():
        assert event_label(name, "en")
        if name.startswith("core."):
            assert event_label(name, "zh_CN") != name
            assert re.search(r"[\u4e00-\u9fff]", event_label(name, "zh_CN")), name
        else:  # an enabler's event without a zh label reads as its declared description
            assert event_label(name, "zh_CN") in (description, event_label(name, "zh_CN"))
    assert not [n for n in missing_event_labels("zh_CN") if n.startswith("core.")]
    assert event_label("gone.enabler.event") == "gone.enabler.event"


def test_api_pages_newest_first_with_before_id(
    client: Any, tenants: Tenants, seeded: dict[str, Any]
) -> None:
    h = tenants.regulator.headers()
    first = client.get("/api/audit?limit=10", headers=h)
    assert first.status_code == 200
    assert set(first.json()[0]) >= {"seq", "time", "actor", "action", "subject", "entry_hash"}
    assert [e["seq"] for e in first.json()] == list(range(1, 11))  # the old default stays
    seen: list[int] = []
    url: str | None = f"/api/audit?before_id={2**63 - 1}&limit=100"
    while url:
        r = client.get(url, headers=h)
        assert r.status_code == 200
        seen.extend(e["seq"] for e in r.json())
        link = r.headers.get("link")
        url = re.match(r"<([^>]+)>", link).group(1) if link else None  # type: ignore[union-attr]
    assert seen == sorted(seen, reverse=True) and seen[-1] == 1 and len(seen) == len(set(seen))
    r = client.get("/api/audit?event=core.case.opened&before_id=9999999&limit=500", headers=h)
    assert len(r.json()) == 20
    r = client.get(f"/api/audit?organization_id={seeded['b']}", headers=tenants.a.headers(True))
    assert r.status_code == 422 and r.json()["key"] == "core.audit.bad_org"
    r = client.get("/api/audit?after=3&before_id=9", headers=h)
    assert r.status_code == 422 and r.json()["key"] == "core.audit.bad_cursor"
    for bad in ("not-a-date", "0001-01-01"):
        r = client.get(f"/api/audit?date_from={bad}", headers=h)
        assert r.status_code == 422, bad
    nxt = client.get("/api/audit?limit=10", headers=h).headers["link"]
    q = parse_qs(urlsplit(nxt[1 : nxt.index(">")]).query)
    assert q["after"] == ["10"] and q["limit"] == ["10"]
