"""The NGSI-LD API (ETSI GS CIM 009 subset) mounted at ``/ngsi-ld/v1``.

Routes are thin: they negotiate media types, read the ``@context`` (body or ``Link`` header),
resolve the tenant and call ``service.broker`` / ``service.subscriptions``. Every route needs a
bearer token (``mingyue.web.deps``); the tenant is the caller's organization, and an
``NGSILD-Tenant`` header naming another organization is refused unless the caller is a platform
administrator. Errors are NGSI-LD ProblemDetails (``application/json``) with the ``type`` URIs
of clause 5.5.2 — the route class of ``ngsi_http`` turns every error into one.
"""

from __future__ import annotations

import time
import uuid
from functools import partial
from typing import Annotated, Any, Protocol, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from mingyue.enablers.citygov.engine.ngsi import context as jsonld
from mingyue.enablers.citygov.engine.ngsi.errors import bad_data, invalid, not_found
from mingyue.enablers.citygov.engine.ngsi.query import q_depth
from mingyue.enablers.citygov.engine.ngsi.render import feature, feature_collection
from mingyue.enablers.citygov.engine.ngsi.values import check_id
from mingyue.enablers.citygov.ngsi_http import (
    GEO_JSON,
    JSON,
    Body,
    BodyDep,
    NgsiRoute,
    int_param,
    link_contexts,
    negotiate,
    page_links,
    parse_options,
    preconditions,
    query_params,
    respond,
)
from mingyue.enablers.citygov.ngsi_params import (
    build_query,
    check_query_scope,
    query_body,
    render_options,
    resolver,
    shape,
    shaper_for,
)
from mingyue.enablers.citygov.service import broker, broker_batch, ngsi_tenancy
from mingyue.enablers.citygov.service import subscriptions as subs_service
from mingyue.sdk import Actor
from mingyue.web.deps import UoW, enabler_enabled, require

# -- request preconditions (order matters: 411/415 before the tenant is looked up) ------------


router = APIRouter(
    route_class=NgsiRoute,
    dependencies=[Depends(preconditions), Depends(enabler_enabled("citygov"))],
)
Reader = Annotated[Actor, Depends(require("citygov.ngsi.read"))]
Writer = Annotated[Actor, Depends(require("citygov.ngsi.write"))]


def _context(request: Request, contexts: list[Any]) -> jsonld.ActiveContext:
    return broker.active_context(request.app.state.settings, contexts)


def _tenant(request: Request, actor: Actor, uow: Any) -> int:
    return ngsi_tenancy.resolve(uow, actor=actor, header=request.headers.get("ngsild-tenant"))


# -- media types --------------------------------------------------------------------------------


# -- query parameters ---------------------------------------------------------------------------


# -- entities -----------------------------------------------------------------------------------

_RETRIEVE_PARAMS = frozenset(
    {
        "attrs",
        "options",
        "format",
        "lang",
        "pick",
        "omit",
        "datasetId",
        "geometryProperty",
        "type",
        "local",
        "join",
        "joinLevel",
        "containedBy",
        "entityMap",
        "via",
    }
)
_QUERY_PARAMS = frozenset(
    {
        "id",
        "type",
        "idPattern",
        "attrs",
        "q",
        "csf",
        "georel",
        "geometry",
        "coordinates",
        "geoproperty",
        "geometryProperty",
        "lang",
        "scopeQ",
        "options",
        "format",
        "limit",
        "offset",
        "count",
        "pick",
        "omit",
        "datasetId",
        "local",
        "join",
        "joinLevel",
        "containedBy",
        "orderBy",
        "orderFrom",
        "collation",
        "expandValues",
        "entityMap",
        "via",
    }
)


def _entity_path(entity_id: str) -> str:
    return check_id(entity_id, "entity id")


_LOCAL = frozenset({"local"})
T = TypeVar("T", covariant=True)


class _EntityWrite(Protocol[T]):
    def __call__(
        self, uow: Any, *, org_id: int, ctx: jsonld.ActiveContext, entity_id: str, body: Any
    ) -> T: ...


def _write(
    op: _EntityWrite[T],
    request: Request,
    entity_id: str,
    body: Body,
    uow: Any,
    actor: Actor,
    allowed: frozenset[str] = _LOCAL,
) -> T:
    """Check the query, the entity id and the tenant, then run a write with the body's context."""
    query_params(request, allowed)
    entity_id = _entity_path(entity_id)
    org = _tenant(request, actor, uow)
    return op(
        uow, org_id=org, ctx=_context(request, body.contexts), entity_id=entity_id, body=body.value
    )


@router.post("/entities", operation_id="citygov-ngsi_create_entity", status_code=201)
@router.post("/entities/", include_in_schema=False, status_code=201)
def create_entity(request: Request, body: BodyDep, uow: UoW, actor: Writer) -> Response:
    """Create an entity (201 with Location)."""
    query_params(request, frozenset({"local"}))
    org = _tenant(request, actor, uow)
    if not isinstance(body.value, dict):
        raise invalid("an entity must be a JSON object")
    ctx = _context(request, body.contexts)
    entity_id = broker.create_entity(uow, org_id=org, ctx=ctx, body=body.value)
    return Response(
        status_code=201, headers={"Location": f"/ngsi-ld/v1/entities/{quote(entity_id, safe=':')}"}
    )


@router.get("/entities", operation_id="citygov-ngsi_query_entities")
@router.get("/entities/", include_in_schema=False)
def query_entities(request: Request, uow: UoW, actor: Reader) -> Response:
    """Query entities (type, id, idPattern, q, attrs, geo-query, scopeQ, pagination)."""
    params = query_params(request, _QUERY_PARAMS)
    media = negotiate(request)
    org = _tenant(request, actor, uow)
    contexts = link_contexts(request)
    ctx = _context(request, contexts)
    query = build_query(params, ctx)
    check_query_scope(params, query)
    count = params.get("count", "false") == "true"
    opts, concise = render_options(params, ctx, media=media)
    shaper = shaper_for(params, ctx, opts, resolver(uow, org))
    if query.q is not None and q_depth(query.q) > (shaper.join.level if shaper.join else 0):
        raise bad_data("q addresses linked entities deeper than join/joinLevel allow")
    if query.limit == 0 and not count:
        raise bad_data("limit=0 needs count=true")
    # rendered only (never changed): the documents need no copy
    docs, total = broker.run_query(uow, org_id=org, ctx=ctx, query=query, copy=False)
    body = shape(shaper, docs, concise)
    headers: dict[str, str] = {}
    if count:
        headers["NGSILD-Results-Count"] = str(total)
    links = page_links(request, query.offset, query.limit, total, media)
    if media == GEO_JSON:
        feats = [feature(e, opts.geometry_property, opts.simplified) for e in body]
        return respond(
            request, feature_collection(feats), media, contexts, headers=headers, extra_links=links
        )
    return respond(request, body, media, contexts, headers=headers, extra_links=links)


@router.get("/entities/{entity_id}", operation_id="citygov-ngsi_retrieve_entity")
def retrieve_entity(request: Request, entity_id: str, uow: UoW, actor: Reader) -> Response:
    """Retrieve one entity."""
    params = query_params(request, _RETRIEVE_PARAMS)
    entity_id = _entity_path(entity_id)
    media = negotiate(request)
    org = _tenant(request, actor, uow)
    contexts = link_contexts(request)
    ctx = _context(request, contexts)
    opts, concise = render_options(params, ctx, media=media)
    shaper = shaper_for(params, ctx, opts, resolver(uow, org))
    doc = broker.require_doc(uow, org_id=org, entity_id=entity_id)
    if "type" in params:
        wanted = {ctx.expand(t) for t in params["type"].split(",") if t}
        if not wanted & set(doc["type"]):
            raise not_found(f"entity {entity_id} is not of type {params['type']}")
    if opts.attrs is not None and not opts.attrs & set(doc["attrs"]):
        raise not_found(f"entity {entity_id} has none of the requested attributes")
    shaped = shape(shaper, [doc], concise)
    if not shaped:
        raise not_found(f"entity {entity_id} has none of the picked members")
    if shaper.join is not None and shaper.join.mode == "flat" and len(shaped) > 1:
        return respond(request, shaped, media, contexts)
    entity = shaped[0]
    if media == GEO_JSON:
        return respond(
            request, feature(entity, opts.geometry_property, opts.simplified), media, contexts
        )
    return respond(request, entity, media, contexts)


@router.delete("/entities/{entity_id}", operation_id="citygov-ngsi_delete_entity", status_code=204)
def delete_entity(request: Request, entity_id: str, uow: UoW, actor: Writer) -> Response:
    """Delete an entity."""
    params = query_params(request, frozenset({"type", "local"}))
    entity_id = _entity_path(entity_id)
    org = _tenant(request, actor, uow)
    types = None
    if "type" in params:
        ctx = _context(request, link_contexts(request))
        types = [ctx.expand(t) for t in params["type"].split(",") if t]
    broker.delete_entity(uow, org_id=org, entity_id=entity_id, types=types)
    return Response(status_code=204)


@router.put("/entities/", include_in_schema=False)
@router.patch("/entities/", include_in_schema=False)
def entity_without_id(request: Request, uow: UoW, actor: Writer) -> Response:
    """Answer a replace or merge that names no entity (400, clause 6.5.3)."""
    raise bad_data("the entity id is missing from the path")


@router.put("/entities/{entity_id}", operation_id="citygov-ngsi_replace_entity", status_code=204)
def replace_entity(
    request: Request, entity_id: str, body: BodyDep, uow: UoW, actor: Writer
) -> Response:
    """Replace an entity."""
    _write(broker.replace_entity, request, entity_id, body, uow, actor)
    return Response(status_code=204)


@router.patch("/entities/{entity_id}", operation_id="citygov-ngsi_merge_entity", status_code=204)
def merge_entity(
    request: Request, entity_id: str, body: BodyDep, uow: UoW, actor: Writer
) -> Response:
    """Merge a fragment into an entity."""
    allowed = frozenset({"local", "format", "options", "observedAt", "lang"})
    _write(broker.merge_entity, request, entity_id, body, uow, actor, allowed)
    return Response(status_code=204)


def _update_response(result: broker.UpdateResult) -> Response:
    if not result.not_updated:
        return Response(status_code=204)
    return JSONResponse(
        {
            "updated": result.updated,
            "notUpdated": [{"attributeName": n, "reason": r} for n, r in result.not_updated],
        },
        status_code=207,
        media_type=JSON,
    )


@router.post(
    "/entities/{entity_id}/attrs", operation_id="citygov-ngsi_append_attrs", status_code=204
)
@router.post("/entities/{entity_id}/attrs/", include_in_schema=False, status_code=204)
def append_attrs(
    request: Request, entity_id: str, body: BodyDep, uow: UoW, actor: Writer
) -> Response:
    """Append attributes (``options=noOverwrite`` keeps existing ones)."""
    params = query_params(request, frozenset({"options", "local"}))
    entity_id = _entity_path(entity_id)
    org = _tenant(request, actor, uow)
    opts = parse_options(params)
    result = broker.append_attrs(
        uow,
        org_id=org,
        ctx=_context(request, body.contexts),
        entity_id=entity_id,
        body=body.value,
        no_overwrite="noOverwrite" in opts,
    )
    return _update_response(result)


@router.patch(
    "/entities/{entity_id}/attrs", operation_id="citygov-ngsi_update_attrs", status_code=204
)
@router.patch("/entities/{entity_id}/attrs/", include_in_schema=False, status_code=204)
def update_attrs(
    request: Request, entity_id: str, body: BodyDep, uow: UoW, actor: Writer
) -> Response:
    """Update existing attributes (207 lists those not updated)."""
    return _update_response(_write(broker.update_attrs, request, entity_id, body, uow, actor))


@router.patch(
    "/entities/{entity_id}/attrs/{attr}", operation_id="citygov-ngsi_patch_attr", status_code=204
)
def patch_attr(
    request: Request, entity_id: str, attr: str, body: BodyDep, uow: UoW, actor: Writer
) -> Response:
    """Partially update one attribute."""
    _write(partial(broker.patch_attr, attr=attr), request, entity_id, body, uow, actor)
    return Response(status_code=204)


@router.put(
    "/entities/{entity_id}/attrs/{attr}", operation_id="citygov-ngsi_replace_attr", status_code=204
)
def replace_attr(
    request: Request, entity_id: str, attr: str, body: BodyDep, uow: UoW, actor: Writer
) -> Response:
    """Replace one attribute."""
    _write(partial(broker.replace_attr, attr=attr), request, entity_id, body, uow, actor)
    return Response(status_code=204)


@router.delete(
    "/entities/{entity_id}/attrs/{attr}", operation_id="citygov-ngsi_delete_attr", status_code=204
)
def delete_attr(request: Request, entity_id: str, attr: str, uow: UoW, actor: Writer) -> Response:
    """Delete an attribute (``datasetId`` one instance, ``deleteAll=true`` every one)."""
    params = query_params(request, frozenset({"datasetId", "deleteAll", "local"}))
    entity_id = _entity_path(entity_id)
    org = _tenant(request, actor, uow)
    broker.delete_attr(
        uow,
        org_id=org,
        ctx=_context(request, link_contexts(request)),
        entity_id=entity_id,
        attr=attr,
        dataset_id=params.get("datasetId"),
        delete_all=params.get("deleteAll") == "true",
    )
    return Response(status_code=204)


@router.delete("/entities", operation_id="citygov-ngsi_purge_entities", status_code=204)
@router.delete("/entities/", include_in_schema=False, status_code=204)
def purge_entities(request: Request, uow: UoW, actor: Writer) -> Response:
    """Delete every entity matching a query (clause 5.6.21, purge)."""
    params = query_params(
        request, frozenset({"id", "type", "idPattern", "q", "scopeQ", "attrs", "local"})
    )
    org = _tenant(request, actor, uow)
    ctx = _context(request, link_contexts(request))
    if not {"id", "type", "idPattern", "q", "scopeQ"} & set(params):
        raise bad_data("give at least one of type, id, idPattern, q or scopeQ")
    query = build_query(params, ctx)
    query.limit = broker_batch.MAX_BATCH
    while True:
        docs, total = broker.run_query(uow, org_id=org, ctx=ctx, query=query)
        for d in docs:
            broker.delete_entity(uow, org_id=org, entity_id=d["id"])
        if total <= len(docs) or not docs:
            break
    return Response(status_code=204)


# -- batch operations ---------------------------------------------------------------------------


@router.post("/entityOperations/{op}", operation_id="citygov-ngsi_batch")
def batch(request: Request, op: str, body: BodyDep, uow: UoW, actor: Writer) -> Response:
    """Batch create, upsert, update, merge or delete (``entityOperations/<op>``)."""
    if op == "query":
        return _post_query(request, body, uow, actor)
    if op not in ("create", "upsert", "update", "delete", "merge"):
        raise not_found(f"unknown entity operation {op}")
    params = query_params(request, frozenset({"options", "local"}))
    org = _tenant(request, actor, uow)
    opts = frozenset(parse_options(params))
    result = broker_batch.batch(
        uow, org_id=org, contexts=body.contexts, op=op, body=body.value, options=opts
    )
    if not result.errors:
        if op == "create":
            return JSONResponse(result.success, status_code=201, media_type=JSON)
        if op == "upsert" and result.created:
            return JSONResponse(result.created, status_code=201, media_type=JSON)
        return Response(status_code=204)
    return JSONResponse(
        {"success": result.success, "errors": result.errors}, status_code=207, media_type=JSON
    )


def _post_query(request: Request, body: Body, uow: Any, actor: Actor) -> Response:
    params = query_params(
        request, frozenset({"limit", "offset", "count", "options", "format", "local", "lang"})
    )
    media = negotiate(request)
    org = _tenant(request, actor, uow)
    ctx = _context(request, body.contexts)
    flat = query_body(body.value)
    flat.update(params)
    query = build_query(flat, ctx)
    opts, concise = render_options(flat, ctx, media=media)
    shaper = shaper_for(flat, ctx, opts, resolver(uow, org))
    docs, total = broker.run_query(uow, org_id=org, ctx=ctx, query=query)
    out = shape(shaper, docs, concise)
    headers = {"NGSILD-Results-Count": str(total)} if params.get("count") == "true" else {}
    if media == GEO_JSON:
        feats = [feature(e, opts.geometry_property, opts.simplified) for e in out]
        return respond(request, feature_collection(feats), media, body.contexts, headers=headers)
    return respond(request, out, media, body.contexts, headers=headers)


# -- subscriptions ------------------------------------------------------------------------------


@router.post("/subscriptions", operation_id="citygov-ngsi_create_subscription", status_code=201)
@router.post("/subscriptions/", include_in_schema=False, status_code=201)
def create_subscription(request: Request, body: BodyDep, uow: UoW, actor: Writer) -> Response:
    """Create a subscription (HTTP or MQTT notifications to allow-listed endpoints)."""
    query_params(request, frozenset())
    org = _tenant(request, actor, uow)
    ctx = _context(request, body.contexts)
    if not isinstance(body.value, dict):
        raise bad_data("a subscription must be a JSON object")
    sub_id = subs_service.create(uow, org_id=org, ctx=ctx, contexts=body.contexts, body=body.value)
    return Response(status_code=201, headers={"Location": f"/ngsi-ld/v1/subscriptions/{sub_id}"})


@router.get("/subscriptions", operation_id="citygov-ngsi_list_subscriptions")
@router.get("/subscriptions/", include_in_schema=False)
def list_subscriptions(request: Request, uow: UoW, actor: Reader) -> Response:
    """List the tenant's subscriptions."""
    params = query_params(request, frozenset({"limit", "offset", "count", "local"}))
    media = negotiate(request, geo_ok=False)
    org = _tenant(request, actor, uow)
    contexts = link_contexts(request)
    ctx = _context(request, contexts)
    limit = int_param(params.get("limit"), "limit", broker.DEFAULT_LIMIT, 0, broker.MAX_LIMIT)
    offset = int_param(params.get("offset"), "offset", 0, 0, 10**9)
    items, total = subs_service.list_all(uow, org_id=org, ctx=ctx, limit=limit, offset=offset)
    headers = {"NGSILD-Results-Count": str(total)} if params.get("count") == "true" else {}
    return respond(
        request,
        items,
        media,
        contexts,
        headers=headers,
        extra_links=page_links(request, offset, limit, total, media),
    )


@router.get("/subscriptions/{sub_id}", operation_id="citygov-ngsi_retrieve_subscription")
def retrieve_subscription(request: Request, sub_id: str, uow: UoW, actor: Reader) -> Response:
    """Retrieve a subscription."""
    query_params(request, frozenset({"local"}))
    check_id(sub_id, "subscription id")
    media = negotiate(request, geo_ok=False)
    org = _tenant(request, actor, uow)
    contexts = link_contexts(request)
    item = subs_service.get(uow, org_id=org, ctx=_context(request, contexts), sub_id=sub_id)
    return respond(request, item, media, contexts)


@router.patch(
    "/subscriptions/{sub_id}", operation_id="citygov-ngsi_update_subscription", status_code=204
)
def update_subscription(
    request: Request, sub_id: str, body: BodyDep, uow: UoW, actor: Writer
) -> Response:
    """Update a subscription."""
    query_params(request, frozenset())
    check_id(sub_id, "subscription id")
    org = _tenant(request, actor, uow)
    subs_service.update(
        uow, org_id=org, ctx=_context(request, body.contexts), sub_id=sub_id, body=body.value
    )
    return Response(status_code=204)


@router.delete(
    "/subscriptions/{sub_id}", operation_id="citygov-ngsi_delete_subscription", status_code=204
)
def delete_subscription(request: Request, sub_id: str, uow: UoW, actor: Writer) -> Response:
    """Delete a subscription."""
    query_params(request, frozenset())
    check_id(sub_id, "subscription id")
    org = _tenant(request, actor, uow)
    subs_service.delete(uow, org_id=org, sub_id=sub_id)
    return Response(status_code=204)


# -- discovery ----------------------------------------------------------------------------------

_STARTED = time.monotonic()
_INSTANCE = uuid.uuid4()


@router.get("/info/sourceIdentity", operation_id="citygov-ngsi_source_identity")
def source_identity(request: Request, uow: UoW, actor: Reader) -> Response:
    """Describe this broker as a context source (clause 5.2.40), per tenant."""
    query_params(request, frozenset())
    media = negotiate(request, geo_ok=False)
    org = _tenant(request, actor, uow)
    up = int(time.monotonic() - _STARTED)
    body = {
        "id": f"urn:ngsi-ld:ContextSourceIdentity:{_INSTANCE}",
        "type": "ContextSourceIdentity",
        "contextSourceAlias": f"urn:mingyue:citygov:tenant:{org}",
        "contextSourceExtras": {"broker": "mingyue citygov"},
        "contextSourceUptime": f"PT{up // 3600}H{up % 3600 // 60}M{up % 60}S",
        "contextSourceTimeAt": broker.timestamp(),
    }
    return respond(request, body, media, [])


@router.get("/types", operation_id="citygov-ngsi_types")
@router.get("/types/", include_in_schema=False)
def list_types(request: Request, uow: UoW, actor: Reader) -> Response:
    """List the entity types of the tenant (``details=true`` for their attributes)."""
    params = query_params(request, frozenset({"details", "local"}))
    media = negotiate(request, geo_ok=False)
    org = _tenant(request, actor, uow)
    contexts = link_contexts(request)
    ctx = _context(request, contexts)
    counts = broker.count_types(uow, org_id=org)
    if params.get("details") == "true":
        attrs = broker.attribute_names(uow, org_id=org)
        body: Any = [
            {
                "id": t,
                "type": "EntityType",
                "typeName": ctx.compact(t),
                "attributeNames": sorted(ctx.compact(a) for a, ts in attrs.items() if t in ts),
            }
            for t in sorted(counts)
        ]
    else:
        body = {
            "id": "urn:ngsi-ld:EntityTypeList:" + str(org),
            "type": "EntityTypeList",
            "typeList": sorted(ctx.compact(t) for t in counts),
        }
    return respond(request, body, media, contexts)


@router.get("/types/{type_name}", operation_id="citygov-ngsi_type_info")
def type_info(request: Request, type_name: str, uow: UoW, actor: Reader) -> Response:
    """Describe one entity type (entity count and attributes)."""
    query_params(request, frozenset({"local"}))
    media = negotiate(request, geo_ok=False)
    org = _tenant(request, actor, uow)
    contexts = link_contexts(request)
    ctx = _context(request, contexts)
    iri = ctx.expand(type_name)
    counts = broker.count_types(uow, org_id=org)
    if iri not in counts:
        raise not_found(f"no entity of type {type_name}")
    attrs = broker.attribute_names(uow, org_id=org, type_iri=iri)
    body = {
        "id": iri,
        "type": "EntityTypeInfo",
        "typeName": ctx.compact(iri),
        "entityCount": counts[iri],
        "attributeDetails": [
            {"id": a, "type": "Attribute", "attributeName": ctx.compact(a)} for a in sorted(attrs)
        ],
    }
    return respond(request, body, media, contexts)


@router.get("/attributes", operation_id="citygov-ngsi_attributes")
@router.get("/attributes/", include_in_schema=False)
def list_attributes(request: Request, uow: UoW, actor: Reader) -> Response:
    """List the attribute names used by the tenant's entities."""
    params = query_params(request, frozenset({"details", "local"}))
    media = negotiate(request, geo_ok=False)
    org = _tenant(request, actor, uow)
    contexts = link_contexts(request)
    ctx = _context(request, contexts)
    attrs = broker.attribute_names(uow, org_id=org)
    if params.get("details") == "true":
        body: Any = [
            {
                "id": a,
                "type": "Attribute",
                "attributeName": ctx.compact(a),
                "typeNames": sorted(ctx.compact(t) for t in ts),
            }
            for a, ts in sorted(attrs.items())
        ]
    else:
        body = {
            "id": "urn:ngsi-ld:AttributeList:" + str(org),
            "type": "AttributeList",
            "attributeList": sorted(ctx.compact(a) for a in attrs),
        }
    return respond(request, body, media, contexts)


@router.get("/attributes/{attr}", operation_id="citygov-ngsi_attribute_info")
def attribute_info(request: Request, attr: str, uow: UoW, actor: Reader) -> Response:
    """Describe one attribute (the types that carry it)."""
    query_params(request, frozenset({"local"}))
    media = negotiate(request, geo_ok=False)
    org = _tenant(request, actor, uow)
    contexts = link_contexts(request)
    ctx = _context(request, contexts)
    iri = ctx.expand(attr)
    attrs = broker.attribute_names(uow, org_id=org)
    if iri not in attrs:
        raise not_found(f"no entity has attribute {attr}")
    body = {
        "id": iri,
        "type": "Attribute",
        "attributeName": ctx.compact(iri),
        "typeNames": sorted(ctx.compact(t) for t in attrs[iri]),
    }
    return respond(request, body, media, contexts)
