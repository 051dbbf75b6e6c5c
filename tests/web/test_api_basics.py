"""API basics: health, auth, problem+json errors, body limits, login throttling, CSRF."""

from __future__ import annotations

import re

from mingyue.core import config


def test_health_needs_no_auth(client) -> None:
    r = client.get("/api/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_unknown_route_is_404_json(client) -> None:
    r = client.get("/api/no/such/thing")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["key"] == "core.not_found"


def test_missing_and_bad_tokens_are_401(client) -> None:
    assert client.get("/api/users").status_code == 401
    r = client.get("/api/users", headers={"Authorization": "Bearer myt_forged"})
    assert r.status_code == 401 and r.json()["key"] == "core.auth.bad_token"
    r = client.get("/api/users", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401


def test_malformed_json_is_422_naming_the_field(client, tenants) -> None:
    h = {**tenants.operator.headers(admin=True), "content-type": "application/json"}
    r = client.post("/api/organizations", headers=h, content=b"{not json")
    assert r.status_code == 422
    r = client.post("/api/organizations", headers=h, json={"name": "X", "kind": "bank"})
    assert r.status_code == 422 and r.json()["field"] == "kind"
    r = client.post(
        "/api/organizations",
        headers=h,
        json={"name": "Y", "kind": "enterprise", "uscc": "914403001922038217"},
    )
    assert r.status_code == 422 and r.json()["field"] == "uscc"


def test_oversized_body_is_413(settings, tenants) -> None:
    from fastapi.testclient import TestClient

    from mingyue.web.app import create_app

    small = settings.model_copy(update={"max_upload_bytes": 1000})
    with TestClient(create_app(small, start_workers=False)) as c:
        r = c.post(
            "/api/organizations", headers=tenants.operator.headers(admin=True), content=b"x" * 5000
        )
    assert r.status_code == 413


def test_member_cannot_manage_orgs(client, tenants) -> None:
    r = client.post(
        "/api/organizations",
        headers=tenants.a.headers(admin=True),
        json={"name": "Z", "kind": "regulator"},
    )
    assert r.status_code == 403


def test_org_admin_sees_only_own_users(client, tenants) -> None:
    r = client.get("/api/users", headers=tenants.a.headers(admin=True))
    assert r.status_code == 200
    assert {u["organization_id"] for u in r.json()} == {tenants.a.org.id}


def test_change_and_ledger_entry_commit_together(client, tenants, settings) -> None:
    from sqlalchemy import select

    from mingyue.core.db import system_session
    from mingyue.core.ledger.audit import AuditEntry

    r = client.post(
        "/api/organizations",
        headers=tenants.operator.headers(admin=True),
        json={"name": "新组织", "kind": "regulator"},
    )
    assert r.status_code == 201, r.text
    with system_session(settings, "test") as s:
        e = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "core.org.created")
            .order_by(AuditEntry.seq.desc())
        ).first()
        assert e is not None and e.payload["name"] == "新组织"
    # a refused change writes neither the change nor an entry
    r = client.post(
        "/api/organizations",
        headers=tenants.operator.headers(admin=True),
        json={"name": "新组织", "kind": "regulator"},
    )
    assert r.status_code == 409
    with system_session(settings, "test") as s:
        n = len(
            s.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "core.org.created")
                .where(AuditEntry.payload["name"].as_string() == "新组织")
            ).all()
        )
    assert n == 1


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no csrf token on the page"
    return m.group(1)


def test_console_login_logout_and_csrf(client, tenants) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    r = client.post(
        "/login",
        data={"username": tenants.a.member.username, "password": "password123", "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    cookie = r.cookies.get("mingyue_session") or client.cookies.get("mingyue_session")
    assert cookie
    page = client.get("/")
    assert page.status_code == 200 and "一屏通览" in page.text
    en = client.get("/?lang=en")
    assert "Overview" in en.text
    # logout without the CSRF token is refused; with it, it works
    r = client.post("/logout", data={}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post("/logout", data={"csrf_token": _csrf(page.text)}, follow_redirects=False)
    assert r.status_code == 303


def test_wrong_password_is_generic_and_throttled(client, tenants, settings) -> None:
    user = tenants.b.member.username
    r1 = client.post("/login", data={"username": user, "password": "wrong-password"})
    r2 = client.post("/login", data={"username": "nobody-here", "password": "wrong-password"})
    assert r1.status_code == r2.status_code == 401
    assert "用户名或密码错误" in r1.text and "用户名或密码错误" in r2.text
    for _ in range(config.get_settings().login_max_failures + 1):
        client.post("/login", data={"username": user, "password": "wrong-password"})
    # even the right password is refused while the user is throttled
    r = client.post(
        "/login", data={"username": user, "password": "password123"}, follow_redirects=False
    )
    assert r.status_code == 429


def test_openapi_operation_ids(client) -> None:
    spec = client.get("/openapi.json").json()
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    for oid in ids:
        assert re.match(r"^[a-z]+-[a-z_0-9]+$", oid), oid
