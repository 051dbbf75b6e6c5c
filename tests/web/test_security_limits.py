"""Limits (issue 12, item 10): ids beyond the database's range answer 422, never 500; a streamed
upload over the cap answers 413, not 400."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from mingyue.core.tenancy.identity import User
from mingyue.web.app import create_app
from mingyue.web.deps import UoW

HUGE = "99999999999999999999"  # past 64 bits: SQLite raises OverflowError
INT4_PLUS = "3000000000"  # past PostgreSQL's integer

ATTACKED = [
    ("GET", "/api/compute/jobs/{}"),
    ("GET", "/api/crossborder/filings/{}"),
    ("GET", "/api/appcheck/scans/{}"),
    ("GET", "/api/datasandbox/requests/{}"),
    ("GET", "/api/users/{}"),
    ("PATCH", "/api/users/{}"),
    ("GET", "/api/organizations/{}"),
    ("GET", "/api/audit/{}"),
    ("DELETE", "/api/tokens/{}"),
    ("GET", "/api/jobs/{}"),
    ("GET", "/api/cases/{}"),
]


@pytest.mark.parametrize("value", [HUGE, INT4_PLUS])
def test_out_of_range_ids_are_refused_not_500(client, tenants, value) -> None:
    h = tenants.operator.headers(admin=True)
    for method, path in ATTACKED:
        r = client.request(method, path.format(value), headers=h, json={})
        assert r.status_code in (404, 422), (method, path, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


def test_core_routes_check_the_range_before_the_database(client, tenants) -> None:
    h = tenants.operator.headers(admin=True)
    for path in ("/api/users/{}", "/api/organizations/{}", "/api/tokens/{}"):
        method = "DELETE" if "tokens" in path else "GET"
        r = client.request(method, path.format(INT4_PLUS), headers=h)
        assert r.status_code == 422 and "less than or equal to 2147483647" in r.json()["detail"]
    assert client.get("/api/audit/0", headers=h).status_code == 422
    assert client.get(f"/api/audit/{2**62}", headers=h).status_code == 404  # a bigint seq


def test_every_id_route_survives_huge_ids(app, client, tenants) -> None:
    h = tenants.operator.headers(admin=True)
    tried = 0
    for path, methods, _route in app.state.routes:
        if not path.startswith("/api") or not re.search(r"\{(\w*id|seq)\}", path):
            continue
        url = re.sub(r"\{(\w*id|seq)\}", HUGE, path)
        url = re.sub(r"\{[^}]+\}", "x", url)
        for method in sorted(methods - {"HEAD", "OPTIONS"}):
            r = client.request(method, url, headers=h)
            assert r.status_code < 500, (method, url, r.status_code, r.text)
            tried += 1
    assert tried >= 15


def test_guard_covers_routes_without_id_checks(settings, tenants) -> None:
    """An enabler route that passes a raw id to the database still answers 422."""
    app = create_app(settings, start_workers=False)

    @app.get("/api/probe/{user_id}")
    def probe(user_id: int, uow: UoW) -> dict[str, bool]:
        return {"found": uow.session.get(User, user_id) is not None}

    with TestClient(app, raise_server_exceptions=False) as c:
        h = tenants.operator.headers(admin=True)
        assert c.get("/api/probe/1", headers=h).status_code == 200
        for value in (HUGE, INT4_PLUS):
            r = c.get(f"/api/probe/{value}", headers=h)
            assert r.status_code in (200, 422), r.text  # SQLite holds 3e9: not found, 200
            if r.status_code == 422:
                assert r.json()["key"] == "core.invalid_input"


def _multipart(total: int):
    yield (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n"
    )
    for _ in range(total // 500):
        yield b"x" * 500
    yield b"\r\n--b--\r\n"


def test_streamed_upload_over_the_cap_is_413(settings, tenants, client) -> None:
    h = tenants.a.headers()
    case = client.post("/api/cases", headers=h, json={"kind": "core.general", "title": "t"})
    assert case.status_code == 201, case.text
    url = f"/api/cases/{case.json()['id']}/files"
    small = settings.model_copy(update={"max_upload_bytes": 1000})
    with TestClient(create_app(small, start_workers=False), raise_server_exceptions=False) as c:
        # A generator body goes out chunked: no Content-Length to refuse up front.
        headers = {**h, "content-type": "multipart/form-data; boundary=b"}
        r = c.post(url, headers=headers, content=_multipart(5000))
        assert r.status_code == 413, r.text
        assert r.json()["key"] == "core.payload_too_large"
        assert r.headers["x-frame-options"] == "DENY"
        r = c.post(url, headers=headers, content=_multipart(500))
        assert r.status_code == 201, r.text
