"""ASGI middleware and guards: the upload cap, security headers with a CSP nonce, id ranges."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from jinja2 import Environment
from jinja2.ext import Extension
from sqlalchemy.exc import DBAPIError

from mingyue.core.errors import InvalidInput, MingyueError
from mingyue.web.errors import problem

log = logging.getLogger(__name__)
Scope = dict[str, Any]


class BodySizeLimit:
    """Answer 413 when Content-Length (or the streamed body) exceeds the cap."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await _reject(send, self.max_bytes)
                    return
        seen = 0
        rejected = False
        started = False

        async def limited_receive() -> Any:
            nonlocal seen, rejected
            if rejected:
                raise _TooLarge
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    rejected = True
                    raise _TooLarge
            return msg

        async def guarded_send(msg: Any) -> None:
            nonlocal started
            # A body parser that hit the cap answers its own error (FastAPI: 400 "error parsing
            # the body"); the client is told the truth instead: 413.
            if rejected and not started:
                return
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not rejected or started:
                raise
        if rejected and not started:
            await _reject(send, self.max_bytes)


class _TooLarge(Exception):
    pass


async def _reject(send: Any, cap: int) -> None:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Payload Too Large",
            "status": 413,
            "key": "core.payload_too_large",
            "detail": f"request body exceeds {cap} bytes",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# ---- security headers ---------------------------------------------------------------------
# The console's scripts are /static files (htmx, ECharts) plus inline <script> blocks written in
# templates; those carry a per-response nonce (added by CspNonces when templates compile, so
# markup injected at render time never gets one). htmx inserts one fixed <style> (its indicator
# rule), allowed by hash. Style attributes (style="...") are used throughout the templates.

# htmx 2.0.x inserts exactly this rule (config.indicatorClass / requestClass at their defaults).
HTMX_INDICATOR_STYLE = (
    ".htmx-indicator{opacity:0;visibility: hidden} "
    ".htmx-request .htmx-indicator, .htmx-request.htmx-indicator"
    "{opacity:1;visibility: visible;transition: opacity 200ms ease-in}"
)
_HTMX_STYLE_HASH = (
    "sha256-" + base64.b64encode(hashlib.sha256(HTMX_INDICATOR_STYLE.encode()).digest()).decode()
)

# FastAPI's own /docs and /redoc pages load Swagger UI / ReDoc from a CDN with an inline script;
# they show no user data, so they get a policy that lets them work.
_API_DOCS = ("/docs", "/docs/oauth2-redirect", "/redoc")
_API_DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


def content_security_policy(nonce: str) -> str:
    """Return the console's Content-Security-Policy for one response."""
    return (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
        f"style-src 'self' 'nonce-{nonce}' '{_HTMX_STYLE_HASH}'; style-src-attr 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


class SecurityHeaders:
    """Add CSP, X-Frame-Options, Referrer-Policy and nosniff to every HTTP response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(18)
        scope.setdefault("state", {})["csp_nonce"] = nonce
        path = scope.get("path", "")
        csp = _API_DOCS_CSP if path in _API_DOCS else content_security_policy(nonce)
        extra = [
            (b"content-security-policy", csp.encode()),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
            (b"x-content-type-options", b"nosniff"),
        ]

        async def with_headers(msg: Any) -> None:
            if msg["type"] == "http.response.start":
                headers = list(msg.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in extra if h[0] not in present)
                msg = {**msg, "headers": headers}
            await send(msg)

        await self.app(scope, receive, with_headers)


_INLINE_TAG = re.compile(r"<(script|style)(?=[\s>])([^>]*)>", re.IGNORECASE)
_NONCE_EXPR = '{{ request.state.csp_nonce if request is defined else "" }}'


def _add_nonce(match: re.Match[str]) -> str:
    tag, attrs = match.group(1), match.group(2)
    lowered = attrs.lower()
    if "nonce" in lowered or (tag.lower() == "script" and "src=" in lowered):
        return match.group(0)
    return f'<{tag} nonce="{_NONCE_EXPR}"{attrs}>'


class CspNonces(Extension):
    """Give every inline <script>/<style> written in a template source the response's nonce."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        """Add the nonce attribute to the template's own inline script and style tags."""
        return _INLINE_TAG.sub(_add_nonce, source)


def install_csp_nonces(env: Environment) -> None:
    """Add ``CspNonces`` to a Jinja environment (once; templates compiled before recompile)."""
    if any(isinstance(ext, CspNonces) for ext in env.extensions.values()):
        return
    env.add_extension(CspNonces)
    if env.cache is not None:
        env.cache.clear()


# ---- ids out of the database's range ------------------------------------------------------
# SQLite raises OverflowError binding an int beyond 64 bits; PostgreSQL answers SQLSTATE 22003
# for an int4 column compared with 3000000000. Core routes validate ids with ``IdPath``; this
# guard answers 422 for every other route (enablers' included) instead of a 500.
NUMERIC_OUT_OF_RANGE = "22003"


async def _invalid_number(request: Request) -> Response:
    exc = InvalidInput("core.invalid_input", "a number is out of range")
    handler = request.app.exception_handlers.get(MingyueError)
    if handler is None:
        return problem(exc.status, exc.key, exc.message)
    response: Response = await handler(request, exc)
    return response


async def overflow_to_422(request: Request, exc: Exception) -> Response:
    """Answer 422 for an integer the database driver cannot bind (OverflowError)."""
    log.warning("number out of range on %s %s: %s", request.method, request.url.path, exc)
    return await _invalid_number(request)


async def db_out_of_range_to_422(request: Request, exc: Exception) -> Response:
    """Answer 422 for the database's numeric-out-of-range error; 500 for any other DB error."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(exc, DBAPIError) and code == NUMERIC_OUT_OF_RANGE:
        log.warning("number out of range on %s %s: %s", request.method, request.url.path, orig)
        return await _invalid_number(request)
    log.error("database error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "core.internal_error", "internal error")
