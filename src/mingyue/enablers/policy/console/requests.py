"""Requests (诉求): an enterprise files one; the dispatch desk routes what the classifier left."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from mingyue.enablers.policy.cases import REQUEST_KINDS
from mingyue.enablers.policy.schemas_service import DispatchIn, RequestIn
from mingyue.enablers.policy.service import dispatch
from mingyue.enablers.policy.service.common import READ, REQUEST_DISPATCH, REQUEST_SUBMIT, org_name
from mingyue.sdk import Actor, UnitOfWork, can, check, unit_of_work
from mingyue.sdk.errors import InvalidInput, MingyueError
from mingyue.web.console import ConsoleActor, csrf_protect, new_form_key, run_once, settings_of

from .common import Id, Key, page

router = APIRouter(include_in_schema=False)
KINDS = tuple(REQUEST_KINDS)


def _desk(
    request: Request,
    actor: Actor,
    exc: MingyueError | None = None,
    text: str = "",
) -> Response:
    check(actor, READ)
    desk = can(actor, REQUEST_DISPATCH)
    with unit_of_work(actor, settings_of(request)) as uow:
        rows = dispatch.list_requests(uow=uow, actor=actor)
        names = {r.organization_id: org_name(uow, r.organization_id) for r in rows}
    return page(
        request,
        "policy/requests.html",
        {
            "waiting": [r for r in rows if r.status == "review"],
            "rows": rows,
            "names": names,
            "desk": desk,
            "can_submit": can(actor, REQUEST_SUBMIT) and actor.org_kind == "enterprise",
            "kinds": KINDS,
            "form_key": new_form_key(),
            "text": text,
        },
        exc,
    )


@router.get("/requests", response_class=HTMLResponse)
def requests(request: Request, actor: ConsoleActor) -> Response:
    """An enterprise's requests and the form; the desk's queue of requests to route."""
    return _desk(request, actor)


@router.post("/requests", dependencies=[Depends(csrf_protect)])
def submit(
    request: Request,
    actor: ConsoleActor,
    form_key: Key = "",
    text: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """File a request; show where it went (a department's case, or the desk)."""
    if not text.strip():
        empty = InvalidInput("policy.request.empty", "describe the request", field="text")
        return _desk(request, actor, empty, text)

    def work(uow: UnitOfWork) -> str:
        out = dispatch.submit_request(
            uow=uow, actor=actor, body=RequestIn(text=text.strip()[:2000])
        )
        return f"/policy/requests/{out.id}"

    return run_once(
        request, actor, form_key, work, on_error=lambda exc: _desk(request, actor, exc, text)
    )


def _detail(
    request: Request,
    actor: Actor,
    request_id: int,
    exc: MingyueError | None = None,
) -> Response:
    with unit_of_work(actor, settings_of(request)) as uow:
        r = dispatch.get_request(uow=uow, actor=actor, request_id=request_id)
        name = org_name(uow, r.organization_id)
    return page(
        request,
        "policy/request.html",
        {
            "r": r,
            "org": name,
            "desk": can(actor, REQUEST_DISPATCH) and r.status == "review",
            "kinds": KINDS,
            "form_key": new_form_key(),
        },
        exc,
    )


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def detail(request_id: Id, request: Request, actor: ConsoleActor) -> Response:
    """A request: its text, the classifier's view, the department's case."""
    return _detail(request, actor, request_id)


@router.post("/requests/{request_id}/dispatch", dependencies=[Depends(csrf_protect)])
def route(
    request_id: Id,
    request: Request,
    actor: ConsoleActor,
    form_key: Key = "",
    department: Annotated[str, Form(max_length=20)] = "",
    kind: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """The dispatcher's decision: department and kind (a case opens), then the request again."""
    if kind not in KINDS:
        refused = InvalidInput("policy.request.bad_kind", "choose the kind", field="kind")
        return _detail(request, actor, request_id, refused)

    def work(uow: UnitOfWork) -> str:
        dispatch.dispatch_request(
            uow=uow,
            actor=actor,
            request_id=request_id,
            body=DispatchIn(department=department or "?", kind=kind),
        )
        return f"/policy/requests/{request_id}"

    return run_once(
        request,
        actor,
        form_key,
        work,
        on_error=lambda exc: _detail(request, actor, request_id, exc),
    )


@router.get("/dispatch/model", response_class=HTMLResponse)
def model(request: Request, actor: ConsoleActor) -> Response:
    """How well the classifier routes: held-out accuracy, confusion matrices, automatic share."""
    report = dispatch.model_report(actor=actor, settings=settings_of(request))
    return page(request, "policy/model.html", {"rep": report})
