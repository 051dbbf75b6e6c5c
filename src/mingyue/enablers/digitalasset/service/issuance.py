"""Issuance: an issuer's collection contracts and the works it issues as tokens.

The issuer's organization deploys a collection (ERC-721, one token per work, up to the
collection's cap; or ERC-1155, numbered editions with a cap per work) from its issuer account;
the sandbox regulator's platform key holds the regulator role in every contract. Only an
approved work is issued, after the rule pack's issuance rules (2022 Initiative points 1, 2, 5).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from mingyue.enablers.digitalasset.engine import rules
from mingyue.enablers.digitalasset.engine.contracts import COLLECTION, EDITIONS, load_artifact
from mingyue.enablers.digitalasset.models_registry import (
    DigitalassetCollection,
    DigitalassetHolding,
    DigitalassetToken,
    DigitalassetTransfer,
    DigitalassetWork,
)
from mingyue.enablers.digitalasset.schemas import CollectionOut, TokenOut
from mingyue.enablers.digitalasset.service import custody
from mingyue.enablers.digitalasset.service.common import chain_for, load, opts
from mingyue.sdk import Actor, UnitOfWork, check, now, organization, require_org
from mingyue.sdk.errors import Conflict, InvalidInput, Refused


def collection_out(c: DigitalassetCollection) -> CollectionOut:
    """Return a collection as the API shows it."""
    return CollectionOut.model_validate(c, from_attributes=True)


def token_out(t: DigitalassetToken) -> TokenOut:
    """Return a token as the API shows it."""
    return TokenOut.model_validate(t, from_attributes=True)


def issuer_kyc(uow: UnitOfWork, organization_id: int) -> int | None:
    """Return the issuer's real-name level: an organization with a verified USCC is level 3."""
    org = organization(uow=uow, organization_id=organization_id)
    return 3 if org is not None and org.uscc else None


def create_collection(
    *, uow: UnitOfWork, actor: Actor, standard: str, name: str, symbol: str, cap: int
) -> CollectionOut:
    """Deploy a collection contract for the actor's organization."""
    check(actor, "digitalasset.issue")
    org = require_org(actor)
    if standard not in ("erc721", "erc1155"):
        raise InvalidInput(
            "digitalasset.collection.bad_standard", "erc721 or erc1155", field="standard"
        )
    if issuer_kyc(uow, org) is None:
        pack = rules.load_pack()
        rule = pack.get("CN-NFT-2022-5")
        raise Refused(
            "digitalasset.rule_refused",
            f"{rule.id}: the issuer has no verified registration code",
            rule=rule.id,
        )
    chain = chain_for(uow.settings)
    issuer = custody.issuer_account(uow, org)
    regulator = custody.platform_key(uow, "regulator")
    signer = custody.signer_of(uow.settings, issuer)
    chain.ensure_gas(issuer.address)
    if standard == "erc721":
        args: list[object] = [name, symbol, cap, issuer.address, regulator.address]
        result = chain.deploy(load_artifact(COLLECTION), args, signer=signer)
    else:
        uri = f"{uow.settings.base_url.rstrip('/')}/api/digitalasset/metadata/{{id}}"
        result = chain.deploy(
            load_artifact(EDITIONS), [uri, issuer.address, regulator.address], signer=signer
        )
    row = DigitalassetCollection(
        organization_id=org,
        created_by=actor.label(),
        standard=standard,
        name=name,
        symbol=symbol,
        cap=cap,
        chain_id=chain.chain_id,
        address=str(result.contract_address),
        deploy_tx=result.tx_hash,
        issuer_account_id=issuer.id,
    )
    uow.session.add(row)
    uow.flush()
    uow.audit(
        "digitalasset.collection.deployed",
        f"digitalasset_collection:{row.id}",
        {"standard": standard, "address": row.address, "tx": result.tx_hash, "cap": cap},
    )
    return collection_out(row)


def list_collections(*, uow: UnitOfWork, actor: Actor) -> list[CollectionOut]:
    """Return the collections in the actor's scope."""
    check(actor, "digitalasset.read")
    rows = uow.session.scalars(
        select(DigitalassetCollection).order_by(DigitalassetCollection.id.desc())
    ).all()
    return [collection_out(c) for c in rows]


def issue_token(
    *,
    uow: UnitOfWork,
    actor: Actor,
    collection_id: int,
    work_id: int,
    edition_cap: int = 1,
    quantity: int = 1,
    price_cny: Decimal | None = None,
) -> TokenOut:
    """Issue an approved work as tokens minted to the issuer's account."""
    collection = load(uow, DigitalassetCollection, collection_id, "digitalasset.issue")
    work = load(uow, DigitalassetWork, work_id, "digitalasset.issue")
    if work.organization_id != collection.organization_id:
        raise InvalidInput(
            "digitalasset.issue.foreign_work",
            "issue your own organization's works",
            field="work_id",
        )
    if collection.standard == "erc721":
        edition_cap, quantity = 1, 1
    if quantity > edition_cap:
        raise InvalidInput(
            "digitalasset.issue.over_cap", "mint at most the edition cap", field="quantity"
        )
    facts = rules.Facts(
        stage="issue",
        work_kind=work.kind,
        work_status=work.review_status,
        standard=collection.standard,
        quantity=Decimal(quantity),
        edition_cap=edition_cap,
        issuer_kyc=issuer_kyc(uow, collection.organization_id),
    )
    breaches = rules.evaluate(facts, options=opts(uow).rule_options())
    if breaches:
        first = breaches[0]
        raise Refused(
            "digitalasset.rule_refused",
            f"{first.rule.id}: {first.detail} ({first.rule.citation['en']})",
            rule=first.rule.id,
            breaches=[b.as_dict("en") for b in breaches],
        )
    if (
        collection.standard == "erc1155"
        and uow.session.scalars(
            select(DigitalassetToken.id).where(
                DigitalassetToken.collection_id == collection.id,
                DigitalassetToken.work_id == work.id,
            )
        ).first()
    ):
        raise Conflict("digitalasset.issue.exists", "this work already has an edition here")
    token_id = (
        uow.session.scalar(
            select(func.count())
            .select_from(DigitalassetToken)
            .where(DigitalassetToken.collection_id == collection.id)
        )
        or 0
    ) + 1
    chain = chain_for(uow.settings)
    issuer = custody.issuer_account(uow, collection.organization_id)
    signer = custody.signer_of(uow.settings, issuer)
    chain.ensure_gas(issuer.address)
    work_hash = bytes.fromhex(work.sha256)
    if collection.standard == "erc721":
        result = chain.transact(
            collection.address,
            load_artifact(COLLECTION),
            "mint",
            [issuer.address, token_id, work_hash],
            signer=signer,
        )
    else:
        editions = load_artifact(EDITIONS)
        chain.transact(
            collection.address,
            editions,
            "createEdition",
            [token_id, edition_cap, work_hash],
            signer=signer,
        )
        result = chain.transact(
            collection.address,
            editions,
            "mint",
            [issuer.address, token_id, quantity],
            signer=signer,
        )
    token = DigitalassetToken(
        organization_id=collection.organization_id,
        collection_id=collection.id,
        work_id=work.id,
        token_id=token_id,
        edition_cap=edition_cap,
        minted=quantity,
        price_cny=price_cny,
    )
    uow.session.add(token)
    uow.flush()
    uow.session.add(
        DigitalassetHolding(
            organization_id=collection.organization_id,
            token_ref=token.id,
            account_id=issuer.id,
            quantity=quantity,
            acquired_at=now(),
        )
    )
    uow.session.add(
        DigitalassetTransfer(
            organization_id=collection.organization_id,
            created_by=actor.label(),
            kind="mint",
            token_ref=token.id,
            from_address=None,
            to_address=issuer.address,
            quantity=quantity,
            mode="mint",
            status="done",
            tx_hash=result.tx_hash,
            block_number=result.block_number,
        )
    )
    uow.audit(
        "digitalasset.token.issued",
        f"digitalasset_token:{token.id}",
        {
            "collection": collection.address,
            "token_id": token_id,
            "work": work.id,
            "quantity": quantity,
            "edition_cap": edition_cap,
            "tx": result.tx_hash,
        },
        organization_id=collection.organization_id,
    )
    return token_out(token)


def list_tokens(
    *, uow: UnitOfWork, actor: Actor, collection_id: int | None = None
) -> list[TokenOut]:
    """Return the tokens in the actor's scope."""
    check(actor, "digitalasset.read")
    q = select(DigitalassetToken).order_by(DigitalassetToken.id.desc())
    if collection_id is not None:
        q = q.where(DigitalassetToken.collection_id == collection_id)
    return [token_out(t) for t in uow.session.scalars(q)]


def get_token(*, uow: UnitOfWork, actor: Actor, token_ref: int) -> TokenOut:
    """Return one token."""
    return token_out(load(uow, DigitalassetToken, token_ref, "digitalasset.read"))
