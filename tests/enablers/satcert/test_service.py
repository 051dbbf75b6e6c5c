"""The product end to end: intake → bench run on the simulated module → review → certificate,
cross-tenant refusal, revocation, the registry and the public verification page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mingyue.coreapps.credentials.public import throttle
from mingyue.enablers.satcert.plans import PLANS_DIR
from mingyue.sdk import SYSTEM, list_findings, unit_of_work

PLAN = (PLANS_DIR / "ntn-terminal-basic.yaml").read_text(encoding="utf-8")


def _certify(client: Any, tenants: Any, run_jobs: Any) -> dict[str, Any]:
    lab = tenants.operator.headers()  # the operator's member is lab staff (reviewer)
    r = client.post("/api/satcert/plans", json={"yaml": PLAN}, headers=lab)
    assert r.status_code == 201, r.text
    plan_id = r.json()["id"]
    r = client.post(
        "/api/satcert/samples",
        json={"manufacturer": "Mingyue Lab", "model": "NTN-SIM-1", "terminal_kind": "combo"},
        headers=tenants.a.headers(),
    )
    assert r.status_code == 201, r.text
    sample = r.json()
    body = {
        "sample_id": sample["id"],
        "plan_id": plan_id,
        "port": "sim",
        "idempotency_key": "k-0001-run",
    }
    r = client.post("/api/satcert/runs", json=body, headers=lab)
    assert r.status_code == 202, r.text
    run = r.json()
    again = client.post("/api/satcert/runs", json=body, headers=lab)
    assert again.json()["id"] == run["id"]  # a reload starts nothing twice
    run_jobs()
    run = client.get(f"/api/satcert/runs/{run['id']}", headers=lab).json()
    assert run["status"] == "passed", run
    assert run["log_sha256"] and run["log_bytes"] > 0
    log = client.get(f"/api/satcert/runs/{run['id']}/log", headers=lab).json()
    assert any(line["text"].startswith(">> AT+CGSN") for line in log["lines"])
    sample = client.get(f"/api/satcert/samples/{sample['id']}", headers=lab).json()
    assert sample["imei"] == "861234051234568" and sample["firmware"] == "NTNSIM_1.0.3"
    for action in ("submit_review", "approve"):
        r = client.post(
            f"/api/satcert/samples/{sample['id']}/decision", json={"action": action}, headers=lab
        )
        assert r.status_code == 200, r.text
    certs = client.get("/api/satcert/certificates", headers=tenants.a.headers()).json()
    assert len(certs) == 1
    return {"sample": sample, "run": run, "cert": certs[0], "plan_id": plan_id}


def test_certify_verify_revoke(client, tenants, run_jobs, cli, settings, tmp_path: Path) -> None:
    throttle.clear()
    done = _certify(client, tenants, run_jobs)
    cert, sample = done["cert"], done["sample"]
    assert cert["subject"]["rawLogSha256"] == done["run"]["log_sha256"]
    assert cert["subject"]["imei"] == "861234051234568"

    # Another enterprise sees none of it: 404, never 403.
    hb = tenants.b.headers()
    for url in (
        f"/api/satcert/samples/{sample['id']}",
        f"/api/satcert/runs/{done['run']['id']}",
        f"/api/satcert/runs/{done['run']['id']}/log",
        f"/api/satcert/certificates/{cert['id']}",
        f"/api/satcert/samples/{sample['id']}/imports",
    ):
        assert client.get(url, headers=hb).status_code == 404, url
    assert client.get("/api/satcert/certificates", headers=hb).json() == []
    # The registry is public to logged-in users, without the IMEI.
    reg = client.get("/api/satcert/registry", params={"q": "NTN-SIM"}, headers=hb).json()
    assert [e["model"] for e in reg] == ["NTN-SIM-1"] and reg[0]["tac"] == "86123405"
    assert "861234051234568" not in json.dumps(reg)

    # The signed credential verifies with the CLI ...
    doc = client.get(f"/api/credentials/{cert['credential_id']}", headers=tenants.a.headers())
    assert doc.status_code == 200, doc.text
    path = tmp_path / "cert.json"
    path.write_text(json.dumps(doc.json()["credential"]), encoding="utf-8")
    res = cli("satcert", "verify", str(path), "--json")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert res.json()["valid"] is True and res.json()["model"] == "NTN-SIM-1"

    # ... and the public page shows the public fields only.
    page = client.get(f"/verify/{cert['credential_id']}")
    assert page.status_code == 200
    assert "NTN-SIM-1" in page.text and "86123405" in page.text
    assert "861234051234568" not in page.text and done["run"]["log_sha256"] not in page.text
    posted = client.post("/verify", data={"document": path.read_text()})
    assert posted.status_code == 200 and 'id="verify-verdict"' in posted.text
    assert "861234051234568" not in posted.text

    # An enterprise cannot revoke; the lab can, for non-conformity (a finding is raised).
    url = f"/api/satcert/certificates/{cert['id']}/revoke"
    assert client.post(url, json={"reason": "x"}, headers=tenants.a.headers()).status_code == 403
    r = client.post(url, json={"reason": "固件不符合送检版本"}, headers=tenants.operator.headers())
    assert r.status_code == 200 and r.json()["revoked"] is True
    res = cli("satcert", "verify", str(path))
    assert res.exit_code == 1 and res.stdout.startswith("REVOKED"), res.stdout
    assert "已撤销" in client.get(f"/verify/{cert['credential_id']}").text
    reg = client.get("/api/satcert/registry", params={"status": "revoked"}, headers=hb).json()
    assert len(reg) == 1
    with unit_of_work(SYSTEM, settings) as uow:
        found = list_findings(uow=uow, actor=SYSTEM, organization_id=tenants.a.org.id)
    assert [f.rule for f in found] == ["satcert.certificate_revoked"]
    assert found[0].subject == "terminal:Mingyue Lab:NTN-SIM-1"


def test_plan_and_intake_bad_input(client, tenants) -> None:
    lab = tenants.operator.headers()
    bad = PLAN.replace('version: "1.0.0"', 'version: "one"')
    r = client.post("/api/satcert/plans", json={"yaml": bad}, headers=lab)
    assert r.status_code == 422 and r.json()["field"] == "version", r.text
    r = client.post("/api/satcert/plans", json={"yaml": "cases: ["}, headers=lab)
    assert r.status_code == 422
    # Enterprises neither publish plans nor start runs.
    r = client.post("/api/satcert/plans", json={"yaml": PLAN}, headers=tenants.a.headers())
    assert r.status_code == 403
    r = client.post("/api/satcert/plans", json={"yaml": PLAN}, headers=lab)
    assert r.status_code == 201
    changed = PLAN.replace("timeout_s: 5", "timeout_s: 6")
    r = client.post("/api/satcert/plans", json={"yaml": changed}, headers=lab)
    assert r.status_code == 409  # a published version is never changed
    r = client.post(
        "/api/satcert/samples",
        json={"manufacturer": "X", "model": "Y", "declared_imei": "861234051234567"},
        headers=tenants.a.headers(),
    )
    assert r.status_code == 422 and r.json()["field"] == "declared_imei"


def test_run_refuses_foreign_port_and_reports_dropped_link(client, tenants, run_jobs) -> None:
    lab = tenants.operator.headers()
    plan_id = client.post("/api/satcert/plans", json={"yaml": PLAN}, headers=lab).json()["id"]
    sid = client.post(
        "/api/satcert/samples",
        json={"manufacturer": "M", "model": "Drop-1"},
        headers=tenants.a.headers(),
    ).json()["id"]
    r = client.post(
        "/api/satcert/runs",
        json={"sample_id": sid, "plan_id": plan_id, "port": "socket://203.0.113.9:7000"},
        headers=lab,
    )
    assert r.status_code == 422, r.text
    r = client.post(
        "/api/satcert/runs",
        json={"sample_id": sid, "plan_id": plan_id, "port": "sim", "sim_fault": "drop"},
        headers=lab,
    )
    assert r.status_code == 202, r.text
    run_jobs()
    run = client.get(f"/api/satcert/runs/{r.json()['id']}", headers=lab).json()
    assert run["status"] in ("error", "failed") and run["verdict"] in ("error", "fail"), run
    # Review is refused without a passing run.
    client.post(
        f"/api/satcert/samples/{sid}/decision", json={"action": "submit_review"}, headers=lab
    )
    r = client.post(f"/api/satcert/samples/{sid}/decision", json={"action": "approve"}, headers=lab)
    assert r.status_code == 409


@pytest.mark.parametrize("doc", ["not json", "{}"])
def test_public_verify_rejects_garbage(client, doc: str) -> None:
    throttle.clear()
    r = client.post("/verify", data={"document": doc})
    assert r.status_code in (200, 422)
    assert client.get("/verify/00000000-0000-4000-8000-000000000000").status_code == 404
    for _ in range(12):
        client.get("/verify/00000000-0000-4000-8000-000000000001")
    assert client.get("/verify").status_code == 429
    throttle.clear()
