"""API: the audit ledger — entries, verification, inclusion proofs, the public key."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel
from sqlalchemy import select

from mingyue.core.errors import InvalidInput, NotFound
from mingyue.core.ledger import audit, keys
from mingyue.core.tenancy.access import Actor, scope_for
from mingyue.coreapps.audit import ledger_query
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
    response: Response,
    after: Annotated[int, Query(ge=0, le=ledger_query.MAX_SEQ)] = 0,
    before_id: Annotated[
        int | None,
        Query(
            ge=1,
            le=ledger_query.MAX_SEQ,
            description="Newest first, entries below this seq (keyset paging; "
            f"{ledger_query.MAX_SEQ} for the newest page).",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    organization_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    actor_name: Annotated[
        str | None, Query(alias="actor", max_length=120, description="Part of the actor name.")
    ] = None,
    event: Annotated[str | None, Query(max_length=120, description="An event kind.")] = None,
    date_from: Annotated[date | None, Query(description="First day (display time zone).")] = None,
    date_to: Annotated[date | None, Query(description="Last day (display time zone).")] = None,
) -> list[EntryOut]:
    """List ledger entries (one's own organization's, or all for oversight).

    Oldest first after ``after`` (the default), or newest first below ``before_id``; the
    ``Link`` header (``rel="next"``) names the next page either way.
    """
    if after and before_id is not None:
        raise InvalidInput(
            "core.audit.bad_cursor", "give after or before_id, not both", field="before_id"
        )
    reach = _org_filter(actor)
    flt = ledger_query.parse_filter(
        uow.session,
        visible_orgs=reach,
        organization=None if organization_id is None else str(organization_id),
        actor=actor_name,
        event=event,
        date_from=date_from.isoformat() if date_from else None,
        date_to=date_to.isoformat() if date_to else None,
    )
    tz = str(uow.settings.timezone)
    keep = {**flt.params(), "limit": str(limit)}
    if "organization" in keep:
        keep["organization_id"] = keep.pop("organization")
    if before_id is not None:
        page = ledger_query.page(
            uow.session, flt=flt, org_ids=reach, tz=tz, before=before_id, limit=limit
        )
        rows, more = page.rows, page.has_older
        cursor = {"before_id": str(page.oldest_seq)}
    else:
        conds = ledger_query.conditions(flt, reach, tz)
        rows = list(
            uow.session.scalars(
                select(audit.AuditEntry)
                .where(*conds, audit.AuditEntry.seq > after)
                .order_by(audit.AuditEntry.seq)
                .limit(limit)
            )
        )
        more = len(rows) == limit
        cursor = {"after": str(rows[-1].seq)} if rows else {}
    if more and rows:
        response.headers["Link"] = f'</api/audit?{urlencode({**keep, **cursor})}>; rel="next"'
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
