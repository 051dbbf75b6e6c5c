"""Pages of the core itself: health, login/logout, the overview (一屏通览)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from mingyue import __version__
from mingyue.core.db import get_engine
from mingyue.core.errors import MingyueError
from mingyue.core.tenancy.access import SYSTEM, Actor
from mingyue.core.uow import unit_of_work
from mingyue.i18n import t
from mingyue.web.auth import (
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    end_sessions,
    login,
    make_session_cookie,
)
from mingyue.web.console import ConsoleActor, csrf_protect, locale_of, render, safe_next
from mingyue.web.deps import UoW, require
from mingyue.web.overview import figures, labelled

router = APIRouter()
_STATIC = Path(__file__).parent / "static"


@router.get("/api/health", tags=["core"], operation_id="core-health")
def health(request: Request) -> dict[str, Any]:
    """Answer without authentication: the service is up and its database answers."""
    from sqlalchemy import text

    settings = request.app.state.settings
    with get_engine(settings).connect() as conn:
        conn.execute(text("SELECT 1"))
    return {
        "status": "ok",
        "version": __version__,
        "database": "sqlite" if settings.is_sqlite else "postgresql",
        "jobs": "redis" if settings.redis_url else "embedded",
    }


@router.get("/api/overview", tags=["core"], operation_id="core-overview")
def overview_api(
    uow: UoW, actor: Annotated[Actor, Depends(require("core.org.read"))]
) -> dict[str, Any]:
    """Return the overview figures the console's first screen shows."""

    return figures(uow)


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    """Serve the site icon where browsers look for it without being told (no 404 in the log)."""
    return FileResponse(
        _STATIC / "favicon.ico",
        media_type="image/x-icon",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, next: str = "/") -> Response:
    """Show the login form."""
    return render(request, "login.html", {"next": safe_next(next), "error": None})


@router.post("/login", include_in_schema=False)
def login_submit(
    request: Request,
    username: Annotated[str, Form(max_length=80)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    """Check the credentials, set the session cookie, record the outcome in the ledger."""

    settings = request.app.state.settings
    ip = request.client.host if request.client else "?"
    try:
        actor = login(settings, username, password, ip)
    except MingyueError as exc:
        with unit_of_work(SYSTEM, settings) as uow:
            uow.audit(
                "core.login.failed", f"username:{username[:80]}", {"ip": ip, "reason": exc.key}
            )

        return render(
            request,
            "login.html",
            {"next": safe_next(next), "error": t(exc.key, locale_of(request))},
            status_code=exc.status,
        )
    with unit_of_work(SYSTEM, settings) as uow:
        uow.audit(
            "core.login.succeeded",
            f"user:{actor.username}",
            {"ip": ip},
            organization_id=actor.organization_id,
        )
    if actor.user_id is None:  # login() returns users only
        raise RuntimeError("login returned an actor without a user")
    value, _csrf = make_session_cookie(settings, actor.user_id)
    resp = RedirectResponse(safe_next(next), status_code=303)
    resp.set_cookie(
        SESSION_COOKIE,
        value,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        max_age=SESSION_MAX_AGE,
    )
    return resp


@router.post("/logout", include_in_schema=False, dependencies=[Depends(csrf_protect)])
def logout(request: Request, actor: ConsoleActor) -> Response:
    """End the console session: the cookie stops working everywhere, not only in this browser."""

    if actor.user_id is not None:
        end_sessions(request.app.state.settings, actor.user_id)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
    return resp


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def overview(request: Request, actor: ConsoleActor) -> Response:
    """Show the overview: live counts and charts of cases, jobs, usage and the ledger."""

    with unit_of_work(actor, request.app.state.settings) as uow:
        data = figures(uow)
    charts = labelled(data, locale_of(request), t)
    return render(request, "overview.html", {"fig": data, "charts": charts})
