"""Console pages of supervision: every page as each role, PRG, one-time keys, no raw keys or JSON.

Findings are raised as the platform does (``raise_`` of conftest); the datasandbox probing rule's
own verifier re-checks from the sandbox's records at once, so a whole flow runs in one test.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PROBING = "datasandbox.probing"
HTML = {"accept": "text/html"}


class _Visible(HTMLParser):
    """Collect the text a person sees: no scripts, styles, collapsed technical details."""

    SKIP = frozenset({"script", "style", "template"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0
        self._tech = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skip += 1
        if (tag == "details" and ("class", "tech") in attrs) or (tag == "details" and self._tech):
            self._tech += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self._skip:
            self._skip -= 1
        if tag == "details" and self._tech:
            self._tech -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and not self._tech and data.strip():
            self.parts.append(data.strip())


def visible(html: str) -> str:
    """Return the visible text of a page."""
    p = _Visible()
    p.feed(html)
    return "\n".join(p.parts)


# A dotted key (supervision.console.x) or snake_case word; e-mail-free, file-name-free pages.
_KEYLIKE = re.compile(r"\b[a-z][a-z0-9]*(?:[._][a-z0-9]+)+\b")
_ENUMS = re.compile(
    r"\b(open|rectifying|fixed|closed|dismissed|ordered|overdue|submitted|reverifying|verified|"
    r"returned|decided|withdrawn|pending|still_present|no_penalty|penalty_procedure|"
    r"discretionary|waived|low|medium|high|critical|none|minor|serious|in_time|late|not_yet|"
    r"pass|risk|guideline|exemption_list|true|false)\b"
)
ALLOWED = {"user:"}  # actor labels are shown as written in the ledger


def assert_readable(html: str, *, zh: bool = True) -> None:
    """Fail on raw JSON, untranslated keys and (zh-CN) English enum values in visible text."""
    text = visible(html)
    assert '{"' not in text and "{'" not in text, text
    # subjects, file names, hashes and user labels are data, shown in <code> or as written
    cleaned = re.sub(r"user:\S+|\S+\.(?:pdf|apk|json|txt)\b|sha256|SHA-256", "", text)
    cleaned = re.sub(r"\b[a-z]+\d*_(?:admin|member)\b", "", cleaned)  # demo user names
    bad = [m for m in _KEYLIKE.findall(cleaned) if m not in SUBJECTS]
    assert not bad, bad
    if zh:
        words = [m for m in _ENUMS.findall(cleaned)]
        assert not words, words


SUBJECTS: set[str] = set()


def login(client: Any, username: str) -> str:
    """Log in through the console form; return the session's CSRF token."""
    client.cookies.clear()
    r = client.post(
        "/login",
        data={"username": username, "password": "password123", "next": "/supervision"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get("/supervision/documents")
    assert page.status_code == 200, page.text
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert m
    return m.group(1)


def idem_of(html: str) -> str:
    m = re.search(r'name="idem" value="([0-9a-f]{32})"', html)
    assert m, "no one-time key on the page"
    return m.group(1)


@pytest.fixture
def probing(raise_: Any, tenants: Any) -> Any:
    """A datasandbox probing finding of enterprise A (its verifier checks the sandbox records)."""
    SUBJECTS.add("small_group")
    return raise_(tenants.a.org.id, rule=PROBING, subject="small_group")


def post(client: Any, url: str, data: dict[str, Any], **kw: Any) -> Any:
    """Post a console form without following the redirect."""
    return client.post(url, data=data, follow_redirects=False, headers=HTML, **kw)


def test_desk_and_pages_readable_for_every_role(
    client: Any, tenants: Any, probing: Any, raise_: Any
) -> None:
    listed = raise_(tenants.a.org.id)  # appcheck.over_collection
    SUBJECTS.add("com.example.shop")
    pages = [
        "/supervision",
        "/supervision/mine",
        f"/supervision/findings/{probing.id}",
        f"/supervision/findings/{listed.id}",
        "/supervision/documents",
        "/supervision/documents/district-digital-economy",
        "/supervision/documents/app_personal_information",
        "/supervision/selfcheck/app_personal_information",
        f"/supervision/organizations/{tenants.a.org.id}",
    ]
    for user in (tenants.regulator.admin, tenants.a.admin, tenants.operator.admin):
        login(client, user.username)
        for url in pages:
            if url.startswith("/supervision/organizations") and user is tenants.a.admin:
                continue
            r = client.get(url, headers=HTML)
            assert r.status_code == 200, (user.username, url, r.text[:300])
            assert_readable(r.text)
            en = client.get(url + ("&" if "?" in url else "?") + "lang=en", headers=HTML)
            assert en.status_code == 200
            assert_readable(en.text, zh=False)
            client.get("/supervision/documents?lang=zh_CN", headers=HTML)  # back to Chinese
    # the regulator's desk: counts by enabler/rule/severity, translated
    login(client, tenants.regulator.admin.username)
    desk = visible(client.get("/supervision", headers=HTML).text)
    assert "数据沙箱" in desk and "App合规检测" in desk
    assert "反复触发同一沙箱规则拒绝，疑似试探数据" in desk
    filtered = client.get("/supervision?enabler=datasandbox", headers=HTML).text
    assert f'id="finding-{probing.id}"' in filtered and f'id="finding-{listed.id}"' not in filtered
    # the exemption list reads as a table with Chinese citations
    doc = visible(client.get("/supervision/documents/district-digital-economy", headers=HTML).text)
    assert "个人信息保护法第六条第二款" in doc and "Art." not in doc
    # the enterprise is sent to its own page from the desk
    login(client, tenants.a.member.username)
    r = client.get("/supervision", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/supervision/mine"


def test_foreign_enterprise_gets_404(client: Any, tenants: Any, probing: Any) -> None:
    login(client, tenants.regulator.admin.username)
    page = client.get(f"/supervision/findings/{probing.id}", headers=HTML).text
    csrf = login(client, tenants.regulator.admin.username)
    r = post(
        client,
        f"/supervision/findings/{probing.id}/order",
        {"csrf_token": csrf, "idem": idem_of(page), "instructions": "停止试探"},
    )
    assert r.status_code == 303
    rid = int(r.headers["location"].rsplit("/", 1)[1])
    csrf_b = login(client, tenants.b.admin.username)
    for url in (
        f"/supervision/findings/{probing.id}",
        f"/supervision/rectifications/{rid}",
        f"/supervision/rectifications/{rid}/status",
        f"/supervision/organizations/{tenants.a.org.id}",
    ):
        assert client.get(url, headers=HTML).status_code == 404, url
    r = post(
        client,
        f"/supervision/rectifications/{rid}/report",
        {"csrf_token": csrf_b, "idem": "b" * 32, "text": "别人的整改"},
    )
    assert r.status_code in (303, 404)
    if r.status_code == 303:
        assert "error=" in r.headers["location"]
    mine = visible(client.get("/supervision/mine", headers=HTML).text)
    assert "反复触发同一沙箱规则拒绝" not in mine


def test_flow_prg_and_no_duplicates(client: Any, tenants: Any, probing: Any, cli: Any) -> None:
    csrf = login(client, tenants.regulator.admin.username)
    page = client.get(f"/supervision/findings/{probing.id}", headers=HTML).text
    assert "期限 5 个工作日" in visible(page)  # the exemption list's item 6
    key = idem_of(page)
    form = {"csrf_token": csrf, "idem": key, "instructions": "停止试探性查询并提交说明"}
    r = post(client, f"/supervision/findings/{probing.id}/order", form)
    assert r.status_code == 303
    rect_url = r.headers["location"]
    assert rect_url.startswith("/supervision/rectifications/")
    # the same form again (a double click, a re-post): same place, nothing new
    again = post(client, f"/supervision/findings/{probing.id}/order", form)
    assert again.status_code == 303 and again.headers["location"] == rect_url
    # no CSRF token: refused
    assert (
        post(client, f"/supervision/findings/{probing.id}/order", {"idem": key}).status_code == 403
    )
    # no one-time key: refused
    r = post(client, f"/supervision/findings/{probing.id}/order", {"csrf_token": csrf})
    assert r.status_code == 422
    rid = int(rect_url.rsplit("/", 1)[1])
    reg_page = client.get(rect_url, headers=HTML)
    assert reg_page.status_code == 200
    assert_readable(reg_page.text)
    assert "剩余 5 个工作日" in visible(reg_page.text)

    # the enterprise reports with evidence; the sandbox's verifier re-checks at once
    csrf_a = login(client, tenants.a.admin.username)
    mine = visible(client.get("/supervision/mine", headers=HTML).text)
    assert "停止试探性查询并提交说明" in mine and "剩余 5 个工作日" in mine
    page = client.get(rect_url, headers=HTML).text
    assert_readable(page)
    empty = post(
        client,
        f"{rect_url}/report",
        {"csrf_token": csrf_a, "idem": idem_of(page), "text": "  "},
    )
    assert (
        empty.status_code == 303 and "error=supervision.report.empty" in empty.headers["location"]
    )
    shown = client.get(empty.headers["location"], headers=HTML).text
    assert "请说明整改情况" in visible(shown)
    key = idem_of(shown)
    data = {"csrf_token": csrf_a, "idem": key, "text": "已停止试探性查询，附说明"}
    files = [("files", ("说明.pdf", PDF, "application/pdf"))]
    r = client.post(
        f"{rect_url}/report", data=data, files=files, follow_redirects=False, headers=HTML
    )
    assert r.status_code == 303 and r.headers["location"] == rect_url, r.text[-600:]
    r2 = client.post(
        f"{rect_url}/report", data=data, files=files, follow_redirects=False, headers=HTML
    )
    assert r2.status_code == 303 and r2.headers["location"] == rect_url
    api = client.get(
        f"/api/supervision/rectifications/{rid}", headers=tenants.a.headers(admin=True)
    ).json()
    assert len(api["reports"]) == 1  # the re-post made nothing new
    page = client.get(rect_url, headers=HTML).text
    assert_readable(page)
    text = visible(page)
    assert "说明.pdf" in text and "已停止试探性查询，附说明" in text
    assert 'id="reverify-submit"' in page

    # the regulator asks the sandbox to check again; its verifier answers from its records
    csrf = login(client, tenants.regulator.admin.username)
    page = client.get(rect_url, headers=HTML).text
    r = post(client, f"{rect_url}/reverify", {"csrf_token": csrf, "idem": idem_of(page)})
    assert r.status_code == 303 and r.headers["location"] == rect_url
    page = client.get(rect_url, headers=HTML).text
    assert_readable(page)
    assert "复核确认已改正" in visible(page)  # the enabler's result, taken over
    status = client.get(f"{rect_url}/status", headers=HTML)
    assert status.status_code == 200 and "hx-get" not in status.text  # settled: no more polling

    # the regulator previews (GET, nothing recorded) and issues the decision
    derived = visible(page)
    assert "初次违法" in derived and "平台记录" in derived and "及时改正" in derived
    pv = client.get(f"{rect_url}?harm=none", headers=HTML).text
    assert_readable(pv)
    assert 'data-decision="no_penalty"' in pv and "行政处罚法第三十三条" in visible(pv)
    key = idem_of(pv)
    form = {"csrf_token": csrf, "idem": key, "harm": "none"}
    r = post(client, f"{rect_url}/decision", form)
    assert r.status_code == 303 and r.headers["location"].startswith("/supervision/decisions/")
    dec_url = r.headers["location"]
    assert post(client, f"{rect_url}/decision", form).headers["location"] == dec_url
    decisions = client.get("/api/supervision/decisions", headers=tenants.regulator.headers()).json()
    assert len(decisions) == 1
    dec = client.get(dec_url, headers=HTML).text
    assert_readable(dec)
    assert "不予行政处罚" in visible(dec) and 'id="credential-link"' in dec
    # the enterprise sees it too, and on its own page
    login(client, tenants.a.member.username)
    assert client.get(dec_url, headers=HTML).status_code == 200
    assert "不予行政处罚" in visible(client.get("/supervision/mine", headers=HTML).text)
    # a foreign enterprise does not
    login(client, tenants.b.member.username)
    assert client.get(dec_url, headers=HTML).status_code == 404


def test_dismiss_needs_reason_and_lands_on_finding(client: Any, tenants: Any, probing: Any) -> None:
    csrf = login(client, tenants.regulator.admin.username)
    url = f"/supervision/findings/{probing.id}"
    key = idem_of(client.get(url, headers=HTML).text)
    r = post(client, f"{url}/dismiss", {"csrf_token": csrf, "idem": key, "reason": ""})
    assert (
        r.status_code == 303
        and "error=supervision.console.reason_required" in r.headers["location"]
    )
    r = post(
        client, f"{url}/dismiss", {"csrf_token": csrf, "idem": key, "reason": "误报：测试账号"}
    )
    assert r.status_code == 303 and r.headers["location"] == url
    page = client.get(url, headers=HTML).text
    assert 'data-status="dismissed"' in page and "不予立案/驳回" not in visible(page)
    # the enterprise cannot dismiss or order
    csrf_a = login(client, tenants.a.admin.username)
    r = post(client, f"{url}/order", {"csrf_token": csrf_a, "idem": "c" * 32})
    assert r.status_code in (303, 403)
    if r.status_code == 303:
        assert "error=" in r.headers["location"]


def test_selfcheck_and_publish(client: Any, tenants: Any) -> None:
    csrf = login(client, tenants.a.member.username)
    form_page = client.get("/supervision/selfcheck/app_personal_information", headers=HTML).text
    names = sorted(set(re.findall(r'name="(q_[^"]+)" value="([^"]+)"', form_page)))
    answers: dict[str, str] = {}
    for name, value in names:
        answers.setdefault(name, value)  # the first option of each question
    data = {"csrf_token": csrf, "idem": idem_of(form_page), **answers}
    r = post(client, "/supervision/selfcheck/app_personal_information", data)
    assert r.status_code == 303 and r.headers["location"].startswith("/supervision/selfchecks/")
    r2 = post(client, "/supervision/selfcheck/app_personal_information", data)
    assert r2.headers["location"] == r.headers["location"]
    # a fresh form with the same answers just after: still the same self-check
    data["idem"] = idem_of(
        client.get("/supervision/selfcheck/app_personal_information", headers=HTML).text
    )
    r3 = post(client, "/supervision/selfcheck/app_personal_information", data)
    assert r3.headers["location"] == r.headers["location"]
    res = client.get(r.headers["location"], headers=HTML)
    assert res.status_code == 200
    assert_readable(res.text)
    text = visible(res.text)
    assert "得分" in text and ("符合" in text or "存在风险" in text) and "个人信息保护法第" in text
    login(client, tenants.b.member.username)
    assert client.get(r.headers["location"], headers=HTML).status_code == 404

    # the regulator publishes a new version of a guideline; a re-post adds nothing
    csrf = login(client, tenants.regulator.admin.username)
    url = "/supervision/documents/app_personal_information"
    page = client.get(url, headers=HTML).text
    source = re.search(r'<textarea name="content"[^>]*>(.*?)</textarea>', page, re.S)
    assert source
    import html as html_mod

    body = {
        "csrf_token": csrf,
        "idem": idem_of(page),
        "effective_from": "2027-01-01",
        "content": html_mod.unescape(source.group(1)),
        "note": "年度修订",
    }
    r = post(client, f"{url}/versions", body)
    assert r.status_code == 303 and r.headers["location"] == f"{url}?version=2"
    assert post(client, f"{url}/versions", body).headers["location"] == f"{url}?version=2"
    body["idem"] = idem_of(client.get(url, headers=HTML).text)
    assert post(client, f"{url}/versions", body).headers["location"] == f"{url}?version=2"
    v2 = client.get(f"{url}?version=2", headers=HTML)
    assert_readable(v2.text)
    assert "第 2 版" in visible(v2.text) and "尚未施行" not in visible(v2.text)
    bad = dict(body, idem="d" * 32, content="key: [unclosed")
    r = post(client, f"{url}/versions", bad)
    assert "error=supervision.console.bad_yaml" in r.headers["location"]
    # an enterprise may not publish
    csrf_a = login(client, tenants.a.admin.username)
    assert "publish-form" not in client.get(url, headers=HTML).text
    r = post(client, f"{url}/versions", dict(body, csrf_token=csrf_a, idem="e" * 32))
    assert r.status_code in (303, 403)
    if r.status_code == 303:
        assert "error=" in r.headers["location"]


def test_enterprise_reverify_with_immediate_verifier(
    client: Any, tenants: Any, probing: Any
) -> None:
    csrf = login(client, tenants.regulator.admin.username)
    page = client.get(f"/supervision/findings/{probing.id}", headers=HTML).text
    r = post(
        client,
        f"/supervision/findings/{probing.id}/order",
        {"csrf_token": csrf, "idem": idem_of(page)},
    )
    rect_url = r.headers["location"]
    csrf_a = login(client, tenants.a.admin.username)
    page = client.get(rect_url, headers=HTML).text
    data = {"csrf_token": csrf_a, "idem": idem_of(page), "text": "已整改", "reverify": "true"}
    r = post(client, f"{rect_url}/report", data)
    assert r.status_code == 303 and r.headers["location"] == rect_url
    assert "复核确认已改正" in visible(client.get(rect_url, headers=HTML).text)
