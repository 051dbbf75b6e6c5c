"""A serving app builds its routes' request contexts at start-up, never on a first request.

FastAPI builds an included router's route contexts on the first request that reaches it, under a
lock, on the event loop (~0.5 s for the platform's routes): a health probe sent beside the first
upload of a fresh server waited 1.4 s. ``create_app(warm=True)`` (the default of a serving app)
does that work in its lifespan start-up.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import routing
from fastapi.testclient import TestClient

from mingyue.web.app import create_app, warm_routes


def _first_request_builds(settings: Any, monkeypatch: pytest.MonkeyPatch, *, warm: bool) -> int:
    included = getattr(routing, "_IncludedRouter", None)
    if included is None:
        pytest.skip("this FastAPI builds route contexts when routers are included")
    app = create_app(settings, start_workers=False, warm=warm)
    with TestClient(app, raise_server_exceptions=False) as c:
        calls: list[Any] = []
        original = included._build_effective_context

        def counting(self: Any, route: Any) -> Any:
            calls.append(route)
            return original(self, route)

        monkeypatch.setattr(included, "_build_effective_context", counting)
        assert c.get("/api/crossborder/scans").status_code == 401
        assert c.get("/api/health").status_code == 200
        return len(calls)


def test_a_warmed_app_builds_nothing_on_its_first_requests(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _first_request_builds(settings, monkeypatch, warm=True) == 0


def test_an_app_left_cold_builds_route_contexts_on_its_first_request(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The other side of the check above: without the warm-up the first request does the work.
    assert _first_request_builds(settings, monkeypatch, warm=False) > 50


def test_warm_routes_covers_every_enabler_router(settings: Any) -> None:
    app = create_app(settings, start_workers=False, warm=False)
    n = warm_routes(app)
    assert n >= len([r for r in app.state.routes if r[1]]) * 0.9
    assert warm_routes(app) == n  # built once; the second walk finds them built
