"""NGSI-LD over HTTP (clause 6.3): media types, bodies and @context, errors, paging.

The plumbing every NGSI-LD route shares: the route class that turns every error into
ProblemDetails, the request preconditions (411 Content-Length, 415 Content-Type), reading a JSON
body with its ``@context`` (body member or ``Link`` header, clause 6.3.5), ``Accept``
negotiation (RFC 9110 weights), answers in JSON, JSON-LD or GeoJSON, query-parameter checks and
the ``prev``/``next`` Link headers of a page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from mingyue.enablers.citygov.engine.ngsi import context as jsonld
from mingyue.enablers.citygov.engine.ngsi.errors import NgsiError, bad_data, invalid
from mingyue.sdk.errors import MingyueError, NotAuthenticated

JSON = "application/json"


LD_JSON = "application/ld+json"


GEO_JSON = "application/geo+json"


MERGE_PATCH = "application/merge-patch+json"


LINK_REL = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'


MAX_BODY = 8 * 1024 * 1024


_PROBLEM_FOR_STATUS = {
    400: "BadRequestData",
    403: "Forbidden",
    404: "ResourceNotFound",
    409: "AlreadyExists",
    413: "BadRequestData",
    422: "OperationNotSupported",
    429: "OperationNotSupported",
}


def problem_response(exc: NgsiError, tenant: str | None = None) -> Response:
    """Return the ProblemDetails answer of an NGSI-LD error (411 carries no body, 6.3.4)."""
    headers = {"NGSILD-Tenant": tenant} if tenant else None
    if exc.status == 411:
        return Response(status_code=411, headers=headers)
    return JSONResponse(exc.problem(), status_code=exc.status, media_type=JSON, headers=headers)


class NgsiRoute(APIRoute):
    """A route whose every error answers NGSI-LD ProblemDetails (401 stays the platform's)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler: map errors to ProblemDetails and echo ``NGSILD-Tenant``."""
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            tenant = request.headers.get("ngsild-tenant")
            try:
                response = await original(request)
            except NgsiError as exc:
                return problem_response(exc, tenant)
            except NotAuthenticated:
                raise
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(p) for p in first.get("loc", ()))
                return problem_response(bad_data(f"{where}: {first.get('msg', 'invalid')}"), tenant)
            except MingyueError as exc:
                kind = _PROBLEM_FOR_STATUS.get(exc.status, "BadRequestData")
                return problem_response(NgsiError(kind, exc.message, status=exc.status), tenant)
            if tenant and "ngsild-tenant" not in response.headers:
                response.headers["NGSILD-Tenant"] = tenant
            return response

        return handler


async def preconditions(request: Request) -> None:
    if request.method in ("POST", "PATCH", "PUT"):
        if "content-length" not in request.headers:
            raise NgsiError("LengthRequired", "Content-Length is required")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        allowed = {JSON, LD_JSON}
        if request.method == "PATCH":
            allowed.add(MERGE_PATCH)
        if ctype not in allowed:
            raise NgsiError(
                "UnsupportedMediaType",
                f"Content-Type {ctype or '(none)'} is not supported: use application/json or application/ld+json",
            )


@dataclass
class Body:
    """A parsed request body with the ``@context`` it brings (body member or Link header)."""

    value: Any
    contexts: list[Any]
    content_type: str


async def read_body(request: Request) -> Body:
    """Read and check the JSON body and its @context (clause 6.3.5)."""
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise bad_data("the payload is too large")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        value = json.loads(raw.decode("utf-8")) if raw else None
    except (ValueError, UnicodeDecodeError):
        raise invalid("the payload is not valid JSON") from None
    if value is None:
        raise invalid("the payload is empty")
    link = jsonld.parse_link_header(request.headers.get("link"))
    contexts: list[Any] = []
    has_body_ctx = _has_context(value)
    if ctype == LD_JSON:
        if link is not None:
            raise bad_data("a Link header context is not allowed with application/ld+json")
        if isinstance(value, dict):
            if "@context" not in value:
                raise bad_data("an application/ld+json payload must carry @context")
            ctx = value["@context"]
            contexts = ctx if isinstance(ctx, list) else [ctx]
        elif (
            isinstance(value, list)
            and value
            and not all(
                isinstance(v, dict) and "@context" in v for v in value if isinstance(v, dict)
            )
        ):
            raise bad_data("every entity of an application/ld+json batch must carry @context")
    else:
        if has_body_ctx:
            raise bad_data("@context in the payload needs Content-Type application/ld+json")
        if link is not None:
            contexts = [link]
    return Body(value=value, contexts=contexts, content_type=ctype)


def _has_context(value: Any) -> bool:
    if isinstance(value, dict):
        return "@context" in value
    if isinstance(value, list):
        return any(isinstance(v, dict) and "@context" in v for v in value)
    return False


BodyDep = Annotated[Body, Depends(read_body)]


def link_contexts(request: Request) -> list[Any]:
    """Return the @context of a GET or DELETE (the Link header), if any."""
    link = jsonld.parse_link_header(request.headers.get("link"))
    return [link] if link else []


def negotiate(request: Request, *, geo_ok: bool = True) -> str:
    """Pick the response type from ``Accept`` (RFC 9110 weights, then json, ld+json, geo+json)."""
    header = request.headers.get("accept", "").strip()
    offers = [JSON, LD_JSON] + ([GEO_JSON] if geo_ok else [])
    if not header:
        return JSON
    ranges: list[tuple[str, float]] = []
    for part in header.split(","):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        if not media:
            continue
        q = 1.0
        for p in params.split(";"):
            k, _, v = p.strip().partition("=")
            if k.strip().lower() == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 1.0
        ranges.append((media, q))
    best: tuple[float, int, str] | None = None
    for idx, offer in enumerate(offers):
        main = offer.split("/")[0]
        weight: float | None = None
        spec = -1
        for media, q in ranges:
            if media == offer:
                s = 2
            elif media == f"{main}/*":
                s = 1
            elif media == "*/*":
                s = 0
            else:
                continue
            if s > spec:
                spec, weight = s, q
        if weight is None or weight <= 0:
            continue
        cand = (weight, -idx, offer)
        if best is None or cand > best:
            best = cand
    if best is None:
        raise NgsiError(
            "NotAcceptable", f"none of the media types in Accept ({header}) can be served"
        )
    return best[2]


def context_value(contexts: list[Any]) -> Any:
    if not contexts:
        return jsonld.CORE_URL
    return contexts[0] if len(contexts) == 1 else contexts


def context_link(contexts: list[Any]) -> str:
    value = contexts[0] if len(contexts) == 1 and isinstance(contexts[0], str) else jsonld.CORE_URL
    return f"<{value}>; {LINK_REL}"


def respond(
    request: Request,
    body: Any,
    media: str,
    contexts: list[Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    extra_links: list[str] | None = None,
) -> Response:
    """Serialize an entity (list) body in the negotiated media type with its context."""
    out_headers = dict(headers or {})
    if media == LD_JSON:
        ctx_value = context_value(contexts)
        if isinstance(body, dict):
            body = {**body, "@context": ctx_value}
        elif isinstance(body, list):
            body = [{**b, "@context": ctx_value} if isinstance(b, dict) else b for b in body]
    elif media == GEO_JSON:
        prefer = request.headers.get("prefer", "").replace(" ", "").lower()
        if "body=json" in prefer:
            out_headers["Link"] = context_link(contexts)
            out_headers["Preference-Applied"] = "body=json"
        elif isinstance(body, dict):
            body = {**body, "@context": context_value(contexts)}
    else:
        out_headers["Link"] = context_link(contexts)
    if extra_links:
        own = [out_headers["Link"]] if "Link" in out_headers else []
        out_headers["Link"] = ", ".join([*own, *extra_links])
    return JSONResponse(body, status_code=status, media_type=media, headers=out_headers)


_OPTIONS = frozenset(
    {
        "keyValues",
        "simplified",
        "concise",
        "normalized",
        "sysAttrs",
        "noOverwrite",
        "replace",
        "update",
    }
)


_FORMATS = frozenset({"keyValues", "simplified", "concise", "normalized"})


def query_params(request: Request, allowed: frozenset[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key not in allowed:
            raise invalid(f"unknown query parameter {key!r}")
        out[key] = value
    return out


def parse_options(params: dict[str, str]) -> set[str]:
    raw = params.get("options")
    if raw is None:
        return set()
    opts = {o.strip() for o in raw.split(",")}
    bad = opts - _OPTIONS
    if bad or "" in opts:
        raise invalid(f"unknown option {sorted(bad)[0] if bad else ''!r}")
    return opts


def representation(params: dict[str, str]) -> tuple[bool, bool, bool]:
    """Return (simplified, concise, sysAttrs) from ``format`` and ``options``."""
    opts = parse_options(params)
    fmt = params.get("format")
    if fmt is not None and fmt not in _FORMATS:
        raise invalid(f"unknown format {fmt!r}")
    chosen = fmt or next(
        (o for o in ("keyValues", "simplified", "concise", "normalized") if o in opts), "normalized"
    )
    return chosen in ("keyValues", "simplified"), chosen == "concise", "sysAttrs" in opts


def int_param(raw: str | None, what: str, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    if not re.fullmatch(r"\d+", raw):
        raise bad_data(f"{what} must be a whole number")
    v = int(raw)
    if v < low or v > high:
        raise NgsiError(
            "TooManyResults" if what == "limit" and v > high else "BadRequestData",
            f"{what} must be between {low} and {high}",
        )
    return v


_SAFE = ":/*.;()=!~'[]{}@$|^"


def page_links(
    request: Request, offset: int, limit: int, total: int, media: str = JSON
) -> list[str]:
    """Return the ``prev``/``next`` Link header values of a page (clause 4.12)."""
    base = str(request.url.path).rstrip("/")
    params = sorted(
        (k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "limit")
    )

    def url(at: int) -> str:
        items = [*params, ("limit", str(limit)), ("offset", str(at))]
        query = "&".join(f"{k}={quote(v, safe=_SAFE)}" for k, v in sorted(items))
        return f"<{base}?{query}>"

    links = []
    if offset > 0 and limit > 0:
        links.append(f'{url(max(0, offset - limit))}; rel="prev";type="{media}"')
    if limit > 0 and offset + limit < total:
        links.append(f'{url(offset + limit)}; rel="next";type="{media}"')
    return links
