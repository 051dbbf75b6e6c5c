"""Declared transfers: recipient, country, endpoints, categories and the legal basis they rest on.

The flow monitor (:mod:`.flows`) compares observed traffic with these declarations.
"""

from __future__ import annotations

from sqlalchemy import select

from mingyue.sdk import Actor, InvalidInput, UnitOfWork, check, get_visible, require_org

from .engine.flows.monitor import DeclaredTransfer
from .models import CrossborderFiling, CrossborderTransfer
from .schemas import TransferIn, TransferOut


def declare_transfer(*, uow: UnitOfWork, actor: Actor, body: TransferIn) -> TransferOut:
    """Declare a transfer (recipient, country, endpoints, categories, legal basis)."""
    check(actor, "crossborder.transfer.declare")
    org = require_org(actor, field="--as")
    if body.filing_id is not None:
        get_visible(uow, CrossborderFiling, body.filing_id, "crossborder.read")
    try:
        DeclaredTransfer.from_dict({"id": "new", **body.model_dump()})
    except ValueError as exc:
        raise InvalidInput(
            "crossborder.bad_transfer", str(exc), field=str(exc).split(":")[0], reason=str(exc)
        ) from None
    row = CrossborderTransfer(
        organization_id=org,
        recipient=body.recipient,
        country=body.country.upper(),
        endpoints=[e.lower() for e in body.endpoints],
        categories=list(body.categories),
        legal_basis=body.legal_basis,
        filing_id=body.filing_id,
    )
    uow.session.add(row)
    uow.flush()
    uow.audit(
        "crossborder.transfer.declared",
        f"crossborder_transfer:{row.id}",
        {"recipient": body.recipient, "country": row.country, "endpoints": row.endpoints},
        organization_id=org,
    )
    return TransferOut.model_validate(row)


def list_transfers(*, uow: UnitOfWork, actor: Actor) -> list[TransferOut]:
    """Return the declared transfers visible to the actor."""
    check(actor, "crossborder.read")
    rows = uow.session.scalars(select(CrossborderTransfer).order_by(CrossborderTransfer.id))
    return [TransferOut.model_validate(r) for r in rows]
