"""Console: organization and user admin."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mingyue.core.clock import local_time
from mingyue.core.scheduling import listing
from mingyue.core.tenancy import accounts
from mingyue.core.tenancy.access import OVERSIGHT_ROLES, can, check
from mingyue.core.uow import unit_of_work
from mingyue.web.console import (
    ConsoleActor,
    csrf_protect,
    form_done,
    form_once,
    new_form_key,
    render,
)

FormKey = Annotated[str, Form(max_length=64)]

router = APIRouter(include_in_schema=False)
# The roles the create-user form offers, in this order.
_ROLE_CHOICES = ("member", "org_admin", "reviewer", "regulator", "auditor")


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, actor: ConsoleActor) -> Response:
    """List organizations and users, with forms for admins."""
    with unit_of_work(actor, request.app.state.settings) as uow:
        orgs = accounts.list_orgs(uow=uow, actor=actor)
        users = accounts.list_users(uow=uow, actor=actor)
    # Offer only what the service would accept (docs/security.md, "Account rules").
    user_orgs = [
        o for o in orgs if can(actor, "core.user.manage", SimpleNamespace(organization_id=o.id))
    ]
    platform = actor.is_system or actor.has_role("platform_admin")
    grantable = [r for r in _ROLE_CHOICES if platform or r not in OVERSIGHT_ROLES]
    return render(
        request,
        "admin/index.html",
        {
            "orgs": orgs,
            "users": users,
            "can_manage_orgs": can(actor, "core.org.manage"),
            "can_see_schedules": can(actor, "core.schedule.read"),
            "can_manage_users": can(actor, "core.user.manage") and bool(user_orgs),
            "user_orgs": user_orgs,
            "grantable_roles": grantable,
            "org_names": {o.id: o.name for o in orgs},
            "org_form_key": new_form_key(),
            "user_form_key": new_form_key(),
        },
    )


@router.post("/admin/users", dependencies=[Depends(csrf_protect)])
def admin_create_user(
    request: Request,
    actor: ConsoleActor,
    username: Annotated[str, Form(max_length=80)],
    password: Annotated[str, Form(max_length=200)],
    organization_id: Annotated[int, Form()],
    role: Annotated[str, Form(max_length=40)],
    form_key: FormKey = "",
) -> Response:
    """Create a user from the admin page; a repeated form creates none."""
    with unit_of_work(actor, request.app.state.settings) as uow:
        if (seen := form_once(uow, actor, form_key)) is not None:
            return RedirectResponse(seen, status_code=303)
        form_done(uow, form_key, "/admin")
        accounts.create_user(
            uow=uow,
            actor=actor,
            username=username,
            password=password,
            organization_id=organization_id,
            roles=[role],
        )
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/organizations", dependencies=[Depends(csrf_protect)])
def admin_create_org(
    request: Request,
    actor: ConsoleActor,
    name: Annotated[str, Form(max_length=200)],
    kind: Annotated[str, Form(max_length=20)],
    uscc: Annotated[str, Form(max_length=18)] = "",
    is_sme: Annotated[bool, Form()] = False,
    form_key: FormKey = "",
) -> Response:
    """Create an organization from the admin page; a repeated form creates none."""
    with unit_of_work(actor, request.app.state.settings) as uow:
        if (seen := form_once(uow, actor, form_key)) is not None:
            return RedirectResponse(seen, status_code=303)
        form_done(uow, form_key, "/admin")
        accounts.create_org(
            uow=uow, actor=actor, name=name, kind=kind, uscc=uscc or None, is_sme=is_sme
        )
    return RedirectResponse("/admin", status_code=303)


@router.get("/admin/schedules", response_class=HTMLResponse)
def admin_schedules(request: Request, actor: ConsoleActor) -> Response:
    """Show the declared schedules (next run, last result) and the latest firings."""
    check(actor, "core.schedule.read")
    settings = request.app.state.settings
    tz = settings.timezone
    return render(
        request,
        "admin/schedules.html",
        {
            "schedules": listing.list_schedules(settings),
            "runs": listing.recent_runs(settings, limit=50),
            "local": lambda at: local_time(at, tz),
            "tz": tz,
        },
    )
