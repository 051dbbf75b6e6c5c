"""API of the credentials core app: /api/credentials… and /api/files…, two tenants."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest

from mingyue.core.config import Settings
from mingyue.core.ledger import credentials, keys
from mingyue.core.tenancy.access import Actor
from mingyue.core.uow import unit_of_work
from mingyue.testing import Tenants

REVIEWER = Actor(
    user_id=None,
    username="reviewer-job",
    organization_id=None,
    org_kind="operator",
    roles=frozenset({"reviewer"}),
)


def _issue(settings: Settings, org_id: int) -> dict[str, Any]:
    with unit_of_work(REVIEWER, settings) as uow:
        return credentials.issue(
            uow=uow,
            type="LabTestCertificate",
            subject={"model": "MY-01", "result": "pass"},
            organization_id=org_id,
            valid_days=365,
        )


def test_credentials_are_listed_read_and_isolated(
    settings: Settings, tenants: Tenants, client: Any
) -> None:
    vc = _issue(settings, tenants.a.org.id)
    uid = vc["id"].removeprefix("urn:uuid:")
    r = client.get("/api/credentials", headers=tenants.a.headers())
    assert r.status_code == 200 and [c["id"] for c in r.json()] == [vc["id"]]
    assert r.json()[0]["credential"] == vc
    for cid in (uid, vc["id"]):
        r = client.get(f"/api/credentials/{cid}", headers=tenants.a.headers())
        assert r.status_code == 200 and r.json()["type"] == "LabTestCertificate"
    assert client.get("/api/credentials", headers=tenants.b.headers()).json() == []
    for path in (f"/api/credentials/{uid}", f"/api/credentials/{uid}/status"):
        r = client.get(path, headers=tenants.b.headers())
        assert r.status_code == 404 and r.json()["key"] == "core.credential.not_found"
        assert "LabTestCertificate" not in r.text
    assert client.get(f"/api/credentials/{uid}").status_code == 401
    r = client.get("/api/credentials/not-a-uuid", headers=tenants.a.headers())
    assert r.status_code == 422


def test_revoke_needs_the_permission_and_then_verification_fails(
    settings: Settings, tenants: Tenants, client: Any
) -> None:
    vc = _issue(settings, tenants.a.org.id)
    uid = vc["id"].removeprefix("urn:uuid:")
    r = client.post("/api/credentials/verify", json=vc, headers=tenants.b.headers())
    assert r.status_code == 200 and r.json()["ok"] and r.json()["issued_here"]
    for who in (tenants.a.headers(), tenants.a.headers(admin=True)):
        r = client.post(f"/api/credentials/{uid}/revoke", json={"reason": "x"}, headers=who)
        assert r.status_code == 403
    r = client.post(
        f"/api/credentials/{uid}/revoke", json={"reason": ""}, headers=tenants.operator.headers()
    )
    assert r.status_code == 422
    r = client.post(
        f"/api/credentials/{uid}/revoke",
        json={"reason": "model withdrawn"},
        headers=tenants.operator.headers(),
    )  # the operator's member is a reviewer
    assert r.status_code == 200 and r.json()["revoked"] is True
    r = client.post(
        f"/api/credentials/{uid}/revoke",
        json={"reason": "again"},
        headers=tenants.operator.headers(),
    )
    assert r.status_code == 409
    r = client.get(f"/api/credentials/{uid}/status", headers=tenants.a.headers())
    assert r.json()["revoked"] is True and r.json()["reason"] == "model withdrawn"
    signed = client.get("/api/credentials/revocation-list", headers=tenants.a.headers()).json()
    assert credentials.read_revocation_list(signed, keys.public_key_b64(settings)) == [vc["id"]]
    other = client.get("/api/credentials/revocation-list", headers=tenants.b.headers()).json()
    assert other["revoked"] == []  # another tenant learns nothing of A's revocations
    r = client.post("/api/credentials/verify", json=vc, headers=tenants.b.headers())
    assert r.json()["ok"] is False and r.json()["reason"] == "core.credential.revoked"
    tampered = copy.deepcopy(vc)
    tampered["credentialSubject"]["result"] = "fail"
    r = client.post("/api/credentials/verify", json=tampered, headers=tenants.a.headers())
    assert r.json()["ok"] is False and r.json()["reason"] == "core.credential.tampered"


def test_upload_and_metadata(settings: Settings, tenants: Tenants, client: Any) -> None:
    body = b"name,qty\nwidget,3\ngadget,4\n"
    r = client.post(
        "/api/files",
        files={"file": ("../../stock.csv", body, "application/pdf")},
        data={"purpose": "dataset"},
        headers=tenants.a.headers(),
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["sha256"] == hashlib.sha256(body).hexdigest() and out["size"] == len(body)
    assert out["mime"] == "text/csv" and out["filename"] == "stock.csv"
    assert out["purpose"] == "dataset" and "path" not in out
    r = client.get(f"/api/files/{out['id']}", headers=tenants.a.headers())
    assert r.status_code == 200 and r.json() == out
    r = client.get(f"/api/files/{out['id']}", headers=tenants.b.headers())
    assert r.status_code == 404
    assert client.get(f"/api/files/{out['id']}").status_code == 401


@pytest.fixture
def small_client(settings: Settings) -> Any:
    from fastapi.testclient import TestClient

    from mingyue.web.app import create_app

    settings.max_upload_bytes = 4096
    with TestClient(create_app(settings, start_workers=False), raise_server_exceptions=False) as c:
        yield c


def test_oversized_upload_is_413(settings: Settings, tenants: Tenants, small_client: Any) -> None:
    r = small_client.post(
        "/api/files", files={"file": ("big.bin", b"\0" * 10_000)}, headers=tenants.a.headers()
    )
    assert r.status_code == 413
    r = small_client.post(
        "/api/files", files={"file": ("ok.bin", b"\1" * 1000)}, headers=tenants.a.headers()
    )
    assert r.status_code == 201


def _login(client: Any, username: str) -> str:
    r = client.post(
        "/login", data={"username": username, "password": "password123"}, follow_redirects=False
    )
    assert r.status_code in (302, 303), r.text
    page = client.get("/credentials")
    assert page.status_code == 200
    return str(page.text.split('name="csrf-token" content="')[1].split('"')[0])


def test_console_pages_verify_and_revoke(settings: Settings, tenants: Tenants, client: Any) -> None:
    vc = _issue(settings, tenants.a.org.id)
    uid = vc["id"].removeprefix("urn:uuid:")
    csrf = _login(client, tenants.a.member.username)
    page = client.get("/credentials")
    assert "LabTestCertificate" in page.text and f"/credentials/{uid}" in page.text
    detail = client.get(f"/credentials/{uid}")
    assert detail.status_code == 200 and vc["proof"]["proofValue"] in detail.text
    assert "<h1>Lab Test Certificate</h1>" in detail.text  # the type in words when unnamed
    with unit_of_work(REVIEWER, settings) as uow:
        named = credentials.issue(
            uow=uow,
            type="LabTestCertificate",
            subject={"m": 1},
            organization_id=tenants.a.org.id,
            name={"zh": "终端认证证书", "en": "Terminal certificate"},
        )
    named_path = f"/credentials/{named['id'][9:]}"
    assert "<h1>终端认证证书</h1>" in client.get(named_path).text
    assert "<h1>Terminal certificate</h1>" in client.get(named_path + "?lang=en").text
    assert 'id="revoke-btn"' not in detail.text  # a member may not revoke
    r = client.post("/credentials/verify", data={"document": json.dumps(vc), "csrf_token": csrf})
    assert r.status_code == 200 and 'class="ok"' in r.text
    vc_bad = copy.deepcopy(vc)
    vc_bad["credentialSubject"]["result"] = "fail"
    r = client.post(
        "/credentials/verify", data={"document": json.dumps(vc_bad)}, headers={"X-CSRF-Token": csrf}
    )
    assert 'class="error"' in r.text
    assert client.post("/credentials/verify", data={"document": "{}"}).status_code == 403
    client.cookies.clear()
    csrf = _login(client, tenants.b.member.username)
    assert client.get(f"/credentials/{uid}").status_code == 404
    assert uid not in client.get("/credentials").text
    client.cookies.clear()
    csrf = _login(client, tenants.operator.member.username)  # a reviewer
    detail = client.get(f"/credentials/{uid}")
    assert 'id="revoke-btn"' in detail.text
    assert client.post(f"/credentials/{uid}/revoke", data={"reason": "x"}).status_code == 403
    r = client.post(f"/credentials/{uid}/revoke", data={"reason": "型号撤回", "csrf_token": csrf})
    assert r.status_code == 200 and "型号撤回" in r.text and 'id="revoke-btn"' not in r.text


def test_issue_by_hand_needs_the_permission(
    settings: Settings, tenants: Tenants, client: Any
) -> None:
    body = {
        "type": "LabTestCertificate",
        "subject": {"model": "MY-02"},
        "organization_id": tenants.a.org.id,
        "valid_days": 30,
        "name": {"zh": "终端认证证书", "en": "Terminal certificate"},
    }
    for who in (tenants.a.headers(), tenants.a.headers(admin=True), tenants.b.headers()):
        assert client.post("/api/credentials", json=body, headers=who).status_code == 403
    r = client.post("/api/credentials", json=body, headers=tenants.regulator.headers())
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["organization_id"] == tenants.a.org.id and out["issued_by"].startswith("user:")
    assert out["credential"]["name"][0] == {"@value": "终端认证证书", "@language": "zh"}
    r = client.post("/api/credentials/verify", json=out["credential"], headers=tenants.a.headers())
    assert r.json()["ok"] is True
    assert [
        c["id"] for c in client.get("/api/credentials", headers=tenants.a.headers()).json()
    ] == [out["id"]]
    r = client.post(
        "/api/credentials",
        json={**body, "organization_id": 999_999},
        headers=tenants.regulator.headers(),
    )
    assert r.status_code == 422 and r.json()["key"] == "core.credential.bad_organization"
    r = client.post(
        "/api/credentials", json={**body, "subject": {}}, headers=tenants.regulator.headers()
    )
    assert r.status_code == 422
