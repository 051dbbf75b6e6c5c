"""The credential page: a readable certificate, its QR code, the JSON download, tenant isolation."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import segno

from mingyue.core import clock
from mingyue.core.config import Settings
from mingyue.core.ledger import credentials
from mingyue.core.tenancy.access import Actor
from mingyue.core.uow import unit_of_work
from mingyue.testing import CliResult, Tenants

REVIEWER = Actor(
    user_id=None,
    username="reviewer-job",
    organization_id=None,
    org_kind="operator",
    roles=frozenset({"reviewer"}),
)


def _issue(settings: Settings, org_id: int, **extra: Any) -> dict[str, Any]:
    with unit_of_work(REVIEWER, settings) as uow:
        return credentials.issue(
            uow=uow,
            type="LabTestCertificate",
            subject={
                "model": "MY-03",
                "result": "pass",
                "findings": {"high": 0, "low": 2},
                "decidedAt": "2026-03-01T02:30:00+00:00",
                "apk_sha256": "ab" * 32,
                "incomplete": False,
            },
            organization_id=org_id,
            name={"zh": "终端认证证书", "en": "Terminal certificate"},
            description={"zh": "型号 MY-03 通过终端安全认证", "en": "Model MY-03 passed"},
            **extra,
        )


def _login(client: Any, username: str) -> str:
    client.cookies.clear()
    r = client.post(
        "/login", data={"username": username, "password": "password123"}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    page = client.get("/credentials")
    return str(page.text.split('name="csrf-token" content="')[1].split('"')[0])


def _outside_details(html: str) -> str:
    return re.sub(r"<details.*?</details>", "", html, flags=re.S)


def test_certificate_page_reads_like_a_certificate(
    settings: Settings, tenants: Tenants, client: Any
) -> None:
    vc = _issue(settings, tenants.a.org.id, valid_days=365)
    uid = vc["id"].removeprefix("urn:uuid:")
    _login(client, tenants.a.member.username)
    page = client.get(f"/credentials/{uid}")
    assert page.status_code == 200
    html = page.text
    shown = _outside_details(html)
    assert "<h1>终端认证证书</h1>" in html
    assert "型号 MY-03 通过终端安全认证" in shown
    assert tenants.a.org.name in shown  # the holder
    assert "明月湖π赋能平台" in shown  # the issuer
    for label in ("签发方", "持证组织", "认证事项", "签发时间", "有效期至", "凭证编号"):
        assert label in shown, label
    assert "型号" in shown and "MY-03" in shown and "高风险" in shown and "低风险" in shown
    assert "2026-03-01 10:30" in shown  # a time in the subject, in Beijing time
    assert "UTC+8 北京时间" in shown
    assert f'<code id="credential-id">{vc["id"]}</code>' in shown
    assert 'id="credential-state">有效<' in shown
    # Raw JSON only behind the technical-details toggle.
    assert "credentialSubject" not in shown and vc["proof"]["proofValue"] not in shown
    details = re.search(r"<details.*?</details>", html, flags=re.S)
    assert details and "技术详情" in details.group(0)
    assert vc["proof"]["proofValue"] in details.group(0)
    en = client.get(f"/credentials/{uid}?lang=en").text
    assert "<h1>Terminal certificate</h1>" in en and "Technical details" in en
    assert "What is certified" in en and "UTC+8 Beijing time" in en


def test_qr_code_encodes_the_verification_link(
    settings: Settings, tenants: Tenants, client: Any
) -> None:
    vc = _issue(settings, tenants.a.org.id)
    uid = vc["id"].removeprefix("urn:uuid:")
    _login(client, tenants.a.member.username)
    html = client.get(f"/credentials/{uid}").text
    link = f"{settings.base_url.rstrip('/')}/verify/{uid}"  # the public page: no login needed
    assert f'<a href="{link}" id="verify-link">' in html
    svg = re.search(r'<svg role="img" aria-label="([^"]+)"[^>]*class="qr".*?</svg>', html, re.S)
    assert svg, "no inline QR SVG"
    assert svg.group(1) == "凭证核验链接二维码"
    expected = segno.make(link, error="m").svg_inline(scale=4, border=4)
    path = re.search(r' d="([^"]+)"', expected)
    assert path and path.group(1) in svg.group(0)  # the same modules: it encodes the link
    assert "长期有效" in html  # no validUntil
    client.cookies.clear()  # whoever scans the code is not logged in: the page answers them
    public = client.get(f"/verify/{uid}")
    assert public.status_code == 200 and 'id="public-status">有效<' in public.text


def test_json_download_verifies_with_the_cli(
    settings: Settings,
    tenants: Tenants,
    client: Any,
    cli: Callable[..., CliResult],
    tmp_path: Path,
) -> None:
    vc = _issue(settings, tenants.a.org.id)
    uid = vc["id"].removeprefix("urn:uuid:")
    _login(client, tenants.a.member.username)
    page = client.get(f"/credentials/{uid}").text
    assert f'href="/credentials/{uid}/download"' in page
    r = client.get(f"/credentials/{uid}/download")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert f'filename="credential-{uid}.json"' in r.headers["content-disposition"]
    assert json.loads(r.content) == vc
    saved = tmp_path / "downloaded.json"
    saved.write_bytes(r.content)
    res = cli("credential", "verify", str(saved), "--json")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert res.json()["valid"] is True and res.json()["id"] == vc["id"]


def test_foreign_tenant_cannot_see_or_download(
    settings: Settings, tenants: Tenants, client: Any
) -> None:
    vc = _issue(settings, tenants.a.org.id)
    uid = vc["id"].removeprefix("urn:uuid:")
    _login(client, tenants.b.member.username)
    for path in (f"/credentials/{uid}", f"/credentials/{uid}/download"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert vc["proof"]["proofValue"] not in r.text and "MY-03" not in r.text
    _login(client, tenants.regulator.member.username)  # oversight sees every organization
    assert client.get(f"/credentials/{uid}").status_code == 200
    client.cookies.clear()
    r = client.get(f"/credentials/{uid}/download", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def test_revoked_and_expired_states(settings: Settings, tenants: Tenants, client: Any) -> None:
    vc = _issue(settings, tenants.a.org.id, valid_days=30)
    uid = vc["id"].removeprefix("urn:uuid:")
    csrf = _login(client, tenants.operator.member.username)  # a reviewer may revoke
    with clock.frozen(clock.now() + timedelta(days=31)):
        page = client.get(f"/credentials/{uid}").text
    assert 'id="credential-state">已过期<' in page
    r = client.post(
        f"/credentials/{uid}/revoke",
        data={"reason": "型号撤回", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/credentials/{uid}"
    page = client.get(f"/credentials/{uid}").text
    assert 'id="credential-state">已撤销<' in page and "型号撤回" in page
    assert 'id="revoke-btn"' not in page


def _lines(fields: list[Any], depth: int = 0) -> list[str]:
    out: list[str] = []
    for f in fields:
        out.append(f"{'  ' * depth}{f.label}: {f.text}")
        out.extend(_lines(f.children, depth + 1))
    return out


def test_subject_values_read_as_the_issuer_names_them() -> None:
    """Enum values through ``credential.<Type>.<field>.<value>``, language pairs, dotted names."""
    from mingyue.coreapps.credentials.certificate import subject_fields

    subject = {
        "outcome": "no_penalty",
        "facts": {"corrected": "not_yet", "harm": "minor"},
        "factSources": {"harm": "regulator", "corrected": "platform"},
        "ruleTitle": {"zh": "向境外传输数据", "en": "Data sent abroad"},
        "subject": "no_penalty_here",  # a value the catalogue does not name stays as signed
    }
    zh = _lines(subject_fields(subject, "SupervisionDecision", "zh_CN", "Asia/Shanghai"))
    assert "决定: 不予行政处罚" in zh
    assert "  改正情况: 尚未改正" in zh and "  危害后果: 危害后果轻微" in zh
    assert "  危害后果: 执法人员认定" in zh and "  改正情况: 平台记录" in zh
    assert "问题: 向境外传输数据" in zh
    assert "涉及对象: no_penalty_here" in zh
    en = _lines(subject_fields(subject, "SupervisionDecision", "en", "UTC"))
    assert "Decision: No penalty" in en and "Finding: Data sent abroad" in en
    # the same value under a type that does not name it is shown as it was signed
    other = _lines(subject_fields({"outcome": "no_penalty"}, "LabTestCertificate", "zh_CN", "UTC"))
    assert other == ["Outcome: no_penalty"]
    figures = {"keyFigures": {"NMEA-CONF.nmea_accepted": 57}, "verdict": "pass"}
    sat = _lines(subject_fields(figures, "TerminalCertificate", "zh_CN", "UTC"))
    assert sat == ["关键指标: ", "  NMEA-CONF · 合格 NMEA 语句数: 57", "结论: 合格"]
