"""Console plumbing: templates, translations, CSRF, the logged-in actor, login/logout pages."""

from __future__ import annotations

import hmac
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from mingyue.core.errors import Forbidden, MingyueError, NotAuthenticated
from mingyue.core.plugins import registry
from mingyue.core.tenancy.access import Actor, can
from mingyue.i18n import LOCALES, t
from mingyue.web.auth import SESSION_COOKIE, authenticate, read_session_cookie

LOCALE_COOKIE = "mingyue_locale"


class LoginRequired(Exception):
    """A console page was requested without a session: redirect to the login page."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


@lru_cache(maxsize=1)
def environment() -> Environment:
    """Return the Jinja environment over the core's and every enabler's templates."""

    dirs = [Path(__file__).parent / "templates"]
    for en in registry().ordered():
        if en.package_dir and (en.package_dir / "templates").is_dir():
            dirs.append(en.package_dir / "templates")
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(str(d)) for d in dirs]),
        autoescape=select_autoescape(["html", "xml"]),
    )
    return env


def locale_of(request: Request) -> str:
    """Return the request's locale (cookie, then ?lang=, then the default)."""
    lang = request.query_params.get("lang") or request.cookies.get(LOCALE_COOKIE)
    if lang in LOCALES:
        return lang
    return str(request.app.state.settings.default_locale)


def nav_items(actor: Actor | None, locale: str) -> list[dict[str, str]]:
    """Return the menu entries the actor may see."""

    items = []
    lang = "zh" if locale == "zh_CN" else "en"
    for en in registry().ordered():
        if actor is None or (not en.core and not actor.enabler_enabled(en.key)):
            continue
        for n in en.nav:
            if n.permission and not can(actor, n.permission):
                continue
            items.append({"path": n.path, "title": n.title.get(lang, n.title.get("en", n.path))})
    return items


def render(
    request: Request, template: str, ctx: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """Render a console page with the actor, menu, translations and CSRF token in context."""
    locale = locale_of(request)
    actor: Actor | None = getattr(request.state, "actor", None)
    csrf = getattr(request.state, "csrf", "") or ""

    def _t(key: str, **params: Any) -> str:
        return t(key, locale, **params)

    def csrf_input() -> Markup:
        return Markup('<input type="hidden" name="csrf_token" value="{}">').format(csrf)

    context = {
        "request": request,
        "actor": actor,
        "locale": locale,
        "t": _t,
        "csrf_token": csrf,
        "csrf_input": csrf_input,
        "nav": nav_items(actor, locale),
        "unavailable_enablers": (
            getattr(request.app.state, "unavailable_enablers", {})
            if actor is not None and actor.has_role("platform_admin")
            else {}
        ),
        "path": request.url.path,
    }
    context.update(ctx or {})
    html = environment().get_template(template).render(**context)
    resp = HTMLResponse(html, status_code=status_code)
    if request.query_params.get("lang") in LOCALES:
        resp.set_cookie(
            LOCALE_COOKIE, request.query_params["lang"], samesite="lax", max_age=365 * 86400
        )
    return resp


def console_actor(request: Request) -> Actor:
    """Return the logged-in actor of a console page, or redirect to the login page."""

    if request.headers.get("authorization"):
        raise Forbidden("core.console.cookie_only", "the console uses a login session")
    try:
        actor = authenticate(request, request.app.state.settings)
    except NotAuthenticated as exc:
        raise LoginRequired(str(request.url.path)) from exc
    request.state.actor = actor
    return actor


ConsoleActor = Annotated[Actor, Depends(console_actor)]


async def csrf_protect(request: Request) -> None:
    """Refuse a state-changing console request whose CSRF token does not match the session's."""
    expected = getattr(request.state, "csrf", None)
    if expected is None:
        data = read_session_cookie(
            request.app.state.settings, request.cookies.get(SESSION_COOKIE, "")
        )
        expected = data.get("csrf") if data else None
    sent = request.headers.get("x-csrf-token")
    if not sent:
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not hmac.compare_digest(str(expected), str(sent)):
        raise Forbidden("core.csrf_failed", "CSRF token missing or wrong")


def error_page(request: Request, exc: MingyueError) -> Response:
    """Render an error inside the console."""
    return render(
        request,
        "error.html",
        {
            "error": exc,
            "message": t(exc.key, locale_of(request))
            if t(exc.key, locale_of(request)) != exc.key
            else exc.message,
        },
        status_code=exc.status,
    )


def login_redirect(next_url: str) -> RedirectResponse:
    """Return a redirect to the login page."""
    from urllib.parse import quote

    return RedirectResponse(f"/login?next={quote(next_url)}", status_code=303)


def safe_next(value: str | None) -> str:
    """Return a local redirect target (never another host)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


Username = Annotated[str, Form(max_length=80)]
Password = Annotated[str, Form(max_length=200)]
