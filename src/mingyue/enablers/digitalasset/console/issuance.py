"""Issuance and circulation: collections and issued tokens, the actor's account and holdings,
transfers (a refusal shows its rule and citation)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from mingyue.enablers.digitalasset import service
from mingyue.enablers.digitalasset.schemas import TransferIn
from mingyue.enablers.digitalasset.service import views
from mingyue.sdk import Actor, UnitOfWork, check, unit_of_work
from mingyue.sdk.errors import InvalidInput, MingyueError, RecordedRefusal
from mingyue.web.console import (
    ConsoleActor,
    csrf_protect,
    form_done,
    new_form_key,
    run_once,
    settings_of,
)

from .common import Key, Short, amount, page

router = APIRouter(include_in_schema=False)

MODES = ("gift", "sale", "auction", "order_book")
CURRENCIES = ("CNY", "USDT", "ETH", "BTC")
PURPOSES = ("collect", "gift", "financing")
FormId = Annotated[int, Form(ge=1, le=2**31 - 1)]
Count = Annotated[int, Form(ge=1, le=1_000_000)]


def _issuance(
    request: Request,
    actor: Actor,
    *,
    exc: MingyueError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    check(actor, "digitalasset.read")
    with unit_of_work(actor, settings_of(request)) as uow:
        p = views.issuance_page(uow=uow, actor=actor)
    return page(
        request,
        "digitalasset/issuance.html",
        {"p": p, "form_key": new_form_key(), "v": values or {}},
        exc,
    )


@router.get("/issuance", response_class=HTMLResponse)
def issuance(request: Request, actor: ConsoleActor) -> Response:
    """Collections and issued tokens; forms to deploy a collection and to issue a work."""
    return _issuance(request, actor)


@router.post("/collections", dependencies=[Depends(csrf_protect)])
def create_collection(
    request: Request,
    actor: ConsoleActor,
    form_key: Key = "",
    standard: Annotated[str, Form(max_length=10)] = "erc721",
    name: Short = "",
    symbol: Annotated[str, Form(max_length=20)] = "",
    cap: Count = 100,
) -> Response:
    """Deploy a collection contract."""
    values = {"name": name, "symbol": symbol, "standard": standard, "cap": str(cap)}

    def deploy(uow: UnitOfWork) -> str:
        if not name.strip() or not symbol.strip().isalnum():
            raise InvalidInput("digitalasset.collection.bad_name", "name and symbol", field="name")
        service.create_collection(
            uow=uow,
            actor=actor,
            standard=standard,
            name=name.strip(),
            symbol=symbol.strip(),
            cap=cap,
        )
        return "/digitalasset/issuance"

    return run_once(
        request,
        actor,
        form_key,
        deploy,
        on_error=lambda exc: _issuance(request, actor, exc=exc, values=values),
    )


@router.post("/tokens", dependencies=[Depends(csrf_protect)])
def issue(
    request: Request,
    actor: ConsoleActor,
    form_key: Key = "",
    collection_id: FormId = 1,
    work_id: FormId = 1,
    edition_cap: Count = 1,
    quantity: Count = 1,
    price_cny: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Issue an approved work in a collection (refused with the rule when a rule forbids)."""
    values = {"edition_cap": str(edition_cap), "quantity": str(quantity), "price_cny": price_cny}

    def mint(uow: UnitOfWork) -> str:
        service.issue_token(
            uow=uow,
            actor=actor,
            collection_id=collection_id,
            work_id=work_id,
            edition_cap=edition_cap,
            quantity=quantity,
            price_cny=amount(price_cny, "price_cny"),
        )
        return "/digitalasset/issuance#tokens"

    return run_once(
        request,
        actor,
        form_key,
        mint,
        on_error=lambda exc: _issuance(request, actor, exc=exc, values=values),
    )


# -- holdings and transfers -------------------------------------------------------------------


def _holdings(
    request: Request,
    actor: Actor,
    *,
    exc: MingyueError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    check(actor, "digitalasset.read")
    with unit_of_work(actor, settings_of(request)) as uow:
        p = views.holdings_page(uow=uow, actor=actor)
    return page(
        request,
        "digitalasset/holdings.html",
        {
            "p": p,
            "form_key": new_form_key(),
            "v": values or {},
            "modes": MODES,
            "currencies": CURRENCIES,
            "purposes": PURPOSES,
        },
        exc,
    )


@router.get("/holdings", response_class=HTMLResponse)
def holdings(request: Request, actor: ConsoleActor) -> Response:
    """The actor's account, holdings, the transfer form and the transfer record."""
    return _holdings(request, actor)


@router.post("/accounts", dependencies=[Depends(csrf_protect)])
def open_account(request: Request, actor: ConsoleActor, form_key: Key = "") -> Response:
    """Open the actor's custody account."""

    def open_(uow: UnitOfWork) -> str:
        service.open_account(uow=uow, actor=actor)
        return "/digitalasset/holdings"

    return run_once(
        request, actor, form_key, open_, on_error=lambda exc: _holdings(request, actor, exc=exc)
    )


@router.post("/transfers", dependencies=[Depends(csrf_protect)])
def transfer(
    request: Request,
    actor: ConsoleActor,
    form_key: Key = "",
    token: FormId = 1,
    to_address: Annotated[str, Form(max_length=64)] = "",
    quantity: Annotated[str, Form(max_length=20)] = "1",
    mode: Annotated[str, Form(max_length=30)] = "gift",
    price: Annotated[str, Form(max_length=20)] = "",
    currency: Annotated[str, Form(max_length=10)] = "",
    purpose: Annotated[str, Form(max_length=30)] = "collect",
    from_issuer: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Transfer a collectible; a refusal shows the rule's id and its citation."""
    values = {
        "token": str(token),
        "to_address": to_address,
        "quantity": quantity,
        "mode": mode,
        "price": price,
        "currency": currency,
        "purpose": purpose,
        "from_issuer": from_issuer,
    }
    location = "/digitalasset/holdings#transfers"

    def again(exc: MingyueError) -> Response:
        return _holdings(request, actor, exc=exc, values=values)

    try:
        body = TransferIn(
            token=token,
            to_address=to_address.strip() or "-",
            quantity=amount(quantity, "quantity") or Decimal(1),
            mode=mode,
            price=amount(price, "price"),
            currency=currency.strip() or None,
            purpose=purpose,
            from_issuer=from_issuer == "1",
        )
    except MingyueError as exc:
        return again(exc)

    def send(uow: UnitOfWork) -> str:
        try:
            service.transfer(uow=uow, actor=actor, body=body)
        except RecordedRefusal:
            # The refusal stays on the ledger: the key is spent, a repeat shows the record.
            form_done(uow, form_key, location)
            raise
        return location

    return run_once(request, actor, form_key, send, on_error=again)
