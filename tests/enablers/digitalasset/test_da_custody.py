"""Custody and the demo: platform-managed keys in encrypted keystores whose passwords are
sealed (the database alone opens nothing), never in logs or answers; the signer interface;
the ledger head anchored on the chain; the demo seed end to end (idempotent)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from eth_account import Account

from mingyue.enablers.digitalasset import demo, service
from mingyue.enablers.digitalasset.adapters.chain import Signer
from mingyue.enablers.digitalasset.models_registry import DigitalassetAccount, DigitalassetAnchor
from mingyue.enablers.digitalasset.service import custody
from mingyue.sdk import SYSTEM, SecretUnreadable, ledger_head, unit_of_work


def test_keystore_is_sealed_and_signs(
    settings: Any, tenants: Any, uow_as: Any, actor_of: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    member = actor_of(tenants.a.member)
    with uow_as(member) as uow:
        out = service.open_account(uow=uow, actor=member)
        row = uow.session.get(DigitalassetAccount, out.id)
        assert row is not None
        keystore, sealed = dict(row.keystore), row.sealed_password
        signer = custody.signer_of(uow.settings, row)
    assert isinstance(signer, Signer) and signer.address == out.address
    assert keystore["crypto"]["kdf"] == "scrypt" and "ciphertext" in keystore["crypto"]
    # The keystore is a standard one: with its (sealed) password any wallet opens it.
    password = custody.unseal(settings, custody.KEYSTORE_PURPOSE, sealed)["password"]
    key = bytes(Account.decrypt(keystore, password))
    assert Account.from_key(key).address == out.address
    # Neither the key nor the password shows in the logs or in the API's answer.
    assert key.hex() not in caplog.text and password not in caplog.text
    assert "keystore" not in out.model_dump() and "sealed_password" not in out.model_dump()
    # Another deployment's secret key does not open the password.
    other = settings.model_copy(update={"secret_key": "another-deployment-secret-0123456789"})
    with pytest.raises(SecretUnreadable):
        custody.unseal(other, custody.KEYSTORE_PURPOSE, sealed)


def test_ledger_head_is_anchored_once(
    settings: Any, tenants: Any, uow_as: Any, actor_of: Any
) -> None:
    with uow_as(actor_of(tenants.a.member)) as uow:
        service.open_account(uow=uow, actor=uow.actor)  # something on the ledger
    with unit_of_work(SYSTEM, settings) as uow:
        first = service.evidence.anchor_ledger(uow)
    assert first is not None and first.kind == "ledger_head"
    with unit_of_work(SYSTEM, settings) as uow:
        head = ledger_head(uow=uow)
        assert head is not None and head.root == first.root and head.tree_size == first.size
        rows = uow.session.query(DigitalassetAnchor).all()
    assert len(rows) == 1 and rows[0].detail["signature"] == head.signature
    # The anchoring wrote its own entry: the next run anchors the newer head, then stops.
    with unit_of_work(SYSTEM, settings) as uow:
        second = service.evidence.anchor_ledger(uow)
    assert second is not None and second.size > first.size


def test_demo_seed(
    settings: Any, make_org: Any, make_user: Any, uow_as: Any, actor_of: Any
) -> None:
    ent1, ent2, op = make_org(sme=True), make_org(), make_org(kind="operator")
    make_user(ent1, roles=("org_admin",), username="ent1_admin")
    buyer = make_user(ent2, roles=("member",), username="ent2_member")
    make_user(op, roles=("reviewer",), username="op_member")
    ids = {"ent1": ent1.id, "ent2": ent2.id, "op": op.id}
    demo.seed(settings, ids)
    demo.seed(settings, ids)  # idempotent
    with uow_as(actor_of(buyer)) as uow:
        held = service.list_holdings(uow=uow, actor=uow.actor, mine=True)
        transfers = service.list_transfers(uow=uow, actor=uow.actor)
    assert len(held) == 1 and held[0].work_title == "两江夜色·明月湖"
    with unit_of_work(SYSTEM, settings) as uow:
        works = service.list_works(uow=uow, actor=SYSTEM)
        refused = service.list_transfers(uow=uow, actor=SYSTEM, status="refused")
        anchors = service.list_anchors(uow=uow, actor=SYSTEM)
    assert sorted(w.review_status for w in works) == ["approved", "submitted"]
    assert [r.rule_id for r in refused] == ["CN-NFT-2022-4"]
    assert {a.kind for a in anchors} == {"evidence", "ledger_head"}
    assert transfers == []  # the buyer's organization recorded no transfer of its own
