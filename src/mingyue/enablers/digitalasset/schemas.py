"""Pydantic in/out models of digitalasset (registry, custody, issuance, circulation, evidence)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

WORK_KINDS = ("image", "audio", "video", "model3d", "text", "software", "other")


class WorkOut(BaseModel):
    """A registered work as the API shows it (never the content)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    created_at: datetime
    created_by: str
    title: str
    kind: str
    creator_name: str
    creator_did: str
    rights_statement: str
    filename: str
    mime: str
    size: int
    sha256: str
    sm3: str
    review_status: str
    case_id: int | None
    certificate_id: str | None
    last_verified_at: datetime | None
    last_verified_ok: bool | None


class VerifyOut(BaseModel):
    """Outcome of re-hashing a file against a registered work."""

    work_id: int
    ok: bool
    sha256: str
    sm3: str
    size: int
    sha256_matches: bool
    sm3_matches: bool


class AccountOut(BaseModel):
    """A custody account: its address and DID, never its key."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    kind: str
    username: str | None
    address: str
    did: str
    signer: str
    kyc_level: int | None
    kyc_credential_id: str | None
    kyc_verified_at: datetime | None
    frozen: bool
    created_at: datetime


class KycIn(BaseModel):
    """A real-name verification done by the operator's staff."""

    model_config = ConfigDict(extra="forbid")

    real_name: str = Field(min_length=1, max_length=100)
    level: int = Field(2, ge=1, le=3)


class CollectionIn(BaseModel):
    """A new collection contract for the actor's organization."""

    model_config = ConfigDict(extra="forbid")

    standard: Literal["erc721", "erc1155"] = "erc721"
    name: str = Field(min_length=1, max_length=200)
    symbol: str = Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9]+$")
    cap: int = Field(100, ge=1, le=1_000_000)


class CollectionOut(BaseModel):
    """A deployed collection."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    created_at: datetime
    standard: str
    name: str
    symbol: str
    cap: int
    chain_id: int
    address: str
    deploy_tx: str
    paused: bool


class IssueIn(BaseModel):
    """Issue an approved work in a collection."""

    model_config = ConfigDict(extra="forbid")

    collection_id: int
    work_id: int
    edition_cap: int = Field(1, ge=1)
    quantity: int = Field(1, ge=1)
    price_cny: Decimal | None = Field(None, ge=0, max_digits=14, decimal_places=2)


class TokenOut(BaseModel):
    """A work issued as a token in a collection."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    created_at: datetime
    collection_id: int
    work_id: int
    token_id: int
    edition_cap: int
    minted: int
    frozen: bool
    price_cny: Decimal | None


class TransferIn(BaseModel):
    """A transfer through the platform; the rule pack is checked before the chain."""

    model_config = ConfigDict(extra="forbid")

    token: int = Field(description="the platform's token id (TokenOut.id)")
    to_address: str = Field(min_length=1, max_length=64)
    quantity: Decimal = Decimal(1)
    mode: str = Field("gift", max_length=30)
    price: Decimal | None = None
    currency: str | None = Field(None, max_length=10)
    purpose: str = Field("collect", max_length=30)
    from_issuer: bool = Field(False, description="sell from the organization's issuer account")


class TransferOut(BaseModel):
    """A mint or a transfer, done or refused."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    created_at: datetime
    created_by: str
    kind: str
    token_ref: int
    from_address: str | None
    to_address: str
    quantity: int
    mode: str
    price: Decimal | None
    currency: str | None
    status: str
    rule_id: str | None
    breaches: list[Any]
    tx_hash: str | None
    block_number: int | None


class HoldingOut(BaseModel):
    """Units of a token an account holds."""

    id: int
    token_ref: int
    token_id: int
    collection: str
    collection_address: str
    standard: str
    work_title: str
    account_id: int
    address: str
    quantity: int
    acquired_at: datetime
    transferable_from: datetime | None
    frozen: bool


class EvidenceOut(BaseModel):
    """An evidence package."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    created_at: datetime
    work_id: int
    purpose: str
    root: str
    documents: int
    anchor_tx: str
    anchor_block: int
    anchor_time: datetime
    file_id: int
    sha256: str


class EvidenceCheck(BaseModel):
    """One check of an evidence package."""

    check: str
    ok: bool
    detail: str


class EvidenceVerifyOut(BaseModel):
    """Outcome of verifying an evidence package (offline checks, then the chain's anchor)."""

    ok: bool
    root: str | None
    checks: list[EvidenceCheck]
    on_chain: bool | None = None


class AnchorOut(BaseModel):
    """A root the platform anchored."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    kind: str
    root: str
    size: int
    chain_id: int
    contract: str
    tx_hash: str
    block_number: int
    block_time: datetime


class IdentityOut(BaseModel):
    """Address → DID → real name, for a regulator (every read is on the ledger)."""

    address: str
    did: str
    account_id: int
    kind: str
    organization_id: int
    organization: str
    username: str | None
    real_name: str | None
    kyc_level: int | None
    kyc_credential_id: str | None
    frozen: bool


class TraceStep(BaseModel):
    """One step of an asset's history: a chain event or a refused request."""

    at: datetime | None
    kind: str
    from_address: str | None
    to_address: str | None
    quantity: int
    tx_hash: str | None
    block_number: int | None
    status: str
    rule_id: str | None = None
    by: str | None = None


class TraceOut(BaseModel):
    """The full trace of an asset."""

    token: TokenOut
    collection: CollectionOut
    work: WorkOut
    steps: list[TraceStep]
    holders: list[HoldingOut]


class SwitchIn(BaseModel):
    """A sandbox switch: pause a contract, freeze a token or an account."""

    model_config = ConfigDict(extra="forbid")

    on: bool = True
    reason: str = Field(min_length=2, max_length=500)
