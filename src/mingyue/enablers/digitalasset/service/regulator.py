"""The regulator's view: who is behind an address, the full trace of an asset, sandbox switches.

Every read of a real name or of a trace and every switch (pause a contract, freeze a token or
an account) is on the audit ledger with the regulator's reason. Switches are signed with the
platform's regulator key, which holds the regulator role in every collection contract.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from mingyue.enablers.digitalasset.adapters.chain import Chain, Signer
from mingyue.enablers.digitalasset.engine.contracts import COLLECTION, EDITIONS, load_artifact
from mingyue.enablers.digitalasset.models_registry import (
    DigitalassetAccount,
    DigitalassetCollection,
    DigitalassetHolding,
    DigitalassetToken,
    DigitalassetTransfer,
    DigitalassetWork,
)
from mingyue.enablers.digitalasset.schemas import (
    CollectionOut,
    HoldingOut,
    IdentityOut,
    TokenOut,
    TraceOut,
    TraceStep,
    WorkOut,
)
from mingyue.enablers.digitalasset.service import custody
from mingyue.enablers.digitalasset.service.common import chain_for, load, norm_address
from mingyue.enablers.digitalasset.service.issuance import collection_out, token_out
from mingyue.sdk import Actor, UnitOfWork, check, organization
from mingyue.sdk.errors import InvalidInput, NotFound

_ZERO = "0x0000000000000000000000000000000000000000"


def _reason(reason: str) -> str:
    text = reason.strip()
    if not 2 <= len(text) <= 500:
        raise InvalidInput(
            "digitalasset.reason_required", "give the reason (2-500 characters)", field="reason"
        )
    return text


def reveal_identity(*, uow: UnitOfWork, actor: Actor, address: str, reason: str) -> IdentityOut:
    """Resolve an address to its DID and the verified real name behind it (audited)."""
    check(actor, "digitalasset.identity.reveal")
    why = _reason(reason)
    account = uow.session.scalars(
        select(DigitalassetAccount).where(DigitalassetAccount.address == norm_address(address))
    ).first()
    if account is None:
        raise NotFound("digitalasset.identity.unknown", "no custody account has this address")
    org = organization(uow=uow, organization_id=account.organization_id)
    uow.audit(
        "digitalasset.identity.revealed",
        f"digitalasset_account:{account.id}",
        {"address": account.address, "reason": why},
        organization_id=account.organization_id,
    )
    return IdentityOut(
        address=account.address,
        did=account.did,
        account_id=account.id,
        kind=account.kind,
        organization_id=account.organization_id,
        organization=org.name if org else "",
        username=account.username,
        real_name=custody.real_name(uow.settings, account),
        kyc_level=account.kyc_level,
        kyc_credential_id=account.kyc_credential_id,
        frozen=account.frozen,
    )


def _chain_steps(
    chain: Chain, collection: DigitalassetCollection, token: DigitalassetToken
) -> list[TraceStep]:
    steps: list[TraceStep] = []
    if collection.standard == "erc721":
        events = chain.events(
            collection.address,
            load_artifact(COLLECTION),
            "Transfer",
            filters={"tokenId": int(token.token_id)},
        )
        pairs = [(e, 1) for e in events]
    else:
        editions = load_artifact(EDITIONS)
        events = [
            e
            for e in chain.events(collection.address, editions, "TransferSingle")
            if int(e.args["id"]) == int(token.token_id)
        ]
        pairs = [(e, int(e.args["value"])) for e in events]
    times: dict[int, datetime] = {}
    for event, quantity in pairs:
        if event.block_number not in times:
            times[event.block_number] = chain.block_time(event.block_number)
        src, dst = str(event.args["from"]), str(event.args["to"])
        kind = "mint" if src == _ZERO else "burn" if dst == _ZERO else "transfer"
        steps.append(
            TraceStep(
                at=times[event.block_number],
                kind=kind,
                from_address=None if src == _ZERO else src,
                to_address=None if dst == _ZERO else dst,
                quantity=quantity,
                tx_hash=event.tx_hash,
                block_number=event.block_number,
                status="on_chain",
            )
        )
    return steps


def trace(*, uow: UnitOfWork, actor: Actor, token_ref: int) -> TraceOut:
    """Return an asset's full trace: its chain events, refused requests and current holders."""
    check(actor, "digitalasset.supervise")
    token = load(uow, DigitalassetToken, token_ref)
    collection = load(uow, DigitalassetCollection, token.collection_id)
    work = load(uow, DigitalassetWork, token.work_id)
    steps = _chain_steps(chain_for(uow.settings), collection, token)
    refused = uow.session.scalars(
        select(DigitalassetTransfer)
        .where(DigitalassetTransfer.token_ref == token.id, DigitalassetTransfer.status == "refused")
        .order_by(DigitalassetTransfer.id)
    ).all()
    for r in refused:
        steps.append(
            TraceStep(
                at=r.created_at,
                kind="transfer",
                from_address=r.from_address,
                to_address=r.to_address,
                quantity=r.quantity,
                tx_hash=None,
                block_number=None,
                status="refused",
                rule_id=r.rule_id,
                by=r.created_by,
            )
        )
    steps.sort(key=lambda s: s.at or datetime.min.replace(tzinfo=UTC))
    holders: list[HoldingOut] = []
    rows = uow.session.execute(
        select(DigitalassetHolding, DigitalassetAccount)
        .join(DigitalassetAccount, DigitalassetAccount.id == DigitalassetHolding.account_id)
        .where(DigitalassetHolding.token_ref == token.id, DigitalassetHolding.quantity > 0)
    ).all()
    for holding, account in rows:
        holders.append(
            HoldingOut(
                id=holding.id,
                token_ref=token.id,
                token_id=int(token.token_id),
                collection=collection.name,
                collection_address=collection.address,
                standard=collection.standard,
                work_title=work.title,
                account_id=account.id,
                address=account.address,
                quantity=holding.quantity,
                acquired_at=holding.acquired_at,
                transferable_from=None,
                frozen=token.frozen or account.frozen or collection.paused,
            )
        )
    uow.audit(
        "digitalasset.trace.read",
        f"digitalasset_token:{token.id}",
        {"steps": len(steps)},
        organization_id=token.organization_id,
    )
    return TraceOut(
        token=TokenOut.model_validate(token_out(token)),
        collection=CollectionOut.model_validate(collection_out(collection)),
        work=WorkOut.model_validate(work, from_attributes=True),
        steps=steps,
        holders=holders,
    )


def _regulator_signer(uow: UnitOfWork, chain: Chain) -> Signer:
    key = custody.platform_key(uow, "regulator")
    chain.ensure_gas(key.address)
    return custody.signer_of(uow.settings, key)


def pause_collection(
    *, uow: UnitOfWork, actor: Actor, collection_id: int, on: bool, reason: str
) -> CollectionOut:
    """Pause (or resume) every transfer of a collection contract."""
    check(actor, "digitalasset.supervise")
    why = _reason(reason)
    collection = load(uow, DigitalassetCollection, collection_id)
    chain = chain_for(uow.settings)
    art = load_artifact(COLLECTION if collection.standard == "erc721" else EDITIONS)
    if bool(chain.call(collection.address, art, "paused")) != on:
        result = chain.transact(
            collection.address,
            art,
            "pause" if on else "unpause",
            [],
            signer=_regulator_signer(uow, chain),
        )
        tx: str | None = result.tx_hash
    else:
        tx = None
    collection.paused = on
    uow.audit(
        "digitalasset.contract.paused" if on else "digitalasset.contract.unpaused",
        f"digitalasset_collection:{collection.id}",
        {"address": collection.address, "reason": why, "tx": tx},
        organization_id=collection.organization_id,
    )
    return collection_out(collection)


def freeze_token(
    *, uow: UnitOfWork, actor: Actor, token_ref: int, on: bool, reason: str
) -> TokenOut:
    """Freeze (or unfreeze) one token: no transfer or burn of it while frozen."""
    check(actor, "digitalasset.supervise")
    why = _reason(reason)
    token = load(uow, DigitalassetToken, token_ref)
    collection = load(uow, DigitalassetCollection, token.collection_id)
    chain = chain_for(uow.settings)
    art = load_artifact(COLLECTION if collection.standard == "erc721" else EDITIONS)
    result = chain.transact(
        collection.address,
        art,
        "freezeToken",
        [int(token.token_id), on],
        signer=_regulator_signer(uow, chain),
    )
    token.frozen = on
    uow.audit(
        "digitalasset.token.frozen" if on else "digitalasset.token.unfrozen",
        f"digitalasset_token:{token.id}",
        {
            "collection": collection.address,
            "token_id": int(token.token_id),
            "reason": why,
            "tx": result.tx_hash,
        },
        organization_id=token.organization_id,
    )
    return token_out(token)


def freeze_account(
    *, uow: UnitOfWork, actor: Actor, address: str, on: bool, reason: str
) -> IdentityOut:
    """Freeze (or unfreeze) an account in every collection of the platform."""
    check(actor, "digitalasset.supervise")
    why = _reason(reason)
    target = norm_address(address)
    account = uow.session.scalars(
        select(DigitalassetAccount).where(DigitalassetAccount.address == target)
    ).first()
    if account is None:
        raise NotFound("digitalasset.identity.unknown", "no custody account has this address")
    chain = chain_for(uow.settings)
    signer = _regulator_signer(uow, chain)
    txs: list[str] = []
    for collection in uow.session.scalars(select(DigitalassetCollection)).all():
        art = load_artifact(COLLECTION if collection.standard == "erc721" else EDITIONS)
        if bool(chain.call(collection.address, art, "accountFrozen", [target])) != on:
            txs.append(
                chain.transact(
                    collection.address, art, "freezeAccount", [target, on], signer=signer
                ).tx_hash
            )
    account.frozen = on
    uow.audit(
        "digitalasset.account.frozen" if on else "digitalasset.account.unfrozen",
        f"digitalasset_account:{account.id}",
        {"address": target, "reason": why, "txs": txs},
        organization_id=account.organization_id,
    )
    org = organization(uow=uow, organization_id=account.organization_id)
    return IdentityOut(
        address=account.address,
        did=account.did,
        account_id=account.id,
        kind=account.kind,
        organization_id=account.organization_id,
        organization=org.name if org else "",
        username=account.username,
        real_name=None,
        kyc_level=account.kyc_level,
        kyc_credential_id=account.kyc_credential_id,
        frozen=account.frozen,
    )
