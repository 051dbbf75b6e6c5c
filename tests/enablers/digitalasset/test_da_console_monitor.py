"""Console pages of monitoring and contract audit, each as the role that uses it: the regulator
uploads an export, reads the alerts and an alert's sales and graph, marks a false positive (the
suppression shows) and labels an address; members read but do not decide; another enterprise sees
nothing of it. A contract audit runs as a job whose status the page follows; a file that could not
be analysed reads as an error with its reason, never as clean; the SARIF log downloads. Pages read
in Chinese (no keys, no raw JSON); a reload of a form starts nothing twice."""

from __future__ import annotations

import re
from typing import Any

import pytest

from mingyue.enablers.digitalasset.service.audit import toolchain
from mingyue.sdk import get_settings
from tests.enablers.digitalasset.test_da_console import (
    HTML,
    assert_readable,
    key_of,
    login,
    page,
    post,
)

CSV = (
    "ts,collection,token_id,seller,buyer,price_cny,seller_first_funder,buyer_first_funder\n"
    "1700000000,C1,1,0xaaa0000000000000000000000000000000000001,"
    "0xaaa0000000000000000000000000000000000001,10,,\n"
    "1700000100,C1,2,0xbbb0000000000000000000000000000000000002,"
    "0xccc0000000000000000000000000000000000003,10,,\n"
    "1700000900,C1,2,0xccc0000000000000000000000000000000000003,"
    "0xbbb0000000000000000000000000000000000002,11,,\n"
    "1700001000,C1,3,0xddd0000000000000000000000000000000000004,"
    "0xeee0000000000000000000000000000000000005,5,0xf000000000000000000000000000000000000006,"
    "0xf000000000000000000000000000000000000006\n"
)
TOKEN = """pragma solidity ^0.4.24;
contract Token {
    mapping(address => uint256) public balanceOf;
    function transfer(address to, uint256 value) public {
        require(balanceOf[msg.sender] >= value);
        balanceOf[msg.sender] -= value;
        balanceOf[to] += value;
    }
}
"""
BROKEN = "pragma solidity ^0.4.24;\ncontract Broken { function f( public { } }\n"
TOOLS = toolchain(get_settings())


def _upload_run(client: Any, csrf: str) -> tuple[str, dict[str, Any]]:
    html = page(client, "/digitalasset/monitor")
    form = {"csrf_token": csrf, "form_key": key_of(html, 'id="monitor-form"')}
    files = {"file": ("sales.csv", CSV.encode(), "text/csv")}
    r = post(client, "/digitalasset/monitor/runs", form, files)
    assert r.status_code == 303, r.text[:800]
    return r.headers["location"], form


def _fresh_key(client: Any) -> str:
    return key_of(page(client, "/digitalasset/monitor"), 'id="monitor-form"')


def _alert_id(html: str, pattern: str) -> int:
    m = re.search(rf'id="alert-(\d+)" data-pattern="{pattern}"', html)
    assert m, pattern
    return int(m.group(1))


def test_monitor_run_verdict_and_labels(client: Any, tenants: Any, run_jobs: Any) -> None:
    csrf = login(client, tenants.regulator.member.username)
    location, form = _upload_run(client, csrf)
    assert re.fullmatch(r"/digitalasset/monitor\?run=\d+", location)
    # The check is a job: until a worker ran it the page follows it live, in Chinese.
    html = page(client, location)
    assert 'id="run-live"' in html and "正在检测" in html and 'id="run-summary"' not in html
    assert "live-job" in html
    # The reload of the same form lands on the same run; nothing is checked twice.
    again = post(
        client,
        "/digitalasset/monitor/runs",
        form,
        {"file": ("sales.csv", CSV.encode(), "text/csv")},
    )
    assert again.headers["location"] == location
    runs = client.get("/api/digitalasset/monitor/runs", headers=tenants.regulator.headers())
    assert len(runs.json()) == 1
    run_jobs()

    html = page(client, location)
    assert 'id="run-summary"' in html and re.search(r'id="run-events">4<', html)
    for zh in ("自买自卖", "来回倒手", "同一资金来源", "待研判"):
        assert zh in html, zh
    baf = _alert_id(html, "back_and_forth")

    # The alert's page: its sales (rows counted from 1), parties and the graph.
    alert_url = f"/digitalasset/monitor/alerts/{baf}"
    html = page(client, alert_url)
    assert 'id="sales-table"' in html and 'id="alert-chart"' in html
    sales = html[html.index('id="sales-table"') : html.index("</table>", html.index("sales-table"))]
    assert re.findall(r"<tr><td>(\d+)</td>", sales) == ["2", "3"]
    assert "0xbbb0000000000000000000000000000000000002" in html  # the full address, parties
    assert "'echarts'" not in html and '"links"' in html  # graph data for the chart script

    # A false positive needs a reason: the page says so in Chinese, nothing is recorded.
    fp = {
        "csrf_token": csrf,
        "form_key": key_of(html, 'id="fp-form"'),
        "verdict": "false_positive",
        "note": "",
    }
    r = post(client, f"{alert_url}/decision", fp)
    assert r.status_code == 422
    assert_readable(r.text)
    assert "判为误报时须说明理由" in r.text
    r = post(client, f"{alert_url}/decision", {**fp, "note": "做市商正常调仓"})
    assert r.status_code == 303 and r.headers["location"] == alert_url
    assert (
        post(client, f"{alert_url}/decision", {**fp, "note": "做市商正常调仓"}).status_code == 303
    )
    html = page(client, alert_url)
    assert 'data-status="false_positive"' in html and 'id="suppression"' in html
    assert "不再发出“来回倒手”预警" in html and 'id="fp-form"' not in html

    # A label for the funder, added from the alert's page; the reload adds nothing.
    cf = _alert_id(page(client, "/digitalasset/monitor"), "common_funder")
    cf_url = f"/digitalasset/monitor/alerts/{cf}"
    html = page(client, cf_url)
    label = {
        "csrf_token": csrf,
        "form_key": key_of(html, 'id="label-form"'),
        "address": "0xF000000000000000000000000000000000000006",
        "kind": "exchange",
        "source": "交易所公告",
        "confidence": "0.9",
        "note": "",
        "alert_id": str(cf),
    }
    r = post(client, "/digitalasset/monitor/labels", label)
    assert r.status_code == 303 and r.headers["location"] == f"{cf_url}#parties"
    assert post(client, "/digitalasset/monitor/labels", label).status_code == 303
    labels = client.get("/api/digitalasset/monitor/labels", headers=tenants.regulator.headers())
    assert len(labels.json()) == 1
    html = page(client, cf_url)
    assert "交易所公告" in html and "交易所" in html
    bad = post(
        client,
        "/digitalasset/monitor/labels",
        {**label, "form_key": key_of(html, 'id="label-form"'), "confidence": "2"},
    )
    assert bad.status_code == 422 and "置信度须在 0 到 1 之间" in bad.text
    assert_readable(bad.text)

    # Filters by status and pattern.
    html = page(client, "/digitalasset/monitor?status=false_positive")
    assert f'id="alert-{baf}"' in html and f'id="alert-{cf}"' not in html
    html = page(client, "/digitalasset/monitor?pattern=self_trade")
    assert 'data-pattern="self_trade"' in html and 'data-pattern="common_funder"' not in html
    # The same pair in a later export stays silent for that pattern.
    location, _ = _upload_run(client, csrf)
    run_jobs()
    assert re.search(r'id="run-suppressed">1<', page(client, location))


def test_monitor_roles_and_other_tenants(client: Any, tenants: Any, run_jobs: Any) -> None:
    csrf = login(client, tenants.a.member.username)
    location, _ = _upload_run(client, csrf)
    run_jobs()
    html = page(client, location)
    assert 'id="label-form"' not in html  # members do not manage labels
    sid = _alert_id(html, "self_trade")
    html = page(client, f"/digitalasset/monitor/alerts/{sid}")
    assert 'id="fp-form"' not in html and "待有权限的分析人员研判" in html
    r = post(
        client,
        f"/digitalasset/monitor/alerts/{sid}/decision",
        {"csrf_token": csrf, "form_key": _fresh_key(client), "verdict": "confirmed", "note": ""},
    )
    assert r.status_code == 403

    # Another enterprise neither sees nor decides the alert.
    csrf = login(client, tenants.b.admin.username)
    assert f'id="alert-{sid}"' not in page(client, "/digitalasset/monitor")
    assert client.get(f"/digitalasset/monitor/alerts/{sid}", headers=HTML).status_code == 404
    r = post(
        client,
        f"/digitalasset/monitor/alerts/{sid}/decision",
        {"csrf_token": csrf, "form_key": _fresh_key(client), "verdict": "confirmed", "note": ""},
    )
    assert r.status_code == 404
    # The regulator supervises it and may confirm it.
    csrf = login(client, tenants.regulator.member.username)
    html = page(client, f"/digitalasset/monitor/alerts/{sid}")
    r = post(
        client,
        f"/digitalasset/monitor/alerts/{sid}/decision",
        {"csrf_token": csrf, "form_key": key_of(html, 'id="confirm-form"'), "verdict": "confirmed"},
    )
    assert r.status_code == 303
    assert "已确认" in page(client, f"/digitalasset/monitor/alerts/{sid}")
    # Nobody logged in: the pages send to the login form.
    client.cookies.clear()
    r = client.get("/digitalasset/monitor", headers=HTML, follow_redirects=False)
    assert r.status_code in (302, 303) and "/login" in r.headers["location"]


def test_monitor_bad_export_is_a_clear_error(client: Any, tenants: Any) -> None:
    csrf = login(client, tenants.regulator.member.username)
    html = page(client, "/digitalasset/monitor")
    r = post(
        client,
        "/digitalasset/monitor/runs",
        {"csrf_token": csrf, "form_key": key_of(html, 'id="monitor-form"')},
        {"file": ("x.csv", b"ts,collection\n1,C\n", "text/csv")},
    )
    assert r.status_code == 422
    # The reason names the missing columns as they are spelt in the file (the rest reads Chinese).
    box = r.text[r.text.index('id="form-error"') :]
    assert_readable(r.text.replace(box[: box.index("</div>")], ""))
    assert "交易数据无法读取" in box and "token_id" in box and "Traceback" not in r.text


def _submit(client: Any, csrf: str, name: str, data: bytes) -> tuple[Any, dict[str, Any]]:
    html = page(client, "/digitalasset/audit")
    form = {"csrf_token": csrf, "form_key": key_of(html, 'id="audit-form"')}
    return post(client, "/digitalasset/audit", form, {"file": (name, data, "text/plain")}), form


def test_audit_job_error_is_never_clean(client: Any, tenants: Any, run_jobs: Any) -> None:
    csrf = login(client, tenants.regulator.member.username)
    r, form = _submit(client, csrf, "Broken.sol", BROKEN.encode())
    assert r.status_code == 303, r.text[:800]
    url = r.headers["location"]
    again = post(client, "/digitalasset/audit", form, {"file": ("Broken.sol", BROKEN.encode())})
    assert again.headers["location"] == url
    assert (
        len(client.get("/api/digitalasset/audit/runs", headers=tenants.regulator.headers()).json())
        == 1
    )
    html = page(client, url)
    assert 'class="live-job' in html and "/jobs/" in html and "排队中" in html
    run_jobs()
    html = page(client, url)
    assert 'class="live-job' not in html and 'id="audit-report"' in html
    assert "分析出错（不视为无问题）" in html and "原因" in html
    assert "未发现问题" not in html
    sarif = client.get(f"{url}/sarif", headers=HTML)
    assert sarif.status_code == 200 and sarif.json()["version"] == "2.1.0"
    assert "attachment" in sarif.headers["content-disposition"]
    assert f'id="audit-{url.rsplit("/", 1)[1]}"' in page(client, "/digitalasset/audit")

    # Another enterprise sees neither the audit nor its log.
    login(client, tenants.b.admin.username)
    assert client.get(url, headers=HTML).status_code == 404
    assert client.get(f"{url}/sarif", headers=HTML).status_code == 404
    assert url not in page(client, "/digitalasset/audit")


def test_audit_upload_refused_in_chinese(client: Any, tenants: Any) -> None:
    csrf = login(client, tenants.a.member.username)
    r, _ = _submit(client, csrf, "a.exe", b"MZ")
    assert r.status_code == 422
    assert_readable(r.text)
    assert "请上传 .sol 文件" in r.text


@pytest.mark.slow
@pytest.mark.skipif(
    bool(TOOLS.missing),
    reason="contract-audit tools missing (run scripts/digitalasset-audit-setup.sh): "
    + "; ".join(TOOLS.missing),
)
def test_audit_report_groups_findings_with_source(client: Any, tenants: Any, run_jobs: Any) -> None:
    csrf = login(client, tenants.regulator.member.username)
    r, _ = _submit(client, csrf, "Token.sol", TOKEN.encode())
    url = r.headers["location"]
    run_jobs()
    html = page(client, url)
    assert 'data-status="ok"' in html and "整数溢出" in html
    block = html[html.index('data-category="arithmetic"') :]
    block = block[: block.index("</table>")]
    assert "balanceOf[to] += value;" in block and "SWC-101" in block
    assert 'id="sarif-link"' in html
