"""Console pages of policy-service: every page as each role, zh-CN first, one-time form keys."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest

from mingyue.enablers.policy.models_service import PolicyCampaign, PolicyRequest
from mingyue.enablers.policy.service import corpus, indicators
from mingyue.sdk import SYSTEM, unit_of_work
from tests.enablers.policy.policy_service_support import DATA, ai_sme, save_profile

HTML = {"accept": "text/html"}


class _Visible(HTMLParser):
    """The text a person sees: no scripts, styles or collapsed technical details."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if (
            tag in ("script", "style")
            or (tag == "details" and ("class", "tech") in attrs)
            or (tag == "details" and self._skip)
        ):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "details") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def visible(html: str) -> str:
    """Return the visible text of a page."""
    p = _Visible()
    p.feed(html)
    return "\n".join(p.parts)


_KEYLIKE = re.compile(r"\b[a-z][a-z0-9]*(?:[._][a-z0-9]+)+\b")
_ENUMS = re.compile(
    r"\b(eligible|likely|missing|met|unmet|unknown|to_confirm|proposed|granted|rejected|sent|"
    r"suppressed|review|dispatched|answered|accepted|partial|queued|running|done|consult|help|"
    r"complaint|suggestion|econ|sci|hr|market|plan|tax|eco|build|finance|commerce|hnte|tsme|"
    r"srdi|neeq|large|medium|small|micro)\b"
)


def assert_readable(html: str, *, zh: bool = True) -> None:
    """Fail on raw JSON, message keys and (zh-CN) English enum words in the visible text."""
    text = visible(html)
    assert '{"' not in text and "{'" not in text, text
    cleaned = re.sub(r"user:\S+|[\w-]+@\d+#\S+|\S+\.(?:csv|xlsx)\b|SHA-256", "", text)
    cleaned = re.sub(r"\buser\d+\b|\b[a-z]+-\d+\b", "", cleaned)  # test users and orgs
    bad = _KEYLIKE.findall(cleaned)
    assert not bad, bad
    if zh:
        words = _ENUMS.findall(cleaned)
        assert not words, words


def login(client: Any, username: str) -> str:
    """Log in through the form; return the session's CSRF token."""
    client.cookies.clear()
    r = client.post(
        "/login",
        data={"username": username, "password": "password123", "next": "/policy"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get("/policy/requests", headers=HTML)
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert m, page.text[:500]
    return m.group(1)


def form_key(html: str, form_id: str | None = None) -> str:
    """Return the one-time key of a form on the page (the first, or the one of ``form_id``)."""
    if form_id:
        html = html[html.index(f'id="{form_id}"') :]
    m = re.search(r'name="form_key" value="([^"]+)"', html)
    assert m, "no one-time key"
    return m.group(1)


def post(client: Any, url: str, data: dict[str, Any], **kw: Any) -> Any:
    return client.post(url, data=data, follow_redirects=False, headers=HTML, **kw)


@pytest.fixture
def seeded(settings: Any, tenants: Any, actor_of: Any) -> dict[str, Any]:
    """The seed corpus, a's profile, the demo statistics."""
    admin = actor_of(tenants.operator.admin)
    with unit_of_work(admin, settings) as uow:
        corpus.seed_corpus(uow=uow, actor=admin)
    save_profile(settings, actor_of(tenants.a.admin), ai_sme())
    desk = actor_of(tenants.operator.member)
    with unit_of_work(desk, settings) as uow:
        indicators.upload_statistics(
            uow=uow,
            actor=desk,
            upload=(DATA / "demo_statistics.csv").read_bytes(),
            filename="s.csv",
        )
    return {"desk": desk}


def test_an_enterprise_asks_and_sees_its_measures(client: Any, tenants: Any, seeded: Any) -> None:
    login(client, tenants.a.member.username)
    r = client.get("/policy", params={"q": "明月湖的中小企业能免费使用算力吗？"}, headers=HTML)
    assert r.status_code == 200, r.text[:300]
    assert 'data-covered="true"' in r.text and "<mark>" in r.text
    assert "/policy/clauses/liangjiang-mingyue-measures-2023@1#" in r.text.replace("%23", "#")
    assert 'id="mine-free-compute-pool"' in r.text and "免申即享" in r.text
    assert_readable(r.text)
    trap = client.get("/policy", params={"q": "明月湖的停车场晚上几点关门？"}, headers=HTML)
    assert 'data-covered="false"' in trap.text and "现有政策文件未涉及该问题" in trap.text
    short = client.get("/policy", params={"q": "x"}, headers=HTML)
    assert short.status_code == 422 and "请输入问题" in short.text


def test_every_page_reads_well_for_every_role(
    client: Any, tenants: Any, seeded: Any, settings: Any
) -> None:
    pages = [
        "/policy",
        "/policy/measures",
        "/policy/measures/free-compute-pool",
        "/policy/measures/commercial-gap-subsidy",
        "/policy/pushes",
        "/policy/requests",
        "/policy/indicators",
        "/policy/indicators?indicator=srdi_smes&district=沙坪坝区",
        "/policy/indicators/uploads/1",
    ]
    for user in (tenants.a.admin, tenants.operator.member, tenants.regulator.member):
        login(client, user.username)
        for url in pages:
            if url.endswith("uploads/1") and user is not tenants.operator.member:
                continue
            r = client.get(url, headers=HTML)
            assert r.status_code == 200, (user.username, url, r.text[:300])
            assert_readable(r.text)
        en = client.get("/policy/measures?lang=en", headers=HTML)
        assert en.status_code == 200 and "Measures" in en.text
        assert_readable(en.text, zh=False)
        client.cookies.set("mingyue_locale", "zh_CN")
    login(client, tenants.a.admin.username)
    assert client.get("/policy/profile", headers=HTML).status_code == 200
    clause = client.get(
        "/policy/clauses/liangjiang-mingyue-measures-2023@1%23三.（十二）", headers=HTML
    )
    assert clause.status_code == 200 and "500PFLOPS" in clause.text
    assert "人工智能公共算力免费资源池" in clause.text  # the measure it grants


def test_a_reload_starts_a_campaign_once(
    client: Any, tenants: Any, seeded: Any, settings: Any
) -> None:
    csrf = login(client, tenants.operator.member.username)
    page = client.get("/policy/measures", headers=HTML)
    key = form_key(page.text, "campaign-free-compute-pool")
    body = {"csrf_token": csrf, "form_key": key, "measure_key": "free-compute-pool"}
    first = post(client, "/policy/campaigns", body)
    assert first.status_code == 303 and first.headers["location"].startswith("/policy/campaigns/")
    again = post(client, "/policy/campaigns", body)
    assert again.headers["location"] == first.headers["location"]
    with unit_of_work(SYSTEM, settings) as uow:
        assert uow.session.query(PolicyCampaign).count() == 1
    live = client.get(first.headers["location"], headers=HTML)
    assert live.status_code == 200 and "/jobs/" in live.text  # live status while queued
    assert_readable(live.text)
    no_csrf = post(client, "/policy/campaigns", {**body, "csrf_token": "x"})
    assert no_csrf.status_code == 403


def test_an_official_dispatches_a_waiting_request(
    client: Any, tenants: Any, seeded: Any, settings: Any
) -> None:
    csrf = login(client, tenants.a.member.username)
    page = client.get("/policy/requests", headers=HTML)
    body = {
        "csrf_token": csrf,
        "form_key": form_key(page.text, "request-form"),
        "text": "有个问题想反映一下，希望尽快处理。",
    }
    r = post(client, "/policy/requests", body)
    assert r.status_code == 303
    assert post(client, "/policy/requests", body).headers["location"] == r.headers["location"]
    with unit_of_work(SYSTEM, settings) as uow:
        (req,) = uow.session.query(PolicyRequest).all()
    assert req.status == "review"
    mine = client.get(r.headers["location"], headers=HTML)
    assert "待人工分拨" in mine.text and 'id="dispatch-form"' not in mine.text
    empty = post(client, "/policy/requests", {**body, "form_key": form_key(page.text), "text": " "})
    assert empty.status_code == 422 and "请描述您的诉求" in empty.text

    csrf = login(client, tenants.operator.member.username)
    desk = client.get("/policy/requests", headers=HTML)
    assert f'id="waiting-{req.id}"' in desk.text
    detail = client.get(f"/policy/requests/{req.id}", headers=HTML)
    assert 'id="dispatch-form"' in detail.text
    done = post(
        client,
        f"/policy/requests/{req.id}/dispatch",
        {
            "csrf_token": csrf,
            "form_key": form_key(detail.text, "dispatch-form"),
            "department": "build",
            "kind": "complaint",
        },
    )
    assert done.status_code == 303
    after = client.get(done.headers["location"], headers=HTML)
    assert "建设管理局" in after.text and 'id="case-link"' in after.text
    assert_readable(after.text)


def test_profile_form_keeps_input_on_error(client: Any, tenants: Any, seeded: Any) -> None:
    csrf = login(client, tenants.a.admin.username)
    bad = post(
        client,
        "/policy/profile",
        {"csrf_token": csrf, "industry_code": "I13", "revenue": "三千", "park": "明月湖"},
    )
    assert bad.status_code == 422 and 'value="明月湖"' in bad.text and 'id="form-error"' in bad.text
    ok = post(
        client,
        "/policy/profile",
        {
            "csrf_token": csrf,
            "industry_code": "6513",
            "park": "明月湖",
            "district": "两江新区",
            "headcount": "45",
            "revenue": "3,000",
            "qualifications": ["hnte", "tsme"],
            "listing": "neeq",
        },
    )
    assert ok.status_code == 303
    page = client.get("/policy/profile?saved=1", headers=HTML)
    assert 'value="I6513"' in page.text and "小型" in page.text
    assert_readable(page.text)


def test_uploads_and_opt_out_through_the_console(client: Any, tenants: Any, seeded: Any) -> None:
    csrf = login(client, tenants.operator.member.username)
    dash = client.get("/policy/indicators", headers=HTML)
    r = client.post(
        "/policy/indicators/uploads",
        data={"csrf_token": csrf, "form_key": form_key(dash.text, "upload-form")},
        files={"file": ("s.csv", "指标,地区,期间,数值\n地区生产总值,两江新区,2025,x\n".encode())},
        follow_redirects=False,
        headers=HTML,
    )
    assert r.status_code == 303
    res = client.get(r.headers["location"], headers=HTML)
    assert 'data-line="2"' in res.text and "数值或单位无法识别" in res.text
    assert_readable(res.text)
    csrf = login(client, tenants.a.admin.username)
    off = post(client, "/policy/profile/opt-out", {"csrf_token": csrf, "opt_out": "1"})
    assert off.status_code == 303
    assert "已关闭政策推送" in client.get("/policy/pushes", headers=HTML).text
