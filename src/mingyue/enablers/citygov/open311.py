"""Open311 GeoReport v2 façade (mounted at /open311/v2): ``services``, ``services/{code}``,
``requests`` (GET public, POST with a bearer token or ``api_key``), ``requests/{id}``; in JSON or
XML as the path's format says, errors as ``[{"code", "description"}]`` (GeoReport v2)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from mingyue.enablers.citygov.service import open311 as facade
from mingyue.sdk import SYSTEM, Actor, UnitOfWork, unit_of_work
from mingyue.sdk.errors import MingyueError, NotAuthenticated
from mingyue.web.deps import get_actor

router = APIRouter(tags=["citygov"])

Fmt = str
Opt = Annotated[str | None, Query(max_length=2000)]
MAX_FORM = 64 * 1024


def _xml(root: str, item: str | None, data: Any) -> bytes:
    top = ET.Element(root)

    def fill(el: ET.Element, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                fill(ET.SubElement(el, k), v)
        elif isinstance(value, list):
            for v in value:
                fill(ET.SubElement(el, "attribute" if el.tag == "attributes" else "value"), v)
        elif value is None:
            return
        elif isinstance(value, bool):
            el.text = "true" if value else "false"
        else:
            el.text = str(value)

    if item is None:
        fill(top, data)
    else:
        for row in data:
            fill(ET.SubElement(top, item), row)
    body: bytes = ET.tostring(top, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


def _answer(fmt: str, data: Any, root: str, item: str | None, status: int = 200) -> Response:
    if fmt == "xml":
        return Response(_xml(root, item, data), status_code=status, media_type="text/xml")
    return JSONResponse(data, status_code=status)


def _error(fmt: str, status: int, description: str) -> Response:
    rows = [{"code": status, "description": description}]
    return _answer(fmt if fmt in ("json", "xml") else "json", rows, "errors", "error", status)


def _run(fmt: str, work: Callable[[], Response]) -> Response:
    if fmt not in ("json", "xml"):
        return _error("json", 404, "format must be json or xml")
    try:
        return work()
    except MingyueError as exc:
        return _error(fmt, exc.status, exc.message)


def _public(settings: Any, fn: Callable[[UnitOfWork], Any]) -> Any:
    # The GETs are public (GeoReport v2); they read as the platform and show public fields only.
    with unit_of_work(SYSTEM, settings) as uow:
        return fn(uow)


@router.get("/services.{fmt}", operation_id="citygov-open311_services")
def services(fmt: Fmt, request: Request, jurisdiction_id: Opt = None) -> Response:
    """The categories citizens may report (public)."""
    lang = facade.lang_of(request.headers.get("accept-language"))
    return _run(fmt, lambda: _answer(fmt, facade.services(lang), "services", "service"))


@router.get("/services/{code}.{fmt}", operation_id="citygov-open311_service_definition")
def service_definition(code: str, fmt: Fmt, jurisdiction_id: Opt = None) -> Response:
    """A service's definition (public; no extra attributes are asked)."""
    return _run(
        fmt,
        lambda: _answer(fmt, facade.service_definition(code), "service_definition", None),
    )


@router.get("/requests.{fmt}", operation_id="citygov-open311_requests")
def list_requests(
    fmt: Fmt,
    request: Request,
    service_request_id: Opt = None,
    service_code: Opt = None,
    start_date: Annotated[str | None, Query(max_length=40)] = None,
    end_date: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    jurisdiction_id: Opt = None,
) -> Response:
    """Service requests: the last 90 days by default, at most 1000 (public)."""
    lang = facade.lang_of(request.headers.get("accept-language"))
    settings = request.app.state.settings

    def work() -> Response:
        rows = _public(
            settings,
            lambda uow: facade.find_requests(
                uow,
                ids=service_request_id,
                service_code=service_code,
                start_date=start_date,
                end_date=end_date,
                status=status,
                lang=lang,
            ),
        )
        return _answer(fmt, rows, "service_requests", "request")

    return _run(fmt, work)


@router.get("/requests/{request_id}.{fmt}", operation_id="citygov-open311_request")
def get_request(
    request_id: str, fmt: Fmt, request: Request, jurisdiction_id: Opt = None
) -> Response:
    """One service request (public)."""
    lang = facade.lang_of(request.headers.get("accept-language"))
    settings = request.app.state.settings
    return _run(
        fmt,
        lambda: _answer(
            fmt,
            _public(settings, lambda uow: facade.get_request(uow, request_id, lang)),
            "service_requests",
            "request",
        ),
    )


async def _caller(request: Request, api_key: str | None) -> Actor:
    # A bearer token in the header, or the same token as GeoReport v2's api_key parameter.
    if api_key and not request.headers.get("authorization"):
        scope = dict(request.scope)
        scope["headers"] = [
            *[(k, v) for k, v in request.scope["headers"] if k.lower() != b"authorization"],
            (b"authorization", f"Bearer {api_key}".encode()),
        ]
        request = Request(scope, request.receive)
    if not request.headers.get("authorization") and "cookie" not in request.headers:
        raise NotAuthenticated("core.auth.required", "api_key or a bearer token is required")
    return await get_actor(request)


@router.post("/requests.{fmt}", operation_id="citygov-open311_post_request")
async def post_request(fmt: Fmt, request: Request) -> Response:
    """Create a service request (a citizen's report): form-encoded, with ``api_key`` or a bearer
    token; answers the request id (an existing one when it joins the same problem nearby).

    Async only to read the form (GeoReport v2 posts free ``attribute[...]`` fields) and to
    authenticate; the checks, the database and the answer run in the thread pool.
    """
    form: Any = None
    actor: Actor | None = None
    refused: MingyueError | None = None
    if int(request.headers.get("content-length") or 0) <= MAX_FORM:
        try:
            form = await request.form(max_files=0, max_fields=100)
        except Exception:
            form = None
        if form is not None:
            try:
                actor = await _caller(
                    request, form.get("api_key") or request.query_params.get("api_key")
                )
            except MingyueError as exc:
                refused = exc
    return await run_in_threadpool(_post_request, fmt, request, form, actor, refused)


def _post_request(
    fmt: str, request: Request, form: Any, actor: Actor | None, refused: MingyueError | None
) -> Response:
    if fmt not in ("json", "xml"):
        return _error("json", 404, "format must be json or xml")
    if int(request.headers.get("content-length") or 0) > MAX_FORM:
        return _error(fmt, 413, "the request is too large")
    if form is None:
        return _error(fmt, 400, "the body must be form-encoded")
    if refused is not None or actor is None:
        exc = refused or NotAuthenticated("core.auth.required", "authentication required")
        return _error(fmt, exc.status, exc.message)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    lang = facade.lang_of(request.headers.get("accept-language"))
    if not actor.enabler_enabled("citygov"):
        return _error(fmt, 404, "citygov is not enabled for your organization")
    try:
        with unit_of_work(actor, request.app.state.settings) as uow:
            rows = facade.post_request(uow, actor, fields, lang)
    except MingyueError as exc:
        return _error(fmt, exc.status, exc.message)
    return _answer(fmt, rows, "service_requests", "request")
