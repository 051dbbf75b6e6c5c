"""Walk every registered API route with a foreign organization's token: 403/404, never A's data."""

from __future__ import annotations

import re

MARKER = "A-SECRET-7f3c"


def _seed_tenant_a(client, tenants, settings) -> dict[str, object]:
    h = tenants.a.headers()
    r = client.post(
        "/api/cases", headers=h, json={"kind": "core.general", "title": f"{MARKER} case"}
    )
    assert r.status_code == 201, r.text
    ids = {"case": r.json()["id"]}
    r = client.post(f"/api/cases/{ids['case']}/comments", headers=h, json={"text": MARKER})
    r = client.post("/api/jobs", headers=h, json={"kind": "core.selftest", "params": {}})
    if r.status_code == 201:
        ids["job"] = r.json()["id"]
    r = client.post("/api/files", headers=h, files={"file": (f"{MARKER}.txt", MARKER.encode())})
    if r.status_code == 201:
        ids["file"] = r.json()["id"]
    from mingyue.core.ledger import credentials
    from mingyue.core.tenancy.access import SYSTEM
    from mingyue.core.uow import unit_of_work

    with unit_of_work(SYSTEM, settings) as uow:
        vc = credentials.issue(
            uow=uow, type="TestReport", subject={"note": MARKER}, organization_id=tenants.a.org.id
        )
    ids["credential"] = credentials.bare_id(vc["id"])
    ids["user"] = tenants.a.member.id
    ids["org"] = tenants.a.org.id
    return ids


def _fill(path: str, ids: dict[str, object]) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        for key in ("case", "job", "file", "user", "org", "credential", "token", "statement"):
            if key in name:
                return str(ids.get(key, ids["case"]))
        if name == "seq":
            return "1"
        return str(ids["case"])

    return re.sub(r"\{([^}:]+)(?::[^}]*)?\}", repl, path)


def test_every_route_refuses_a_foreign_tenant(app, client, tenants, settings) -> None:
    ids = _seed_tenant_a(client, tenants, settings)
    foreign = tenants.b.headers()
    checked = 0
    leaks = []
    for path, methods, _route in app.state.routes:
        if not path.startswith("/api") or path in ("/api/health", "/api/ready"):  # probes
            continue
        for method in sorted(methods - {"HEAD", "OPTIONS"}):
            url = _fill(path, ids)
            # unauthenticated: always 401
            r = client.request(method, url)
            assert r.status_code == 401, f"{method} {url} without auth -> {r.status_code}"
            r = client.request(method, url, headers=foreign, json={})
            checked += 1
            body = r.text
            if MARKER in body:
                leaks.append(f"{method} {url} -> {r.status_code} leaks tenant A's data")
            if "{" in path and r.status_code < 300:
                leaks.append(f"{method} {url} -> {r.status_code} on tenant A's object")
            assert r.status_code < 500, f"{method} {url} -> {r.status_code}: {body[:200]}"
    assert checked > 20
    assert not leaks, "\n".join(leaks)
