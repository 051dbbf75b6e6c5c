"""API: submit/status/cancel/logs/usage over HTTP, 422 naming the field, and the tenant wall."""

from __future__ import annotations

import time
from typing import Any

from .helpers import FLAT, add_pool, reconcile


def _wait(client: Any, headers: dict[str, str], settings: Any, job_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        reconcile(settings)
        r = client.get(f"/api/compute/jobs/{job_id}", headers=headers)
        assert r.status_code == 200, r.text
        if r.json()["state"] in ("succeeded", "failed", "cancelled", "lost"):
            return r.json()  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError("job did not finish")


def test_submit_status_logs_usage(client: Any, tenants: Any, settings: Any) -> None:
    add_pool(settings, "local-a", cpus=2, tariff=FLAT)
    h = tenants.a.headers()
    r = client.post("/api/compute/jobs", json={"command": "echo hi", "cpus": 1}, headers=h)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["pool"] == "local-a" and body["reason"].startswith("pool local-a:")
    job = _wait(client, h, settings, body["job_id"])
    assert job["state"] == "succeeded" and job["seconds"] >= 1
    assert (
        client.get(f"/api/compute/jobs/{body['job_id']}/logs", headers=h).json()["logs"] == "hi\n"
    )
    month = job["started_at"][:7]
    u = client.get("/api/compute/usage", params={"month": month}, headers=h)
    assert u.status_code == 200 and u.json()["jobs"] in (0, 1)
    r = client.post(f"/api/compute/jobs/{body['job_id']}/cancel", headers=h)
    assert r.status_code == 409
    assert r.json()["key"] == "compute.job_finished" and r.json()["params"]["state"] == "succeeded"
    pools = client.get("/api/compute/pools", headers=h).json()
    assert pools[0]["name"] == "local-a" and "credentials" not in pools[0]


def test_invalid_spec_is_422_naming_the_field(client: Any, tenants: Any, settings: Any) -> None:
    add_pool(settings, "local-a", cpus=2)
    h = tenants.a.headers()
    for spec, field in [
        ({"command": "x", "cpus": -1}, "cpus"),
        ({"command": "x", "gpus": {"count": 1, "model": "Z80"}}, "gpus.model"),
    ]:
        r = client.post("/api/compute/jobs", json=spec, headers=h)
        assert r.status_code == 422, r.text
        assert r.json()["field"] == field


def test_pool_admin_only(client: Any, tenants: Any) -> None:
    r = client.post(
        "/api/compute/pools",
        json={"name": "p", "kind": "local"},
        headers=tenants.a.headers(admin=True),
    )
    assert r.status_code == 403
    r = client.post(
        "/api/compute/pools",
        json={"name": "p", "kind": "local", "cpus": 2},
        headers=tenants.operator.headers(admin=True),
    )
    assert r.status_code == 201, r.text


def test_two_tenants_do_not_leak(client: Any, tenants: Any, settings: Any) -> None:
    add_pool(settings, "local-a", cpus=2)
    ha, hb = tenants.a.headers(), tenants.b.headers()
    job_id = client.post("/api/compute/jobs", json={"command": "sleep 5"}, headers=ha).json()[
        "job_id"
    ]
    assert client.get(f"/api/compute/jobs/{job_id}", headers=hb).status_code == 404
    assert client.get(f"/api/compute/jobs/{job_id}/logs", headers=hb).status_code == 404
    assert client.post(f"/api/compute/jobs/{job_id}/cancel", headers=hb).status_code == 404
    assert client.get("/api/compute/jobs", headers=hb).json() == []
    assert [j["job_id"] for j in client.get("/api/compute/jobs", headers=ha).json()] == [job_id]
    r = client.post(f"/api/compute/jobs/{job_id}/cancel", headers=ha)
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
