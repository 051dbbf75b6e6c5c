"""Works and their review: the list with the registration form, a work's page (hashes,
certificate, review steps, re-verification of a file)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from mingyue.enablers.digitalasset import service
from mingyue.enablers.digitalasset.schemas import WORK_KINDS
from mingyue.enablers.digitalasset.service import views
from mingyue.sdk import Actor, UnitOfWork, can, check, unit_of_work
from mingyue.sdk.errors import MingyueError
from mingyue.web.console import ConsoleActor, csrf_protect, new_form_key, run_once, settings_of

from .common import Id, Key, Short, Text, page

router = APIRouter(include_in_schema=False)


def _index(
    request: Request,
    actor: Actor,
    *,
    exc: MingyueError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    check(actor, "digitalasset.read")
    with unit_of_work(actor, settings_of(request)) as uow:
        works = service.list_works(uow=uow, actor=actor)
        orgs = views.org_names(uow, {w.organization_id for w in works})
    return page(
        request,
        "digitalasset/index.html",
        {
            "works": works,
            "orgs": orgs,
            "can_register": can(actor, "digitalasset.work.register"),
            "reviewer": can(actor, "digitalasset.work.review"),
            "kinds": WORK_KINDS,
            "form_key": new_form_key(),
            "v": values or {},
        },
        exc,
    )


@router.get("", response_class=HTMLResponse)
def index(request: Request, actor: ConsoleActor) -> Response:
    """Works: an issuer's own with the registration form; every work for reviewers."""
    return _index(request, actor)


@router.post("/works", dependencies=[Depends(csrf_protect)])
def register(
    request: Request,
    actor: ConsoleActor,
    file: Annotated[UploadFile, File()],
    form_key: Key = "",
    title: Annotated[str, Form(max_length=300)] = "",
    kind: Annotated[str, Form(max_length=30)] = "image",
    creator_name: Short = "",
    creator_did: Annotated[str, Form(max_length=300)] = "",
    rights_statement: Text = "",
) -> Response:
    """Register a work, then show its page."""
    values = {
        "title": title,
        "kind": kind,
        "creator_name": creator_name,
        "creator_did": creator_did,
        "rights_statement": rights_statement,
    }

    def work(uow: UnitOfWork) -> str:
        out = service.register_work(
            uow=uow,
            actor=actor,
            upload=file,
            filename=file.filename,
            title=title,
            kind=kind,
            creator_name=creator_name,
            rights_statement=rights_statement,
            creator_did=creator_did or None,
        )
        return f"/digitalasset/works/{out.id}"

    return run_once(
        request,
        actor,
        form_key,
        work,
        on_error=lambda exc: _index(request, actor, exc=exc, values=values),
    )


def work_page(
    request: Request,
    actor: Actor,
    work_id: int,
    *,
    exc: MingyueError | None = None,
    verified: Any = None,
) -> Response:
    """Render a work's page (with an error box, or the result of a file's re-verification)."""
    with unit_of_work(actor, settings_of(request)) as uow:
        p = views.work_page(uow=uow, actor=actor, work_id=work_id)
    return page(
        request,
        "digitalasset/work.html",
        {"p": p, "w": p.work, "form_key": new_form_key(), "verified": verified},
        exc,
    )


@router.get("/works/{work_id}", response_class=HTMLResponse)
def work(work_id: Id, request: Request, actor: ConsoleActor) -> Response:
    """A work: hashes, creator, rights, review, certificate, evidence, issuance."""
    return work_page(request, actor, work_id)


@router.post("/works/{work_id}/decision", dependencies=[Depends(csrf_protect)])
def decide(
    work_id: Id,
    request: Request,
    actor: ConsoleActor,
    form_key: Key = "",
    action: Annotated[str, Form(max_length=20)] = "",
    comment: Text = "",
) -> Response:
    """Take a review step (review, approve and certify, reject with a reason)."""

    def step(uow: UnitOfWork) -> str:
        service.decide(uow=uow, actor=actor, work_id=work_id, action=action, comment=comment)
        return f"/digitalasset/works/{work_id}"

    return run_once(
        request,
        actor,
        form_key,
        step,
        on_error=lambda exc: work_page(request, actor, work_id, exc=exc),
    )


@router.post("/works/{work_id}/verify", dependencies=[Depends(csrf_protect)])
def verify(
    work_id: Id, request: Request, actor: ConsoleActor, file: Annotated[UploadFile, File()]
) -> Response:
    """Check a file against the work; the page says whether it matches."""
    try:
        with unit_of_work(actor, settings_of(request)) as uow:
            out = service.verify_work(uow=uow, actor=actor, work_id=work_id, upload=file)
    except MingyueError as exc:
        return work_page(request, actor, work_id, exc=exc)
    return work_page(request, actor, work_id, verified=out)
