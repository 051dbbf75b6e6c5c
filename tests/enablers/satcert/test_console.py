"""Console pages of satcert: every page as lab staff, the maker, another maker and a regulator;
readable zh-CN (no keys, no English enum values, no JSON), PRG with one-time keys, live log."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from mingyue.coreapps.credentials.public import throttle
from mingyue.enablers.satcert.plans import PLANS_DIR

PLAN = (PLANS_DIR / "ntn-terminal-basic.yaml").read_text(encoding="utf-8")
HTML = {"accept": "text/html"}
IMEI = "861234051234568"


class _Visible(HTMLParser):
    """The text a person reads: no scripts or styles, nothing behind 技术详情, and not the data
    shown as written (``<code>``/``<samp>``/``<pre>``: AT commands, IMEIs, digests, the log;
    ``lang="en"``: a plan's own English titles, marked as such for readers and screen readers)."""

    SKIP = frozenset({"script", "style", "template", "code", "samp", "pre"})
    VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "wbr", "source"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0  # depth inside an element whose text is not checked

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        if self._skip:
            self._skip += 1
        elif (
            tag in self.SKIP
            or ("lang", "en") in attrs
            or (tag == "details" and ("class", "tech") in attrs)
        ):
            self._skip = 1

    def handle_endtag(self, tag: str) -> None:
        if self._skip and tag not in self.VOID:
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
    r"\b(pass|fail|inconclusive|error|queued|running|passed|failed|cancelled|valid|revoked|"
    r"expired|intake|testing|review|returned|certified|rejected|satcom|gnss|combo|"
    r"certification|surveillance|sim|none|true|false|True|False|None|guard_band|simple)\b"
)


def assert_readable(html: str, *, zh: bool = True) -> None:
    """Fail on raw JSON, untranslated keys and (zh-CN) English enum values in visible text."""
    text = visible(html)
    assert '{"' not in text and "{'" not in text and "\\u" not in text, text
    cleaned = re.sub(r"\b[a-z]+\d*_(?:admin|member)\b", "", text)  # user names as written
    cleaned = re.sub(r"\S+\.(?:csv|xml|json)\b", "", cleaned)  # file names
    cleaned = re.sub(r"\bv\d+(?:\.\d+)+\b", "", cleaned)  # a standard's edition: NMEA 0183 v4.11
    bad = _KEYLIKE.findall(cleaned)
    assert not bad, bad
    if zh:
        words = _ENUMS.findall(cleaned)
        assert not words, words


def login(client: Any, username: str) -> str:
    """Log in through the console form; return the session's CSRF token."""
    client.cookies.clear()
    r = client.post(
        "/login",
        data={"username": username, "password": "password123", "next": "/satcert"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get("/satcert?lang=zh_CN", headers=HTML)
    assert page.status_code == 200, page.text
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert m
    return m.group(1)


def key_of(html: str, form_id: str | None = None) -> str:
    """Return the one-time form key on a page (of one form when named)."""
    if form_id is not None:
        start = html.index(f'id="{form_id}"')
        html = html[start:]
    m = re.search(r'name="form_key" value="([^"]+)"', html)
    assert m, "no one-time key on the page"
    return m.group(1)


def post(client: Any, url: str, data: dict[str, Any]) -> Any:
    """Post a console form without following the redirect."""
    return client.post(url, data=data, follow_redirects=False, headers=HTML)


def _flow(client: Any, tenants: Any, run_jobs: Any) -> dict[str, Any]:
    """The maker registers, the lab runs the plan on the simulated module, reviews, approves."""
    lab = tenants.operator.headers()
    r = client.post("/api/satcert/plans", json={"yaml": PLAN}, headers=lab)
    assert r.status_code == 201, r.text
    plan_id = r.json()["id"]

    # the maker registers its sample; a reload of the POST lands on the same sample
    csrf = login(client, tenants.a.admin.username)
    page = client.get("/satcert", headers=HTML).text
    form = {
        "csrf_token": csrf,
        "form_key": key_of(page, "intake-form"),
        "manufacturer": "Mingyue Lab",
        "model": "NTN-SIM-1",
        "terminal_kind": "combo",
        "declared_imei": IMEI,
        "notes": "送检样品一台",
    }
    r = post(client, "/satcert/samples", form)
    assert r.status_code == 303, r.text
    sample_url = r.headers["location"]
    assert re.fullmatch(r"/satcert/samples/\d+", sample_url)
    again = post(client, "/satcert/samples", form)
    assert again.status_code == 303 and again.headers["location"] == sample_url
    sample_id = int(sample_url.rsplit("/", 1)[1])
    assert len(client.get("/api/satcert/samples", headers=tenants.a.headers()).json()) == 1
    maker_page = client.get(sample_url, headers=HTML).text
    assert 'id="run-form"' not in maker_page  # the maker cannot start a run

    # lab staff start a bench run on the simulated module; a reload starts nothing twice
    csrf = login(client, tenants.operator.member.username)
    page = client.get(sample_url, headers=HTML).text
    assert 'id="run-form"' in page and "模拟模块" in page
    run_form = {
        "csrf_token": csrf,
        "form_key": key_of(page, "run-form"),
        "plan_id": plan_id,
        "transport": "sim",
        "sim_fault": "",
    }
    r = post(client, f"{sample_url}/runs", run_form)
    assert r.status_code == 303, r.text
    run_url = r.headers["location"]
    assert re.fullmatch(r"/satcert/runs/\d+", run_url)
    assert post(client, f"{sample_url}/runs", run_form).headers["location"] == run_url
    runs = client.get(f"/api/satcert/runs?sample_id={sample_id}", headers=lab).json()
    assert len(runs) == 1
    run_id = runs[0]["id"]

    # while queued, the run page polls its log fragment
    live = client.get(run_url, headers=HTML).text
    assert f'hx-get="/satcert/runs/{run_id}/log?after=0"' in live
    assert 'hx-trigger="every 1s"' in live and "排队中" in visible(live)
    assert_readable(live)
    frag = client.get(f"{run_url}/log?after=0", headers=HTML)
    assert frag.status_code == 200 and "HX-Refresh" not in frag.headers
    assert 'hx-trigger="every 1s"' in frag.text

    run_jobs()
    frag = client.get(f"{run_url}/log?after=0", headers=HTML)
    assert 'hx-swap-oob="beforeend:#log-lines"' in frag.text and "&gt;&gt; AT+CGSN" in frag.text
    last = max(int(s) for s in re.findall(r'data-seq="(\d+)"', frag.text))
    assert f"after={last}" in frag.text  # polls on from the last line it has
    end = client.get(f"{run_url}/log?after={last}", headers=HTML)
    assert end.headers.get("HX-Refresh") == "true" and "hx-trigger" not in end.text
    return {
        "plan_id": plan_id,
        "sample_id": sample_id,
        "sample_url": sample_url,
        "run_id": run_id,
        "run_url": run_url,
        "csrf_lab": csrf,
    }


def test_console_flow_every_page_and_role(client: Any, tenants: Any, run_jobs: Any) -> None:
    throttle.clear()
    f = _flow(client, tenants, run_jobs)
    sample_url, run_url = f["sample_url"], f["run_url"]

    # the finished run: verdict table with clause, measured value, limit, verdict in words
    done = client.get(run_url, headers=HTML).text
    assert "hx-trigger" not in done
    shown = visible(done)
    assert "已完成 · 合格" in shown and "逐项结论" in shown and "13/13 项合格" in shown
    assert "3GPP TS 27.007 §5.4 (+CGSN)" in shown  # the standard clause
    assert "首次定位时间中位数" in shown and "≤ 1.5 秒" in shown  # TTFF with its limit
    assert "参考信号接收功率" in shown and "≥ -125 dBm" in shown
    assert 'class="v v-pass" data-verdict="pass">合格<' in done
    assert re.search(r'id="log-sha256">[0-9a-f]{64}<', done)
    assert 'id="figures"' in done and "关键指标" in shown

    # the sample page: identity read from the terminal, the case in testing, the run
    page = client.get(sample_url, headers=HTML).text
    assert f"<code>{IMEI}</code>" in page and "NTNSIM_1.0.3" in page
    assert 'data-state="testing"' in page and "检测中" in visible(page)
    r = post(
        client,
        f"{sample_url}/decision",
        {"csrf_token": f["csrf_lab"], "form_key": key_of(page), "action": "submit_review"},
    )
    assert r.status_code == 303 and r.headers["location"] == sample_url

    # review: approve, return and reject are distinct buttons
    review = client.get(sample_url, headers=HTML).text
    assert 'data-state="review"' in review
    for name, cls in (("approve", "approve"), ("return", "return"), ("reject", "reject")):
        assert f'id="do-{name}" class="{cls}"' in review, name
    assert "批准发证" in review and "退回整改" in review and "不予发证" in review
    approve = {"csrf_token": f["csrf_lab"], "form_key": key_of(review), "action": "approve"}
    r = post(client, f"{sample_url}/decision", approve)
    assert r.status_code == 303
    cert_url = r.headers["location"]
    assert re.fullmatch(r"/satcert/certificates/\d+", cert_url)
    assert post(client, f"{sample_url}/decision", approve).headers["location"] == cert_url

    cert = client.get(cert_url, headers=HTML).text
    shown = visible(cert)
    cid = re.search(r'href="/verify/([0-9a-f-]{36})" id="public-verify-link"', cert)
    assert cid, "no link to the public verification page"
    assert f'href="/credentials/{cid.group(1)}" id="credential-link"' in cert
    assert "有效" in shown and "Mingyue Lab" in shown and "ntn-terminal-basic" in shown
    assert "合格" in shown and "首次定位时间中位数" in shown
    assert re.search(r'id="cert-log-sha256">[0-9a-f]{64}<', cert)

    cert_id = cert_url.rsplit("/", 1)[1]
    pages = [
        "/satcert",
        sample_url,
        run_url,
        cert_url,
        "/satcert/registry",
        "/satcert/registry?q=86123405",
        "/satcert/plans",
        f"/satcert/plans/{f['plan_id']}",
    ]
    for user in (
        tenants.operator.member,  # lab staff (reviewer)
        tenants.a.admin,  # the maker's org_admin
        tenants.regulator.admin,  # market surveillance
    ):
        login(client, user.username)
        for url in pages:
            r = client.get(url, headers=HTML)
            assert r.status_code == 200, (user.username, url, r.text[:300])
            assert_readable(r.text)
            en = client.get(url + ("&" if "?" in url else "?") + "lang=en", headers=HTML)
            assert en.status_code == 200
            assert_readable(en.text, zh=False)
            client.get("/satcert?lang=zh_CN", headers=HTML)
    # the regulator may revoke; the maker may not
    login(client, tenants.a.admin.username)
    assert 'id="revoke-submit"' not in client.get(cert_url, headers=HTML).text
    login(client, tenants.regulator.admin.username)
    assert 'id="revoke-submit"' in client.get(cert_url, headers=HTML).text

    # another maker: 404 on every page of A's sample, an empty list, the registry all the same
    csrf_b = login(client, tenants.b.admin.username)
    for url in (sample_url, run_url, f"{run_url}/log", cert_url):
        assert client.get(url, headers=HTML).status_code == 404, url
    assert "Mingyue Lab" not in visible(client.get("/satcert", headers=HTML).text)
    r = post(
        client,
        f"/satcert/certificates/{cert_id}/revoke",
        {"csrf_token": csrf_b, "form_key": "k" * 32, "reason": "别人的证书"},
    )
    assert r.status_code in (403, 404)
    r = post(
        client,
        f"{sample_url}/decision",
        {"csrf_token": csrf_b, "form_key": "j" * 32, "action": "resubmit"},
    )
    assert r.status_code == 404
    reg = client.get("/satcert/registry?q=86123405", headers=HTML).text
    assert "NTN-SIM-1" in visible(reg) and IMEI not in reg

    # the lab revokes: the page says so, the public page too
    csrf = login(client, tenants.operator.member.username)
    page = client.get(cert_url, headers=HTML).text
    r = post(
        client,
        f"{cert_url}/revoke",
        {"csrf_token": csrf, "form_key": key_of(page), "reason": "固件与送检版本不符"},
    )
    assert r.status_code == 303 and r.headers["location"] == cert_url
    page = client.get(cert_url, headers=HTML).text
    assert 'id="revoked-note"' in page and "固件与送检版本不符" in visible(page)
    assert "已撤销" in client.get(f"/verify/{cid.group(1)}").text


def test_forms_refuse_bad_input_readably(client: Any, tenants: Any) -> None:
    lab = tenants.operator.headers()
    plan_id = client.post("/api/satcert/plans", json={"yaml": PLAN}, headers=lab).json()["id"]
    csrf = login(client, tenants.a.member.username)
    page = client.get("/satcert", headers=HTML).text
    form = {
        "csrf_token": csrf,
        "form_key": key_of(page),
        "manufacturer": "Mingyue Lab",
        "model": "NTN-SIM-2",
        "declared_imei": "861234051234567",  # wrong check digit
    }
    r = post(client, "/satcert/samples", form)
    assert r.status_code == 422 and "IMEI 应为 15 位数字且校验位正确" in r.text
    assert 'value="NTN-SIM-2"' in r.text  # the form keeps what was typed
    assert_readable(r.text)
    # the same key works once the input is right (a refused post claimed nothing)
    r = post(client, "/satcert/samples", {**form, "declared_imei": IMEI})
    assert r.status_code == 303
    sample_url = r.headers["location"]
    assert post(client, "/satcert/samples", {**form, "csrf_token": ""}).status_code == 403
    r = post(client, "/satcert/samples", {**form, "form_key": ""})
    assert r.status_code == 422

    # a port outside the allow-list is refused before anything is queued
    csrf = login(client, tenants.operator.member.username)
    page = client.get(sample_url, headers=HTML).text
    r = post(
        client,
        f"{sample_url}/runs",
        {
            "csrf_token": csrf,
            "form_key": key_of(page, "run-form"),
            "plan_id": plan_id,
            "transport": "port",
            "port": "socket://203.0.113.9:7000",
        },
    )
    assert r.status_code == 422, r.text[:300]
    assert "端口不在允许范围内" in visible(r.text)
    assert_readable(r.text)
    assert (
        client.get(
            f"/api/satcert/runs?sample_id={sample_url.rsplit('/', 1)[1]}", headers=lab
        ).json()
        == []
    )
    # sending to review before any run has finished says why
    r = post(
        client,
        f"{sample_url}/decision",
        {"csrf_token": csrf, "form_key": key_of(page), "action": "return", "comment": ""},
    )
    assert r.status_code in (409, 422)
    assert_readable(r.text)
    # plans: a bad YAML is refused with the field, the page keeps the text
    plans = client.get("/satcert/plans", headers=HTML).text
    bad = PLAN.replace('version: "1.0.0"', 'version: "one"')
    r = post(client, "/satcert/plans", {"csrf_token": csrf, "form_key": key_of(plans), "yaml": bad})
    assert r.status_code == 422 and "检测方案无效" in visible(r.text)
    assert "version: &#34;one&#34;" in r.text or "version: &quot;one&quot;" in r.text
    # the plan page reads as steps and limits
    plan = client.get(f"/satcert/plans/{plan_id}", headers=HTML).text
    shown = visible(plan)
    assert "冷启动后测首次定位时间，5 次" in shown and "≥ -105，容差 ±2 dBm" in shown
    assert "期望 +CME ERROR" in shown
    assert_readable(plan)
    # logged out: the login page, with the way back
    client.cookies.clear()
    r = client.get(sample_url, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
