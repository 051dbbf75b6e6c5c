"""Circulation: transfers through the platform, under the rule pack, then on the chain.

Every transfer is judged first by ``rules/circulation.yaml`` (2022 Initiative points 1-6 and
the holding period); a refusal is recorded — the refused request and its audit entry stay — and
answers with the rule's id and citation. Only then does the seller's custody key sign the
transfer; the contracts enforce the regulator's freezes and pause once more on the chain.
Tokens, collections and works belong to their issuer; a holder in another organization reads
the ones it holds (their facts are public on the chain anyway).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import select

from mingyue.enablers.digitalasset.engine import rules
from mingyue.enablers.digitalasset.engine.contracts import COLLECTION, EDITIONS, load_artifact
from mingyue.enablers.digitalasset.models_registry import (
    DigitalassetAccount,
    DigitalassetCollection,
    DigitalassetHolding,
    DigitalassetToken,
    DigitalassetTransfer,
    DigitalassetWork,
)
from mingyue.enablers.digitalasset.schemas import HoldingOut, TransferIn, TransferOut
from mingyue.enablers.digitalasset.service import custody
from mingyue.enablers.digitalasset.service.common import chain_for, norm_address, opts
from mingyue.enablers.digitalasset.service.issuance import issuer_kyc
from mingyue.sdk import Actor, UnitOfWork, check, now, require_org
from mingyue.sdk.errors import InvalidInput, NotFound, RecordedRefusal, Refused

_READ_HELD = "digitalasset: a holder reads the public facts of the tokens it holds"


def transfer_out(t: DigitalassetTransfer) -> TransferOut:
    """Return a transfer as the API shows it."""
    return TransferOut.model_validate(t, from_attributes=True)


def _token_facts(
    uow: UnitOfWork, token_ref: int
) -> tuple[DigitalassetToken, DigitalassetCollection, DigitalassetWork]:
    with uow.unscoped(reason=_READ_HELD, record=False):
        token = uow.session.get(DigitalassetToken, token_ref)
        if token is None:
            raise NotFound("digitalasset.not_found", f"no token {token_ref}")
        collection = uow.session.get(DigitalassetCollection, token.collection_id)
        work = uow.session.get(DigitalassetWork, token.work_id)
    if collection is None or work is None:  # foreign keys make this unreachable
        raise NotFound("digitalasset.not_found", f"token {token_ref} lost its collection or work")
    return token, collection, work


def _seller(uow: UnitOfWork, actor: Actor, from_issuer: bool) -> DigitalassetAccount:
    org = require_org(actor)
    if from_issuer:
        return custody.issuer_account(uow, org)
    account = custody.user_account(uow, actor)
    if account is None:
        raise NotFound("digitalasset.account.none", "open a custody account first")
    return account


def _quantity(value: Decimal) -> Decimal:
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError) as exc:
        raise InvalidInput("digitalasset.transfer.bad_quantity", "quantity is a number") from exc


def transfer(*, uow: UnitOfWork, actor: Actor, body: TransferIn) -> TransferOut:
    """Transfer a collectible if every circulation rule allows it; record a refusal otherwise."""
    check(actor, "digitalasset.transfer")
    seller = _seller(uow, actor, body.from_issuer)
    holding = uow.session.scalars(
        select(DigitalassetHolding).where(
            DigitalassetHolding.account_id == seller.id,
            DigitalassetHolding.token_ref == body.token,
        )
    ).first()
    if holding is None or holding.quantity <= 0:
        raise NotFound("digitalasset.transfer.not_held", "the account does not hold this token")
    token, collection, work = _token_facts(uow, body.token)
    to_address = norm_address(body.to_address)
    if to_address == seller.address:
        raise InvalidInput("digitalasset.transfer.to_self", "transfer to another account")
    with uow.unscoped(reason="digitalasset: is the buyer real-name verified", record=False):
        buyer = uow.session.scalars(
            select(DigitalassetAccount).where(DigitalassetAccount.address == to_address)
        ).first()
        buyer_level = custody.kyc_level(uow, buyer)
    quantity = _quantity(body.quantity)
    seller_level = (
        issuer_kyc(uow, seller.organization_id)
        if seller.kind == "issuer"
        else custody.kyc_level(uow, seller)
    )
    at = now()
    facts = rules.Facts(
        stage="transfer",
        work_kind=work.kind,
        work_status=work.review_status,
        standard=collection.standard,
        quantity=quantity,
        edition_cap=token.edition_cap,
        mode=body.mode,
        purpose=body.purpose,
        price=body.price,
        currency=body.currency,
        seller_kyc=seller_level,
        buyer_kyc=buyer_level,
        # The issuer's first distribution has no holding period.
        acquired_at=None if seller.kind == "issuer" else holding.acquired_at,
        at=at,
    )
    breaches = rules.evaluate(facts, options=opts(uow).rule_options())
    row = DigitalassetTransfer(
        organization_id=seller.organization_id,
        created_by=actor.label(),
        kind="transfer",
        token_ref=token.id,
        from_address=seller.address,
        to_address=to_address,
        quantity=int(quantity) if quantity == quantity.to_integral_value() else 0,
        mode=body.mode[:20],
        price=body.price,
        currency=(body.currency or None) and body.currency[:10],
        status="refused" if breaches else "done",
    )
    if breaches:
        first = breaches[0]
        row.rule_id = first.rule.id
        row.breaches = [b.as_dict("en") for b in breaches]
        uow.session.add(row)
        uow.flush()
        uow.audit(
            "digitalasset.transfer.refused",
            f"digitalasset_transfer:{row.id}",
            {"rule": first.rule.id, "rules": [b.rule.id for b in breaches], "token": token.id},
        )
        raise RecordedRefusal(
            "digitalasset.rule_refused",
            f"{first.rule.id}: {first.detail} ({first.rule.citation['en']})",
            status=403,
            document={
                "status": "refused",
                "transfer_id": row.id,
                "rule": first.rule.id,
                "title": first.rule.title,
                "citation": first.rule.citation,
                "detail": first.detail,
                "breaches": [
                    {"rule": b.rule.id, "citation": b.rule.citation, "detail": b.detail}
                    for b in breaches
                ],
            },
            rule=first.rule.id,
        )
    units = int(quantity)
    if units > holding.quantity:
        raise InvalidInput(
            "digitalasset.transfer.too_many",
            f"the account holds {holding.quantity}",
            field="quantity",
        )
    if seller.frozen or token.frozen or collection.paused:
        raise Refused("digitalasset.transfer.frozen", "frozen or paused by the regulator")
    chain = chain_for(uow.settings)
    chain.ensure_gas(seller.address)
    signer = custody.signer_of(uow.settings, seller)
    if collection.standard == "erc721":
        result = chain.transact(
            collection.address,
            load_artifact(COLLECTION),
            "transferFrom",
            [seller.address, to_address, int(token.token_id)],
            signer=signer,
        )
    else:
        result = chain.transact(
            collection.address,
            load_artifact(EDITIONS),
            "safeTransferFrom",
            [seller.address, to_address, int(token.token_id), units, b""],
            signer=signer,
        )
    row.tx_hash, row.block_number = result.tx_hash, result.block_number
    uow.session.add(row)
    holding.quantity -= units
    if holding.quantity == 0:
        uow.session.delete(holding)
    if buyer is None:  # unreachable: a buyer without an account fails the real-name rule
        raise NotFound("digitalasset.identity.unknown", "the buyer has no custody account")
    _credit(
        uow, buyer, token.id, units, at, same_org=buyer.organization_id == seller.organization_id
    )
    uow.flush()
    uow.audit(
        "digitalasset.transfer.done",
        f"digitalasset_transfer:{row.id}",
        {
            "token": token.id,
            "from": seller.address,
            "to": to_address,
            "quantity": units,
            "price": str(body.price) if body.price is not None else None,
            "currency": body.currency,
            "tx": result.tx_hash,
        },
    )
    return transfer_out(row)


def _credit(
    uow: UnitOfWork,
    buyer: DigitalassetAccount,
    token_ref: int,
    units: int,
    at: datetime,
    *,
    same_org: bool,
) -> None:
    def add() -> None:
        held = uow.session.scalars(
            select(DigitalassetHolding).where(
                DigitalassetHolding.account_id == buyer.id,
                DigitalassetHolding.token_ref == token_ref,
            )
        ).first()
        if held is None:
            uow.session.add(
                DigitalassetHolding(
                    organization_id=buyer.organization_id,
                    token_ref=token_ref,
                    account_id=buyer.id,
                    quantity=units,
                    acquired_at=at,
                )
            )
        else:
            # New units restart the holding period of the whole holding (the stricter reading).
            held.quantity += units
            held.acquired_at = at
        uow.session.flush()

    if same_org:
        add()
    else:
        with uow.unscoped(reason="digitalasset: credit the buyer's holding in its organization"):
            add()


def list_holdings(*, uow: UnitOfWork, actor: Actor, mine: bool = False) -> list[HoldingOut]:
    """Return the holdings of the accounts in the actor's scope (``mine``: the actor's own)."""
    check(actor, "digitalasset.read")
    q = (
        select(DigitalassetHolding, DigitalassetAccount)
        .join(DigitalassetAccount, DigitalassetAccount.id == DigitalassetHolding.account_id)
        .where(DigitalassetHolding.quantity > 0)
        .order_by(DigitalassetHolding.id.desc())
    )
    if mine:
        own = custody.user_account(uow, actor)
        if own is None:
            return []
        q = q.where(DigitalassetHolding.account_id == own.id)
    rows = uow.session.execute(q).all()
    days = opts(uow).holding_days
    out: list[HoldingOut] = []
    for holding, account in rows:
        token, collection, work = _token_facts(uow, holding.token_ref)
        out.append(
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
                transferable_from=(
                    holding.acquired_at + timedelta(days=days)
                    if account.kind == "user" and days > 0
                    else None
                ),
                frozen=token.frozen or account.frozen or collection.paused,
            )
        )
    return out


def list_transfers(
    *, uow: UnitOfWork, actor: Actor, status: str | None = None, limit: int = 200
) -> list[TransferOut]:
    """Return the transfers in the actor's scope, newest first."""
    check(actor, "digitalasset.read")
    q = select(DigitalassetTransfer).order_by(DigitalassetTransfer.id.desc()).limit(limit)
    if status:
        q = q.where(DigitalassetTransfer.status == status)
    return [transfer_out(t) for t in uow.session.scalars(q)]


def account_of(uow: UnitOfWork, address: str) -> DigitalassetAccount | None:
    """Return the custody account of an address in the actor's scope."""
    return uow.session.scalars(
        select(DigitalassetAccount).where(DigitalassetAccount.address == address)
    ).first()
