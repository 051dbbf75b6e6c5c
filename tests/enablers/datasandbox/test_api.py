"""API: registration by upload, queries, decisions, budget — and the two-tenant leak test."""

from __future__ import annotations

from typing import Any

BASE = "/api/datasandbox"


def _register(client: Any, tenant: Any, path: Any, name: str, *, open_to_all: bool,
              eps: float = 2.0) -> dict[str, Any]:
    with open(path, "rb") as f:
        r = client.post(f"{BASE}/datasets", headers=tenant.headers(admin=True),
                        files={"file": (path.name, f, "text/csv")},
                        data={"name": name, "identifiers": ["uscc"], "min_group": "5",
                              "epsilon_per_period": str(eps),
                              "open_to_all": "true" if open_to_all else "false"})
    assert r.status_code == 201, r.text
    return r.json()


def test_query_flow_and_two_tenant_leak(client: Any, tenants: Any, demo_files: Any,
                                        run_jobs: Any) -> None:
    a, b = tenants.a, tenants.b
    ds = _register(client, a, demo_files.enterprises, "enterprises", open_to_all=True)
    assert "path" not in ds and ds["odrl"]["@type"] == "Offer"
    _register(client, a, demo_files.tax_credit, "tax_credit", open_to_all=False, eps=0)
    # The catalogue is shared; the mock preview holds no real code.
    r = client.get(f"{BASE}/datasets/enterprises", headers=b.headers())
    assert r.status_code == 200 and len(r.json()["mock_preview"]) == 8
    sql = "SELECT district, count(*) AS n FROM enterprises GROUP BY district"
    r = client.post(f"{BASE}/queries", headers=b.headers(), json={"sql": sql, "epsilon": 0.5})
    assert r.status_code == 201 and r.json()["status"] == "approved", r.text
    req_b = r.json()["id"]
    run_jobs()
    r = client.get(f"{BASE}/requests/{req_b}", headers=b.headers())
    assert r.json()["status"] == "released" and r.json()["rows"]
    b_rows = r.json()["rows"]
    # Tenant a (even as the data owner) cannot read b's request or its result.
    r = client.get(f"{BASE}/requests/{req_b}", headers=a.headers(admin=True))
    assert r.status_code == 404
    r = client.get(f"{BASE}/requests", headers=a.headers(admin=True))
    assert r.status_code == 200 and req_b not in [x["id"] for x in r.json()]
    assert str(b_rows[0]["n"]) not in r.text or r.json() == []
    # b's budget is b's; a's is untouched.
    assert client.get(f"{BASE}/budget", headers=b.headers()).json()[0]["spent"] == 0.5
    assert client.get(f"{BASE}/budget", headers=a.headers()).json()[0]["spent"] == 0
    ledger = client.get(f"{BASE}/budget/ledger", headers=a.headers()).json()
    assert ledger == []
    # Refusal: recorded with its rule, charged nothing.
    r = client.post(f"{BASE}/queries", headers=b.headers(),
                    json={"sql": "SELECT uscc FROM enterprises", "epsilon": 0.5})
    assert r.status_code == 201 and r.json()["status"] == "refused"
    assert r.json()["reason"]["rule"] == "sql.identifier_output"
    # Owner approval for the non-standing dataset; b cannot approve its own request.
    r = client.post(f"{BASE}/queries", headers=b.headers(),
                    json={"sql": "SELECT credit_rating, count(*) AS n FROM tax_credit "
                                 "GROUP BY credit_rating"})
    pending_id = r.json()["id"]
    assert r.json()["status"] == "pending_approval"
    r = client.post(f"{BASE}/requests/{pending_id}/decision", headers=b.headers(admin=True),
                    json={"approve": True})
    assert r.status_code == 404
    pend = client.get(f"{BASE}/pending", headers=a.headers(admin=True)).json()
    assert [p["id"] for p in pend] == [pending_id]
    r = client.post(f"{BASE}/requests/{pending_id}/decision", headers=a.headers(admin=True),
                    json={"approve": True})
    assert r.status_code == 200 and r.json()["status"] == "approved"
    run_jobs()
    r = client.get(f"{BASE}/requests/{pending_id}", headers=b.headers())
    assert r.json()["status"] == "released" and sum(x["n"] for x in r.json()["rows"]) == 800
    # Members cannot decide; unauthenticated calls are refused.
    assert client.get(f"{BASE}/pending", headers=a.headers()).status_code == 403
    assert client.get(f"{BASE}/datasets").status_code == 401


def test_upload_rejects_other_formats(client: Any, tenants: Any) -> None:
    r = client.post(f"{BASE}/datasets", headers=tenants.a.headers(admin=True),
                    files={"file": ("x.exe", b"MZ", "application/octet-stream")},
                    data={"name": "x"})
    assert r.status_code == 422


def test_console_pages(client: Any, tenants: Any, demo_files: Any, run_jobs: Any) -> None:
    import re

    _register(client, tenants.a, demo_files.enterprises, "enterprises", open_to_all=True)
    r = client.post("/login", data={"username": tenants.b.member.username,
                                    "password": "password123", "next": "/"},
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/datasandbox")
    assert page.status_code == 200 and "数据融合训练场" in page.text and "enterprises" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = client.post("/datasandbox/query", data={
        "csrf_token": token, "sql": "SELECT * FROM enterprises", "epsilon": "0.5"})
    assert r.status_code == 200 and "sql.select_star" in r.text
    r = client.post("/datasandbox/query", data={
        "csrf_token": token, "sql": "SELECT industry, count(*) AS n FROM enterprises "
                                    "GROUP BY industry", "epsilon": "0.5"})
    assert r.status_code == 200
    run_jobs()
    en = client.get("/datasandbox?lang=en")
    assert "Privacy budget" in en.text and "released" in en.text
    detail = client.get("/datasandbox/datasets/enterprises")
    assert detail.status_code == 200 and "Offer" in detail.text


def test_psi_endpoint(client: Any, tenants: Any, demo_files: Any) -> None:
    import base64
    import csv

    from mingyue.enablers.datasandbox.engine.verify import PsiClient

    _register(client, tenants.a, demo_files.enterprises, "enterprises", open_to_all=True)
    with open(demo_files.enterprises, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    big = [r["uscc"] for r in rows if int(r["employees"]) >= 50]
    small = [r["uscc"] for r in rows if int(r["employees"]) < 50]
    mine = big[:3] + small[:4]
    pc = PsiClient(mine)
    body = {"dataset": "enterprises", "predicate": "employees >= 50",
            "request_b64": base64.b64encode(pc.request).decode()}
    r = client.post(f"{BASE}/psi", headers=tenants.b.headers(), json=body)
    assert r.status_code == 200 and r.json()["status"] == "released", r.text
    assert pc.size(base64.b64decode(r.json()["setup_b64"]),
                   base64.b64decode(r.json()["response_b64"])) == 3
    r = client.post(f"{BASE}/psi", headers=tenants.b.headers(),
                    json={**body, "reveal_intersection": True})
    assert r.json()["status"] == "refused"
    r = client.post(f"{BASE}/psi", headers=tenants.b.headers(), json={**body, "request_b64": "%%"})
    assert r.status_code == 422
