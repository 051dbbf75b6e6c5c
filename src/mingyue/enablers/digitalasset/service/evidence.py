"""Evidence (存证): packages for IP pledge financing, anchors of roots and of the audit ledger.

A package's Merkle root is anchored with the platform's anchoring key in the anchor contract
(deployed on first use); the package then names the transaction, block and time, and verifies
offline with its own ``verify.py``. The audit ledger's newest signed head is anchored the same
way by an hourly scheduled job, so that a ledger cut in the database also contradicts the chain.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mingyue.enablers.digitalasset.adapters.chain import Chain
from mingyue.enablers.digitalasset.engine import evidence as engine
from mingyue.enablers.digitalasset.engine.contracts import ANCHOR, load_artifact
from mingyue.enablers.digitalasset.models_registry import (
    DigitalassetAnchor,
    DigitalassetDeployment,
    DigitalassetEvidence,
    DigitalassetWork,
)
from mingyue.enablers.digitalasset.schemas import (
    AnchorOut,
    EvidenceCheck,
    EvidenceOut,
    EvidenceVerifyOut,
)
from mingyue.enablers.digitalasset.service import custody
from mingyue.enablers.digitalasset.service.common import chain_for, load, platform_contract
from mingyue.sdk import (
    Actor,
    JobContext,
    Settings,
    UnitOfWork,
    check,
    ledger_head,
    now,
    store_upload,
    stored_path,
)
from mingyue.sdk.errors import Conflict, InvalidInput, MingyueError

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024


def anchor_contract(uow: UnitOfWork, chain: Chain) -> str:
    """Return the anchor contract's address on this chain, deploying it on first use."""
    found = platform_contract(uow, chain, ANCHOR)
    if found is not None and chain.has_code(found.address):
        return found.address
    key = custody.platform_key(uow, "anchorer")
    chain.ensure_gas(key.address)
    result = chain.deploy(
        load_artifact(ANCHOR), [key.address], signer=custody.signer_of(uow.settings, key)
    )
    address = str(result.contract_address)
    if found is None:
        uow.session.add(
            DigitalassetDeployment(
                name=ANCHOR, chain_id=chain.chain_id, address=address, tx_hash=result.tx_hash
            )
        )
    else:  # the chain was reset under the database (a new embedded journal)
        found.address, found.tx_hash = address, result.tx_hash
    uow.flush()
    return address


def anchor_root(
    uow: UnitOfWork, *, root: str, size: int, kind: str, detail: dict[str, Any]
) -> DigitalassetAnchor:
    """Write a Merkle root on the chain once; return the anchor (the existing one if any)."""
    existing = uow.session.scalars(
        select(DigitalassetAnchor).where(DigitalassetAnchor.root == root)
    ).first()
    if existing is not None:
        return existing
    chain = chain_for(uow.settings)
    contract = anchor_contract(uow, chain)
    key = custody.platform_key(uow, "anchorer")
    chain.ensure_gas(key.address)
    result = chain.transact(
        contract,
        load_artifact(ANCHOR),
        "anchor",
        [bytes.fromhex(root), size, kind],
        signer=custody.signer_of(uow.settings, key),
    )
    row = DigitalassetAnchor(
        kind=kind,
        root=root,
        size=size,
        chain_id=chain.chain_id,
        contract=contract,
        tx_hash=result.tx_hash,
        block_number=result.block_number,
        block_time=result.block_time,
        detail=detail,
    )
    uow.session.add(row)
    uow.flush()
    return row


def _anchor_doc(a: DigitalassetAnchor) -> dict[str, Any]:
    return {
        "root": a.root,
        "chain_id": int(a.chain_id),
        "contract": a.contract,
        "tx_hash": a.tx_hash,
        "block_number": a.block_number,
        "block_time": a.block_time.isoformat(),
        "event": "Anchored(bytes32 indexed root, uint256 size, string kind, uint256 time)",
    }


def build_package(
    *,
    uow: UnitOfWork,
    actor: Actor,
    work_id: int,
    purpose: str = "ip_pledge",
    documents: dict[str, bytes] | None = None,
) -> EvidenceOut:
    """Build an evidence package of an approved work, anchor its root, and store the zip."""
    work = load(uow, DigitalassetWork, work_id, "digitalasset.evidence.build")
    if work.review_status != "approved" or work.certificate is None:
        raise Conflict(
            "digitalasset.evidence.not_approved", "only an approved, certified work has evidence"
        )
    for name, data in (documents or {}).items():
        if len(data) > MAX_DOCUMENT_BYTES:
            raise InvalidInput("digitalasset.evidence.too_large", f"document {name} is too large")
    registration = {
        "work_id": work.id,
        "title": work.title,
        "kind": work.kind,
        "creator": work.creator_name,
        "creator_did": work.creator_did,
        "filename": work.filename,
        "size": work.size,
        "sha256": work.sha256,
        "sm3": work.sm3,
        "registered_at": work.created_at.isoformat(),
        "organization_id": work.organization_id,
        "review_case": work.case_id,
        "certificate_id": work.certificate_id,
        "purpose": purpose,
    }
    prepared = engine.prepare(
        certificate=work.certificate,
        registration=registration,
        rights_statement=work.rights_statement,
        extra=documents,
    )
    anchor = anchor_root(
        uow,
        root=prepared.root,
        size=len(prepared.leaves),
        kind="evidence",
        detail={"work": work.id},
    )
    data = engine.seal(prepared, anchor=_anchor_doc(anchor), issued_at=now().isoformat())
    stored = store_upload(
        uow=uow,
        upload=data,
        filename=f"evidence-work{work.id}-{prepared.root[:12]}.zip",
        purpose="digitalasset.evidence",
        organization_id=work.organization_id,
    )
    row = DigitalassetEvidence(
        organization_id=work.organization_id,
        created_by=actor.label(),
        work_id=work.id,
        purpose=purpose[:40],
        root=prepared.root,
        documents=len(prepared.leaves),
        anchor_tx=anchor.tx_hash,
        anchor_block=anchor.block_number,
        anchor_time=anchor.block_time,
        file_id=stored.id,
        sha256=stored.sha256,
    )
    uow.session.add(row)
    uow.flush()
    uow.audit(
        "digitalasset.evidence.built",
        f"digitalasset_evidence:{row.id}",
        {"work": work.id, "root": prepared.root, "tx": anchor.tx_hash, "sha256": stored.sha256},
        organization_id=work.organization_id,
    )
    return EvidenceOut.model_validate(row, from_attributes=True)


def list_packages(
    *, uow: UnitOfWork, actor: Actor, work_id: int | None = None
) -> list[EvidenceOut]:
    """Return the evidence packages in the actor's scope."""
    check(actor, "digitalasset.read")
    q = select(DigitalassetEvidence).order_by(DigitalassetEvidence.id.desc())
    if work_id is not None:
        q = q.where(DigitalassetEvidence.work_id == work_id)
    return [EvidenceOut.model_validate(e, from_attributes=True) for e in uow.session.scalars(q)]


def package_path(*, uow: UnitOfWork, actor: Actor, evidence_id: int) -> tuple[Path, str]:
    """Return the stored zip of a package and its download name."""
    row = load(uow, DigitalassetEvidence, evidence_id, "digitalasset.read")
    return stored_path(uow=uow, file_id=row.file_id), f"evidence-{row.id}-{row.root[:12]}.zip"


def check_on_chain(settings: Settings, result: dict[str, Any]) -> bool | None:
    """Tell whether the package's anchor is on the configured chain (None: cannot tell here)."""
    anchor = result.get("anchor") or {}
    try:
        chain = chain_for(settings)
        if int(anchor.get("chain_id", -1)) != chain.chain_id or not chain.has_code(
            str(anchor.get("contract"))
        ):
            return None
        at = chain.call(
            str(anchor["contract"]),
            load_artifact(ANCHOR),
            "anchoredAt",
            [bytes.fromhex(str(result["root"]))],
        )
    except (MingyueError, KeyError, ValueError, TypeError):
        return None
    return int(at) > 0


def verify_package(path: Path, *, settings: Settings | None = None) -> EvidenceVerifyOut:
    """Verify a package offline and, with ``settings``, its anchor on the configured chain."""
    result = engine.verify(path)
    on_chain = check_on_chain(settings, result) if settings is not None and result["root"] else None
    checks = [EvidenceCheck(**c) for c in result["checks"]]
    if on_chain is not None:
        checks.append(
            EvidenceCheck(
                check="anchor on chain",
                ok=on_chain,
                detail="the anchor contract holds this root" if on_chain else "root not anchored",
            )
        )
    ok = bool(result["ok"]) and on_chain is not False
    return EvidenceVerifyOut(ok=ok, root=result["root"], checks=checks, on_chain=on_chain)


def verify_upload(*, uow: UnitOfWork, actor: Actor, data: bytes) -> EvidenceVerifyOut:
    """Verify an uploaded package (never kept)."""
    check(actor, "digitalasset.read")
    with tempfile.TemporaryDirectory(prefix="da-evidence-") as tmp:
        path = Path(tmp) / "package.zip"
        path.write_bytes(data)
        return verify_package(path, settings=uow.settings)


def anchor_ledger(uow: UnitOfWork) -> AnchorOut | None:
    """Sign a head over the ledger so far and anchor it, unless that head is anchored already."""
    head = ledger_head(uow=uow, fresh=True)
    if head is None:
        return None
    done = uow.session.scalars(
        select(DigitalassetAnchor).where(DigitalassetAnchor.root == head.root)
    ).first()
    if done is not None:
        return None
    row = anchor_root(
        uow,
        root=head.root,
        size=head.tree_size,
        kind="ledger_head",
        detail={
            "signed_time": head.signed_time,
            "key_id": head.key_id,
            "signature": head.signature,
        },
    )
    uow.audit(
        "digitalasset.ledger.anchored",
        f"digitalasset_anchor:{row.id}",
        {"tree_size": head.tree_size, "root": head.root, "tx": row.tx_hash},
        organization_id=None,
    )
    return AnchorOut.model_validate(row, from_attributes=True)


def anchor_ledger_now(*, uow: UnitOfWork, actor: Actor) -> AnchorOut | None:
    """Anchor the ledger's newest head now (platform admin)."""
    check(actor, "digitalasset.ledger.anchor")
    return anchor_ledger(uow)


def list_anchors(*, uow: UnitOfWork, actor: Actor, limit: int = 100) -> list[AnchorOut]:
    """Return the platform's anchors, newest first."""
    check(actor, "digitalasset.read")
    rows = uow.session.scalars(
        select(DigitalassetAnchor).order_by(DigitalassetAnchor.id.desc()).limit(limit)
    ).all()
    return [AnchorOut.model_validate(a, from_attributes=True) for a in rows]


def run_anchor_ledger_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Anchor the audit ledger's newest signed head on the chain (hourly schedule)."""
    with ctx.unit_of_work() as uow:
        out = anchor_ledger(uow)
    if out is None:
        ctx.progress(100, "nothing new to anchor")
        return {"anchored": False}
    ctx.progress(100, f"anchored {out.size} entries in {out.tx_hash}")
    return {"anchored": True, "tree_size": out.size, "root": out.root, "tx": out.tx_hash}
