"""The ledger: chain, tamper detection (edit, delete, reorder), checkpoints, inclusion proofs."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from mingyue.core.db import get_engine, system_session
from mingyue.core.ledger import audit, keys
from mingyue.core.tenancy.access import SYSTEM
from mingyue.core.uow import unit_of_work


def _write(settings, n: int) -> None:
    for i in range(n):
        with unit_of_work(SYSTEM, settings) as uow:
            uow.audit("core.org.updated", f"core_organization:{i}", {"i": i, "名": "两江"})


def _drop_triggers(settings) -> None:
    eng = get_engine(settings)
    with eng.begin() as c:
        if eng.dialect.name == "postgresql":
            c.execute(text("DROP TRIGGER IF EXISTS core_audit_entry_no_change ON core_audit_entry"))
        else:
            c.exec_driver_sql("DROP TRIGGER IF EXISTS core_audit_entry_no_update")
            c.exec_driver_sql("DROP TRIGGER IF EXISTS core_audit_entry_no_delete")


def _verify(settings) -> audit.VerifyReport:
    with system_session(settings, "test") as s:
        return audit.verify_chain(s)


def test_chain_verifies(settings) -> None:
    _write(settings, 5)
    rep = _verify(settings)
    assert rep.ok and rep.entries == 5


def test_unregistered_event_refused(settings) -> None:
    with pytest.raises(KeyError), unit_of_work(SYSTEM, settings) as uow:
        uow.audit("core.nope.nothing", "x", {})


def test_table_refuses_update_and_delete(settings) -> None:
    _write(settings, 2)
    eng = get_engine(settings)
    with pytest.raises(DatabaseError), eng.begin() as c:
        c.execute(text("UPDATE core_audit_entry SET actor='mallory' WHERE seq=1"))
    with pytest.raises(DatabaseError), eng.begin() as c:
        c.execute(text("DELETE FROM core_audit_entry WHERE seq=2"))
    assert _verify(settings).ok


@pytest.mark.parametrize(
    "attack",
    ["edit_payload", "edit_actor", "delete_middle", "reorder", "delete_tail_after_checkpoint"],
)
def test_tamper_is_detected_with_first_bad_seq(settings, attack: str) -> None:
    _write(settings, 6)
    if attack == "delete_tail_after_checkpoint":
        with system_session(settings, "test") as s:
            audit.make_checkpoint(s, settings)
    _drop_triggers(settings)
    eng = get_engine(settings)
    with eng.begin() as c:
        if attack == "edit_payload":
            c.execute(
                text("UPDATE core_audit_entry SET payload=:p WHERE seq=3"),
                {"p": json.dumps({"i": 99, "名": "两江"})},
            )
            expected = 3
        elif attack == "edit_actor":
            c.execute(text("UPDATE core_audit_entry SET actor='mallory' WHERE seq=4"))
            expected = 4
        elif attack == "delete_middle":
            c.execute(text("DELETE FROM core_audit_entry WHERE seq=2"))
            expected = 2
        elif attack == "reorder":
            # swap the contents of entries 2 and 3 (keeping their seq numbers)
            c.execute(text("UPDATE core_audit_entry SET seq=-2 WHERE seq=2"))
            c.execute(text("UPDATE core_audit_entry SET seq=2 WHERE seq=3"))
            c.execute(text("UPDATE core_audit_entry SET seq=3 WHERE seq=-2"))
            expected = 2
        else:
            c.execute(text("DELETE FROM core_audit_entry WHERE seq=6"))
            expected = 6
    rep = _verify(settings)
    assert not rep.ok
    assert rep.first_bad_seq == expected, rep.reason


def test_merkle_proofs_for_every_size() -> None:
    import hashlib

    for n in range(1, 20):
        leaves = [audit.leaf_hash(hashlib.sha256(bytes([i])).hexdigest()) for i in range(n)]
        root = audit.merkle_root(leaves)
        for i in range(n):
            path = audit.inclusion_path(i, leaves)
            assert audit.root_from_path(i, n, leaves[i], path) == root


def test_inclusion_proof_checks_with_public_key_only(settings) -> None:
    _write(settings, 7)
    with system_session(settings, "test") as s:
        proof = audit.prove(s, settings, 5)
    pub = keys.public_key_b64(settings)
    ok, reason = audit.check_proof(json.loads(json.dumps(proof)), pub)
    assert ok, reason
    forged = json.loads(json.dumps(proof))
    forged["payload"]["i"] = 1000
    assert not audit.check_proof(forged, pub)[0]
    forged = json.loads(json.dumps(proof))
    forged["entry"]["actor"] = "mallory"
    assert not audit.check_proof(forged, pub)[0]
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = base64.b64encode(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ).decode()
    ok, reason = audit.check_proof(proof, other)
    assert not ok and "signature" in reason


def test_cli_verify_prove_check(settings, cli, tmp_path) -> None:
    _write(settings, 4)
    r = cli("audit", "verify", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["ok"] is True
    r = cli("audit", "prove", "3")
    assert r.exit_code == 0, r.stderr
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(r.stdout)
    pub = cli("audit", "public-key", "--json").json()["public_key"]
    r = cli("audit", "check-proof", str(proof_file), "--public-key", pub)
    assert r.exit_code == 0, r.stderr
    bad = json.loads(proof_file.read_text())
    bad["entry"]["subject"] = "forged"
    proof_file.write_text(json.dumps(bad))
    r = cli("audit", "check-proof", str(proof_file), "--public-key", pub)
    assert r.exit_code == 1
    _drop_triggers(settings)
    with get_engine(settings).begin() as c:
        c.execute(text("UPDATE core_audit_entry SET subject='x' WHERE seq=2"))
    r = cli("audit", "verify")
    assert r.exit_code == 1
    assert "seq 2" in r.stderr and len(r.stderr.strip().splitlines()) == 1
