"""Custody: platform-managed keys of users and issuers, the platform's own keys, real names.

Each key lives in a standard encrypted keystore (Web3 Secret Storage v3, scrypt) whose random
password is sealed with the deployment's secret key (``sdk.seal``): the database alone opens
nothing, and a keystore exported with its password opens in any wallet. A key is decrypted only
for the one transaction it signs and is never logged. ``Signer`` (adapters.chain) is the
interface an HSM or a cloud KMS implements instead: an account's ``signer`` column names its
backend, and :data:`SIGNER_BACKENDS` maps names to factories.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any

from eth_account import Account
from sqlalchemy import select

from mingyue.enablers.digitalasset.adapters.chain import LocalKeySigner, Signer
from mingyue.enablers.digitalasset.models_registry import (
    DigitalassetAccount,
    DigitalassetPlatformKey,
)
from mingyue.enablers.digitalasset.schemas import AccountOut
from mingyue.enablers.digitalasset.service.common import chain_for, load
from mingyue.sdk import (
    Actor,
    Settings,
    UnitOfWork,
    check,
    credential_revoked,
    issue_credential,
    now,
    require_org,
    seal,
    unseal,
)
from mingyue.sdk.errors import Conflict, Forbidden, InvalidInput

KEYSTORE_PURPOSE = "digitalasset.keystore"
REAL_NAME_PURPOSE = "digitalasset.real_name"
KYC_TYPE = "DigitalassetKycCredential"
# The password is 256 random bits: a costlier KDF would add no strength, only latency.
_SCRYPT_N = 2**14


def _new_key(settings: Settings) -> tuple[str, dict[str, Any], str]:
    acct = Account.create()
    password = secrets.token_urlsafe(32)
    keystore = dict(Account.encrypt(acct.key, password, kdf="scrypt", iterations=_SCRYPT_N))
    return str(acct.address), keystore, seal(settings, KEYSTORE_PURPOSE, {"password": password})


def _keystore_signer(settings: Settings, keystore: Mapping[str, Any], sealed: str) -> Signer:
    password = unseal(settings, KEYSTORE_PURPOSE, sealed)["password"]
    return LocalKeySigner(bytes(Account.decrypt(dict(keystore), password)))


SignerFactory = Callable[[Settings, Mapping[str, Any], str], Signer]
SIGNER_BACKENDS: dict[str, SignerFactory] = {"keystore": _keystore_signer}


def signer_of(settings: Settings, account: DigitalassetAccount | DigitalassetPlatformKey) -> Signer:
    """Return the signer of a custody account or platform key (its backend decides how)."""
    backend = getattr(account, "signer", "keystore")
    factory = SIGNER_BACKENDS.get(backend)
    if factory is None:
        raise Conflict("digitalasset.signer.unknown", f"no signer backend {backend}")
    return factory(settings, account.keystore, account.sealed_password)


def account_did(chain_id: int, address: str) -> str:
    """Return the DID of a chain account (did:pkh, CAIP-10)."""
    return f"did:pkh:eip155:{chain_id}:{address}"


def _out(account: DigitalassetAccount) -> AccountOut:
    return AccountOut.model_validate(account, from_attributes=True)


def _create(
    uow: UnitOfWork, *, organization_id: int, kind: str, username: str | None
) -> DigitalassetAccount:
    address, keystore, sealed = _new_key(uow.settings)
    chain = chain_for(uow.settings)
    account = DigitalassetAccount(
        organization_id=organization_id,
        kind=kind,
        username=username,
        address=address,
        did=account_did(chain.chain_id, address),
        keystore=keystore,
        sealed_password=sealed,
    )
    uow.session.add(account)
    uow.flush()
    uow.audit(
        "digitalasset.account.opened",
        f"digitalasset_account:{account.id}",
        {"address": address, "kind": kind, "username": username},
        organization_id=organization_id,
    )
    return account


def user_account(uow: UnitOfWork, actor: Actor) -> DigitalassetAccount | None:
    """Return the actor's own custody account, if opened."""
    if actor.organization_id is None:
        return None
    return uow.session.scalars(
        select(DigitalassetAccount).where(
            DigitalassetAccount.kind == "user",
            DigitalassetAccount.username == actor.username,
            DigitalassetAccount.organization_id == actor.organization_id,
        )
    ).first()


def open_account(*, uow: UnitOfWork, actor: Actor) -> AccountOut:
    """Open the actor's custody account (the same one again when it exists)."""
    check(actor, "digitalasset.account.open")
    org = require_org(actor)
    existing = user_account(uow, actor)
    if existing is not None:
        return _out(existing)
    return _out(_create(uow, organization_id=org, kind="user", username=actor.username))


def issuer_account(uow: UnitOfWork, organization_id: int) -> DigitalassetAccount:
    """Return the organization's issuer account, opening it on first use."""
    found = uow.session.scalars(
        select(DigitalassetAccount).where(
            DigitalassetAccount.kind == "issuer",
            DigitalassetAccount.organization_id == organization_id,
        )
    ).first()
    return found or _create(uow, organization_id=organization_id, kind="issuer", username=None)


def platform_key(uow: UnitOfWork, role: str) -> DigitalassetPlatformKey:
    """Return the platform's key for a role (``regulator``, ``anchorer``), made on first use."""
    row = uow.session.get(DigitalassetPlatformKey, role)
    if row is None:
        address, keystore, sealed = _new_key(uow.settings)
        row = DigitalassetPlatformKey(
            role=role, address=address, keystore=keystore, sealed_password=sealed
        )
        uow.session.add(row)
        uow.flush()
    return row


def list_accounts(*, uow: UnitOfWork, actor: Actor, limit: int = 200) -> list[AccountOut]:
    """Return the custody accounts in the actor's scope."""
    check(actor, "digitalasset.read")
    rows = uow.session.scalars(
        select(DigitalassetAccount).order_by(DigitalassetAccount.id.desc()).limit(limit)
    ).all()
    return [_out(a) for a in rows]


def get_account(*, uow: UnitOfWork, actor: Actor, account_id: int) -> AccountOut:
    """Return one custody account."""
    return _out(load(uow, DigitalassetAccount, account_id, "digitalasset.read"))


def verify_kyc(
    *, uow: UnitOfWork, actor: Actor, account_id: int, real_name: str, level: int
) -> AccountOut:
    """Record a holder's real-name verification and issue the KYC credential (no name in it)."""
    account = load(uow, DigitalassetAccount, account_id, "digitalasset.kyc.verify")
    if account.organization_id == actor.organization_id:
        # Four eyes: the operator's staff verify other people, not their own organization.
        raise Forbidden("digitalasset.kyc.self", "verify the real names of other organizations")
    name = real_name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("digitalasset.kyc.bad_name", "a real name is 1-100 characters")
    vc = issue_credential(
        uow=uow,
        type=KYC_TYPE,
        subject={"id": account.did, "kycLevel": level, "address": account.address},
        organization_id=account.organization_id,
        name={"zh": "数字藏品实名认证", "en": "Digital-collectible real-name verification"},
        public_fields=["kycLevel"],
    )
    account.kyc_level = level
    account.kyc_credential_id = vc.id
    account.kyc_credential = vc.document
    account.kyc_verified_at = now()
    account.real_name_sealed = seal(uow.settings, REAL_NAME_PURPOSE, {"name": name})
    uow.audit(
        "digitalasset.kyc.verified",
        f"digitalasset_account:{account.id}",
        {"level": level, "credential": vc.id, "address": account.address},
        organization_id=account.organization_id,
    )
    return _out(account)


def kyc_level(uow: UnitOfWork, account: DigitalassetAccount | None) -> int | None:
    """Return the account's verified real-name level (None: none, or its credential fails)."""
    if account is None or account.kyc_credential_id is None or account.kyc_level is None:
        return None
    # The credential is the platform's own record: what can change is its revocation.
    revoked = credential_revoked(uow=uow, credential_id=account.kyc_credential_id)
    return account.kyc_level if revoked is False else None


def real_name(settings: Settings, account: DigitalassetAccount) -> str | None:
    """Open the sealed real name of an account (callers audit the read)."""
    if account.real_name_sealed is None:
        return None
    return unseal(settings, REAL_NAME_PURPOSE, account.real_name_sealed).get("name")
