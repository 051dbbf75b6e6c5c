"""跨部门共享: a unit's subscriptions to cases of some categories and the delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from mingyue.enablers.citygov.schemas import SubscriptionIn
from mingyue.enablers.citygov.service import sharing
from mingyue.enablers.citygov.service.common import catalogue
from mingyue.sdk import Actor, UnitOfWork, can, unit_of_work
from mingyue.sdk.errors import InvalidInput, MingyueError
from mingyue.web.console import ConsoleActor, csrf_protect, new_form_key, run_once, settings_of

from .common import Key, page

router = APIRouter(include_in_schema=False)


def _shares(request: Request, actor: Actor, exc: MingyueError | None = None) -> Response:
    with unit_of_work(actor, settings_of(request)) as uow:
        subs = sharing.list_subscriptions(uow=uow, actor=actor)
        log = sharing.list_deliveries(uow=uow, actor=actor, limit=50)
    return page(
        request,
        "citygov/shares.html",
        {
            "subs": subs,
            "log": log,
            "categories": list(catalogue().categories.values()),
            "can_manage": can(actor, "citygov.share.manage"),
            "form_key": new_form_key(),
        },
        exc,
    )


@router.get("/shares", response_class=HTMLResponse)
def shares(request: Request, actor: ConsoleActor) -> Response:
    """跨部门共享: the unit's subscriptions and the log of what was delivered."""
    return _shares(request, actor)


@router.post("/shares", dependencies=[Depends(csrf_protect)])
def subscribe(
    request: Request,
    actor: ConsoleActor,
    form_key: Key = "",
    name: Annotated[str, Form(max_length=120)] = "",
    category: Annotated[list[str] | None, Form()] = None,
    event: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Subscribe the unit's inbox to cases of some categories."""
    try:
        body = SubscriptionIn.model_validate(
            {
                "name": name.strip() or "—",
                "categories": category or [],
                "events": event or ["registered"],
                "target": "inbox",
            }
        )

        def work(uow: UnitOfWork) -> str:
            sharing.subscribe(uow=uow, actor=actor, body=body)
            return "/citygov/shares"

        return run_once(
            request, actor, form_key, work, on_error=lambda exc: _shares(request, actor, exc)
        )
    except ValueError:
        refused = InvalidInput(
            "citygov.console.choose_categories", "choose categories", field="category"
        )
        return _shares(request, actor, refused)
