"""Logged-out console visits go to the login page and back; no open redirect; the API stays 401."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mingyue.core.plugins import registry
from mingyue.testing import Tenants
from mingyue.web.console import safe_next


def _next_of(location: str) -> str:
    parts = urlsplit(location)
    assert parts.path == "/login" and not parts.netloc, location
    return parse_qs(parts.query)["next"][0]


def test_core_page_redirects_to_login_with_next(client: Any) -> None:
    r = client.get("/audit?event=core.login.failed", follow_redirects=False)
    assert r.status_code == 303
    assert _next_of(r.headers["location"]) == "/audit?event=core.login.failed"
    login = client.get(r.headers["location"])
    assert login.status_code == 200
    assert 'name="next" value="/audit?event=core.login.failed"' in login.text


def test_every_enabler_page_redirects_to_login(client: Any) -> None:
    enabler_pages = [n.path for en in registry().ordered() if not en.core for n in en.nav]
    assert enabler_pages, "no enabler console page installed"
    for path in enabler_pages:
        # A browser asks for HTML; a bare client (no Accept) is redirected the same way.
        for headers in ({"accept": "text/html"}, {}):
            r = client.get(path, headers=headers, follow_redirects=False)
            assert r.status_code == 303, (path, r.status_code, r.text[:200])
            assert _next_of(r.headers["location"]) == path


def test_login_comes_back_to_next(client: Any, tenants: Tenants) -> None:
    r = client.get("/compute", follow_redirects=False)
    target = _next_of(r.headers["location"])
    r = client.post(
        "/login",
        data={"username": tenants.a.member.username, "password": "password123", "next": target},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/compute"
    assert client.get("/compute").status_code == 200


@pytest.mark.parametrize(
    "evil",
    [
        "//evil.example/x",
        "https://evil.example/",
        "http:/evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "javascript:alert(1)",
        "evil.example",
        "",
    ],
)
def test_open_redirect_attempts_go_home(client: Any, tenants: Tenants, evil: str) -> None:
    assert safe_next(evil) == "/"
    page = client.get("/login", params={"next": evil})
    assert page.status_code == 200 and 'name="next" value="/"' in page.text
    r = client.post(
        "/login",
        data={"username": tenants.a.member.username, "password": "password123", "next": evil},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_safe_next_keeps_local_paths() -> None:
    assert safe_next("/cases/3?tab=history") == "/cases/3?tab=history"
    assert safe_next("/") == "/"


def test_api_keeps_answering_401_problem_json(client: Any) -> None:
    for path in ("/api/audit", "/api/credentials", "/api/compute/jobs"):
        r = client.get(path, headers={"accept": "text/html"}, follow_redirects=False)
        assert r.status_code == 401, path
        assert r.headers["content-type"].startswith("application/problem+json")
    # A bearer token that does not authenticate is an API caller even on a console path.
    r = client.get("/compute", headers={"authorization": "Bearer nope"}, follow_redirects=False)
    assert r.status_code == 401


def test_favicon_is_served(client: Any) -> None:
    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"] == "image/x-icon"
    assert r.content[:4] == b"\x00\x00\x01\x00"  # an ICO header
    svg = client.get("/static/favicon.svg")
    assert svg.status_code == 200 and b"<svg" in svg.content
    login = client.get("/login")
    assert 'rel="icon" href="/favicon.ico"' in login.text
