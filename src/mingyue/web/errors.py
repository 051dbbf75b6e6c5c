"""Error handlers: every error is application/problem+json (RFC 9457) with a message key."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mingyue.core.errors import MingyueError, NotAuthenticated, UnscopedQuery
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


def _is_console(request: Request) -> bool:
    return is_console_path(request.url.path) and "text/html" in request.headers.get("accept", "")


def problem(status: int, key: str, detail: str, **extra: Any) -> JSONResponse:
    """Return a problem+json response."""
    body = {"type": "about:blank", "title": key, "status": status, "key": key, "detail": detail}
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


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
        return problem(exc.status_code, key, str(exc.detail))

    @app.exception_handler(UnscopedQuery)
    async def _unscoped(request: Request, exc: UnscopedQuery) -> Response:
        log.error("unscoped query refused: %s", exc)
        return problem(500, "core.internal_error", "internal error")

    @app.exception_handler(Exception)
    async def _any(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "core.internal_error", "internal error")
