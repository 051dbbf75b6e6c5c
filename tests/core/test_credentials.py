"""Verifiable credentials: issue, verify offline, tamper, wrong key, expiry, revocation, scoping."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from mingyue.core.config import Settings
from mingyue.core.db import system_session
from mingyue.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from mingyue.core.ledger import credentials, keys
from mingyue.core.ledger.audit import AuditEntry, verify_chain
from mingyue.core.tenancy.access import Actor
from mingyue.core.tenancy.identity import Organization
from mingyue.core.uow import unit_of_work

ActorFor = Callable[..., Actor]


@pytest.fixture
def orgs(make_org: Callable[..., Organization]) -> dict[str, int]:
    return {
        name: make_org(kind=kind).id
        for name, kind in (("operator", "operator"), ("a", "enterprise"), ("b", "enterprise"))
    }


@pytest.fixture
def actor_for(
    orgs: dict[str, int], make_user: Callable[..., Any], actor_of: Callable[[Any], Actor]
) -> ActorFor:
    def make(org: str, *roles: str) -> Actor:
        org_obj = Organization(id=orgs[org], name=org, kind="enterprise")
        return actor_of(make_user(org_obj, roles=roles))

    return make


def _issue(settings: Settings, org_id: int, **kw: Any) -> dict[str, Any]:
    reviewer = Actor(
        user_id=1,
        username="rev",
        organization_id=None,
        org_kind="operator",
        roles=frozenset({"reviewer"}),
    )
    with unit_of_work(reviewer, settings) as uow:
        return credentials.issue(
            uow=uow,
            type=kw.pop("type", "AppComplianceReport"),
            subject=kw.pop("subject", {"id": "urn:app:demo", "score": 97}),
            organization_id=org_id,
            **kw,
        )


def test_issued_credential_has_vc2_shape_and_verifies(
    settings: Settings, orgs: dict[str, int]
) -> None:
    vc = _issue(settings, orgs["a"], valid_days=30)
    assert vc["@context"] == [credentials.VC_CONTEXT]
    assert vc["id"].startswith("urn:uuid:")
    assert vc["type"] == ["VerifiableCredential", "AppComplianceReport"]
    assert vc["issuer"].startswith("did:key:z6Mk")
    assert vc["validFrom"].endswith("Z") and vc["validUntil"].endswith("Z")
    assert vc["credentialStatus"]["type"] == credentials.STATUS_TYPE
    assert vc["credentialStatus"]["id"] == (
        f"{settings.base_url}/api/credentials/{vc['id'].removeprefix('urn:uuid:')}/status"
    )
    assert vc["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    assert vc["proof"]["proofValue"].startswith("z")
    pub = keys.public_key_b64(settings)
    assert credentials.issuer_did_for_key(pub) == vc["issuer"]
    result = credentials.verify(vc, pub)
    assert result.ok and result.reason == "core.credential.valid"
    assert result.credential_id == vc["id"] and result.type == "AppComplianceReport"


def test_tampered_credential_fails(settings: Settings, orgs: dict[str, int]) -> None:
    vc = _issue(settings, orgs["a"])
    pub = keys.public_key_b64(settings)
    for mutate in (
        lambda d: d["credentialSubject"].__setitem__("score", 98),
        lambda d: d.__setitem__("validFrom", "2020-01-01T00:00:00Z"),
        lambda d: d["type"].__setitem__(1, "CertificateOfConformity"),
        lambda d: d["proof"].__setitem__("created", "2020-01-01T00:00:00Z"),
    ):
        bad = copy.deepcopy(vc)
        mutate(bad)
        result = credentials.verify(bad, pub)
        assert not result.ok and result.reason == "core.credential.tampered", result


def test_credential_signed_by_another_key_is_refused(
    settings: Settings, orgs: dict[str, int]
) -> None:
    vc = _issue(settings, orgs["a"])
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    result = credentials.verify(vc, base64.b64encode(other).decode())
    assert not result.ok and result.reason == "core.credential.wrong_key"
    # Without a key argument the platform's own key is the trusted one.
    assert credentials.verify(vc).ok


def test_forged_issuer_is_refused(settings: Settings, orgs: dict[str, int]) -> None:
    from mingyue.core.ledger.dataintegrity import add_proof

    vc = _issue(settings, orgs["a"])
    forger = Ed25519PrivateKey.generate()
    unsigned = {k: v for k, v in vc.items() if k != "proof"}
    forged = add_proof(unsigned, forger, credentials.utcnow())  # issuer still the platform's did
    assert not credentials.verify(forged).ok
    assert (
        credentials.verify(forged, keys.public_key_b64(settings)).reason
        == "core.credential.wrong_key"
    )


def test_expiry_and_not_yet_valid(settings: Settings, orgs: dict[str, int]) -> None:
    vc = _issue(settings, orgs["a"], valid_days=1)
    pub = keys.public_key_b64(settings)
    later = credentials.utcnow() + timedelta(days=2)
    assert credentials.verify(vc, pub, now=later).reason == "core.credential.expired"
    earlier = credentials.utcnow() - timedelta(days=1)
    assert credentials.verify(vc, pub, now=earlier).reason == "core.credential.not_yet_valid"


def test_malformed_input_is_reported_not_raised() -> None:
    for doc in ({}, {"@context": ["x"]}, [], {"proof": "x"}):
        result = credentials.verify(doc)  # type: ignore[arg-type]
        assert not result.ok and result.reason == "core.credential.malformed"


def test_revocation_recorded_audited_and_checked(
    settings: Settings, orgs: dict[str, int], actor_for: ActorFor
) -> None:
    vc = _issue(settings, orgs["a"])
    pub = keys.public_key_b64(settings)
    regulator = Actor(
        user_id=2,
        username="reg",
        organization_id=None,
        org_kind="regulator",
        roles=frozenset({"regulator"}),
    )
    with unit_of_work(regulator, settings) as uow:
        out = credentials.revoke(
            uow=uow, actor=regulator, credential_id=vc["id"], reason="report withdrawn"
        )
    assert out.revoked and out.revoked_reason == "report withdrawn" and out.revoked_at
    with unit_of_work(regulator, settings) as uow:
        ids = credentials.revoked_ids(uow=uow)
        signed_list = credentials.revocation_list(uow=uow)
        with pytest.raises(Conflict):
            credentials.revoke(uow=uow, credential_id=vc["id"], reason="again")
    result = credentials.verify(vc, pub, revoked_ids=ids)
    assert not result.ok and result.revoked and result.reason == "core.credential.revoked"
    assert credentials.read_revocation_list(signed_list, pub) == [vc["id"]]
    signed_list["revoked"] = []
    with pytest.raises(InvalidInput):
        credentials.read_revocation_list(signed_list, pub)
    with system_session(settings, "test") as s:
        actions = [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
        assert actions == ["core.credential.issued", "core.credential.revoked"]
        assert verify_chain(s).ok


def test_members_cannot_revoke_and_tenants_are_isolated(
    settings: Settings, orgs: dict[str, int], actor_for: ActorFor
) -> None:
    vc = _issue(settings, orgs["a"])
    member_a = actor_for("a", "member")
    admin_b = actor_for("b", "org_admin")
    with unit_of_work(member_a, settings) as uow:
        assert [c.id for c in credentials.list_credentials(uow=uow, actor=member_a)] == [vc["id"]]
        assert (
            credentials.get_credential(uow=uow, actor=member_a, credential_id=vc["id"]).credential
            == vc
        )
        with pytest.raises(Forbidden):
            credentials.revoke(uow=uow, actor=member_a, credential_id=vc["id"], reason="x")
    with unit_of_work(admin_b, settings) as uow:
        assert credentials.list_credentials(uow=uow, actor=admin_b) == []
        with pytest.raises(NotFound):
            credentials.get_credential(uow=uow, actor=admin_b, credential_id=vc["id"])
        with pytest.raises(NotFound):
            credentials.status(uow=uow, actor=admin_b, credential_id=vc["id"])


def test_bad_issue_input(settings: Settings, orgs: dict[str, int]) -> None:
    with pytest.raises(InvalidInput):
        _issue(settings, orgs["a"], type="Verifiable Credential!")
    with pytest.raises(InvalidInput):
        _issue(settings, orgs["a"], subject={})
    with pytest.raises(InvalidInput):
        _issue(settings, orgs["a"], valid_days=0)
    with pytest.raises(InvalidInput):
        _issue(settings, orgs["a"], subject={"serial": 2**60})  # not exact as a JSON double
    with pytest.raises(InvalidInput):
        credentials.bare_id("not-a-uuid")


def test_bilingual_name_and_description(settings: Settings, orgs: dict[str, int]) -> None:
    vc = _issue(
        settings,
        orgs["a"],
        name={"zh_CN": "App合规检测报告", "en": "App compliance report"},
        description="GB/T 41391-2022",
    )
    assert vc["name"] == [
        {"@value": "App合规检测报告", "@language": "zh-CN"},
        {"@value": "App compliance report", "@language": "en"},
    ]
    assert vc["description"] == "GB/T 41391-2022"
    assert credentials.verify(vc, keys.public_key_b64(settings)).ok
    with pytest.raises(InvalidInput):
        _issue(settings, orgs["a"], name={"zh": 1})


def test_decimal_and_unicode_subjects_are_signed_exactly(
    settings: Settings, orgs: dict[str, int]
) -> None:
    from decimal import Decimal

    vc = _issue(
        settings,
        orgs["a"],
        subject={"企业": "两江新区明月湖", "fee": Decimal("12.50"), "ratio": 0.1, "emoji": "😀"},
    )
    assert vc["credentialSubject"]["fee"] == "12.50"
    assert credentials.verify(vc, keys.public_key_b64(settings)).ok


def test_without_a_key_argument_the_platform_key_is_required(settings: Settings) -> None:
    from mingyue.core.ledger.dataintegrity import add_proof, did_of

    stranger = Ed25519PrivateKey.generate()
    doc = {
        "@context": [credentials.VC_CONTEXT],
        "id": "urn:uuid:00000000-0000-4000-8000-000000000000",
        "type": ["VerifiableCredential", "Forged"],
        "issuer": did_of(stranger),
        "validFrom": "2020-01-01T00:00:00Z",
        "credentialSubject": {"x": 1},
    }
    forged = add_proof(doc, stranger, credentials.utcnow())
    assert not keys.key_path(settings).exists()
    assert credentials.verify(forged).reason == "core.credential.no_key"
    assert not keys.key_path(settings).exists()  # verifying never creates a key
    keys.signing_key(settings)
    assert credentials.verify(forged).reason == "core.credential.wrong_key"
    own = credentials.issuer_did_for_key(
        base64.b64encode(stranger.public_key().public_bytes_raw()).decode()
    )
    assert (
        credentials.verify(
            forged, base64.b64encode(stranger.public_key().public_bytes_raw()).decode()
        ).ok
        and own == doc["issuer"]
    )
