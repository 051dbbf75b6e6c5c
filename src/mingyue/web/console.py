"""Console plumbing: templates, translations, CSRF, the logged-in actor, login/logout pages.

Forms that start work carry a one-time key: render ``new_form_key()`` in a hidden input named
``form_key``; in the POST handler call ``form_once(uow, actor, form_key)`` first (a location →
redirect there and do nothing) and ``form_done(uow, form_key, location)`` before the commit.
``run_once(request, actor, form_key, work, on_error=...)`` does all of that around ``work(uow)``
and answers the redirect (``see_other``, 303); ``on_error`` shows the form again through
``render_page(..., exc)`` (its ``error_box``). ``lang_of`` picks the ``zh``/``en`` half of a
title pair.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from mingyue.core import clock
from mingyue.core import forms as _forms
from mingyue.core.config import Settings
from mingyue.core.errors import Forbidden, MingyueError, NotAuthenticated
from mingyue.core.plugins import registry
from mingyue.core.tenancy.access import Actor, can
from mingyue.core.uow import UnitOfWork, unit_of_work
from mingyue.i18n import LOCALES, t
from mingyue.web.auth import SESSION_COOKIE, authenticate, is_machine_path, read_session_cookie
from mingyue.web.display import FILTERS, current_locale, rendering_locale

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
    env.filters.update(FILTERS)
    # Imported macros (``_tech.html``, ``_live.html``) do not see the page's context: they
    # translate through these globals, which read the locale of the page being rendered.
    env.globals["t"] = _global_t
    env.globals["render_ms"] = _render_ms
    return env


def _global_t(key: str, **params: Any) -> str:
    return t(key, current_locale(), **params)


def _render_ms() -> int:
    return int(clock.now().timestamp() * 1000)


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
    with rendering_locale(locale):
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
        raise LoginRequired(login_target(request)) from exc
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


def error_page(request: Request, exc: MingyueError, field_label: str | None = None) -> Response:
    """Render an error inside the console: a translated title and message, never JSON.

    An error whose key has no translation shows a general sentence for its status; the
    original (English) detail stays behind the technical-details toggle.
    """
    locale = locale_of(request)
    translated = t(exc.key, locale, **exc.params)
    known = translated != exc.key
    return render(
        request,
        "error.html",
        {
            "error": exc,
            "status": exc.status,
            "title": _status_title(exc.status, locale),
            "message": translated if known else t("core.error.generic", locale),
            "detail": None if known else exc.message,
            "field": field_label or exc.field,
        },
        status_code=exc.status,
    )


def _status_title(status: int, locale: str) -> str:
    key = f"core.error.title.{status}"
    found = t(key, locale)
    return found if found != key else t("core.error.title.other", locale, status=status)


def is_console_path(path: str) -> bool:
    """Tell whether a path is a console page (not the JSON API, not a static file)."""
    return not (path.startswith("/static/") or is_machine_path(path))


def login_target(request: Request) -> str:
    """Return where to come back after logging in: this page, or the page a form was posted from.

    A GET comes back to itself (with its query); a refused POST comes back to the page it was
    sent from when that page is on this site, else to the overview.
    """
    if request.method in ("GET", "HEAD"):
        query = request.url.query
        return request.url.path + (f"?{query}" if query else "")
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc == request.url.netloc:
        return safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))
    return "/"


def login_redirect(next_url: str) -> RedirectResponse:
    """Return a redirect (303) to the login page that comes back to ``next_url`` afterwards."""
    return RedirectResponse(f"/login?next={quote(safe_next(next_url), safe='/')}", status_code=303)


def safe_next(value: str | None) -> str:
    """Return a same-site relative path to go to after login; anything else becomes ``/``.

    Refused: absolute URLs (``https://…``), scheme-relative ones (``//evil``), any backslash
    (browsers read a backslash as a slash), control characters and spaces (browsers drop a tab
    or newline, so one after the first slash would make a scheme-relative URL again).
    """
    if not value or len(value) > 2000 or not value.startswith("/") or value.startswith("//"):
        return "/"
    if "\\" in value or any(ord(c) < 0x21 or c == "\x7f" for c in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


Username = Annotated[str, Form(max_length=80)]
Password = Annotated[str, Form(max_length=200)]


def new_form_key() -> str:
    """Return a one-time key for a form that starts work (hidden input ``form_key``)."""
    return _forms.new_key()


def form_once(uow: UnitOfWork, actor: Actor, key: str | None) -> str | None:
    """Claim a form's one-time key first thing in a POST handler's unit of work.

    Return None when the key is claimed now (do the work, then ``form_done``), or the location
    the first request with this key recorded (redirect there, do nothing). A missing or
    malformed key raises InvalidInput ``core.form_key.missing`` (field ``form_key``).
    """
    if actor.user_id is None:
        raise Forbidden("core.console.cookie_only", "one-time form keys belong to logged-in users")
    return _forms.claim(uow.session, actor.user_id, _forms.check_key(key))


def form_done(uow: UnitOfWork, key: str, location: str) -> None:
    """Record where the work started under ``key`` can be seen (same unit of work)."""
    user_id = uow.actor.user_id
    if user_id is None:
        raise Forbidden("core.console.cookie_only", "one-time form keys belong to logged-in users")
    _forms.record(uow.session, user_id, key, location)


# -- page helpers the enablers' consoles share ------------------------------------------------


def lang_of(locale: str) -> str:
    """Return the language key of a locale: ``zh`` for zh_CN, ``en`` otherwise."""
    return "zh" if locale == "zh_CN" else "en"


def settings_of(request: Request) -> Settings:
    """Return the app's settings (what a page's unit of work opens with)."""
    settings: Settings = request.app.state.settings
    return settings


def see_other(location: str) -> RedirectResponse:
    """Return the redirect (303) that ends a POST: a reload repeats the GET, never the POST."""
    return RedirectResponse(location, status_code=303)


def error_box(
    request: Request, exc: MingyueError, *, params: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Return an error as a form shows it: the translated message, the detail behind a toggle.

    ``message`` is the error's key in the page's locale, formatted with ``params`` (default:
    the error's own), or the error's English message where the catalogues lack the key;
    ``detail`` is always the English message.
    """
    values = (exc.params or {}) if params is None else params
    found = t(exc.key, locale_of(request), **values)
    return {"message": found if found != exc.key else exc.message, "detail": exc.message}


def render_page(
    request: Request,
    template: str,
    ctx: Mapping[str, Any],
    exc: MingyueError | None = None,
    *,
    box: Callable[[Request, MingyueError], dict[str, Any]] = error_box,
) -> HTMLResponse:
    """Render a console page; with ``exc``, its error box (``error``) and the error's status.

    A page without an error gets ``error`` None; ``box`` shapes the box (an enabler's own adds,
    say, the rule that refused).
    """
    shown = box(request, exc) if exc is not None else None
    return render(
        request,
        template,
        {"error": shown, **ctx},
        status_code=exc.status if exc is not None else 200,
    )


def run_once(
    request: Request,
    actor: Actor,
    form_key: str,
    work: Callable[[UnitOfWork], str],
    *,
    on_error: Callable[[MingyueError], Response] | None = None,
) -> Response:
    """Do a form's work once per one-time key, then redirect (303) to where it can be seen.

    In one unit of work: claim ``form_key`` (``form_once``: a key already used answers the
    redirect its first request recorded and does nothing), call ``work(uow)``, which returns
    that place, and record it (``form_done``). A MingyueError rolls the work back and becomes
    ``on_error(exc)`` — the form again with its message — or, without ``on_error``, reaches the
    console's error page. A recorded refusal keeps its trace; ``work`` calls ``form_done`` itself
    before raising one when a repeat should show the record instead of trying again.
    """
    try:
        with unit_of_work(actor, settings_of(request)) as uow:
            if (seen := form_once(uow, actor, form_key)) is not None:
                return see_other(seen)
            location = work(uow)
            form_done(uow, form_key, location)
    except MingyueError as exc:
        if on_error is None:
            raise
        return on_error(exc)
    return see_other(location)
