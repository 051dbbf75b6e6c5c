"""NGSI-LD query parameters into engine objects: the query, the representation, the shaper.

``build_query`` reads the selection (type, id, idPattern, q, scopeQ, attrs, geo-query, paging,
orderBy); ``render_options`` and ``shaper_for`` the representation (format/options, attrs, lang,
datasetId, pick/omit, join); ``query_body`` turns a ``Query`` object (POST
``entityOperations/query``) into the same parameters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from mingyue.enablers.citygov.engine.ngsi import context as jsonld
from mingyue.enablers.citygov.engine.ngsi import geo
from mingyue.enablers.citygov.engine.ngsi.errors import bad_data
from mingyue.enablers.citygov.engine.ngsi.order import check_collation, parse_order
from mingyue.enablers.citygov.engine.ngsi.projection import (
    MAX_JOIN_LEVEL,
    Join,
    Shaper,
    depth,
    overlap,
    parse_projection,
)
from mingyue.enablers.citygov.engine.ngsi.query import (
    Term,
    parse_q,
    parse_scope_q,
    parse_selector,
    q_names,
    selector_names,
)
from mingyue.enablers.citygov.engine.ngsi.render import RenderOptions, parse_lang
from mingyue.enablers.citygov.engine.ngsi.values import is_uri
from mingyue.enablers.citygov.ngsi_http import GEO_JSON, int_param, representation
from mingyue.enablers.citygov.service import broker


def render_options(
    params: dict[str, str], ctx: jsonld.ActiveContext, *, media: str
) -> tuple[RenderOptions, bool]:
    simplified, concise, sys_attrs = representation(params)
    attrs = None
    if "attrs" in params:
        names = re.split(r"[,|]", params["attrs"])
        if not all(names):
            raise bad_data("attrs holds an empty name")
        attrs = frozenset(ctx.expand(a) for a in names)
    if attrs is not None and ("pick" in params or "omit" in params):
        raise bad_data("attrs cannot be combined with pick or omit")
    lang = None
    if "lang" in params:
        lang = parse_lang(params["lang"]) or [("*", 1.0)]
    dataset_ids: frozenset[str | None] | None = None
    if "datasetId" in params:
        ds: set[str | None] = set()
        for d in params["datasetId"].split(","):
            ds.add(None if d == "@none" else d)
        dataset_ids = frozenset(ds)
    gp = params.get("geometryProperty")
    if gp is not None and media != GEO_JSON:
        raise bad_data("geometryProperty is only for application/geo+json")
    opts = RenderOptions(
        simplified=simplified,
        sys_attrs=sys_attrs,
        attrs=attrs,
        lang=lang,
        dataset_ids=dataset_ids,
        geometry_property=gp or "location",
    )
    return opts, concise


def shaper_for(
    params: dict[str, str],
    ctx: jsonld.ActiveContext,
    opts: RenderOptions,
    resolve: Callable[[str], dict[str, Any] | None],
) -> Shaper:
    """Build the renderer of a request: projections (pick/omit) and linked entities (join)."""
    join = None
    if "join" in params:
        if params["join"] not in ("inline", "flat", "@none"):
            raise bad_data("join is inline, flat or @none")
        if params["join"] != "@none":
            level = int_param(params.get("joinLevel"), "joinLevel", 1, 1, MAX_JOIN_LEVEL)
            join = Join(params["join"], level)
    elif "joinLevel" in params:
        int_param(params["joinLevel"], "joinLevel", 1, 1, MAX_JOIN_LEVEL)
    pick = parse_projection(params["pick"], "pick") if "pick" in params else None
    omit = parse_projection(params["omit"], "omit") if "omit" in params else None
    allowed = join.level if join is not None else 0
    for tree, what in ((pick, "pick"), (omit, "omit")):
        d = depth(tree)
        if d > MAX_JOIN_LEVEL:
            raise bad_data(f"{what} addresses more linked entities than any joinLevel allows")
        if d > allowed:
            raise bad_data(f"{what} addresses linked entities deeper than join/joinLevel allow")
    if pick is not None and omit is not None:
        clash = overlap(pick, omit)
        if clash is not None:
            raise bad_data(f"{clash!r} is both picked and omitted")
    return Shaper(ctx=ctx, opts=opts, pick=pick, omit=omit, join=join, resolve=resolve)


def concise_entity(entity: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in entity.items():
        if k in ("id", "type", "scope", "createdAt", "modifiedAt", "@context"):
            out[k] = v
            continue
        if isinstance(v, list):
            out[k] = [_concise_attr(x) for x in v]
        else:
            out[k] = _concise_attr(v)
    return out


def _concise_attr(attr: Any) -> Any:
    if not isinstance(attr, dict) or "type" not in attr:
        return attr
    atype = attr["type"]
    rest = {
        k: _concise_attr(v) if isinstance(v, dict) and "type" in v else v
        for k, v in attr.items()
        if k != "type"
    }
    if atype == "GeoProperty" and set(rest) == {"value"}:
        return rest["value"]
    if atype == "Property" and set(rest) == {"value"} and not isinstance(rest["value"], dict):
        return rest["value"]
    return rest


def shape(shaper: Shaper, docs: list[dict[str, Any]], concise: bool) -> list[dict[str, Any]]:
    out = shaper.entities(docs)
    if shaper.pick is not None or shaper.omit is not None:
        out = [e for e in out if e]
    return [concise_entity(e) for e in out] if concise else out


def resolver(uow: Any, org: int) -> Callable[[str], dict[str, Any] | None]:
    cache: dict[str, dict[str, Any] | None] = {}

    def resolve(entity_id: str) -> dict[str, Any] | None:
        if entity_id not in cache:
            cache[entity_id] = broker.get_doc(uow, org_id=org, entity_id=entity_id)
        return cache[entity_id]

    return resolve


SYSTEM_MEMBERS = frozenset(
    {"createdAt", "modifiedAt", "deletedAt", "observedAt", "id", "type", "scope"}
)


def check_query_scope(params: dict[str, str], query: broker.EntityQuery) -> None:
    """Refuse a query too wide to answer (clause 5.7.2.4): it needs a type, attrs or q.

    ``type=*`` or ``local=true`` asks for everything on purpose; ``attrs`` or ``q`` naming only
    system members (``createdAt`` …) select nothing and do not count.
    """
    if params.get("type") == "*":
        if params.get("local") == "false":
            raise bad_data("type=* matches every entity of every source: give local=true")
        return
    if "type" in params or params.get("local") == "true":
        return
    attrs = [a for a in re.split(r"[,|]", params.get("attrs", "")) if a]
    if attrs and not set(attrs) <= SYSTEM_MEMBERS:
        return
    if query.q is not None and not set(q_names(query.q)) <= SYSTEM_MEMBERS:
        return
    if query.geo is not None:
        return
    raise bad_data("the query is too wide: give type, attrs, q or a geo-query (or local=true)")


def build_query(params: dict[str, str], ctx: jsonld.ActiveContext) -> broker.EntityQuery:
    """Build an entity query from request parameters (or a Query body's members)."""
    q = broker.EntityQuery()
    if "type" in params and params["type"] != "*":
        expr = parse_selector(params["type"])
        for name in selector_names(expr):
            if not name:
                raise bad_data("type holds an empty name")
        q.types = _expand_selector(expr, ctx)
    if "id" in params:
        ids = [i.strip() for i in params["id"].split(",")]
        for i in ids:
            if not is_uri(i):
                raise bad_data(f"id {i!r} is not a URI")
        q.ids = ids
    elif "idPattern" in params:
        try:
            q.id_pattern = re.compile(params["idPattern"])
        except re.error:
            raise bad_data(
                f"idPattern {params['idPattern']!r} is not a regular expression"
            ) from None
    if "q" in params:
        q.q = parse_q(params["q"])
    if "scopeQ" in params:
        q.scope_q = parse_scope_q(params["scopeQ"])
    if "attrs" in params:
        q.attrs = frozenset(ctx.expand(a) for a in re.split(r"[,|]", params["attrs"]) if a)
    gq = geo.build_query(
        params.get("georel"),
        params.get("geometry"),
        params.get("coordinates"),
        params.get("geoproperty"),
    )
    if gq is not None:
        q.geo = gq
        q.geo_iri = ctx.expand(gq.geoproperty)
    if "expandValues" in params:
        q.expand_values = frozenset(a for a in params["expandValues"].split(",") if a)
    q.limit = int_param(params.get("limit"), "limit", broker.DEFAULT_LIMIT, 0, broker.MAX_LIMIT)
    q.offset = int_param(params.get("offset"), "offset", 0, 0, 10**9)
    if "collation" in params:
        q.collation = check_collation(params["collation"])
    if "orderBy" in params:
        q.order = parse_order(params["orderBy"], ctx, params.get("orderFrom"))
        q.order_from = params.get("orderFrom")
    elif "orderFrom" in params:
        raise bad_data("orderFrom is only for distance ordering")
    if "csf" in params:
        parse_q(params["csf"])
    return q


def _expand_selector(expr: Any, ctx: jsonld.ActiveContext) -> Any:
    if isinstance(expr, Term):
        return Term(attr=ctx.expand(expr.attr))
    expr.items = [_expand_selector(x, ctx) for x in expr.items]
    return expr


def _names_value(value: Any, what: str) -> str:
    """Return a list-of-names member (an array, or a comma-separated string) as a string."""
    if isinstance(value, list):
        if not value or not all(isinstance(v, str) and v for v in value):
            raise bad_data(f"{what} must be a non-empty array of names")
        return ",".join(value)
    if isinstance(value, str) and value:
        return value
    raise bad_data(f"{what} must be a non-empty array of names")


def query_body(value: Any) -> dict[str, str]:
    """Turn a Query object (clause 5.2.23) into the query parameters it stands for."""
    if not isinstance(value, dict) or value.get("type") != "Query":
        raise bad_data("the body of entityOperations/query is a Query object")
    flat: dict[str, str] = {}
    ents = value.get("entities")
    if ents is not None:
        if not isinstance(ents, list) or not ents:
            raise bad_data("entities must be a non-empty array")
        types: list[str] = []
        ids: list[str] = []
        patterns: list[str] = []
        for e in ents:
            if not isinstance(e, dict) or not isinstance(e.get("type"), str) or not e["type"]:
                raise bad_data("each entities member needs a type")
            types.append(e["type"])
            if "id" in e:
                raw = e["id"] if isinstance(e["id"], list) else [e["id"]]
                if not raw or not all(isinstance(i, str) and is_uri(i) for i in raw):
                    raise bad_data("an entities id is a URI or an array of URIs")
                ids.extend(raw)
            elif "idPattern" in e:
                if not isinstance(e["idPattern"], str):
                    raise bad_data("idPattern must be a string")
                patterns.append(e["idPattern"])
        flat["type"] = ",".join(types)
        if ids:
            flat["id"] = ",".join(ids)
        elif patterns:
            flat["idPattern"] = "|".join(f"(?:{p})" for p in patterns)
    if "attrs" in value:
        flat["attrs"] = _names_value(value["attrs"], "attrs")
    for key in ("pick", "omit"):
        if key in value:
            flat[key] = _names_value(value[key], key)
    for key in ("q", "scopeQ", "lang", "csf", "join"):
        if key in value:
            if not isinstance(value[key], str):
                raise bad_data(f"{key} must be a string")
            flat[key] = value[key]
    if "joinLevel" in value:
        jl = value["joinLevel"]
        if isinstance(jl, bool) or not isinstance(jl, int) or jl < 1:
            raise bad_data("joinLevel must be a positive number")
        flat["joinLevel"] = str(jl)
    if "temporalQ" in value:
        raise bad_data("temporalQ is only for the temporal query")
    if "geoQ" in value:
        g = value["geoQ"]
        if not isinstance(g, dict):
            raise bad_data("geoQ must be an object")
        for key in ("georel", "geometry", "geoproperty"):
            if key in g:
                if not isinstance(g[key], str):
                    raise bad_data(f"geoQ {key} must be a string")
                flat[key] = g[key]
        coords = g.get("coordinates")
        if coords is not None:
            flat["coordinates"] = json.dumps(coords) if not isinstance(coords, str) else coords
    ordering = value.get("ordering")
    if ordering is not None:
        if not isinstance(ordering, dict):
            raise bad_data("ordering must be an object")
        if "orderBy" in ordering:
            flat["orderBy"] = _names_value(ordering["orderBy"], "orderBy")
        if "coordinates" in ordering:
            if not isinstance(ordering["coordinates"], list):
                raise bad_data("ordering coordinates must be an array")
            flat["orderFrom"] = json.dumps(ordering["coordinates"])
        if "geometry" in ordering and not isinstance(ordering["geometry"], str):
            raise bad_data("ordering geometry must be a string")
        if "collation" in ordering:
            if not isinstance(ordering["collation"], str):
                raise bad_data("collation must be a string")
            flat["collation"] = ordering["collation"]
    return flat
