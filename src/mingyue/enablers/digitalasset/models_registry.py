"""digitalasset tables (registry, custody, issuance, circulation, evidence, anchors).

Tenant-owned rows carry ``organization_id``: a work, a collection and its tokens belong to the
issuer; a custody account and a holding to the holder's organization; a transfer to the
seller's. Platform keys and anchors are the platform's own (reference data).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mingyue.sdk import Base, ExactDecimal, TenantMixin, UTCDateTime, now


class DigitalassetWork(TenantMixin, Base):
    """A registered work: content hashes, creator identity, rights statement, review status."""

    __tablename__ = "digitalasset_work"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    created_by: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(30))  # image | audio | video | model3d | text | ...
    creator_name: Mapped[str] = mapped_column(String(200))
    creator_did: Mapped[str] = mapped_column(String(300))
    rights_statement: Mapped[str] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(String(255))
    mime: Mapped[str] = mapped_column(String(120), default="application/octet-stream")
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    sm3: Mapped[str] = mapped_column(String(64), index=True)
    file_id: Mapped[int | None] = mapped_column(default=None)
    # submitted -> reviewed -> approved | rejected (the case carries the history)
    review_status: Mapped[str] = mapped_column(String(20), default="submitted", index=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_case.id", ondelete="SET NULL"), default=None, index=True
    )
    certificate_id: Mapped[str | None] = mapped_column(String(64), default=None)
    certificate: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    last_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_verified_ok: Mapped[bool | None] = mapped_column(Boolean, default=None)


class DigitalassetAccount(TenantMixin, Base):
    """A platform-managed chain account (custody): an issuer's or a user's key in a keystore.

    ``keystore`` is an encrypted Web3 Secret Storage (v3) file; its random password is sealed
    with the deployment's secret key (``sealed_password``): neither alone opens the key.
    ``real_name_sealed`` holds the verified real name, readable by regulators only (audited).
    """

    __tablename__ = "digitalasset_account"
    __table_args__ = (UniqueConstraint("address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    kind: Mapped[str] = mapped_column(String(20))  # user | issuer
    username: Mapped[str | None] = mapped_column(String(128), default=None, index=True)
    address: Mapped[str] = mapped_column(String(42))
    did: Mapped[str] = mapped_column(String(300))
    keystore: Mapped[dict[str, Any]] = mapped_column()
    sealed_password: Mapped[str] = mapped_column(Text)
    signer: Mapped[str] = mapped_column(String(30), default="keystore")
    kyc_level: Mapped[int | None] = mapped_column(Integer, default=None)
    kyc_credential_id: Mapped[str | None] = mapped_column(String(64), default=None)
    kyc_credential: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    kyc_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    real_name_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)


class DigitalassetPlatformKey(Base):
    """A key the platform itself holds: the sandbox regulator's and the anchoring key."""

    __tablename__ = "digitalasset_platform_key"

    role: Mapped[str] = mapped_column(String(40), primary_key=True)  # regulator | anchorer
    address: Mapped[str] = mapped_column(String(42))
    keystore: Mapped[dict[str, Any]] = mapped_column()
    sealed_password: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)


class DigitalassetDeployment(Base):
    """A platform contract on a chain (the anchor contract): where it lives."""

    __tablename__ = "digitalasset_deployment"
    __table_args__ = (UniqueConstraint("name", "chain_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    chain_id: Mapped[int] = mapped_column(BigInteger)
    address: Mapped[str] = mapped_column(String(42))
    tx_hash: Mapped[str] = mapped_column(String(66))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)


class DigitalassetCollection(TenantMixin, Base):
    """An issuer's contract: an ERC-721 collection or an ERC-1155 edition set."""

    __tablename__ = "digitalasset_collection"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    created_by: Mapped[str] = mapped_column(String(128))
    standard: Mapped[str] = mapped_column(String(10))  # erc721 | erc1155
    name: Mapped[str] = mapped_column(String(200))
    symbol: Mapped[str] = mapped_column(String(20))
    cap: Mapped[int] = mapped_column(Integer)  # ERC-721: tokens in the collection
    chain_id: Mapped[int] = mapped_column(BigInteger)
    address: Mapped[str] = mapped_column(String(42), index=True)
    deploy_tx: Mapped[str] = mapped_column(String(66))
    issuer_account_id: Mapped[int] = mapped_column(ForeignKey("digitalasset_account.id"))
    paused: Mapped[bool] = mapped_column(Boolean, default=False)


class DigitalassetToken(TenantMixin, Base):
    """A work issued as a token: one ERC-721 token, or one ERC-1155 id with its edition cap."""

    __tablename__ = "digitalasset_token"
    __table_args__ = (UniqueConstraint("collection_id", "token_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    collection_id: Mapped[int] = mapped_column(ForeignKey("digitalasset_collection.id"))
    work_id: Mapped[int] = mapped_column(ForeignKey("digitalasset_work.id"), index=True)
    token_id: Mapped[int] = mapped_column(BigInteger)
    edition_cap: Mapped[int] = mapped_column(Integer, default=1)
    minted: Mapped[int] = mapped_column(Integer, default=0)
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    price_cny: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)


class DigitalassetHolding(TenantMixin, Base):
    """Units of a token one account holds, and since when (for the holding period)."""

    __tablename__ = "digitalasset_holding"
    __table_args__ = (UniqueConstraint("token_ref", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_ref: Mapped[int] = mapped_column(ForeignKey("digitalasset_token.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("digitalasset_account.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)


class DigitalassetTransfer(TenantMixin, Base):
    """A mint or transfer through the platform, done or refused by a rule (with its id)."""

    __tablename__ = "digitalasset_transfer"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    created_by: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(10))  # mint | transfer
    token_ref: Mapped[int] = mapped_column(ForeignKey("digitalasset_token.id"), index=True)
    from_address: Mapped[str | None] = mapped_column(String(42), default=None, index=True)
    to_address: Mapped[str] = mapped_column(String(42), index=True)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    mode: Mapped[str] = mapped_column(String(20), default="gift")
    price: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    currency: Mapped[str | None] = mapped_column(String(10), default=None)
    status: Mapped[str] = mapped_column(String(10), index=True)  # done | refused
    rule_id: Mapped[str | None] = mapped_column(String(40), default=None)
    breaches: Mapped[list[Any]] = mapped_column(default=list)
    tx_hash: Mapped[str | None] = mapped_column(String(66), default=None)
    block_number: Mapped[int | None] = mapped_column(Integer, default=None)


class DigitalassetEvidence(TenantMixin, Base):
    """An evidence package (存证包) of a work: its Merkle root, anchor and the stored zip."""

    __tablename__ = "digitalasset_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    created_by: Mapped[str] = mapped_column(String(128))
    work_id: Mapped[int] = mapped_column(ForeignKey("digitalasset_work.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(40), default="ip_pledge")
    root: Mapped[str] = mapped_column(String(64))
    documents: Mapped[int] = mapped_column(Integer)
    anchor_tx: Mapped[str] = mapped_column(String(66))
    anchor_block: Mapped[int] = mapped_column(Integer)
    anchor_time: Mapped[datetime] = mapped_column(UTCDateTime())
    file_id: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64))


class DigitalassetAnchor(Base):
    """A root the platform anchored on the chain: an evidence package or an audit-ledger head."""

    __tablename__ = "digitalasset_anchor"
    __table_args__ = (UniqueConstraint("root"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    kind: Mapped[str] = mapped_column(String(20))  # evidence | ledger_head
    root: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    contract: Mapped[str] = mapped_column(String(42))
    tx_hash: Mapped[str] = mapped_column(String(66))
    block_number: Mapped[int] = mapped_column(Integer)
    block_time: Mapped[datetime] = mapped_column(UTCDateTime())
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
