"""Real-name verification by the operator's staff and the regulator's view: identity behind an
address, an asset's trace, the pause and freeze switches."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from mingyue.enablers.digitalasset import service
from mingyue.enablers.digitalasset.service import views
from mingyue.sdk import Actor, UnitOfWork, can, check, unit_of_work
from mingyue.sdk.errors import InvalidInput, MingyueError
from mingyue.web.console import ConsoleActor, csrf_protect, new_form_key, run_once, settings_of

from .common import Id, Key, page

router = APIRouter(include_in_schema=False)
Reason = Annotated[str, Form(max_length=500)]


def _accounts(request: Request, actor: Actor, *, exc: MingyueError | None = None) -> Response:
    check(actor, "digitalasset.read")
    with unit_of_work(actor, settings_of(request)) as uow:
        accounts = service.list_accounts(uow=uow, actor=actor)
        orgs = views.org_names(uow, {a.organization_id for a in accounts})
    return page(
        request,
        "digitalasset/accounts.html",
        {
            "accounts": accounts,
            "orgs": orgs,
            "can_verify": can(actor, "digitalasset.kyc.verify"),
            "form_key": new_form_key(),
        },
        exc,
    )


@router.get("/accounts", response_class=HTMLResponse)
def accounts(request: Request, actor: ConsoleActor) -> Response:
    """Custody accounts and their real-name status (the operator's staff verify here)."""
    return _accounts(request, actor)


@router.post("/accounts/{account_id}/kyc", dependencies=[Depends(csrf_protect)])
def verify_kyc(
    account_id: Id,
    request: Request,
    actor: ConsoleActor,
    form_key: Key = "",
    real_name: Annotated[str, Form(max_length=100)] = "",
    level: Annotated[int, Form(ge=1, le=3)] = 2,
) -> Response:
    """Record a real-name verification (issues the KYC credential)."""

    def record(uow: UnitOfWork) -> str:
        service.verify_kyc(
            uow=uow, actor=actor, account_id=account_id, real_name=real_name, level=level
        )
        return "/digitalasset/accounts"

    return run_once(
        request, actor, form_key, record, on_error=lambda exc: _accounts(request, actor, exc=exc)
    )


# -- the regulator's view ---------------------------------------------------------------------


def _supervision(
    request: Request,
    actor: Actor,
    *,
    exc: MingyueError | None = None,
    identity: Any = None,
) -> Response:
    check(actor, "digitalasset.supervise")
    with unit_of_work(actor, settings_of(request)) as uow:
        p = views.supervision_page(uow=uow, actor=actor)
    return page(
        request,
        "digitalasset/supervision.html",
        {"p": p, "identity": identity, "form_key": new_form_key()},
        exc,
    )


@router.get("/supervision", response_class=HTMLResponse)
def supervision(request: Request, actor: ConsoleActor) -> Response:
    """The regulator's view: collections, tokens, refused transfers, switches, identity."""
    return _supervision(request, actor)


@router.post("/supervision/identity", dependencies=[Depends(csrf_protect)])
def identity(
    request: Request,
    actor: ConsoleActor,
    address: Annotated[str, Form(max_length=64)] = "",
    reason: Reason = "",
) -> Response:
    """Resolve an address to its DID and real name (the read and its reason are audited)."""
    try:
        with unit_of_work(actor, settings_of(request)) as uow:
            out = service.reveal_identity(uow=uow, actor=actor, address=address, reason=reason)
    except MingyueError as exc:
        return _supervision(request, actor, exc=exc)
    return _supervision(request, actor, identity=out)


@router.post("/supervision/switch", dependencies=[Depends(csrf_protect)])
def switch(
    request: Request,
    actor: ConsoleActor,
    form_key: Key = "",
    target: Annotated[str, Form(max_length=20)] = "",
    ref: Annotated[str, Form(max_length=64)] = "",
    on: Annotated[str, Form(max_length=5)] = "1",
    reason: Reason = "",
) -> Response:
    """Pause a collection, freeze a token or an account (or lift it); audited with the reason."""
    flag = on == "1"

    def flip(uow: UnitOfWork) -> str:
        if target == "account":
            service.freeze_account(uow=uow, actor=actor, address=ref, on=flag, reason=reason)
        elif target in ("collection", "token") and ref.isdigit() and 0 < int(ref) < 2**31:
            if target == "collection":
                service.pause_collection(
                    uow=uow, actor=actor, collection_id=int(ref), on=flag, reason=reason
                )
            else:
                service.freeze_token(
                    uow=uow, actor=actor, token_ref=int(ref), on=flag, reason=reason
                )
        else:
            raise InvalidInput("digitalasset.bad_switch", "unknown switch", field="target")
        return "/digitalasset/supervision"

    return run_once(
        request, actor, form_key, flip, on_error=lambda exc: _supervision(request, actor, exc=exc)
    )


@router.get("/tokens/{token_id}/trace", response_class=HTMLResponse)
def trace(token_id: Id, request: Request, actor: ConsoleActor) -> Response:
    """The full trace of an asset (regulators; the read is audited)."""
    with unit_of_work(actor, settings_of(request)) as uow:
        out = service.trace(uow=uow, actor=actor, token_ref=token_id)
        orgs = views.account_orgs(uow, out)
    return page(
        request,
        "digitalasset/trace.html",
        {"tr": out, "orgs": orgs, "graph": views.trace_graph(out, orgs)},
    )
