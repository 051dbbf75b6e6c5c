"""API and console tests, including the two-tenant leak test."""

from __future__ import annotations

from typing import Any

from mingyue.enablers.crossborder import service
from mingyue.enablers.crossborder.schemas import TransferIn
from mingyue.sdk import store_upload, unit_of_work

FORM: dict[str, Any] = {
    "recipient": {"name": "Partner SG Pte", "country": "SG"},
    "purpose": "跨境客服",
    "categories": ["姓名", "手机号"],
    "pi_individuals": 150000,
    "sensitive_pi_individuals": 0,
    "important_data": False,
    "retention": "1年，到期删除",
    "security_measures": "加密传输、访问控制",
    "recipient_legal_environment": "新加坡PDPA",
    "risks_and_mitigations": "再转移风险；合同约束",
}
SCENARIO = {
    "ciio": False,
    "important_data": False,
    "pi_individuals": 1_000_000,
    "sensitive_pi_individuals": 0,
    "purpose": "other",
    "ftz_negative_list": None,
}
ID = "11010519491231002X"


def _login(client: Any, username: str) -> str:
    r = client.post(
        "/login", data={"username": username, "password": "password123"}, follow_redirects=False
    )
    assert r.status_code in (302, 303), r.text
    page = client.get("/crossborder")
    assert page.status_code == 200, page.text
    return str(page.text.split('name="csrf-token" content="')[1].split('"')[0])


def _form_key(page: str) -> str:
    return page.split('name="form_key" value="')[1].split('"')[0]


def test_assess_api(client: Any, tenants: Any) -> None:
    ha = tenants.a.headers()
    r = client.post("/api/crossborder/assess", json=SCENARIO, headers=ha)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["path"] == "security_assessment"
    assert body["result"]["basis"][0] == "促进和规范数据跨境流动规定 Art. 7(2)"
    bad = client.post(
        "/api/crossborder/assess", json={**SCENARIO, "purpose": "marketing"}, headers=ha
    )
    assert bad.status_code == 422 and bad.json()["field"] == "purpose"
    neg = client.post(
        "/api/crossborder/assess", json={**SCENARIO, "pi_individuals": -3}, headers=ha
    )
    assert neg.status_code == 422 and neg.json()["field"] == "pi_individuals"
    assert client.post("/api/crossborder/assess", json=SCENARIO).status_code == 401
    # A regulator reads but does not assess for a firm.
    assert (
        client.post(
            "/api/crossborder/assess", json=SCENARIO, headers=tenants.regulator.headers()
        ).status_code
        == 403
    )


def test_two_tenants_do_not_leak(client: Any, tenants: Any) -> None:
    ha, hb = tenants.a.headers(), tenants.b.headers()
    hadmin_a = tenants.a.headers(admin=True)
    assert client.post("/api/crossborder/assess", json=SCENARIO, headers=ha).status_code == 201
    f = client.post(
        "/api/crossborder/filings", json={"kind": "standard_contract", "form": FORM}, headers=ha
    )
    assert f.status_code == 201, f.text
    fid = f.json()["id"]
    t = client.post(
        "/api/crossborder/transfers",
        json={
            "recipient": "Partner SG",
            "country": "SG",
            "endpoints": ["api.partner.sg"],
            "categories": ["contact"],
            "legal_basis": "standard_contract_or_certification",
            "filing_id": fid,
        },
        headers=hadmin_a,
    )
    assert t.status_code == 201, t.text
    s = client.post(
        "/api/crossborder/scans", files={"file": ("p.txt", f"身份证{ID}".encode())}, headers=ha
    )
    assert s.status_code == 201, s.text
    assert s.json()["counts"] == {"CN_RESIDENT_ID": 1} and ID not in s.text
    # Tenant b sees none of it and cannot reach it by id.
    for path in ("assessments", "filings", "transfers", "scans"):
        assert client.get(f"/api/crossborder/{path}", headers=hb).json() == [], path
        assert len(client.get(f"/api/crossborder/{path}", headers=ha).json()) == 1, path
    assert client.get(f"/api/crossborder/filings/{fid}", headers=hb).status_code == 404
    assert (
        client.post(
            "/api/crossborder/transfers",
            json={
                "recipient": "X",
                "country": "SG",
                "endpoints": ["x.sg"],
                "legal_basis": "exempt",
                "filing_id": fid,
            },
            headers=tenants.b.headers(admin=True),
        ).status_code
        == 404
    )
    assert client.get("/api/crossborder/flows", headers=hb).json()["counts"] == []
    # Oversight (the operator's reviewer) sees both tenants' filings.
    assert [
        x["id"]
        for x in client.get("/api/crossborder/filings", headers=tenants.operator.headers()).json()
    ] == [fid]


def test_scan_values_only_on_request_and_bad_files(client: Any, tenants: Any) -> None:
    ha = tenants.a.headers()
    r = client.post(
        "/api/crossborder/scans?show_values=true",
        files={"file": ("p.txt", f"身份证{ID}".encode())},
        headers=ha,
    )
    assert r.status_code == 201 and r.json()["entities"][0]["text"] == ID
    listed = client.get("/api/crossborder/scans", headers=ha).json()
    assert all(ID not in str(x) for x in listed)  # stored without values
    bad = client.post(
        "/api/crossborder/scans", files={"file": ("x.txt", b"\x00\x01\x02binary")}, headers=ha
    )
    assert bad.status_code == 422 and "binary" in bad.json()["detail"]


def test_scan_with_ner_counts_names_places_and_organisations(
    client: Any, tenants: Any, run_jobs: Any
) -> None:
    text = "投保人：周文静，单位：成都天府软件有限公司，住四川省成都市武侯区人民南路四段9号。"
    ha = tenants.a.headers()
    r = client.post(
        "/api/crossborder/scans?show_values=true",  # NER is on for small uploads
        files={"file": ("memo.txt", text.encode())},
        headers=ha,
    )
    assert r.status_code == 201, r.text
    assert r.json()["ner"] is True
    got = {(e["type"], e["text"]) for e in r.json()["entities"]}
    assert {
        ("PERSON", "周文静"),
        ("ORGANIZATION", "成都天府软件有限公司"),
        ("LOCATION", "四川省成都市武侯区人民南路四段9号"),
    } <= got
    plain = client.post(
        "/api/crossborder/scans?ner=false", files={"file": ("memo.txt", text.encode())}, headers=ha
    ).json()
    assert not {"PERSON", "LOCATION", "ORGANIZATION"} & set(plain["counts"])
    assert plain["ner"] is False
    before = len(client.get("/api/crossborder/scans", headers=ha).json())
    big = ("说明。" * 800_000).encode()  # > 2 MiB: too much for NER inside one request
    r = client.post("/api/crossborder/scans?ner=true", files={"file": ("big.txt", big)}, headers=ha)
    assert r.status_code == 413 and "NER" in r.json()["detail"]
    assert len(client.get("/api/crossborder/scans", headers=ha).json()) == before
    r = client.post("/api/crossborder/scans", files={"file": ("big.txt", big)}, headers=ha)
    assert r.status_code == 202 and r.json()["ner"] is False  # a job; by default identifiers only
    [done] = run_jobs()
    assert done.status == "succeeded", done.error
    job = client.get(r.json()["status_url"], headers=ha).json()
    assert job["result"]["ner"] is False and job["result"]["counts"] == {}
    report = client.get(job["result"]["report_url"], headers=ha).json()
    assert report["sha256"] == r.json()["sha256"] and report["ner"] is False


def test_console_assess_and_filing_to_case(client: Any, tenants: Any) -> None:
    token = _login(client, tenants.a.member.username)
    r = client.post(
        "/crossborder/assess",
        data={
            "pi_individuals": "150000",
            "sensitive_pi_individuals": "0",
            "purpose": "other",
            "csrf_token": token,
            "form_key": _form_key(client.get("/crossborder").text),
        },
    )
    assert r.status_code == 200 and 'data-path="standard_contract_or_certification"' in r.text
    assert "促进和规范数据跨境流动规定第八条" in r.text  # citations in Chinese legal form
    page = client.get("/crossborder/filings/new?kind=security_assessment")
    assert page.status_code == 200 and "境外接收方所在国家或地区" in page.text
    form = {
        "kind": "security_assessment",
        "recipient_name": "Partner SG",
        "recipient_country": "sg",
        "purpose": "客服",
        "categories": "姓名，手机号",
        "retention": "1年",
        "security_measures": "加密",
        "recipient_legal_environment": "PDPA",
        "risks_and_mitigations": "合同约束",
        "pi_individuals": "10",
        "csrf_token": token,
        "form_key": _form_key(page.text),
    }
    r = client.post("/crossborder/filings", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/cases/")
    case_page = client.get(r.headers["location"])
    assert case_page.status_code == 200 and "数据出境安全评估申报" in case_page.text
    r = client.post("/crossborder/filings", data={**form, "recipient_country": "SGP"})
    assert r.status_code == 422
    assert (
        client.post(
            "/crossborder/assess",
            data={"pi_individuals": "1", "sensitive_pi_individuals": "0", "purpose": "other"},
        ).status_code
        == 403
    )  # no CSRF


def test_flows_for_the_firm_and_its_regulator(
    client: Any, tenants: Any, settings: Any, tmp_path: Any, actor_of: Any
) -> None:
    admin = actor_of(tenants.a.admin)
    log = tmp_path / "a.log"
    log.write_text(
        "".join(
            f'10.0.0.5 - - [10/Mar/2026:13:55:{i:02d} +0800] "GET http://api.partner.sg/s?m=139{i:08d} '
            f'HTTP/1.1" 200 10 "-" "-"\n'
            for i in range(5)
        )
    )
    with unit_of_work(admin, settings) as uow:
        service.declare_transfer(
            uow=uow,
            actor=admin,
            body=TransferIn(
                recipient="Partner SG",
                country="SG",
                endpoints=["api.partner.sg"],
                legal_basis="exempt",
            ),
        )
    with unit_of_work(admin, settings) as uow:
        service.watch_source(uow=uow, actor=admin, source=log)
    mine = client.get("/api/crossborder/flows", headers=tenants.a.headers()).json()
    assert mine["counts"] == [
        {"recipient": "Partner SG", "year": 2026, "kind": "pi", "individuals": 5}
    ]
    org_a = tenants.a.org.id
    reg = client.get(
        f"/api/crossborder/flows?organization_id={org_a}", headers=tenants.regulator.headers()
    )
    assert reg.status_code == 200 and reg.json()["counts"] == mine["counts"]
    other = client.get(
        f"/api/crossborder/flows?organization_id={org_a}", headers=tenants.b.headers()
    )
    assert other.status_code == 404
    token = _login(client, tenants.a.member.username)
    assert token and "Partner SG" in client.get("/crossborder/transfers").text
    observed = client.get("/crossborder/endpoints").text
    assert "api.partner.sg" in observed and "已申报" in observed


def test_watch_job_over_an_uploaded_log(
    client: Any, tenants: Any, settings: Any, run_jobs: Any, actor_of: Any
) -> None:
    admin = actor_of(tenants.a.admin)
    log = "".join(
        f'10.0.0.5 - - [10/Mar/2026:13:55:{i:02d} +0800] "GET http://api.partner.sg/s?m=139{i:08d} '
        f'HTTP/1.1" 200 10 "-" "-"\n'
        for i in range(12)
    ).encode()
    with unit_of_work(admin, settings) as uow:
        stored = store_upload(uow=uow, upload=log, filename="access.log")
    ha = tenants.a.headers(admin=True)
    assert (
        client.post(
            "/api/crossborder/transfers",
            json={
                "recipient": "Partner SG",
                "country": "SG",
                "endpoints": ["api.partner.sg"],
                "legal_basis": "exempt",
            },
            headers=ha,
        ).status_code
        == 201
    )
    r = client.post("/api/crossborder/watch", json={"file_id": stored.id}, headers=ha)
    assert r.status_code == 201, r.text
    # Another tenant can neither queue a job over the file nor see its counts.
    assert (
        client.post(
            "/api/crossborder/watch",
            json={"file_id": stored.id},
            headers=tenants.b.headers(admin=True),
        ).status_code
        == 404
    )
    done = run_jobs()
    (job,) = [j for j in done if j.kind == "crossborder.watch"]
    assert job.status == "succeeded", job.message
    assert job.result["lines"] == 12 and job.result["counts"][0]["individuals"] == 12
    flows = client.get("/api/crossborder/flows", headers=ha).json()
    assert flows["counts"][0]["individuals"] == 12
    # Queued again over the same file: resumed at its end, nothing counted twice.
    client.post("/api/crossborder/watch", json={"file_id": stored.id}, headers=ha)
    (job,) = [j for j in run_jobs() if j.kind == "crossborder.watch"]
    assert job.result["lines"] == 12
    assert client.get("/api/crossborder/flows", headers=ha).json()["counts"][0]["individuals"] == 12
