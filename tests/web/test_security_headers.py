"""Security headers (issue 12, item 9): no framing, a CSP that fits the console, no sniffing."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi.testclient import TestClient
from jinja2 import DictLoader, Environment

import mingyue.web as web_pkg

STATIC = Path(web_pkg.__file__).parent / "static"


def _login(c: TestClient, username: str) -> None:
    r = c.post(
        "/login",
        data={"username": username, "password": "password123", "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def _directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def test_every_answer_carries_the_headers(client) -> None:
    for path in ("/login", "/api/health", "/api/no/such/thing", "/static/console.css"):
        r = client.get(path)
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["referrer-policy"] == "same-origin", path
        assert r.headers["x-content-type-options"] == "nosniff", path
        csp = _directives(r.headers["content-security-policy"])
        assert csp["frame-ancestors"] == ["'none'"], path
        assert (
            "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
        )
        assert csp["object-src"] == ["'none'"]


def test_console_scripts_run_under_the_policy(app, tenants) -> None:
    """Every inline script a console page sends carries this response's nonce; nothing else."""
    with TestClient(app) as c:
        _login(c, tenants.operator.admin.username)
        pages = ["/", "/billing", "/compute", "/jobs", "/cases", "/audit", "/credentials"]
        checked = 0
        for path in pages:
            r = c.get(path)
            if r.status_code != 200:
                continue
            csp = _directives(r.headers["content-security-policy"])
            nonces = [s[len("'nonce-") : -1] for s in csp["script-src"] if s.startswith("'nonce-")]
            assert len(nonces) == 1, path
            for tag in re.findall(r"<script\b[^>]*>", r.text):
                if "src=" in tag:
                    assert re.search(r'src="/static/[^"]+"', tag), (path, tag)
                else:
                    assert f'nonce="{nonces[0]}"' in tag, (path, tag)
                    checked += 1
        assert checked >= 2  # the overview's and the billing page's charts at least
        r1, r2 = c.get("/"), c.get("/")
        assert r1.headers["content-security-policy"] != r2.headers["content-security-policy"]


def test_markup_injected_at_render_time_gets_no_nonce() -> None:
    from mingyue.web.middleware import install_csp_nonces

    env = Environment(
        loader=DictLoader({"t.html": "<script>ok()</script><p>{{ x|safe }}</p><style>p{}</style>"}),
        autoescape=True,
    )
    install_csp_nonces(env)

    class _State:
        csp_nonce = "N0NCE"

    class _Request:
        state = _State()

    html = env.get_template("t.html").render(request=_Request(), x="<script>evil()</script>")
    assert '<script nonce="N0NCE">ok()</script>' in html
    assert "<script>evil()</script>" in html  # no nonce: the browser refuses it
    assert '<style nonce="N0NCE">' in html


def test_htmx_indicator_style_is_allowed_by_hash(client) -> None:
    from mingyue.web.middleware import HTMX_INDICATOR_STYLE

    js = (STATIC / "htmx.min.js").read_text(encoding="utf-8")
    # htmx builds the rule from these two template literals (indicatorClass / requestClass).
    assert "`.${t}{opacity:0;visibility: hidden} `" in js
    assert "`.${n} .${t}, .${n}.${t}{opacity:1;visibility: visible;transition: opacity 200ms" in js
    digest = base64.b64encode(hashlib.sha256(HTMX_INDICATOR_STYLE.encode()).digest()).decode()
    csp = client.get("/login").headers["content-security-policy"]
    assert f"'sha256-{digest}'" in csp
