"""The billing core app: API (/api/usage, /api/statements, /api/tariffs), console page, CLI."""

from __future__ import annotations

from typing import Any

TARIFF = {
    "meter": "core.api_calls",
    "prices": {"peak": "0.05", "flat": "0.03", "valley": "0.01"},
    "effective_from": "2025-01-01",
}
# 07:00-12:00 Shanghai on 2025-11-03: 4 h flat + 1 h peak
USAGE = {
    "meter": "core.api_calls",
    "quantity": "50",
    "unit": "call",
    "start": "2025-11-03T07:00:00+08:00",
    "end": "2025-11-03T12:00:00+08:00",
    "source": "api-test",
}


def _seed(client: Any, tenants: Any) -> dict[str, Any]:
    op = tenants.operator.headers(admin=True)
    r = client.post("/api/tariffs", json=TARIFF, headers=op)
    assert r.status_code == 201, r.text
    r = client.put(
        "/api/free-pools",
        headers=op,
        json={
            "organization_id": tenants.a.org.id,
            "meter": "core.api_calls",
            "month": "2025-11",
            "granted": "30",
        },
    )
    assert r.status_code == 200, r.text
    r = client.post("/api/usage", json={**USAGE, "organization_id": tenants.a.org.id}, headers=op)
    assert r.status_code == 201, r.text
    return r.json()


def test_api_usage_statements_flow_and_scoping(client: Any, tenants: Any) -> None:
    usage = _seed(client, tenants)
    assert [(s["band"], s["quantity"]) for s in usage["breakdown"]] == [
        ("flat", "40"),
        ("peak", "10"),
    ]
    assert usage["amount"] == "1.70" or str(usage["amount"]).rstrip("0") == "1.7"
    a, b = tenants.a.headers(), tenants.b.headers()
    rows = client.get("/api/usage", params={"month": "2025-11"}, headers=a).json()
    assert [r["id"] for r in rows] == [usage["id"]]
    assert client.get("/api/usage", params={"month": "2025-10"}, headers=a).json() == []
    assert client.get("/api/usage", headers=b).json() == []
    assert (
        client.get("/api/usage", params={"organization_id": tenants.a.org.id}, headers=b).json()
        == []
    )
    # only platform admins record usage and issue statements
    assert (
        client.post(
            "/api/usage", json={**USAGE, "organization_id": tenants.a.org.id}, headers=a
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/api/statements",
            json={"organization_id": tenants.a.org.id, "month": "2025-11"},
            headers=tenants.a.headers(admin=True),
        ).status_code
        == 403
    )
    op = tenants.operator.headers(admin=True)
    r = client.post(
        "/api/statements",
        json={"organization_id": tenants.a.org.id, "month": "2025-11"},
        headers=op,
    )
    assert r.status_code == 201, r.text
    st = r.json()
    assert (st["gross"], st["free_credit"], st["total"]) == ("1.7", "0.9", "0.8")
    assert [(ln["band"], ln["amount"]) for ln in st["lines"]] == [("peak", "0.5"), ("flat", "0.3")]
    again = client.post(
        "/api/statements",
        json={"organization_id": tenants.a.org.id, "month": "2025-11"},
        headers=op,
    )
    assert again.status_code == 409 and again.json()["key"] == "core.billing.already_issued"
    a_admin, b_admin = tenants.a.headers(admin=True), tenants.b.headers(admin=True)
    assert [s["id"] for s in client.get("/api/statements", headers=a_admin).json()] == [st["id"]]
    assert client.get(f"/api/statements/{st['id']}", headers=a_admin).json() == st
    assert client.get("/api/statements", headers=b_admin).json() == []
    assert client.get(f"/api/statements/{st['id']}", headers=b_admin).status_code == 404
    assert client.get("/api/statements", headers=a).status_code == 403  # members: no bills
    # the regulator oversees every organization
    reg = tenants.regulator.headers()
    assert [s["id"] for s in client.get("/api/statements", headers=reg).json()] == [st["id"]]
    # late usage in an invoiced month is refused
    late = client.post(
        "/api/usage", json={**USAGE, "organization_id": tenants.a.org.id}, headers=op
    )
    assert late.status_code == 409 and late.json()["key"] == "core.billing.month_closed"


def test_api_pools_summary_and_bad_input(client: Any, tenants: Any) -> None:
    _seed(client, tenants)
    a, b = tenants.a.headers(), tenants.b.headers()
    pool = client.get(
        "/api/free-pools", params={"meter": "core.api_calls", "month": "2025-11"}, headers=a
    ).json()
    assert (pool["granted"], pool["used"], pool["remaining"]) == ("30", "30", "0")
    foreign = client.get(
        "/api/free-pools",
        params={"meter": "core.api_calls", "month": "2025-11", "organization_id": tenants.a.org.id},
        headers=b,
    )
    assert foreign.status_code == 404
    summary = client.get("/api/usage/summary", params={"month": "2025-11"}, headers=a).json()
    assert summary["meters"][0]["quantity"] == "50" and len(summary["days"]) == 30
    assert (
        client.get("/api/usage/summary", params={"month": "2025-11"}, headers=b).json()["meters"]
        == []
    )
    op = tenants.operator.headers(admin=True)
    bad = client.post(
        "/api/usage",
        json={**USAGE, "organization_id": tenants.a.org.id, "quantity": "lots"},
        headers=op,
    )
    assert bad.status_code == 422 and "quantity" in bad.text
    naive = client.post(
        "/api/usage",
        json={**USAGE, "organization_id": tenants.a.org.id, "start": "2025-11-03T07:00:00"},
        headers=op,
    )
    assert naive.status_code == 422 and "start" in naive.text
    wrong_unit = client.post(
        "/api/usage",
        json={**USAGE, "organization_id": tenants.a.org.id, "unit": "hour"},
        headers=op,
    )
    assert wrong_unit.status_code == 422 and wrong_unit.json()["key"] == "core.usage.bad_unit"
    gap = client.post(
        "/api/tariffs",
        headers=op,
        json={
            **TARIFF,
            "effective_from": "2031-01-01",
            "windows": [{"band": "peak", "start": "00:00", "end": "12:00"}],
        },
    )
    assert gap.status_code == 422 and gap.json()["key"] == "core.tariff.windows_not_covering"
    assert client.get("/api/usage", params={"month": "2025-13"}, headers=a).status_code == 422
    tariffs = client.get("/api/tariffs", headers=b).json()
    assert [t["meter"] for t in tariffs] == ["core.api_calls"]


def _login(client: Any, user: Any) -> str:
    r = client.post(
        "/login",
        data={"username": user.username, "password": "password123"},
        follow_redirects=False,
    )
    assert r.status_code in (302, 303), r.text
    page = client.get("/billing", params={"month": "2025-11"})
    assert page.status_code == 200, page.text
    return page.text


def test_console_billing_page_and_issue(client: Any, tenants: Any) -> None:
    _seed(client, tenants)
    page = _login(client, tenants.a.admin)
    assert 'id="chart-usage"' in page and "/static/echarts.min.js" in page
    assert "api-test" in page and 'id="issue-form"' not in page
    client.cookies.clear()
    page = _login(client, tenants.b.admin)
    assert "api-test" not in page
    client.cookies.clear()
    page = _login(client, tenants.operator.admin)
    assert 'id="issue-form"' in page
    token = page.split('name="csrf-token" content="')[1].split('"')[0]
    form = {"organization_id": str(tenants.a.org.id), "month": "2025-11"}
    assert f'<option value="{tenants.a.org.id}">' in page
    assert client.post("/billing/statements", data=form).status_code == 403  # no CSRF token
    key = page.split('name="form_key" value="')[1].split('"')[0]
    data = {**form, "csrf_token": token, "form_key": key}
    r = client.post("/billing/statements", data=data, follow_redirects=False)
    assert r.status_code == 303
    # a reload of the answer issues nothing twice and shows the same statement
    again = client.post("/billing/statements", data=data, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == r.headers["location"]
    st = client.get(r.headers["location"])
    assert st.status_code == 200 and 'id="st-total"><strong>¥0.80</strong>' in st.text
    assert "API 调用" in st.text and "core.api_calls" not in st.text
    # the current month cannot be issued yet: a readable page says when it closes
    now = client.get("/billing").text
    this_month = now.split("<h1>")[1].split("·")[1].split("<")[0].strip()
    r = client.post(
        "/billing/statements",
        data={**form, "month": this_month, "csrf_token": token, "form_key": "m" * 32},
        headers={"accept": "text/html"},
    )
    assert r.status_code == 409 and "尚未结束" in r.text and "-01" in r.text
    assert '"key"' not in r.text
    # the enterprise sees its own statement and a month-to-date figure with one rounding rule
    client.cookies.clear()
    page = _login(client, tenants.a.admin)
    assert 'id="mtd">¥0.80<' in page and "¥0.80</strong>" in page
    client.cookies.clear()
    page = _login(client, tenants.b.admin)
    assert "¥0.80" not in page.split('id="statements-table"')[1]
    assert "暂无已出具的账单" in page


def test_cli_tariff_usage_statement(cli: Any, tenants: Any) -> None:
    org = str(tenants.a.org.id)
    r = cli(
        "billing",
        "tariff",
        "create",
        "--meter",
        "core.api_calls",
        "--peak",
        "0.05",
        "--flat",
        "0.03",
        "--valley",
        "0.01",
        "--from",
        "2025-01-01",
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    assert r.json()["windows"][0] == {"band": "valley", "start": "00:00", "end": "07:00"}
    r = cli(
        "billing",
        "usage",
        "record",
        "--org",
        org,
        "--meter",
        "core.api_calls",
        "--quantity",
        "50",
        "--unit",
        "call",
        "--start",
        "2025-11-03T07:00:00+08:00",
        "--end",
        "2025-11-03T12:00:00+08:00",
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    r = cli(
        "billing",
        "usage",
        "list",
        "--as",
        tenants.a.member.username,
        "--month",
        "2025-11",
        "--json",
    )
    assert r.exit_code == 0 and [u["quantity"] for u in r.json()] == ["50"]
    r = cli("billing", "usage", "list", "--as", tenants.b.member.username, "--json")
    assert r.exit_code == 0 and r.json() == []
    r = cli(
        "billing",
        "statement",
        "generate",
        "--as",
        tenants.a.admin.username,
        "--org",
        org,
        "--month",
        "2025-11",
    )
    assert r.exit_code == 1 and r.stderr.count("\n") == 1 and "core.forbidden" in r.stderr
    r = cli(
        "billing",
        "statement",
        "generate",
        "--as",
        tenants.operator.admin.username,
        "--org",
        org,
        "--month",
        "2025-11",
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    st = r.json()
    assert st["total"] == "1.7" and len(st["lines"]) == 2
    r = cli(
        "billing", "statement", "show", str(st["id"]), "--as", tenants.a.admin.username, "--json"
    )
    assert r.exit_code == 0 and r.json() == st
    r = cli("billing", "statement", "show", str(st["id"]), "--as", tenants.b.admin.username)
    assert r.exit_code == 1 and "core.not_found" in r.stderr
    r = cli(
        "billing",
        "usage",
        "record",
        "--org",
        org,
        "--meter",
        "core.api_calls",
        "--quantity",
        "1",
        "--unit",
        "call",
        "--start",
        "2025-12-01T00:00:00",
        "--end",
        "2025-12-02T00:00:00+08:00",
    )
    assert r.exit_code == 2 and "start" in r.stderr
    r = cli("billing", "pool", "default", "--meter", "core.api_calls", "--granted", "100", "--json")
    assert r.exit_code == 0, r.stderr
    r = cli(
        "billing",
        "pool",
        "show",
        "--as",
        tenants.a.member.username,
        "--meter",
        "core.api_calls",
        "--month",
        "2026-01",
        "--json",
    )
    assert r.exit_code == 0 and r.json()["granted"] == "100"  # tenant a is an SME


def test_api_billing_run_and_pool_default(client: Any, tenants: Any) -> None:
    _seed(client, tenants)
    op = tenants.operator.headers(admin=True)
    r = client.put(
        "/api/free-pools/defaults", headers=op, json={"meter": "core.api_calls", "granted": "7"}
    )
    assert r.status_code == 204, r.text
    pool = client.get(
        "/api/free-pools",
        params={"meter": "core.api_calls", "month": "2025-12"},
        headers=tenants.a.headers(),
    ).json()
    assert pool["granted"] == "7"  # tenant a is an SME
    r = client.post("/api/statements/run", json={"month": "2025-11"}, headers=op)
    assert r.status_code == 201, r.text
    assert [s["organization_id"] for s in r.json()] == [tenants.a.org.id]
    assert (
        client.post(
            "/api/statements/run", json={"month": "2025-11"}, headers=tenants.a.headers(admin=True)
        ).status_code
        == 403
    )


def test_billing_run_as_a_background_job(client: Any, tenants: Any, run_jobs: Any) -> None:
    _seed(client, tenants)
    op = tenants.operator.headers(admin=True)
    r = client.post("/api/statements/run-job", json={"month": "2025-11"}, headers=op)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["kind"] == "core.billing.run" and job["status"] == "queued"
    done = {j.id: j for j in run_jobs()}
    assert done[job["id"]].status == "succeeded", done[job["id"]]
    issued = client.get("/api/statements", params={"month": "2025-11"}, headers=op).json()
    assert [s["organization_id"] for s in issued] == [tenants.a.org.id]
    assert done[job["id"]].result == {
        "month": "2025-11",
        "statements": [issued[0]["id"]],
        "refused": {},
    }
    assert (
        client.post(
            "/api/statements/run-job",
            json={"month": "2025-11"},
            headers=tenants.a.headers(admin=True),
        ).status_code
        == 403
    )
