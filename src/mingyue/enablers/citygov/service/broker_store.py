"""NGSI-LD broker storage: an entity's row (its expanded document and the query columns taken
from it), Smart Data Model validation on write, and the update every write ends with (store,
then fire the matching subscriptions after the commit)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mingyue.enablers.citygov import settings as citygov_settings
from mingyue.enablers.citygov.engine.ngsi import context as jsonld
from mingyue.enablers.citygov.engine.ngsi import geo, smartdata
from mingyue.enablers.citygov.engine.ngsi.errors import not_found
from mingyue.enablers.citygov.engine.ngsi.render import RenderOptions, render
from mingyue.enablers.citygov.engine.ngsi.values import format_datetime, parse_datetime
from mingyue.enablers.citygov.models_broker import NgsiEntity
from mingyue.enablers.citygov.service import subscriptions
from mingyue.enablers.citygov.service.broker_query import LOCATION
from mingyue.enablers.citygov.service.ngsi_context import active_context
from mingyue.sdk import Settings, UnitOfWork, now


def timestamp() -> str:
    """Return the platform clock as an NGSI-LD DateTime."""
    return format_datetime(now())


def find_row(uow: UnitOfWork, org_id: int, entity_id: str) -> NgsiEntity | None:
    """Return the tenant's row of an entity, or ``None``."""
    return uow.session.scalars(
        select(NgsiEntity).where(
            NgsiEntity.organization_id == org_id, NgsiEntity.entity_id == entity_id
        )
    ).one_or_none()


def _default_geometry(doc: dict[str, Any], iri: str) -> dict[str, Any] | None:
    for inst in doc.get("attrs", {}).get(iri, []):
        if inst.get("type") == "GeoProperty" and "datasetId" not in inst:
            value = inst.get("value")
            return value if isinstance(value, dict) else None
    return None


def _apply(row: NgsiEntity, doc: dict[str, Any], before: dict[str, Any] | None = None) -> None:
    """Store the document and its query columns; with ``before`` (the stored document, left
    intact) only the columns whose source changed are computed again."""
    row.doc = doc
    if before is None or before.get("type") != doc["type"]:
        row.type_iri = doc["type"][0]
        row.multi_typed = len(doc["type"]) > 1
    if before is None or before.get("createdAt") != doc["createdAt"]:
        row.created_at = parse_datetime(doc["createdAt"])
    row.modified_at = parse_datetime(doc["modifiedAt"])
    if before is not None and before.get("attrs", {}).get(LOCATION) is doc["attrs"].get(LOCATION):
        return
    row.lon = row.lat = row.min_lon = row.min_lat = row.max_lon = row.max_lat = None
    g = _default_geometry(doc, LOCATION)
    if g is not None:
        pt = geo.point_of(g)
        if pt is not None:
            row.lon, row.lat = pt
        else:
            b = geo.bbox_of(g)
            row.min_lon, row.min_lat, row.max_lon, row.max_lat = (
                b.min_lon,
                b.min_lat,
                b.max_lon,
                b.max_lat,
            )


def _validate(settings: Settings, doc: dict[str, Any]) -> None:
    if not citygov_settings.options(settings).ngsi_validate_models:
        return
    core = jsonld.core_context()
    model = smartdata.model_for(doc["type"], core.vocab or "")
    if model is None:
        return
    url = next(
        (u for u, f in jsonld.local_documents().items() if f.name == f"sdm-{model.domain}.jsonld"),
        None,
    )
    ctx = active_context(settings, [url] if url else [])
    rendered = _literals(render(doc, ctx, RenderOptions(simplified=True)))
    view = smartdata.by_name(model, rendered, core.vocab or "")
    view["type"] = model.type_name
    smartdata.validate(model, view)


def _literals(value: Any) -> Any:
    """Replace JSON-LD typed literals ({"@type": "DateTime", "@value": v}) by their value."""
    if isinstance(value, dict):
        if "@value" in value:
            return value["@value"]
        return {k: _literals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literals(v) for v in value]
    return value


def store_new(uow: UnitOfWork, org_id: int, doc: dict[str, Any]) -> NgsiEntity:
    """Validate a new entity's document and add its row (the caller flushes and notifies)."""
    _validate(uow.settings, doc)
    row = NgsiEntity(organization_id=org_id, entity_id=doc["id"])
    _apply(row, doc)
    uow.session.add(row)
    return row


def update_row(
    uow: UnitOfWork,
    org_id: int,
    row: NgsiEntity,
    doc: dict[str, Any],
    before: dict[str, Any],
    *,
    stamp: str | None = None,
    before_is_stored: bool = False,
) -> None:
    """Validate and store an entity's changed document, then fire the subscriptions of an update.

    ``stamp``: the new ``modifiedAt``. ``before_is_stored``: ``before`` is the stored document
    itself, left intact (copy on write), so the query columns whose source did not change are
    kept rather than computed again.
    """
    if stamp is not None:
        doc["modifiedAt"] = stamp
    _validate(uow.settings, doc)
    _apply(row, doc, before if before_is_stored else None)
    subscriptions.entity_changed(
        uow, org_id=org_id, before=before, after=doc, trigger="entityUpdated"
    )


def require_row(uow: UnitOfWork, org_id: int, entity_id: str) -> NgsiEntity:
    """Return the tenant's row of an entity, or raise 404 ResourceNotFound."""
    row = find_row(uow, org_id, entity_id)
    if row is None:
        raise not_found(f"entity {entity_id} does not exist")
    return row
