"""Every console page, as every demo role, in zh-CN: no untranslated key, enum value or JSON.

The demo data (``mingyue demo``) is built once for the module. Each role crawls the console from
the pages without parameters, following same-site links, so that every page with an id in its
path is rendered with ids the role can really reach. Each GET console route of every core app
and enabler is then one test: its pages' visible text must not show

- a message key (a dotted name in a registered namespace: ``core.api_calls``, ``event.…``),
- a snake_case identifier (``assignee_org_id``),
- an English enum value as a word of its own (``accepted``, ``queued``),
- JSON (``{"`` or a ``\\u`` escape).

What is checked is the text people read as sentences of the page. Left out: ``<script>``,
``<style>``, ``<template>`` and ``<details class="tech">`` (technical details), and data shown as
written, which a reader expects to see exactly so — ``<code>`` and ``<samp>`` (a dataset's column
names, a YAML field name, a command, a digest) and ``<textarea>`` (a spec or query the person
edits). A page that shows such names in running text puts them in ``<code>``.

Every page passes; there is no ``xfail`` here: a page that fails is fixed, not marked.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from mingyue.core import config, jobs, migrate
from mingyue.core.db import dispose_engines, system_session
from mingyue.core.plugins import load_ref, registry
from mingyue.core.tenancy.identity import User
from mingyue.web.auth import actor_cache

LOCALE = "zh_CN"
# Routes that are not pages people read (downloads, redirects, public files).
SKIP_ROUTES = {"/login", "/logout", "/favicon.ico"}
NAMESPACES = ("event", "job", "meter", "unit")
ENUM_WORDS = (
    "queued|running|succeeded|failed|cancelled|canceled|accepted|rejected|submitted|in_review|"
    "returned|resubmitted|withdrawn|pending|approved|refused|issued|revoked|closed|peak|flat|"
    "valley|unpriced|true|false|None|null|high|medium|low|critical|info|warning|draft|done|"
    "expired|active|inactive|open"
)
# Text that looks like an identifier but is a proper noun or data people expect to see.
ALLOWED = {"NGSI-LD", "OpenAPI", "ECharts", "PostgreSQL", "SQLite", "htmx"}
MAX_PER_ROUTE = 2  # concrete URLs rendered per route pattern and role
MAX_PAGES_PER_ROLE = 400


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
    from fastapi.routing import APIRoute

    from mingyue.web import pages

    out: list[Route] = [
        Route(r.path, "core", True)
        for r in pages.router.routes
        if isinstance(r, APIRoute) and "GET" in (r.methods or ()) and not r.path.startswith("/api")
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


ROUTES = console_routes()


class _Visible(HTMLParser):
    """Collect the text a person reads: no script, style, technical details, or data as written."""

    HIDDEN = ("script", "style", "template")
    # data shown as written (names, commands, digests) and what the person edits
    AS_WRITTEN = ("code", "samp", "textarea")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        hidden = tag in self.HIDDEN or tag in self.AS_WRITTEN
        if hidden or (tag == "details" and "tech" in classes) or self._hidden:
            if tag not in ("br", "img", "input", "meta", "link", "hr", "wbr", "source"):
                self._hidden.append(tag)
            return
        if tag == "input" and (dict(attrs).get("type") or "") in ("submit", "button"):
            self.parts.append(dict(attrs).get("value") or "")

    def handle_endtag(self, tag: str) -> None:
        if self._hidden and self._hidden[-1] == tag:
            self._hidden.pop()

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    """Return the visible text of a page (see ``_Visible``)."""
    p = _Visible()
    p.feed(html)
    return "\n".join(s.strip() for s in p.parts if s.strip())


def _key_pattern() -> re.Pattern[str]:
    names = sorted({"core", *(en.key for en in registry().ordered()), *NAMESPACES}, key=len)
    ns = "|".join(re.escape(n) for n in reversed(names))
    return re.compile(rf"(?<![\w./@-])(?:{ns})\.[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*(?![\w/@-])")


SNAKE = re.compile(r"(?<![\w./@:-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w./@-])")
# An attribute value in evidence text (android:debuggable="true") is data, not an enum shown.
ENUM = re.compile(rf'(?<![\w./@:=-])(?<!=")(?:{ENUM_WORDS})(?![\w./@-])')


def problems_in(text: str, allowed: set[str]) -> list[str]:
    """Return what in the visible text looks untranslated or like JSON."""
    found: list[str] = []
    for line in text.splitlines():
        if line in allowed:
            continue
        if '{"' in line or "\\u" in line:
            found.append(f"JSON: {line[:120]}")
            continue
        for pat, what in ((_key_pattern(), "key"), (SNAKE, "identifier"), (ENUM, "enum")):
            for m in pat.finditer(line):
                if m.group(0) not in allowed:
                    found.append(f"{what} {m.group(0)!r} in: {line[:120]}")
    return found


@dataclass
class Site:
    """The crawled demo site: per role, the pages rendered (url → status, html)."""

    roles: list[str]
    pages: dict[str, dict[str, tuple[int, str]]]
    allowed: set[str]


def _links(html: str) -> list[str]:
    # links, and the fragments htmx loads (live status boxes, tables)
    return re.findall(r'(?:href|hx-get)="(/[^"#]*)"', html)


def _crawl(client: Any, roles_routes: list[Route]) -> dict[str, tuple[int, str]]:
    """Render the pages without parameters, then follow same-site links to the others."""
    seen: dict[str, tuple[int, str]] = {}
    per_route: dict[str, int] = {}
    queue = [r.path for r in roles_routes if not r.has_params]
    while queue and len(seen) < MAX_PAGES_PER_ROLE:
        url = queue.pop(0).replace("&amp;", "&")
        if url in seen:
            continue
        path = urlsplit(url).path
        route = next((r for r in roles_routes if r.regex.match(path)), None)
        if route is None:
            continue
        if route.has_params or "?" in url:
            if per_route.get(route.path, 0) >= MAX_PER_ROUTE:
                continue
            per_route[route.path] = per_route.get(route.path, 0) + 1
        r = client.get(url, headers={"accept": "text/html"}, follow_redirects=False)
        body = r.text if "text/html" in r.headers.get("content-type", "") else ""
        seen[url] = (r.status_code, body)
        if body and r.status_code == 200:
            queue.extend(u for u in _links(body) if u not in seen)
    return seen


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, _db_template: dict[str, Any]) -> Iterator[Site]:
    """Build the demo once, then crawl the console as each of its roles in zh-CN."""
    from fastapi.testclient import TestClient

    from mingyue.demo import build_demo
    from mingyue.web.app import create_app

    if _db_template["kind"] != "sqlite":
        pytest.skip("the console text walk runs on the SQLite template")
    data_dir = tmp_path_factory.mktemp("console_text") / "data"
    data_dir.mkdir()
    dispose_engines()
    shutil.copy(_db_template["path"], Path(data_dir) / "mingyue.sqlite3")
    config._override.clear()
    config._override.update(data_dir=data_dir, env="test", database_url=None, redis_url=None)
    config.get_settings.cache_clear()
    settings = config.get_settings()
    migrate._done.add(settings.sqlalchemy_url)
    actor_cache.clear()
    try:
        demo = build_demo(settings)
        jobs.run_pending(settings)
        users = [(u["username"], u["password"]) for u in demo["users"]]
        # usernames are data people expect to see, the demo's logins and the accounts it seeds
        with system_session(settings, "console text walk: seeded usernames") as s:
            seeded = {name for (name,) in s.query(User.username)}
        allowed = set(ALLOWED) | {u for u, _p in users} | seeded
        pages: dict[str, dict[str, tuple[int, str]]] = {}
        app = create_app(settings, start_workers=False)
        with TestClient(app, raise_server_exceptions=False) as client:
            for username, password in users:
                client.cookies.clear()
                client.cookies.set("mingyue_locale", LOCALE)
                r = client.post(
                    "/login",
                    data={"username": username, "password": password},
                    follow_redirects=False,
                )
                assert r.status_code == 303, f"demo login {username}: {r.status_code}"
                pages[username] = _crawl(client, ROUTES)
        yield Site([u for u, _p in users], pages, allowed)
    finally:
        dispose_engines()
        migrate.forget()
        config.reset()


def _params() -> list[Any]:
    return [pytest.param(r, id=r.path) for r in ROUTES]


@pytest.mark.parametrize("route", _params())
def test_page_text_is_translated(site: Site, route: Route) -> None:
    """Every rendering of this route, for every role, reads as Chinese without raw data."""
    rendered = 0
    failures: list[str] = []
    for role in site.roles:
        for url, (status, html) in site.pages[role].items():
            if not route.regex.match(urlsplit(url).path) or not html:
                continue
            if status >= 500:
                failures.append(f"{role} {url}: HTTP {status}")
                continue
            rendered += 1
            for p in problems_in(visible_text(html), site.allowed):
                failures.append(f"{role} {url}: {p}")
    if rendered == 0:
        pytest.skip(f"no demo page of {route.path} is reachable by a link for any role")
    assert not failures, "\n".join(sorted(set(failures))[:60])


def test_the_checker_finds_what_it_should() -> None:
    """The detector flags keys, identifiers, enum values and JSON, and nothing in plain Chinese."""
    allowed = set(ALLOWED)
    bad = visible_text(
        "<p>core.api_calls</p><p>分派 assignee_org_id</p><p>状态 accepted</p>"
        '<td>[{"n": 1}]</td><script>var x = "core.secret";</script>'
        '<details class="tech"><summary>技术详情</summary><pre>{"a_b": "queued"}</pre></details>'
    )
    found = problems_in(bad, allowed)
    assert any("core.api_calls" in f for f in found)
    assert any("assignee_org_id" in f for f in found)
    assert any("accepted" in f for f in found)
    assert any(f.startswith("JSON") for f in found)
    assert not any("core.secret" in f or "a_b" in f or "queued" in f for f in found)
    good = visible_text(
        "<p>分派给 重庆明月湖数据服务有限公司 · 已通过 · ¥1,234.57 · sample.apk</p>"
    )
    assert problems_in(good, allowed) == []
    assert problems_in("com.example.app 个人信息保护法第三十八条第二项", allowed) == []
    # data shown as written is not a sentence of the page: in <code>/<samp>/<textarea> it passes,
    # in running text it does not
    as_written = visible_text(
        "<p>标识列 <code>person_hash</code>、<samp>employer_uscc</samp></p>"
        "<textarea>max_runtime_s: 10m</textarea><p>状态 <code>queued</code>已排队</p>"
    )
    assert problems_in(as_written, allowed) == []
    assert any(
        "person_hash" in f for f in problems_in(visible_text("<td>person_hash</td>"), allowed)
    )
