"""Console pages of crossborder: assessment PRG, PII scan upload, transfers, endpoints, case view."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from mingyue.core.cases import service as case_service
from mingyue.enablers.crossborder.case_view import subject_view
from mingyue.enablers.crossborder.models import CrossborderAssessment, CrossborderScan
from mingyue.sdk import unit_of_work


def _login(client: Any, username: str) -> str:
    r = client.post(
        "/login", data={"username": username, "password": "password123"}, follow_redirects=False
    )
    assert r.status_code in (302, 303), r.text
    page = client.get("/crossborder")
    return str(page.text.split('name="csrf-token" content="')[1].split('"')[0])


def _key(page: str) -> str:
    m = re.search(r'name="form_key" value="([^"]+)"', page)
    assert m, "the form carries a one-time key"
    return m.group(1)


def _count(settings: Any, actor: Any, model: Any) -> int:
    with unit_of_work(actor, settings) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(model)) or 0)


def test_assessment_keeps_inputs_highlights_verdict_and_reload_adds_nothing(
    client: Any, tenants: Any, settings: Any, actor_of: Any
) -> None:
    csrf = _login(client, tenants.a.member.username)
    data = {
        "pi_individuals": "150000",
        "sensitive_pi_individuals": "20",
        "purpose": "other",
        "important_data": "true",
        "ftz": "out",
        "csrf_token": csrf,
        "form_key": _key(client.get("/crossborder").text),
    }
    r = client.post("/crossborder/assess", data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/crossborder/assessments/")
    again = client.post("/crossborder/assess", data=data, follow_redirects=False)
    assert again.headers["location"] == r.headers["location"]  # the reload creates nothing
    assert _count(settings, actor_of(tenants.a.member), CrossborderAssessment) == 1
    page = client.get(r.headers["location"]).text
    assert 'value="150000"' in page and 'value="20"' in page  # the form keeps what was asked
    assert re.search(r'name="important_data" value="true"\s+checked', page)
    assert re.search(r'<option value="out"\s+selected', page)
    assert "<mark>" in page and 'id="assess-verdict"' in page
    result = page.split('id="assess-result"')[1].split('id="filings"')[0]
    assert "Art." not in result, result
    assert re.search(r"第[一二三四五六七八九十]+条", result)  # citations in Chinese legal form
    assert "security_assessment" not in result.replace("kind=security_assessment", "")
    # a bad scenario answers on the form, with what was typed, and creates nothing
    bad = client.post(
        "/crossborder/assess",
        data={**data, "pi_individuals": "-5", "form_key": _key(page)},
        follow_redirects=False,
    )
    assert bad.status_code == 422 and 'value="-5"' in bad.text and "请检查" in bad.text
    # another tenant does not see it
    _login(client, tenants.b.member.username)
    assert client.get(r.headers["location"]).status_code == 404


def test_pii_scan_of_pasted_text_shows_counts_by_type_once(
    client: Any, tenants: Any, settings: Any, actor_of: Any
) -> None:
    csrf = _login(client, tenants.a.member.username)
    page = client.get("/crossborder/scans")
    assert page.status_code == 200 and "尚无扫描记录" in page.text  # the empty state explains
    data = {
        "text": "客户张三，手机 13912345678，备用 13812345679，邮箱 zhang@example.com",
        "csrf_token": csrf,
        "form_key": _key(page.text),
    }
    r = client.post("/crossborder/scans", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    again = client.post("/crossborder/scans", data=data, follow_redirects=False)
    assert again.headers["location"] == r.headers["location"]
    assert _count(settings, actor_of(tenants.a.member), CrossborderScan) == 1
    report = client.get(r.headers["location"]).text
    counts = report.split('id="scan-counts"')[1].split("</table>")[0]
    assert "手机号码" in counts and "<td>2</td>" in counts and "电子邮箱" in counts
    assert "CN_MOBILE" not in report.replace('data-type="CN_MOBILE"', "")
    assert "13912345678" not in report  # values are never shown
    listing = client.get("/crossborder/scans").text
    assert "手机号码 2" in listing and '{"CN_' not in listing
    nothing = client.post(
        "/crossborder/scans",
        data={"csrf_token": csrf, "form_key": _key(listing)},
        headers={"accept": "text/html"},
    )
    assert nothing.status_code == 422 and "请选择文件或粘贴文本" in nothing.text
    _login(client, tenants.b.member.username)
    assert client.get(r.headers["location"]).status_code == 404


def test_large_table_scans_as_a_job_with_live_status_then_column_verdicts(
    client: Any, tenants: Any, settings: Any, run_jobs: Any
) -> None:
    settings.crossborder = {"sync_scan_max_bytes": 1024}
    csrf = _login(client, tenants.a.member.username)
    rows = "\n".join(f"{i},1391234{i:04d},user{i}@example.com,备注" for i in range(200))
    csv = ("id,mobile,email,note\n" + rows + "\n").encode()
    r = client.post(
        "/crossborder/scans",
        data={"csrf_token": csrf, "form_key": _key(client.get("/crossborder/scans").text)},
        files={"file": ("customers.csv", csv, "text/csv")},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "/crossborder/scans/jobs/" in r.headers["location"]
    waiting = client.get(r.headers["location"])
    assert waiting.status_code == 200 and "live-job" in waiting.text and "正在扫描" in waiting.text
    run_jobs()
    done = client.get(r.headers["location"], follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith("/crossborder/scans/")
    report = client.get(done.headers["location"]).text
    columns = report.split('id="scan-columns"')[1].split("</table>")[0]
    assert "mobile" in columns and "手机号码" in columns and "电子邮箱" in columns
    assert "未判定为个人信息" in columns  # the id and note columns hold none
    _login(client, tenants.b.member.username)
    assert client.get(r.headers["location"]).status_code == 404


def test_transfers_and_endpoints_pages_explain_when_empty(client: Any, tenants: Any) -> None:
    _login(client, tenants.a.admin.username)
    transfers = client.get("/crossborder/transfers")
    assert transfers.status_code == 200 and 'id="transfers-empty"' in transfers.text
    endpoints = client.get("/crossborder/endpoints")
    assert endpoints.status_code == 200 and 'id="observed-empty"' in endpoints.text
    english = client.get("/crossborder/endpoints?lang=en").text
    assert "No outbound traffic observed yet" in english


def test_filing_case_shows_the_filing(
    client: Any, tenants: Any, settings: Any, actor_of: Any
) -> None:
    csrf = _login(client, tenants.a.member.username)
    form = client.get("/crossborder/filings/new?kind=standard_contract").text
    data = {
        "kind": "standard_contract",
        "recipient_name": "新加坡伙伴有限公司",
        "recipient_country": "sg",
        "purpose": "跨境客服",
        "categories": "姓名，手机号",
        "retention": "一年，到期删除",
        "security_measures": "传输加密",
        "recipient_legal_environment": "新加坡 PDPA",
        "risks_and_mitigations": "合同约束再转移",
        "pi_individuals": "150000",
        "csrf_token": csrf,
        "form_key": _key(form),
    }
    r = client.post("/crossborder/filings", data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/cases/")
    assert (
        client.post("/crossborder/filings", data=data, follow_redirects=False).headers["location"]
        == r.headers["location"]
    )
    case_id = int(r.headers["location"].rsplit("/", 1)[1])
    with unit_of_work(actor_of(tenants.operator.member), settings) as uow:
        case = case_service.get_case(uow=uow, case_id=case_id)
        view = subject_view(uow=uow, case=case)
    assert view is not None
    fields = dict(view.fields)
    assert fields["crossborder.subject.recipient"].startswith("新加坡伙伴有限公司")
    assert fields["crossborder.form.retention"] == "一年，到期删除"
    assert fields["crossborder.form.categories"] == "姓名、手机号"
    # a bad form comes back with what was typed and names the field
    bad = client.post("/crossborder/filings", data={**data, "recipient_country": "SGP"})
    assert bad.status_code == 422 and "新加坡伙伴有限公司" in bad.text and "请检查" in bad.text
