"""Console page discovery shared by the page-walking tests: routes, a crawl per role, the demo.

``console_routes()`` lists every GET console route of the core pages, the core apps and the
enablers; ``crawl(client, routes)`` renders the pages without parameters as the logged-in client
and follows same-site links (and the fragments htmx loads) so that every page with an id in its
path is reached with ids the role can really see; ``demo_site(tmp)`` builds ``mingyue demo`` on a
copy of the SQLite test template and yields its settings and demo users.

The same logic is in ``tests/web/test_console_text.py`` (the untranslated-text walk), which was
being edited when this module was written; it can import from here instead.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from mingyue.core import config, jobs, migrate
from mingyue.core.db import dispose_engines
from mingyue.core.plugins import load_ref, registry
from mingyue.web.auth import actor_cache

# Routes that are not pages people read (downloads, redirects, public files).
SKIP_ROUTES = {"/login", "/logout", "/favicon.ico"}


@dataclass
class Route:
    """A GET console route: its path pattern, the app it belongs to, and a matcher."""

    path: str
    owner: str
    core: bool
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(self.path))
        self.regex = re.compile(f"^{pattern}$")

    @property
    def has_params(self) -> bool:
        return "{" in self.path


def console_routes() -> list[Route]:
    """Return every GET console route of the core pages, the core apps and the enablers."""
    from mingyue.web import pages

    out: list[Route] = [
        Route(path, "core", True)
        for r in pages.router.routes
        if "GET" in getattr(r, "methods", set())
        and not (path := str(getattr(r, "path", ""))).startswith("/api")
    ]
    for en in registry().ordered():
        if not en.console:
            continue
        try:
            router = load_ref(en.console)
        except ModuleNotFoundError:
            continue
        prefix = "" if en.core else f"/{en.key}"
        for r in router.routes:
            if "GET" in getattr(r, "methods", set()):
                out.append(Route(prefix + r.path, en.key, en.core))
    seen: set[str] = set()
    unique = []
    for r in out:
        if r.path in SKIP_ROUTES or r.path.startswith(("/api", "/static")) or r.path in seen:
            continue
        seen.add(r.path)
        unique.append(r)
    return unique


def links(html: str) -> list[str]:
    """Return the same-site links of a page and the fragments htmx loads into it."""
    return re.findall(r'(?:href|hx-get)="(/[^"#]*)"', html)


def route_of(routes: list[Route], url: str) -> Route | None:
    """Return the route whose pattern matches the URL's path, if any."""
    path = urlsplit(url).path
    return next((r for r in routes if r.regex.match(path)), None)


def crawl(
    client: Any, routes: list[Route], *, per_route: int = 2, max_pages: int = 400
) -> dict[str, tuple[int, str]]:
    """Render the pages without parameters, then follow same-site links to the others.

    At most ``per_route`` concrete URLs are rendered for a route with parameters or a query.
    Returns url → (HTTP status, HTML body or "" when the answer is not HTML).
    """
    seen: dict[str, tuple[int, str]] = {}
    counts: dict[str, int] = {}
    queue = [r.path for r in routes if not r.has_params]
    while queue and len(seen) < max_pages:
        url = queue.pop(0).replace("&amp;", "&")
        if url in seen:
            continue
        route = route_of(routes, url)
        if route is None:
            continue
        if route.has_params or "?" in url:
            if counts.get(route.path, 0) >= per_route:
                continue
            counts[route.path] = counts.get(route.path, 0) + 1
        r = client.get(url, headers={"accept": "text/html"}, follow_redirects=False)
        body = r.text if "text/html" in r.headers.get("content-type", "") else ""
        seen[url] = (r.status_code, body)
        if body and r.status_code == 200:
            queue.extend(u for u in links(body) if u not in seen)
    return seen


def is_document(html: str) -> bool:
    """Whether an HTML answer is a whole page (not a fragment htmx swaps into one)."""
    return "<html" in html[:500].lower()


@dataclass
class DemoSite:
    """``mingyue demo`` built on a fresh SQLite database: its settings and (username, password)."""

    settings: Any
    users: list[tuple[str, str]]


@contextmanager
def demo_site(data_dir: Path, template: dict[str, Any]) -> Iterator[DemoSite]:
    """Build the demo on a copy of the SQLite test template in ``data_dir``; run its jobs."""
    from mingyue.demo import build_demo

    if template["kind"] != "sqlite":
        pytest.skip("the console walks run on the SQLite template")
    data_dir.mkdir(parents=True, exist_ok=True)
    dispose_engines()
    shutil.copy(template["path"], data_dir / "mingyue.sqlite3")
    config._override.clear()
    config._override.update(data_dir=data_dir, env="test", database_url=None, redis_url=None)
    config.get_settings.cache_clear()
    settings = config.get_settings()
    migrate._done.add(settings.sqlalchemy_url)
    actor_cache.clear()
    try:
        demo = build_demo(settings)
        jobs.run_pending(settings)
        yield DemoSite(settings, [(u["username"], u["password"]) for u in demo["users"]])
    finally:
        dispose_engines()
        migrate.forget()
        config.reset()


def login_client(client: Any, username: str, password: str, locale: str = "zh_CN") -> None:
    """Log a TestClient in through the login form with the console's locale cookie set."""
    client.cookies.clear()
    client.cookies.set("mingyue_locale", locale)
    r = client.post(
        "/login", data={"username": username, "password": password}, follow_redirects=False
    )
    assert r.status_code == 303, f"demo login {username}: {r.status_code}"
