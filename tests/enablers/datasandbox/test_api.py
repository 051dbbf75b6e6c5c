"""API: upload, queries, refusals as 4xx with their audit, owner cases, budget, tenant leaks."""

from __future__ import annotations

from typing import Any

BASE = "/api/datasandbox"


def _register(
    client: Any, tenant: Any, path: Any, name: str, *, open_to_all: bool, eps: float = 2.0
) -> dict[str, Any]:
    with open(path, "rb") as f:
        r = client.post(
            f"{BASE}/datasets",
            headers=tenant.headers(admin=True),
            files={"file": (path.name, f, "text/csv")},
            data={
                "name": name,
                "identifiers": ["uscc"],
                "min_group": "5",
                "epsilon_per_period": str(eps),
                "open_to_all": "true" if open_to_all else "false",
            },
        )
    assert r.status_code == 201, r.text
    return r.json()


def _audit_of(settings: Any, request_id: int) -> list[str]:
    """Return the committed ledger actions about one request, in order."""
    from sqlalchemy import select

    from mingyue.core.db import system_session
    from mingyue.core.ledger.audit import AuditEntry

    with system_session(settings, "test audit") as s:
        return [
            e.action
            for e in s.scalars(
                select(AuditEntry)
                .where(AuditEntry.subject == f"datasandbox_request:{request_id}")
                .order_by(AuditEntry.seq)
            ).all()
        ]


def test_query_flow_and_two_tenant_leak(
    client: Any,
    tenants: Any,
    demo_files: Any,
    run_jobs: Any,
    settings: Any,
    make_org: Any,
    make_user: Any,
    token_for: Any,
) -> None:
    from mingyue.testing import Tenant

    a, b = tenants.a, tenants.b
    org = make_org()
    c_admin, c_member = make_user(org, roles=("org_admin",)), make_user(org)
    third = Tenant(org, c_admin, c_member, token_for(c_admin), token_for(c_member))
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
    # Refusal: a 422 with the request record, its audit entry committed, nothing charged.
    r = client.post(
        f"{BASE}/queries",
        headers=b.headers(),
        json={"sql": "SELECT uscc FROM enterprises", "epsilon": 0.5},
    )
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["status"] == "refused" and body["rule"] == "sql.identifier_output"
    assert body["reason"]["rule"] == "sql.identifier_output" and body["rows"] is None
    assert body["epsilon_spent"] == 0 and body["epsilon_left"] == 1.5
    assert body["key"] == "datasandbox.sql.identifier_output" and body["detail"]
    assert _audit_of(settings, body["id"]) == [
        "datasandbox.request.submitted",
        "datasandbox.request.refused",
    ]
    mine = client.get(f"{BASE}/requests/{body['id']}", headers=b.headers())
    assert mine.status_code == 200 and mine.json()["status"] == "refused"
    assert client.get(f"{BASE}/budget", headers=b.headers()).json()[0]["spent"] == 0.5
    # Budget exhausted: 429, same document, audit committed, nothing charged.
    r = client.post(
        f"{BASE}/queries",
        headers=b.headers(),
        json={"sql": "SELECT count(*) AS n FROM enterprises", "epsilon": 1.6},
    )
    assert r.status_code == 429 and r.json()["rule"] == "budget.exhausted", r.text
    assert r.json()["epsilon_spent"] == 0 and r.json()["epsilon_left"] == 1.5
    assert "datasandbox.request.refused" in _audit_of(settings, r.json()["id"])
    assert len(client.get(f"{BASE}/budget/ledger", headers=b.headers()).json()) == 1
    # Policy: verification on a dataset without a standing policy is a 403.
    r = client.post(
        f"{BASE}/verify",
        headers=b.headers(),
        json={"dataset": "tax_credit", "ids": ["x"], "predicate": "tax_paid > 0"},
    )
    assert r.status_code == 403 and r.json()["rule"] == "policy.approval_required", r.text
    assert "datasandbox.request.refused" in _audit_of(settings, r.json()["id"])
    # Owner approval for the non-standing dataset: a core case in the owner's organization.
    r = client.post(
        f"{BASE}/queries",
        headers=b.headers(),
        json={"sql": "SELECT credit_rating, count(*) AS n FROM tax_credit GROUP BY credit_rating"},
    )
    assert r.status_code == 201 and r.json()["status"] == "pending_approval", r.text
    pending_id = r.json()["id"]
    listed = client.get(
        "/api/cases", headers=a.headers(admin=True), params={"kind": "datasandbox.approval"}
    ).json()
    assert [c["subject"] for c in listed] == [f"datasandbox_request:{pending_id}"]
    case_id = listed[0]["id"]
    assert listed[0]["organization_id"] == a.org.id and listed[0]["state"] == "pending"
    assert listed[0]["data"]["request_id"] == pending_id
    # Neither the consumer nor a third organization sees or decides the owner's case.
    for outsider in (b, third):
        h = outsider.headers(admin=True)
        assert client.get(f"/api/cases/{case_id}", headers=h).status_code == 404
        assert case_id not in [c["id"] for c in client.get("/api/cases", headers=h).json()]
        r = client.post(f"/api/cases/{case_id}/transitions", headers=h, json={"name": "approve"})
        assert r.status_code == 404
    assert client.get(f"{BASE}/requests/{pending_id}", headers=third.headers()).status_code == 404
    # A member of the owner is not the owner's administrator.
    r = client.post(
        f"/api/cases/{case_id}/transitions", headers=a.headers(), json={"name": "approve"}
    )
    assert r.status_code == 403
    r = client.post(
        f"/api/cases/{case_id}/transitions", headers=a.headers(admin=True), json={"name": "approve"}
    )
    assert r.status_code == 200 and r.json()["state"] == "approved", r.text
    assert (
        client.get(f"{BASE}/requests/{pending_id}", headers=b.headers()).json()["status"]
        == "approved"
    )
    run_jobs()
    r = client.get(f"{BASE}/requests/{pending_id}", headers=b.headers())
    assert r.json()["status"] == "released" and sum(x["n"] for x in r.json()["rows"]) == 800
    # Rejection needs the owner's reason, and the consumer sees it.
    r = client.post(
        f"{BASE}/queries", headers=b.headers(), json={"sql": "SELECT count(*) AS n FROM tax_credit"}
    )
    rej_id = r.json()["id"]
    case2 = client.get(
        "/api/cases",
        headers=a.headers(admin=True),
        params={"subject": f"datasandbox_request:{rej_id}"},
    ).json()[0]["id"]
    r = client.post(
        f"/api/cases/{case2}/transitions", headers=a.headers(admin=True), json={"name": "reject"}
    )
    assert r.status_code == 422
    r = client.post(
        f"/api/cases/{case2}/transitions",
        headers=a.headers(admin=True),
        json={"name": "reject", "comment": "purpose not covered by our contract"},
    )
    assert r.status_code == 200, r.text
    r = client.get(f"{BASE}/requests/{rej_id}", headers=b.headers()).json()
    assert r["status"] == "refused" and r["reason"]["rule"] == "owner.rejected"
    assert r["reason"]["message"] == "purpose not covered by our contract" and r["rows"] is None
    assert "datasandbox.request.rejected" in _audit_of(settings, rej_id)
    assert run_jobs() == []
    # Unauthenticated calls are refused.
    assert client.get(f"{BASE}/datasets").status_code == 401


def test_upload_rejects_other_formats(client: Any, tenants: Any) -> None:
    r = client.post(
        f"{BASE}/datasets",
        headers=tenants.a.headers(admin=True),
        files={"file": ("x.exe", b"MZ", "application/octet-stream")},
        data={"name": "x"},
    )
    assert r.status_code == 422


def test_console_pages(client: Any, tenants: Any, demo_files: Any, run_jobs: Any) -> None:
    import re

    _register(client, tenants.a, demo_files.enterprises, "enterprises", open_to_all=True)
    r = client.post(
        "/login",
        data={"username": tenants.b.member.username, "password": "password123", "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get("/datasandbox")
    assert page.status_code == 200 and "数据融合训练场" in page.text and "enterprises" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    key = re.search(r'name="form_key" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = client.post(
        "/datasandbox/query",
        data={"csrf_token": token, "form_key": key, "sql": "SELECT * FROM enterprises"},
    )
    # a refusal is a request too: its page says why, in Chinese, as a refusal
    assert r.status_code == 200 and "禁止 SELECT *" in r.text and 'id="req-refusal"' in r.text
    key = re.search(r'name="form_key" value="([^"]+)"', client.get("/datasandbox").text).group(1)  # type: ignore[union-attr]
    r = client.post(
        "/datasandbox/query",
        data={
            "csrf_token": token,
            "form_key": key,
            "sql": "SELECT industry, count(*) AS n FROM enterprises GROUP BY industry",
            "epsilon": "0.5",
        },
    )
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
    body = {
        "dataset": "enterprises",
        "predicate": "employees >= 50",
        "request_b64": base64.b64encode(pc.request).decode(),
    }
    r = client.post(f"{BASE}/psi", headers=tenants.b.headers(), json=body)
    assert r.status_code == 200 and r.json()["status"] == "released", r.text
    assert (
        pc.size(base64.b64decode(r.json()["setup_b64"]), base64.b64decode(r.json()["response_b64"]))
        == 3
    )
    r = client.post(
        f"{BASE}/psi", headers=tenants.b.headers(), json={**body, "reveal_intersection": True}
    )
    assert r.status_code == 403 and r.json()["status"] == "refused"
    assert r.json()["rule"] == "policy.operation" and r.json()["epsilon_spent"] == 0
    r = client.post(f"{BASE}/psi", headers=tenants.b.headers(), json={**body, "request_b64": "%%"})
    assert r.status_code == 422


def test_owner_console_links_open_cases(client: Any, tenants: Any, demo_files: Any) -> None:
    _register(client, tenants.a, demo_files.tax_credit, "tax_credit", open_to_all=False, eps=0)
    sql = "SELECT credit_rating, count(*) AS n FROM tax_credit GROUP BY credit_rating"
    r = client.post(f"{BASE}/queries", headers=tenants.b.headers(), json={"sql": sql})
    assert r.json()["status"] == "pending_approval"
    case_id = client.get(
        "/api/cases", headers=tenants.a.headers(admin=True), params={"kind": "datasandbox.approval"}
    ).json()[0]["id"]
    r = client.post(
        "/login",
        data={"username": tenants.a.admin.username, "password": "password123", "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get("/datasandbox?lang=en")
    assert f'href="/cases/{case_id}"' in page.text and "Decide in the case" in page.text
    case_page = client.get(f"/cases/{case_id}")
    assert case_page.status_code == 200 and "credit_rating" in case_page.text


def _ledger_length(settings: Any) -> int:
    from sqlalchemy import func, select

    from mingyue.core.db import system_session
    from mingyue.core.ledger.audit import AuditEntry

    with system_session(settings, "test audit") as s:
        return int(s.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def test_reading_requests_never_writes_the_ledger(
    client: Any, tenants: Any, demo_files: Any, run_jobs: Any, settings: Any
) -> None:
    a, b = tenants.a, tenants.b
    _register(client, a, demo_files.enterprises, "enterprises", open_to_all=True, eps=3.0)
    ids = []
    for sql, eps in (
        ("SELECT industry, count(*) AS n FROM enterprises GROUP BY industry", 0.5),
        ("SELECT count(*) AS n FROM enterprises", 0.25),
        ("SELECT uscc FROM enterprises", 0.5),  # refused, still a request
    ):
        r = client.post(f"{BASE}/queries", headers=b.headers(), json={"sql": sql, "epsilon": eps})
        assert r.status_code in (201, 422), r.text
        ids.append(r.json()["id"])
    run_jobs()
    before = _ledger_length(settings)
    for _ in range(3):
        listed = client.get(f"{BASE}/requests", headers=b.headers())
        assert listed.status_code == 200 and len(listed.json()) == 3
        assert client.get(f"{BASE}/requests/{ids[0]}", headers=b.headers()).status_code == 200
        assert client.get(f"{BASE}/budget/ledger", headers=b.headers()).status_code == 200
    assert _ledger_length(settings) == before
    # What is left is still computed live from the consumer's own budget rows.
    left = {x["id"]: x["epsilon_left"] for x in listed.json()}
    assert left[ids[0]] == left[ids[2]] == 2.25
    charged = client.get(f"{BASE}/budget/ledger", headers=b.headers()).json()
    assert [c["dataset"] for c in charged] == ["enterprises", "enterprises"]
