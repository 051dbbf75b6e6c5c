"""NGSI-LD queries over a tenant's entities (clause 5.7.2) and the discovery of types/attributes.

The database narrows the candidates — by id, by type and, for a geo-query on ``location``, by
the indexed point or bounding-box columns inside the search box of the reference geometry —
and the engine decides exactly (types selector, idPattern, attrs, scopeQ, q with linked
entities, shapely geo relations), then orders and pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import and_, func, or_, select

from mingyue.enablers.citygov.engine.ngsi import geo, order
from mingyue.enablers.citygov.engine.ngsi.context import ActiveContext
from mingyue.enablers.citygov.engine.ngsi.entity import deep_copy
from mingyue.enablers.citygov.engine.ngsi.query import (
    Evaluator,
    Expr,
    Node,
    Term,
    match_selector,
    scope_matches,
)
from mingyue.enablers.citygov.models_broker import NgsiEntity
from mingyue.sdk import UnitOfWork

MAX_LIMIT = 1000
DEFAULT_LIMIT = 20
LOCATION = "https://uri.etsi.org/ngsi-ld/location"


@dataclass
class EntityQuery:
    """What ``GET /entities`` (or ``POST /entityOperations/query``) selects."""

    types: Expr | None = None  # selector over expanded type IRIs (Term.attr holds an IRI)
    ids: list[str] | None = None
    id_pattern: re.Pattern[str] | None = None
    q: Expr | None = None
    scope_q: Expr | None = None
    geo: geo.GeoQuery | None = None
    geo_iri: str = LOCATION
    attrs: frozenset[str] | None = None  # the entity must have one of these (expanded)
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    expand_values: frozenset[str] = frozenset()
    order: list[order.OrderKey] = field(default_factory=list)
    order_from: Any = None
    collation: str | None = None


def _simple_types(expr: Expr | None) -> list[str] | None:
    if expr is None:
        return None
    if isinstance(expr, Term):
        return [expr.attr]
    if isinstance(expr, Node) and expr.op == "or" and all(isinstance(x, Term) for x in expr.items):
        return [x.attr for x in expr.items if isinstance(x, Term)]
    return None


def _candidates(uow: UnitOfWork, org_id: int, query: EntityQuery) -> list[NgsiEntity]:
    base = [NgsiEntity.organization_id == org_id]
    if query.ids is not None:
        base.append(NgsiEntity.entity_id.in_(query.ids))
    simple = _simple_types(query.types)
    if simple is not None:
        base.append(or_(NgsiEntity.type_iri.in_(simple), NgsiEntity.multi_typed.is_(True)))
    box = geo.search_box(query.geo) if query.geo is not None else None
    if box is None or query.geo_iri != LOCATION:
        stmt = select(NgsiEntity).where(*base).order_by(NgsiEntity.id)
        return list(uow.session.scalars(stmt))
    points = select(NgsiEntity).where(
        *base,
        NgsiEntity.lat >= box.min_lat,
        NgsiEntity.lat <= box.max_lat,
        NgsiEntity.lon >= box.min_lon,
        NgsiEntity.lon <= box.max_lon,
    )
    shapes = select(NgsiEntity).where(
        *base,
        NgsiEntity.min_lat.is_not(None),
        and_(NgsiEntity.min_lat <= box.max_lat, NgsiEntity.max_lat >= box.min_lat),
        and_(NgsiEntity.min_lon <= box.max_lon, NgsiEntity.max_lon >= box.min_lon),
    )
    rows = list(uow.session.scalars(points)) + list(uow.session.scalars(shapes))
    rows.sort(key=lambda r: r.id)
    return rows


def _geometries(doc: dict[str, Any], iri: str) -> list[dict[str, Any]]:
    return [
        inst["value"]
        for inst in doc.get("attrs", {}).get(iri, [])
        if inst.get("type") == "GeoProperty" and isinstance(inst.get("value"), dict)
    ]


def run_query(
    uow: UnitOfWork, *, org_id: int, ctx: ActiveContext, query: EntityQuery, copy: bool = True
) -> tuple[list[dict[str, Any]], int]:
    """Return one page of matching entities (expanded documents) and the total count.

    ``copy=False`` returns the session's own documents: for a caller that only renders them
    (the API), which must not change them.
    """
    rows = _candidates(uow, org_id, query)
    resolver_cache: dict[str, dict[str, Any] | None] = {}

    def resolve(target: str) -> dict[str, Any] | None:
        if target not in resolver_cache:
            found = uow.session.scalars(
                select(NgsiEntity.doc).where(
                    NgsiEntity.organization_id == org_id, NgsiEntity.entity_id == target
                )
            ).one_or_none()
            resolver_cache[target] = deep_copy(found) if found is not None else None
        return resolver_cache[target]

    ev = Evaluator(ctx, expand_values=query.expand_values, resolve=resolve)
    matched: list[dict[str, Any]] = []
    for row in rows:
        doc: dict[str, Any] = row.doc
        types: list[str] = doc["type"]
        scopes: list[str] = doc.get("scope", [])
        if query.types is not None and not match_selector(query.types, types.__contains__):
            continue
        if query.id_pattern is not None and not query.id_pattern.search(doc["id"]):
            continue
        if query.attrs is not None and not query.attrs & set(doc.get("attrs", {})):
            continue
        if query.scope_q is not None and not match_selector(
            query.scope_q, partial(_scope_hit, scopes=scopes)
        ):
            continue
        if query.q is not None and not ev.matches(query.q, doc):
            continue
        if query.geo is not None and not any(
            geo.matches(query.geo, g) for g in _geometries(doc, query.geo_iri)
        ):
            continue
        matched.append(doc)
    if query.order:
        matched = order.sort(matched, query.order, query.order_from, query.collation)
    total = len(matched)
    page = matched[query.offset : query.offset + query.limit]
    return ([deep_copy(d) for d in page] if copy else page), total


def _scope_hit(pattern: str, *, scopes: list[str]) -> bool:
    return scope_matches(pattern, scopes)


def count_types(uow: UnitOfWork, *, org_id: int) -> dict[str, int]:
    """Return every entity type of the tenant with its number of entities."""
    out: dict[str, int] = {}
    for type_iri, n in uow.session.execute(
        select(NgsiEntity.type_iri, func.count())
        .where(NgsiEntity.organization_id == org_id, NgsiEntity.multi_typed.is_(False))
        .group_by(NgsiEntity.type_iri)
    ):
        out[type_iri] = out.get(type_iri, 0) + int(n)
    for row in uow.session.scalars(
        select(NgsiEntity).where(
            NgsiEntity.organization_id == org_id, NgsiEntity.multi_typed.is_(True)
        )
    ):
        for t in row.doc["type"]:
            out[t] = out.get(t, 0) + 1
    return out


def attribute_names(
    uow: UnitOfWork, *, org_id: int, type_iri: str | None = None
) -> dict[str, set[str]]:
    """Return every attribute IRI of the tenant's entities with the types that carry it."""
    out: dict[str, set[str]] = {}
    stmt = select(NgsiEntity.doc).where(NgsiEntity.organization_id == org_id)
    docs: Iterable[dict[str, Any]] = uow.session.scalars(stmt)
    for doc in docs:
        if type_iri is not None and type_iri not in doc["type"]:
            continue
        for a in doc.get("attrs", {}):
            out.setdefault(a, set()).update(doc["type"])
    return out
