"""Console pages of digitalasset, each as the role that uses it: the issuer registers and issues,
the operator's reviewer approves and verifies real names, a buyer opens an account, a refused
transfer shows its rule and citation, the regulator freezes and traces, the platform admin
anchors the ledger (live job status). Pages read in Chinese: no keys, no raw JSON; a reload
of a form starts nothing twice."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

HTML = {"accept": "text/html"}
WORK = b"GIF89a" + bytes(range(200)) * 30
RIGHTS = "著作权归明月文创所有；授权平台发行数字藏品。"
_KEYLIKE = re.compile(r"\b[a-z][a-z0-9]*(?:[._][a-z0-9]+)+\b")
_ENUMS = re.compile(
    r"\b(submitted|reviewed|approved|rejected|done|refused|gift|sale|order_book|erc721|erc1155|"
    r"image|ledger_head|evidence|on_chain|mint|transfer|None|True|False)\b"
)


class _Visible(HTMLParser):
    SKIP = frozenset({"script", "style", "code", "pre", "samp"})
    VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "wbr", "source"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        if self._skip or tag in self.SKIP or (tag == "details" and ("class", "tech") in attrs):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if self._skip and tag not in self.VOID:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def assert_readable(html: str) -> None:
    """No raw JSON, no untranslated key, no English enum value in the visible text."""
    p = _Visible()
    p.feed(html)
    text = "\n".join(p.parts)
    assert '{"' not in text and "\\u" not in text, text
    cleaned = re.sub(r"\b[a-z]+\d*_(?:admin|member)\b", "", text)
    cleaned = re.sub(r"\S+\.(?:png|gif|zip|txt)\b", "", cleaned)
    assert not _KEYLIKE.findall(cleaned), _KEYLIKE.findall(cleaned)
    assert not _ENUMS.findall(cleaned), _ENUMS.findall(cleaned)


def login(client: Any, username: str) -> str:
    client.cookies.clear()
    r = client.post(
        "/login",
        data={"username": username, "password": "password123", "next": "/digitalasset"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get("/digitalasset?lang=zh_CN", headers=HTML)
    assert page.status_code == 200, page.text
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert m
    return m.group(1)


def key_of(html: str, anchor: str) -> str:
    html = html[html.index(anchor) :]
    m = re.search(r'name="form_key" value="([^"]+)"', html)
    assert m
    return m.group(1)


def post(client: Any, url: str, data: dict[str, Any], files: Any = None) -> Any:
    return client.post(url, data=data, files=files, follow_redirects=False, headers=HTML)


def page(client: Any, url: str) -> str:
    r = client.get(url, headers=HTML)
    assert r.status_code == 200, (url, r.text[:500])
    assert_readable(r.text)
    return r.text


def test_console_register_review_issue(client, tenants) -> None:
    # The issuer registers a work; the reload of the same form lands on the same work.
    csrf = login(client, tenants.a.admin.username)
    html = page(client, "/digitalasset")
    form = {
        "csrf_token": csrf,
        "form_key": key_of(html, 'id="register-form"'),
        "title": "明月图",
        "kind": "image",
        "creator_name": "李白",
        "rights_statement": RIGHTS,
    }
    r = post(client, "/digitalasset/works", form, {"file": ("moon.gif", WORK, "image/gif")})
    assert r.status_code == 303, r.text
    work_url = r.headers["location"]
    again = post(client, "/digitalasset/works", form, {"file": ("moon.gif", WORK, "image/gif")})
    assert again.headers["location"] == work_url
    work_id = int(work_url.rsplit("/", 1)[1])
    html = page(client, work_url)
    assert "已提交" in html and 'id="step-approve"' not in html

    # The operator's reviewer reviews and approves.
    csrf = login(client, tenants.operator.member.username)
    assert "明月图" in page(client, "/digitalasset")
    for step in ("review", "approve"):
        html = page(client, work_url)
        r = post(
            client,
            f"{work_url}/decision",
            {"csrf_token": csrf, "form_key": key_of(html, 'id="case"'), "action": step},
        )
        assert r.status_code == 303, r.text
    html = page(client, work_url)
    assert "审核通过" in html and 'id="certificate-link"' in html

    # The issuer deploys a collection and issues the work.
    csrf = login(client, tenants.a.admin.username)
    html = page(client, "/digitalasset/issuance")
    r = post(
        client,
        "/digitalasset/collections",
        {
            "csrf_token": csrf,
            "form_key": key_of(html, 'id="collection-form"'),
            "name": "明月集",
            "symbol": "MOON",
            "standard": "erc721",
            "cap": "10",
        },
    )
    assert r.status_code == 303, r.text
    html = page(client, "/digitalasset/issuance")
    issue = {
        "csrf_token": csrf,
        "form_key": key_of(html, 'id="issue-form"'),
        "work_id": str(work_id),
        "collection_id": re.search(r'id="issue-collection"><option value="(\d+)"', html).group(1),
        "edition_cap": "1",
        "quantity": "1",
        "price_cny": "99.00",
    }
    assert post(client, "/digitalasset/tokens", issue).status_code == 303
    assert post(client, "/digitalasset/tokens", issue).status_code == 303  # the reload
    tokens = client.get("/api/digitalasset/tokens", headers=tenants.a.headers()).json()
    assert len(tokens) == 1
    token_id = tokens[0]["id"]
    assert token_id > 0


def _issued_by_api(client: Any, tenants: Any) -> int:
    """An approved work issued as a token, through the API (the first walk does it by hand)."""
    ha = tenants.a.headers(admin=True)
    work = client.post(
        "/api/digitalasset/works",
        data={
            "title": "明月图",
            "kind": "image",
            "creator_name": "李白",
            "rights_statement": RIGHTS,
        },
        files={"file": ("moon.gif", WORK, "image/gif")},
        headers=ha,
    ).json()
    for step in ("review", "approve"):
        client.post(
            f"/api/digitalasset/works/{work['id']}/decision",
            json={"action": step},
            headers=tenants.operator.headers(),
        )
    collection = client.post(
        "/api/digitalasset/collections",
        json={"standard": "erc721", "name": "明月集", "symbol": "MOON", "cap": 10},
        headers=ha,
    ).json()
    token = client.post(
        "/api/digitalasset/tokens",
        json={"collection_id": collection["id"], "work_id": work["id"], "price_cny": "99.00"},
        headers=ha,
    )
    assert token.status_code == 201, token.text
    return int(token.json()["id"])


def test_console_sell_refuse_supervise_anchor(client, tenants, run_jobs) -> None:
    token_id = _issued_by_api(client, tenants)
    # A buyer of another enterprise opens an account; the reviewer verifies the real name.
    csrf = login(client, tenants.b.member.username)
    html = page(client, "/digitalasset/holdings")
    r = post(
        client,
        "/digitalasset/accounts",
        {"csrf_token": csrf, "form_key": key_of(html, 'id="account"')},
    )
    assert r.status_code == 303
    buyer = re.search(
        r'id="my-address">(0x[0-9a-fA-F]{40})<', page(client, "/digitalasset/holdings")
    ).group(1)
    csrf = login(client, tenants.operator.member.username)
    html = page(client, "/digitalasset/accounts")
    account_id = re.search(r"/digitalasset/accounts/(\d+)/kyc", html).group(1)
    r = post(
        client,
        f"/digitalasset/accounts/{account_id}/kyc",
        {
            "csrf_token": csrf,
            "form_key": key_of(html, 'id="account-table"'),
            "real_name": "杜甫",
            "level": "2",
        },
    )
    assert r.status_code == 303, r.text

    # The issuer sells it priced in USDT: refused, the page names the rule and its source.
    csrf = login(client, tenants.a.admin.username)
    html = page(client, "/digitalasset/holdings")
    sale = {
        "csrf_token": csrf,
        "form_key": key_of(html, 'id="transfer-form"'),
        "token": str(token_id),
        "to_address": buyer,
        "quantity": "1",
        "mode": "sale",
        "price": "99",
        "currency": "USDT",
        "purpose": "collect",
        "from_issuer": "1",
    }
    r = post(client, "/digitalasset/transfers", sale)
    assert r.status_code == 403
    assert_readable(r.text)
    assert "CN-NFT-2022-4" in r.text and "第四条" in r.text and 'id="refusal-rule"' in r.text
    html = page(client, "/digitalasset/holdings")
    r = post(
        client,
        "/digitalasset/transfers",
        {**sale, "form_key": key_of(html, 'id="transfer-form"'), "currency": "CNY"},
    )
    assert r.status_code == 303, r.text
    html = page(client, "/digitalasset/holdings")
    assert "已完成" in html and "已拒绝" in html

    # The regulator freezes the token and reads its trace.
    csrf = login(client, tenants.regulator.member.username)
    html = page(client, "/digitalasset/supervision")
    r = post(
        client,
        "/digitalasset/supervision/switch",
        {
            "csrf_token": csrf,
            "form_key": key_of(html, f'id="sup-token-{token_id}"'),
            "target": "token",
            "ref": str(token_id),
            "on": "1",
            "reason": "涉嫌洗售，冻结核查",
        },
    )
    assert r.status_code == 303, r.text
    html = page(client, "/digitalasset/supervision")
    assert re.search(rf'id="token-state-{token_id}">已冻结<', html)
    r = post(
        client,
        "/digitalasset/supervision/identity",
        {"csrf_token": csrf, "address": buyer, "reason": "核查"},
    )
    assert r.status_code == 200 and "杜甫" in r.text
    html = page(client, f"/digitalasset/tokens/{token_id}/trace")
    assert "铸造" in html and "转让" in html and 'id="flow-chart"' in html

    # Other enterprises never see the supervision page.
    login(client, tenants.b.admin.username)
    assert client.get("/digitalasset/supervision", headers=HTML).status_code == 403

    # The platform admin anchors the audit ledger; the page follows the job live.
    csrf = login(client, tenants.operator.admin.username)
    html = page(client, "/digitalasset/anchors")
    r = post(
        client,
        "/digitalasset/anchors",
        {"csrf_token": csrf, "form_key": key_of(html, 'action="/digitalasset/anchors"')},
    )
    assert r.status_code == 303
    job_url = r.headers["location"]
    html = client.get(job_url, headers=HTML).text
    assert 'class="live-job' in html
    run_jobs()
    html = page(client, job_url)
    assert "审计账本树头" in html
