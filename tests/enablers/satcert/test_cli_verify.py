"""`mingyue satcert verify`: exit 0 valid, 1 invalid or revoked, 2 unreadable."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from mingyue.core import clock
from mingyue.enablers.satcert.service import warn_expiring
from mingyue.sdk import SYSTEM, issue_credential, unit_of_work

from .test_service import _certify


def test_unreadable_and_foreign(cli, settings, tenants, tmp_path: Path) -> None:
    missing = cli("satcert", "verify", str(tmp_path / "nope.json"))
    assert missing.exit_code == 2 and missing.stderr.count("\n") == 1
    garbage = tmp_path / "g.json"
    garbage.write_text("{not json", encoding="utf-8")
    assert cli("satcert", "verify", str(garbage)).exit_code == 2
    # A valid credential of another type is not a terminal certificate.
    with unit_of_work(SYSTEM, settings) as uow:
        vc = issue_credential(
            uow=uow, type="TestReport", subject={"note": "x"}, organization_id=tenants.a.org.id
        )
    other = tmp_path / "other.json"
    other.write_text(json.dumps(vc.document), encoding="utf-8")
    res = cli("satcert", "verify", str(other), "--json")
    assert res.exit_code == 1 and res.json()["reason"] == "satcert.not_a_terminal_certificate"


def test_tampered_certificate_is_invalid(
    client, tenants, run_jobs, cli, settings, tmp_path
) -> None:
    cert = _certify(client, tenants, run_jobs)["cert"]
    doc = client.get(
        f"/api/credentials/{cert['credential_id']}", headers=tenants.a.headers()
    ).json()["credential"]
    doc["credentialSubject"]["firmware"] = "NTNSIM_9.9.9"
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    res = cli("satcert", "verify", str(path))
    assert res.exit_code == 1 and res.stdout.startswith("INVALID"), res.stdout
    # Expiry: announced once, on the sample's case, within the warning window.
    later = clock.now() + timedelta(days=3 * 365 - 30)
    with clock.frozen(later), unit_of_work(SYSTEM, settings) as uow:
        assert warn_expiring(uow)["warned"] == [cert["id"]]
    with clock.frozen(later), unit_of_work(SYSTEM, settings) as uow:
        assert warn_expiring(uow)["warned"] == []
    with clock.frozen(later + timedelta(days=40)), unit_of_work(SYSTEM, settings) as uow:
        assert warn_expiring(uow)["expired"] == [cert["id"]]
