"""The NGSI-LD broker's interface for the other parts of citygov (telemetry, the finder):
merge normalized attributes into entities (one at a time or a whole flush at once), read an
entity, query or list entities, always in the core context.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from mingyue.enablers.citygov.engine.ngsi import context as jsonld
from mingyue.enablers.citygov.engine.ngsi import geo
from mingyue.enablers.citygov.engine.ngsi.entity import Parser
from mingyue.enablers.citygov.engine.ngsi.query import Term, parse_q
from mingyue.enablers.citygov.engine.ngsi.render import RenderOptions, render
from mingyue.enablers.citygov.engine.ngsi.values import format_datetime
from mingyue.enablers.citygov.models_broker import NgsiEntity
from mingyue.enablers.citygov.service.broker_attrs import merge_row
from mingyue.enablers.citygov.service.broker_entities import create_entity, get_doc
from mingyue.enablers.citygov.service.broker_query import MAX_LIMIT, EntityQuery, run_query
from mingyue.enablers.citygov.service.broker_store import timestamp
from mingyue.sdk import UnitOfWork


def upsert_entity_attrs(
    uow: UnitOfWork,
    *,
    org_id: int,
    entity_id: str,
    entity_type: str,
    attrs: dict[str, Any],
    observed_at: datetime,
) -> None:
    """Merge NGSI-LD normalized attributes into the tenant's entity, creating it if absent.

    Names and the type are resolved against the core context (short names land in the default
    vocabulary, as for any client without a context); a Property without ``observedAt`` gets
    ``observed_at``. Matching subscriptions fire after the commit.
    """
    upsert_entities_attrs(
        uow,
        [
            AttrsUpdate(
                org_id=org_id,
                entity_id=entity_id,
                entity_type=entity_type,
                attrs=attrs,
                observed_at=observed_at,
            )
        ],
    )


@dataclass
class AttrsUpdate:
    """Normalized attributes to merge into one entity (see ``upsert_entities_attrs``)."""

    org_id: int
    entity_id: str
    entity_type: str
    attrs: dict[str, Any]
    observed_at: datetime


_IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's bound-parameter limit


def upsert_entities_attrs(uow: UnitOfWork, updates: list[AttrsUpdate]) -> int:
    """Merge many entities' attributes as ``upsert_entity_attrs`` does each; return the writes.

    One SELECT per tenant (and 500 ids) finds the rows; updates of the same entity are
    coalesced into one write (later ones win, attribute by attribute); an entity whose merged
    attributes equal the stored ones is not written (nor notified). Telemetry mirrors a whole
    flush with one call.
    """
    ctx = jsonld.core_context()
    merged: dict[tuple[int, str], AttrsUpdate] = {}
    for u in updates:
        stamped = _stamped(u.attrs, format_datetime(u.observed_at))
        key = (u.org_id, u.entity_id)
        if key in merged:
            merged[key].attrs.update(stamped)
        else:
            merged[key] = AttrsUpdate(u.org_id, u.entity_id, u.entity_type, stamped, u.observed_at)
    by_org: dict[int, list[str]] = {}
    for org_id, entity_id in merged:
        by_org.setdefault(org_id, []).append(entity_id)
    rows: dict[tuple[int, str], NgsiEntity] = {}
    for org_id, ids in by_org.items():
        for start in range(0, len(ids), _IN_CHUNK):
            for found in uow.session.scalars(
                select(NgsiEntity).where(
                    NgsiEntity.organization_id == org_id,
                    NgsiEntity.entity_id.in_(ids[start : start + _IN_CHUNK]),
                )
            ):
                rows[(org_id, found.entity_id)] = found
    writes = 0
    stamp = timestamp()
    for key, u in merged.items():
        row = rows.get(key)
        if row is None:
            body = {"id": u.entity_id, "type": u.entity_type, **u.attrs}
            create_entity(uow, org_id=u.org_id, ctx=ctx, body=body)
            writes += 1
            continue
        frag = Parser(ctx, stamp, merge=True).fragment(u.attrs, allow_null=True)
        if _unchanged(row.doc, frag):
            continue
        merge_row(uow, u.org_id, row, frag, stamp)
        writes += 1
    return writes


def _stamped(attrs: dict[str, Any], when: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in attrs.items():
        if isinstance(value, dict) and value.get("type") in ("Property", "GeoProperty", None):
            value = {**value}
            value.setdefault("observedAt", when)
        out[name] = value
    return out


_STAMPS = ("createdAt", "modifiedAt")


def _unchanged(doc: dict[str, Any], frag: dict[str, Any]) -> bool:
    """Tell whether merging ``frag`` would leave every attribute as stored (a plain update of
    default instances only; anything else — types, scope, datasets, nulls — counts as a change)."""
    if set(frag) != {"attrs"}:
        return False
    stored = doc.get("attrs", {})
    for iri, instances in frag["attrs"].items():
        current = stored.get(iri)
        if not current or len(current) != 1 or len(instances) != 1:
            return False
        new, old = instances[0], current[0]
        if new is None or new.get("null") or "datasetId" in new or "datasetId" in old:
            return False
        if {k: v for k, v in new.items() if k not in _STAMPS} != {
            k: v for k, v in old.items() if k not in _STAMPS
        }:
            return False
    return True


def get_entity(uow: UnitOfWork, *, org_id: int, entity_id: str) -> dict[str, Any] | None:
    """Return an entity in the normalized representation compacted with the core context."""
    doc = get_doc(uow, org_id=org_id, entity_id=entity_id)
    if doc is None:
        return None
    return render(doc, jsonld.core_context(), RenderOptions())


def query_entities(
    uow: UnitOfWork,
    *,
    org_id: int,
    type_: str | None,
    georel: str | None,
    geometry: str | None,
    coordinates: Any,
    q: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Query the tenant's entities (normalized, core context), at most ``limit`` (≤ 1000)."""
    ctx = jsonld.core_context()
    query = EntityQuery(
        types=Term(attr=ctx.expand(type_)) if type_ else None,
        q=parse_q(q) if q else None,
        geo=geo.build_query(georel, geometry, coordinates),
        limit=max(1, min(limit, MAX_LIMIT)),
    )
    docs, _ = run_query(uow, org_id=org_id, ctx=ctx, query=query)
    return [render(d, ctx, RenderOptions()) for d in docs]


def all_entities(uow: UnitOfWork, *, org_id: int, type_: str) -> list[dict[str, Any]]:
    """Return every entity of a type of the tenant (normalized, core context), without the
    API's ``limit`` (the telemetry finder builds its index from them)."""
    ctx = jsonld.core_context()
    query = EntityQuery(types=Term(attr=ctx.expand(type_)), limit=2**31 - 1)
    docs, _ = run_query(uow, org_id=org_id, ctx=ctx, query=query)
    return [render(d, ctx, RenderOptions()) for d in docs]
