"""Error handlers: every error is application/problem+json (RFC 9457) with a message key."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from mingyue.core.db import is_transient
from mingyue.core.errors import InvalidInput, MingyueError, NotAuthenticated, UnscopedQuery
from mingyue.i18n import t
from mingyue.web.console import (
    LoginRequired,
    error_page,
    is_console_path,
    login_redirect,
    login_target,
)

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"
# Seconds a client waits before sending again work refused because the database was unreachable
# (a restart takes a few seconds; the pool's pre-ping replaces dead connections on the next try).
RETRY_AFTER_S = 1


def _is_console(request: Request) -> bool:
    return is_console_path(request.url.path) and "text/html" in request.headers.get("accept", "")


def problem(status: int, key: str, detail: str, **extra: Any) -> JSONResponse:
    """Return a problem+json response."""
    body = {"type": "about:blank", "title": key, "status": status, "key": key, "detail": detail}
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


class _StatusError(MingyueError):
    """An HTTP error that is not a MingyueError (unknown route, method, crash) for the page."""

    def __init__(self, status: int, key: str, message: str) -> None:
        super().__init__(key, message)
        self.status = status


def install_error_handlers(app: FastAPI) -> None:
    """Install the platform's error handlers on the app."""

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        return login_redirect(exc.next_url)

    @app.exception_handler(MingyueError)
    async def _mingyue(request: Request, exc: MingyueError) -> Response:
        if (
            isinstance(exc, NotAuthenticated)
            and is_console_path(request.url.path)
            and not request.headers.get("authorization")
        ):
            # Any console page (core or enabler) without a session goes to the login page and
            # back; the API and bearer-token callers keep their 401 problem+json.
            return login_redirect(login_target(request))
        if _is_console(request):
            return error_page(request, exc)
        lang = "en" if "zh" not in request.headers.get("accept-language", "") else "zh_CN"
        translated = t(exc.key, lang, **exc.params)
        detail = exc.message if translated == exc.key else translated
        if exc.document is not None:
            # A recorded refusal answers its own document (e.g. the refused request with
            # status "refused"), whose "status" member is not problem+json's number.
            return JSONResponse(
                {**exc.document, "key": exc.key, "detail": detail}, status_code=exc.status
            )
        extra: dict[str, Any] = {}
        if exc.field:
            extra["field"] = exc.field
        if exc.params:
            extra["params"] = exc.to_dict().get("params", {})
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        resp = problem(exc.status, exc.key, detail, **extra)
        if headers:
            resp.headers.update(headers)
        return resp

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
            errors.append({"field": ".".join(loc) or "body", "message": err.get("msg", "")})
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        if _is_console(request):
            return error_page(
                request,
                InvalidInput("core.invalid_input", first["message"], field=first["field"]),
                field_label=first["field"],
            )
        return problem(
            422,
            "core.invalid_input",
            f"{first['field']}: {first['message']}",
            field=first["field"],
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        key = {404: "core.not_found", 405: "core.method_not_allowed"}.get(
            exc.status_code, "core.http_error"
        )
        if _is_console(request):
            return error_page(request, _StatusError(exc.status_code, key, str(exc.detail)))
        return problem(exc.status_code, key, str(exc.detail))

    @app.exception_handler(UnscopedQuery)
    async def _unscoped(request: Request, exc: UnscopedQuery) -> Response:
        log.error("unscoped query refused: %s", exc)
        return problem(500, "core.internal_error", "internal error")

    async def _database(request: Request, exc: Exception) -> Response:
        if not is_transient(exc):
            log.error("database error on %s %s", request.method, request.url.path, exc_info=exc)
            return problem(500, "core.internal_error", "internal error")
        # The work was rolled back or its commit's outcome is unknown: the client sends it again
        # (with its Idempotency-Key where the route takes one, so that it is not applied twice).
        log.warning(
            "database unavailable on %s %s: %s",
            request.method,
            request.url.path,
            (str(getattr(exc, "orig", exc)).strip().splitlines() or [type(exc).__name__])[0][:200],
        )
        lang = "en" if "zh" not in request.headers.get("accept-language", "") else "zh_CN"
        key = "core.db_unavailable"
        translated = t(key, lang)
        resp = problem(
            503,
            key,
            translated if translated != key else "database unavailable; retry shortly",
            retryable=True,
        )
        resp.headers["Retry-After"] = str(RETRY_AFTER_S)
        return resp

    for cls in (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError):
        app.add_exception_handler(cls, _database)

    @app.exception_handler(Exception)
    async def _any(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        if _is_console(request):
            try:
                return error_page(
                    request, _StatusError(500, "core.internal_error", "internal error")
                )
            except Exception:  # the page itself failed: fall back to the plain answer
                log.exception("error page failed")
        return problem(500, "core.internal_error", "internal error")
