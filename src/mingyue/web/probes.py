"""Operators' probes: ``/api/ready`` (readiness) and ``/metrics`` (Prometheus).

``/api/health`` (``mingyue.web.pages``) stays the liveness probe. Neither route here needs a
session or a token of a user: a load balancer, an orchestrator and a scraper call them. They
answer fixed words and figures, never a host name, a path or an exception's text.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from mingyue.core.ops.readiness import readiness
from mingyue.web.errors import problem
from mingyue.web.metrics import exposition, scrape_allowed

router = APIRouter()


@router.get("/api/ready", tags=["core"], operation_id="core-ready", include_in_schema=False)
def ready(request: Request) -> JSONResponse:
    """Answer 200 when the database, Redis (if configured), migrations and key are fine, else 503."""
    result = readiness(request.app.state.settings)
    body: dict[str, object] = {
        "status": "ready" if result.ready else "not ready",
        "checks": {name: check.to_dict() for name, check in result.checks.items()},
    }
    if not result.ready:
        body["failed"] = result.failed
    return JSONResponse(body, status_code=200 if result.ready else 503)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Answer the Prometheus text exposition (a token or loopback only: see scrape_allowed)."""
    settings = request.app.state.settings
    if not scrape_allowed(settings, request.scope):
        if settings.metrics_token:
            resp = problem(401, "core.auth.bad_token", "a valid metrics token is required")
            resp.headers["WWW-Authenticate"] = "Bearer"
            return resp
        return problem(403, "core.forbidden", "metrics are served to loopback clients only")
    body, content_type = exposition(settings)
    return Response(body, media_type=content_type)
