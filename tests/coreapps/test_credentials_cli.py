"""CLI `mingyue credential …`: offline verify (tamper, wrong key, revocation), show, revoke."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mingyue.core.config import Settings
from mingyue.core.ledger import credentials, keys
from mingyue.core.tenancy.access import Actor
from mingyue.core.uow import unit_of_work
from mingyue.testing import CliResult, Tenants

Cli = Callable[..., CliResult]
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
            type="DataProductCertificate",
            subject={"product": "车联网脱敏数据集", "grade": "A"},
            organization_id=org_id,
        )


def test_show_writes_the_credential_and_verify_accepts_it(
    settings: Settings, tenants: Tenants, cli: Cli, tmp_path: Path
) -> None:
    vc = _issue(settings, tenants.a.org.id)
    out = tmp_path / "vc.json"
    r = cli("credential", "show", vc["id"], "--as", tenants.a.member.username, "-o", str(out))
    assert r.exit_code == 0, r.stderr
    assert json.loads(out.read_text(encoding="utf-8")) == vc
    r = cli("credential", "verify", str(out), "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["ok"] is True and r.json()["revocation_checked"] == "database"
    assert r.json()["valid"] is True and r.json()["id"] == vc["id"]  # the verdict on stdout
    r = cli("credential", "show", vc["id"], "--as", tenants.b.member.username)
    assert r.exit_code == 1 and "core.credential.not_found" in r.stderr
    r = cli("credential", "show", vc["id"])
    assert r.exit_code == 2  # --as is required


def test_verify_rejects_tampering_and_foreign_keys(
    settings: Settings, tenants: Tenants, cli: Cli, tmp_path: Path
) -> None:
    vc = _issue(settings, tenants.a.org.id)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(vc, ensure_ascii=False), encoding="utf-8")
    bad = tmp_path / "bad.json"
    vc["credentialSubject"]["grade"] = "A+"
    bad.write_text(json.dumps(vc, ensure_ascii=False), encoding="utf-8")
    r = cli("credential", "verify", str(bad), "--json")
    assert r.exit_code == 1 and r.json()["reason"] == "core.credential.tampered"
    assert r.json()["valid"] is False
    stranger = base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    r = cli("credential", "verify", str(good), "--public-key", stranger.decode(), "--json")
    assert r.exit_code == 1 and r.json()["reason"] == "core.credential.wrong_key"
    keyfile = tmp_path / "platform.pub"
    keyfile.write_text(keys.public_key_b64(settings))
    assert cli("credential", "verify", str(good), "--public-key", str(keyfile)).exit_code == 0
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json", encoding="utf-8")
    assert cli("credential", "verify", str(garbage)).exit_code == 2
    assert cli("credential", "verify", str(tmp_path / "missing.json")).exit_code == 2


def test_revoke_then_verify_fails_online_and_offline(
    settings: Settings, tenants: Tenants, cli: Cli, tmp_path: Path
) -> None:
    vc = _issue(settings, tenants.a.org.id)
    path = tmp_path / "vc.json"
    path.write_text(json.dumps(vc), encoding="utf-8")
    r = cli("credential", "revoke", vc["id"], "--reason", "x", "--as", tenants.a.admin.username)
    assert r.exit_code == 1 and "core.forbidden" in r.stderr
    r = cli(
        "credential",
        "revoke",
        vc["id"],
        "--reason",
        "dataset withdrawn",
        "--as",
        tenants.operator.member.username,
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    assert r.json()["revoked"] is True
    r = cli("credential", "list", "--as", tenants.a.member.username, "--revoked", "--json")
    assert [c["id"] for c in r.json()] == [vc["id"]]
    r = cli("credential", "list", "--as", tenants.a.member.username, "--active", "--json")
    assert r.json() == []
    r = cli("credential", "verify", str(path), "--json")
    assert r.exit_code == 1 and r.json()["revoked"] is True
    # Offline: a verifier with only the public key and the signed revocation list.
    rl = tmp_path / "revoked.json"
    r = cli(
        "credential", "revocation-list", "--as", tenants.regulator.member.username, "-o", str(rl)
    )
    assert r.exit_code == 0, r.stderr
    pub = keys.public_key_b64(settings)
    elsewhere = tmp_path / "verifier-home"
    elsewhere.mkdir()
    r = cli(
        "credential",
        "verify",
        str(path),
        "--public-key",
        pub,
        "--revocation-list",
        str(rl),
        "--data-dir",
        str(elsewhere),
        "--json",
    )
    assert r.exit_code == 1 and r.json()["reason"] == "core.credential.revoked"
    assert r.json()["revocation_checked"] == "list"
    forged = json.loads(rl.read_text())
    forged["revoked"] = []
    rl.write_text(json.dumps(forged))
    r = cli(
        "credential",
        "verify",
        str(path),
        "--public-key",
        pub,
        "--revocation-list",
        str(rl),
        "--data-dir",
        str(elsewhere),
    )
    assert r.exit_code == 2 and "core.credential.bad_revocation_list" in r.stderr
    # No key anywhere: refused, and no key is created in the empty data dir.
    r = cli("credential", "verify", str(path), "--data-dir", str(elsewhere))
    assert r.exit_code == 2 and "core.credential.no_key" in r.stderr
    assert not (elsewhere / "keys" / "platform_ed25519.pem").exists()
    assert not (elsewhere / "mingyue.sqlite3").exists()


def test_issue_by_hand(settings: Settings, tenants: Tenants, cli: Cli, tmp_path: Path) -> None:
    subject = tmp_path / "subject.json"
    subject.write_text(json.dumps({"model": "MY-03", "result": "pass"}), encoding="utf-8")
    args = (
        "credential",
        "issue",
        "--type",
        "LabTestCertificate",
        "--subject",
        str(subject),
        "--org",
        str(tenants.a.org.id),
    )
    r = cli(*args, "--as", tenants.a.admin.username)
    assert r.exit_code == 1 and "core.forbidden" in r.stderr
    out = tmp_path / "vc.json"
    r = cli(*args, "--valid-days", "90", "--as", tenants.regulator.member.username, "-o", str(out))
    assert r.exit_code == 0, r.stderr
    vc = json.loads(out.read_text(encoding="utf-8"))
    assert vc["credentialSubject"] == {"model": "MY-03", "result": "pass"} and "validUntil" in vc
    assert cli("credential", "verify", str(out)).exit_code == 0
