"""API: the audit ledger — entries, verification, inclusion proofs, the public key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from mingyue.core.errors import NotFound
from mingyue.core.ledger import audit, keys
from mingyue.core.tenancy.access import Actor, scope_for
from mingyue.web.deps import BigIdPath, UoW, require

router = APIRouter(tags=["audit"])


class EntryOut(BaseModel):
    """One ledger entry."""

    seq: int
    time: str
    actor: str
    organization_id: int | None
    action: str
    subject: str
    payload: dict[str, Any]
    payload_hash: str
    prev_hash: str
    entry_hash: str


def _out(e: audit.AuditEntry) -> EntryOut:
    return EntryOut(
        seq=e.seq,
        time=e.time.isoformat(),
        actor=e.actor,
        organization_id=e.organization_id,
        action=e.action,
        subject=e.subject,
        payload=e.payload,
        payload_hash=e.payload_hash,
        prev_hash=e.prev_hash,
        entry_hash=e.entry_hash,
    )


def _org_filter(actor: Actor) -> list[int] | None:
    scope = scope_for(actor)
    return None if scope.all_orgs else sorted(scope.org_ids)


@router.get("/audit", operation_id="audit-list_entries")
def list_entries(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.audit.read"))],
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[EntryOut]:
    """List ledger entries after a sequence number (one's own organization's, or all for oversight)."""
    rows = audit.entries_since(uow.session, after, limit, _org_filter(actor))
    return [_out(e) for e in rows]


@router.get("/audit/verify", operation_id="audit-verify")
def verify(
    uow: UoW, actor: Annotated[Actor, Depends(require("core.audit.verify"))]
) -> dict[str, Any]:
    """Recompute the whole chain and hold it against every signed head (database, heads file)."""
    return audit.verify_chain(uow.session, settings=uow.settings).to_dict()


@router.post("/audit/checkpoints", status_code=201, operation_id="audit-make_checkpoint")
def checkpoint(
    uow: UoW, actor: Annotated[Actor, Depends(require("core.audit.verify"))]
) -> dict[str, Any]:
    """Sign the Merkle root of every entry so far."""
    cp = audit.make_checkpoint(uow.session, uow.settings)
    uow.audit(
        "core.audit.checkpoint",
        f"core_audit_checkpoint:{cp.id}",
        {"tree_size": cp.tree_size, "root": cp.root},
    )
    return {"id": cp.id, "tree_size": cp.tree_size, "root": cp.root, "key_id": cp.key_id}


@router.get("/audit/public-key", operation_id="audit-public_key")
def public_key(
    uow: UoW, actor: Annotated[Actor, Depends(require("core.audit.read"))]
) -> dict[str, str]:
    """Return the platform's Ed25519 public key (base64, raw)."""
    pub = keys.public_key_b64(uow.settings)
    return {"public_key": pub, "key_id": keys.key_id(pub), "algorithm": "Ed25519"}


@router.get("/audit/{seq}", operation_id="audit-get_entry")
def get_entry(
    seq: BigIdPath, uow: UoW, actor: Annotated[Actor, Depends(require("core.audit.read"))]
) -> EntryOut:
    """Return one ledger entry the actor may see."""
    e = uow.session.get(audit.AuditEntry, seq)
    orgs = _org_filter(actor)
    if e is None or (orgs is not None and e.organization_id not in orgs):
        raise NotFound("core.audit.not_found", "no such ledger entry")
    return _out(e)


@router.get("/audit/{seq}/proof", operation_id="audit-prove")
def prove(
    seq: BigIdPath, uow: UoW, actor: Annotated[Actor, Depends(require("core.audit.read"))]
) -> dict[str, Any]:
    """Return an inclusion proof of one entry against a signed checkpoint."""
    e = uow.session.get(audit.AuditEntry, seq)
    orgs = _org_filter(actor)
    if e is None or (orgs is not None and e.organization_id not in orgs):
        raise NotFound("core.audit.not_found", "no such ledger entry")
    return audit.prove(uow.session, uow.settings, seq)
