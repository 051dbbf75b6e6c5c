"""NGSI-LD broker entity operations of one tenant: create, read, replace, delete, import.

Every function takes the unit of work and the tenant's organization id; writes fire the
matching subscriptions after the commit (``service.subscriptions``).
"""

from __future__ import annotations

from typing import Any

from mingyue.enablers.citygov.engine.ngsi.context import ActiveContext
from mingyue.enablers.citygov.engine.ngsi.entity import Parser, deep_copy
from mingyue.enablers.citygov.engine.ngsi.errors import NgsiError, bad_data, not_found
from mingyue.enablers.citygov.service import subscriptions
from mingyue.enablers.citygov.service.broker_store import (
    find_row,
    require_row,
    store_new,
    timestamp,
    update_row,
)
from mingyue.sdk import UnitOfWork


def create_entity(uow: UnitOfWork, *, org_id: int, ctx: ActiveContext, body: Any) -> str:
    """Create an entity (409 AlreadyExists when the id is taken); return its id."""
    doc = Parser(ctx, timestamp()).entity(body)
    if find_row(uow, org_id, doc["id"]) is not None:
        raise NgsiError("AlreadyExists", f"entity {doc['id']} already exists")
    _store_created(uow, org_id, [doc])
    return str(doc["id"])


def _store_created(uow: UnitOfWork, org_id: int, docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        store_new(uow, org_id, doc)
    uow.flush()
    for doc in docs:
        subscriptions.entity_changed(
            uow, org_id=org_id, before=None, after=doc, trigger="entityCreated"
        )


def exists(uow: UnitOfWork, *, org_id: int, entity_id: str) -> bool:
    """Tell whether the tenant has an entity with this id."""
    return find_row(uow, org_id, entity_id) is not None


def get_doc(uow: UnitOfWork, *, org_id: int, entity_id: str) -> dict[str, Any] | None:
    """Return the stored (expanded) document of an entity, or ``None``."""
    row = find_row(uow, org_id, entity_id)
    return deep_copy(row.doc) if row is not None else None


def require_doc(uow: UnitOfWork, *, org_id: int, entity_id: str) -> dict[str, Any]:
    """Return the stored document of an entity, or raise 404 ResourceNotFound."""
    doc = get_doc(uow, org_id=org_id, entity_id=entity_id)
    if doc is None:
        raise not_found(f"entity {entity_id} does not exist")
    return doc


def delete_entity(
    uow: UnitOfWork, *, org_id: int, entity_id: str, types: list[str] | None = None
) -> None:
    """Delete an entity (404 when absent or not of one of ``types``)."""
    row = require_row(uow, org_id, entity_id)
    before = deep_copy(row.doc)
    if types is not None and not set(types) & set(before["type"]):
        raise not_found(f"entity {entity_id} is not of the requested type")
    uow.session.delete(row)
    uow.flush()
    subscriptions.entity_changed(
        uow, org_id=org_id, before=before, after=None, trigger="entityDeleted"
    )


def replace_entity(
    uow: UnitOfWork, *, org_id: int, ctx: ActiveContext, entity_id: str, body: Any
) -> None:
    """Replace an entity's type and attributes (PUT /entities/{id})."""
    if not isinstance(body, dict):
        raise bad_data("the entity must be a JSON object")
    if "id" in body and body["id"] != entity_id:
        raise bad_data("the id in the payload differs from the entity in the path")
    body = {**body, "id": entity_id}
    row = require_row(uow, org_id, entity_id)
    before = deep_copy(row.doc)
    doc = Parser(ctx, timestamp()).entity(body)
    doc["createdAt"] = before["createdAt"]
    update_row(uow, org_id, row, doc, before)


def import_entities(uow: UnitOfWork, *, org_id: int, ctx: ActiveContext, bodies: list[Any]) -> int:
    """Create many new entities at once (seeding, imports); all or none, return how many.

    Each body is validated as a create would; the ids must be new (the unique constraint
    refuses a duplicate and the whole import rolls back). Subscriptions fire as for creates.
    """
    parser = Parser(ctx, timestamp())
    docs = [parser.entity(b) for b in bodies]
    _store_created(uow, org_id, docs)
    return len(docs)
