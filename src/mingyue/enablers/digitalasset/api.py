"""REST API of digitalasset (mounted at /api/digitalasset)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from mingyue.enablers.digitalasset import api_monitor, service
from mingyue.enablers.digitalasset.engine.rules import load_pack
from mingyue.enablers.digitalasset.schemas import (
    AccountOut,
    AnchorOut,
    CollectionIn,
    CollectionOut,
    EvidenceOut,
    EvidenceVerifyOut,
    HoldingOut,
    IdentityOut,
    IssueIn,
    KycIn,
    SwitchIn,
    TokenOut,
    TraceOut,
    TransferIn,
    TransferOut,
    VerifyOut,
    WorkOut,
)
from mingyue.sdk import Actor
from mingyue.web.deps import IdPath, UoW, require

router = APIRouter(tags=["digitalasset"])
# Wash-trade monitoring and contract audit (their own module): /monitor/..., /audit/...
router.include_router(api_monitor.router)  # /monitor/…, /audit/… (da-monitor)

Reader = Annotated[Actor, Depends(require("digitalasset.read"))]
Supervisor = Annotated[Actor, Depends(require("digitalasset.supervise"))]
_MAX_DOCS = 8


class DecisionIn(BaseModel):
    """A review step on a work's case."""

    model_config = ConfigDict(extra="forbid")

    action: str = Field(pattern=r"^(review|approve|reject)$")
    comment: str | None = Field(None, max_length=2000)


class AccountIn(BaseModel):
    """Open a custody account: which signer backend holds its key."""

    model_config = ConfigDict(extra="forbid")

    signer: Literal["keystore"] = Field(
        description="keystore: the platform's encrypted keystore (an HSM/KMS backend plugs in here)"
    )


class AccountFreezeIn(SwitchIn):
    """Freeze or unfreeze an account by its address."""

    address: str = Field(min_length=1, max_length=64)


# -- registry ---------------------------------------------------------------------------------


@router.post("/works", operation_id="digitalasset-register_work", status_code=201)
def register_work(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("digitalasset.work.register"))],
    file: Annotated[UploadFile, File(description="the work's content")],
    title: Annotated[str, Form(max_length=300)],
    kind: Annotated[str, Form(max_length=30)],
    creator_name: Annotated[str, Form(max_length=200)],
    rights_statement: Annotated[str, Form(max_length=20000)],
    creator_did: Annotated[str | None, Form(max_length=300)] = None,
) -> WorkOut:
    """Register a work (SHA-256 and SM3 of its content) and open its content review."""
    return service.register_work(
        uow=uow,
        actor=actor,
        upload=file,
        filename=file.filename,
        title=title,
        kind=kind,
        creator_name=creator_name,
        rights_statement=rights_statement,
        creator_did=creator_did,
    )


@router.get("/works", operation_id="digitalasset-list_works")
def list_works(
    uow: UoW, actor: Reader, status: Annotated[str | None, Query(max_length=20)] = None
) -> list[WorkOut]:
    """Works visible to the caller (``status``: submitted, reviewed, approved, rejected)."""
    return service.list_works(uow=uow, actor=actor, status=status)


@router.get("/works/{work_id}", operation_id="digitalasset-get_work")
def get_work(work_id: IdPath, uow: UoW, actor: Reader) -> WorkOut:
    """One work."""
    return service.get_work(uow=uow, actor=actor, work_id=work_id)


@router.post("/works/{work_id}/decision", operation_id="digitalasset-decide")
def decide(work_id: IdPath, body: DecisionIn, uow: UoW, actor: Reader) -> WorkOut:
    """Take a review step on the work's case (the operator's reviewers)."""
    return service.decide(
        uow=uow, actor=actor, work_id=work_id, action=body.action, comment=body.comment
    )


@router.post("/works/{work_id}/verify", operation_id="digitalasset-verify_work")
def verify_work(
    work_id: IdPath, uow: UoW, actor: Reader, file: Annotated[UploadFile, File()]
) -> VerifyOut:
    """Hash a file again against the registered work (one changed byte fails)."""
    return service.verify_work(uow=uow, actor=actor, work_id=work_id, upload=file)


# -- custody ----------------------------------------------------------------------------------


@router.post("/accounts", operation_id="digitalasset-open_account", status_code=201)
def open_account(
    body: AccountIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("digitalasset.account.open"))],
) -> AccountOut:
    """Open the caller's custody account (the platform keeps its key)."""
    return service.open_account(uow=uow, actor=actor)


@router.get("/accounts", operation_id="digitalasset-list_accounts")
def list_accounts(uow: UoW, actor: Reader) -> list[AccountOut]:
    """Custody accounts visible to the caller (addresses and DIDs, never keys)."""
    return service.list_accounts(uow=uow, actor=actor)


@router.get("/accounts/{account_id}", operation_id="digitalasset-get_account")
def get_account(account_id: IdPath, uow: UoW, actor: Reader) -> AccountOut:
    """One custody account."""
    return service.get_account(uow=uow, actor=actor, account_id=account_id)


@router.post("/accounts/{account_id}/kyc", operation_id="digitalasset-verify_kyc")
def verify_kyc(
    account_id: IdPath,
    body: KycIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("digitalasset.kyc.verify"))],
) -> AccountOut:
    """Record a real-name verification and issue the KYC credential (operator's staff)."""
    return service.verify_kyc(
        uow=uow, actor=actor, account_id=account_id, real_name=body.real_name, level=body.level
    )


# -- issuance and circulation -----------------------------------------------------------------


@router.post("/collections", operation_id="digitalasset-create_collection", status_code=201)
def create_collection(
    body: CollectionIn, uow: UoW, actor: Annotated[Actor, Depends(require("digitalasset.issue"))]
) -> CollectionOut:
    """Deploy a collection contract (ERC-721 or ERC-1155) for the caller's organization."""
    return service.create_collection(uow=uow, actor=actor, **body.model_dump())


@router.get("/collections", operation_id="digitalasset-list_collections")
def list_collections(uow: UoW, actor: Reader) -> list[CollectionOut]:
    """Collections visible to the caller."""
    return service.list_collections(uow=uow, actor=actor)


@router.post("/tokens", operation_id="digitalasset-issue_token", status_code=201)
def issue_token(
    body: IssueIn, uow: UoW, actor: Annotated[Actor, Depends(require("digitalasset.issue"))]
) -> TokenOut:
    """Issue an approved work as tokens (refused with the rule's id when a rule forbids it)."""
    return service.issue_token(uow=uow, actor=actor, **body.model_dump())


@router.get("/tokens", operation_id="digitalasset-list_tokens")
def list_tokens(uow: UoW, actor: Reader) -> list[TokenOut]:
    """Tokens visible to the caller."""
    return service.list_tokens(uow=uow, actor=actor)


@router.get("/tokens/{token_id}", operation_id="digitalasset-get_token")
def get_token(token_id: IdPath, uow: UoW, actor: Reader) -> TokenOut:
    """One token."""
    return service.get_token(uow=uow, actor=actor, token_ref=token_id)


@router.post("/transfers", operation_id="digitalasset-transfer", status_code=201)
def transfer(
    body: TransferIn, uow: UoW, actor: Annotated[Actor, Depends(require("digitalasset.transfer"))]
) -> TransferOut:
    """Transfer a collectible; 403 names the circulation rule and its citation on refusal."""
    return service.transfer(uow=uow, actor=actor, body=body)


@router.get("/transfers", operation_id="digitalasset-list_transfers")
def list_transfers(
    uow: UoW, actor: Reader, status: Annotated[str | None, Query(max_length=10)] = None
) -> list[TransferOut]:
    """Mints and transfers visible to the caller (``status``: done, refused)."""
    return service.list_transfers(uow=uow, actor=actor, status=status)


@router.get("/holdings", operation_id="digitalasset-list_holdings")
def list_holdings(uow: UoW, actor: Reader, mine: bool = False) -> list[HoldingOut]:
    """Holdings of the accounts visible to the caller (``mine``: the caller's own)."""
    return service.list_holdings(uow=uow, actor=actor, mine=mine)


@router.get("/rules", operation_id="digitalasset-rules")
def rules(actor: Reader) -> dict[str, Any]:
    """The circulation rule pack: ids, titles, citations, parameters."""
    pack = load_pack()
    return {
        "version": pack.version,
        "source": pack.source,
        "rules": [
            {
                "id": r.id,
                "applies": list(r.applies),
                "title": r.title,
                "citation": r.citation,
                "params": r.params,
            }
            for r in pack.rules
        ],
    }


# -- evidence ---------------------------------------------------------------------------------


@router.post(
    "/works/{work_id}/evidence", operation_id="digitalasset-build_evidence", status_code=201
)
def build_evidence(
    work_id: IdPath,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("digitalasset.evidence.build"))],
    purpose: Annotated[str, Form(max_length=40)] = "ip_pledge",
    documents: Annotated[list[UploadFile] | None, File()] = None,
) -> EvidenceOut:
    """Build an evidence package of an approved work (extra documents optional) and anchor it."""
    docs: dict[str, bytes] = {}
    for upload in (documents or [])[:_MAX_DOCS]:
        name = (upload.filename or f"document-{len(docs) + 1}").replace("/", "_")[-100:]
        docs[name] = upload.file.read(16 * 1024 * 1024 + 1)
    return service.build_package(
        uow=uow, actor=actor, work_id=work_id, purpose=purpose, documents=docs
    )


@router.get("/evidence", operation_id="digitalasset-list_evidence")
def list_evidence(uow: UoW, actor: Reader) -> list[EvidenceOut]:
    """Evidence packages visible to the caller."""
    return service.list_packages(uow=uow, actor=actor)


@router.get(
    "/evidence/{evidence_id}/package",
    operation_id="digitalasset-download_evidence",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
def download_evidence(evidence_id: IdPath, uow: UoW, actor: Reader) -> Response:
    """Download a package (zip with verify.py)."""
    path, name = service.package_path(uow=uow, actor=actor, evidence_id=evidence_id)
    return Response(
        content=path.read_bytes(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/evidence/verify", operation_id="digitalasset-verify_evidence")
def verify_evidence(
    uow: UoW, actor: Reader, file: Annotated[UploadFile, File()]
) -> EvidenceVerifyOut:
    """Verify a package: its files, Merkle proofs, certificate, and the anchor on the chain."""
    data = file.file.read(64 * 1024 * 1024)
    return service.verify_upload(uow=uow, actor=actor, data=data)


@router.get("/anchors", operation_id="digitalasset-list_anchors")
def list_anchors(uow: UoW, actor: Reader) -> list[AnchorOut]:
    """Roots the platform anchored on the chain (evidence packages, audit-ledger heads)."""
    return service.list_anchors(uow=uow, actor=actor)


@router.post("/anchors/ledger", operation_id="digitalasset-anchor_ledger")
def anchor_ledger(
    uow: UoW, actor: Annotated[Actor, Depends(require("digitalasset.ledger.anchor"))]
) -> AnchorOut | None:
    """Anchor the audit ledger's newest signed head now (null when it is anchored already)."""
    return service.anchor_ledger_now(uow=uow, actor=actor)


# -- supervision ------------------------------------------------------------------------------


@router.get("/identity/{address}", operation_id="digitalasset-reveal_identity")
def reveal_identity(
    address: str,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("digitalasset.identity.reveal"))],
    reason: Annotated[str, Query(min_length=2, max_length=500)],
) -> IdentityOut:
    """Address → DID → real name (regulators; the read and its reason go on the ledger)."""
    return service.reveal_identity(uow=uow, actor=actor, address=address, reason=reason)


@router.get("/tokens/{token_id}/trace", operation_id="digitalasset-trace")
def trace(token_id: IdPath, uow: UoW, actor: Supervisor) -> TraceOut:
    """The full trace of an asset: chain events, refused requests, holders (audited)."""
    return service.trace(uow=uow, actor=actor, token_ref=token_id)


@router.post("/collections/{collection_id}/pause", operation_id="digitalasset-pause")
def pause(collection_id: IdPath, body: SwitchIn, uow: UoW, actor: Supervisor) -> CollectionOut:
    """Pause (``on``) or resume every transfer of a collection contract."""
    return service.pause_collection(
        uow=uow, actor=actor, collection_id=collection_id, on=body.on, reason=body.reason
    )


@router.post("/tokens/{token_id}/freeze", operation_id="digitalasset-freeze_token")
def freeze_token(token_id: IdPath, body: SwitchIn, uow: UoW, actor: Supervisor) -> TokenOut:
    """Freeze (``on``) or unfreeze one token."""
    return service.freeze_token(
        uow=uow, actor=actor, token_ref=token_id, on=body.on, reason=body.reason
    )


@router.post("/accounts/freeze", operation_id="digitalasset-freeze_account")
def freeze_account(body: AccountFreezeIn, uow: UoW, actor: Supervisor) -> IdentityOut:
    """Freeze (``on``) or unfreeze an account in every collection."""
    return service.freeze_account(
        uow=uow, actor=actor, address=body.address, on=body.on, reason=body.reason
    )
