"""Sessions (issue 12, items 8 and 9): no forgeable default secret, dev defaults stay on loopback,
logout ends the session, the API wants the CSRF header with a cookie, lock-out is per source."""

from __future__ import annotations

import contextlib
import os
import re
import stat
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer

from mingyue.core import clock, config
from mingyue.core.config import Settings
from mingyue.core.errors import NotAuthenticated
from mingyue.web import auth
from mingyue.web.auth import SESSION_COOKIE, TooManyAttempts, login

SESSION_SECRET_FILE = "session_secret"

PUBLISHED_DEV_SECRET = "dev-insecure-secret-change-me"


def _login(client: TestClient, username: str) -> tuple[str, str]:
    """Log in through the form; return (session cookie value, CSRF token of the page)."""
    r = client.post(
        "/login",
        data={"username": username, "password": "password123", "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    cookie = r.cookies.get(SESSION_COOKIE) or client.cookies.get(SESSION_COOKIE)
    assert cookie
    page = client.get("/")
    m = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert m, "no CSRF token on the page"
    return cookie, m.group(1)


# ---- item 8: the session secret -------------------------------------------------------------


def test_cookie_signed_with_the_published_dev_secret_is_refused(app, tenants) -> None:
    forger = URLSafeTimedSerializer(PUBLISHED_DEV_SECRET, salt="mingyue.session")
    admin_id = tenants.operator.admin.id  # the platform admin
    for payload in ({"uid": admin_id, "csrf": "x"}, {"uid": admin_id, "ep": 0, "csrf": "x"}):
        forged = forger.dumps(payload)
        with TestClient(app) as c:
            r = c.get("/api/users", headers={"cookie": f"{SESSION_COOKIE}={forged}"})
            assert r.status_code == 401, r.text
            r = c.get("/", headers={"cookie": f"{SESSION_COOKIE}={forged}"}, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_unset_secret_is_random_private_and_kept(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MINGYUE_SECRET_KEY", raising=False)
    first = Settings(data_dir=tmp_path)
    path = tmp_path / "keys" / SESSION_SECRET_FILE
    assert first.secret_key != PUBLISHED_DEV_SECRET and len(first.secret_key) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert Settings(data_dir=tmp_path).secret_key == first.secret_key  # kept across starts
    assert Settings(data_dir=tmp_path / "other").secret_key != first.secret_key
    assert first.dev_defaults() == ["MINGYUE_ENV=dev", "MINGYUE_SECRET_KEY unset"]


def test_configured_secret_wins_and_writes_nothing(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MINGYUE_SECRET_KEY", "configured-" + "k" * 30)
    s = Settings(data_dir=tmp_path)
    assert s.secret_key == "configured-" + "k" * 30
    assert not (tmp_path / "keys" / SESSION_SECRET_FILE).exists()
    assert Settings(env="prod", data_dir=tmp_path).dev_defaults() == []


def test_serve_refuses_a_public_address_with_dev_defaults(cli, monkeypatch) -> None:
    import uvicorn

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(kw))
    for host in ("0.0.0.0", "192.0.2.10", "::", "example.org"):  # noqa: S104 - the attack
        r = cli("serve", "--host", host)
        assert r.exit_code == 2, (host, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "refusing" in r.stderr
        assert "MINGYUE_ENV=test" in r.stderr and "MINGYUE_SECRET_KEY unset" in r.stderr
    assert calls == []
    for host in ("127.0.0.1", "::1", "localhost"):
        assert cli("serve", "--host", host).exit_code == 0
    assert [c["host"] for c in calls] == ["127.0.0.1", "::1", "localhost"]


def test_serve_binds_a_public_address_in_prod_with_a_secret(cli, settings, monkeypatch) -> None:
    import uvicorn

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(kw))
    config.configure(env="prod", secret_key="prod-secret-" + "p" * 30)
    r = cli("serve", "--host", "0.0.0.0")  # noqa: S104
    assert r.exit_code == 0, r.stderr
    assert calls and calls[0]["host"] == "0.0.0.0"  # noqa: S104


# ---- item 9: logout, CSRF on the API ---------------------------------------------------------


def test_logout_ends_the_session(app, tenants) -> None:
    with TestClient(app) as c:
        cookie, csrf = _login(c, tenants.a.member.username)
        assert c.get("/api/overview").status_code == 200
        r = c.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 303
    # The attacker kept a copy of the cookie: after logout it opens nothing.
    with TestClient(app) as c:
        r = c.get("/api/overview", headers={"cookie": f"{SESSION_COOKIE}={cookie}"})
        assert r.status_code == 401, r.text
        r = c.get("/", headers={"cookie": f"{SESSION_COOKIE}={cookie}"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        # Logging in again opens a new session.
        cookie2, _ = _login(c, tenants.a.member.username)
        assert cookie2 != cookie
        assert c.get("/api/overview").status_code == 200


def test_cookie_alone_cannot_change_state_through_the_api(app, tenants) -> None:
    with TestClient(app) as c:
        _cookie, csrf = _login(c, tenants.operator.admin.username)
        # A cross-site form post carries the cookie but cannot know the token.
        r = c.post("/api/organizations", json={"name": "forged-org", "kind": "regulator"})
        assert r.status_code == 403 and r.json()["key"] == "core.csrf_failed"
        r = c.post(
            "/api/organizations",
            json={"name": "forged-org", "kind": "regulator"},
            headers={"X-CSRF-Token": "not-the-token"},
        )
        assert r.status_code == 403
        assert c.get("/api/organizations").status_code == 200  # reading needs no token
        r = c.post(
            "/api/organizations",
            json={"name": "console-org", "kind": "regulator"},
            headers={"X-CSRF-Token": csrf},
        )
        assert r.status_code == 201, r.text
    with TestClient(app) as c:  # bearer tokens need no CSRF token
        r = c.post(
            "/api/organizations",
            json={"name": "token-org", "kind": "regulator"},
            headers=tenants.operator.headers(admin=True),
        )
        assert r.status_code == 201, r.text


# ---- item 9: lock-out per source and per account -----------------------------------------------


@pytest.fixture
def fresh_throttle():
    auth.login_failures.clear()
    yield
    auth.login_failures.clear()


def test_attacker_cannot_keep_the_real_user_locked_out(
    settings, tenants, fresh_throttle, monkeypatch
) -> None:
    # Simulated time for every throttle, whatever clock it reads.
    monkeypatch.setattr(auth.time, "monotonic", lambda: clock.now().timestamp())
    user = tenants.a.member.username
    attacker, real = "198.51.100.66", "203.0.113.7"
    admitted_at = None
    with clock.frozen(datetime(2030, 1, 7, 9, 0, tzinfo=UTC)):
        start = clock.now()
        for _ in range(settings.login_max_failures):  # the free failures, in one burst
            with pytest.raises(NotAuthenticated):
                login(settings, user, "wrong-password", attacker)
        # Then every 10 s the attacker fails a login for the user (whenever not throttled), and
        # the real user, from elsewhere, tries the right password.
        for _ in range(6 * 60):  # one hour
            with contextlib.suppress(TooManyAttempts, NotAuthenticated):
                login(settings, user, "wrong-password", attacker)
            try:
                login(settings, user, "password123", real)
            except TooManyAttempts:
                clock.advance(timedelta(seconds=10))
                continue
            admitted_at = clock.now()
            break
    assert admitted_at is not None, "the real user stayed locked out for an hour"
    assert admitted_at - start <= timedelta(minutes=15)


def test_one_source_is_slowed_down_for_one_account(settings, tenants, fresh_throttle) -> None:
    user = tenants.b.member.username
    ip = "198.51.100.9"
    with clock.frozen(datetime(2030, 1, 7, 9, 0, tzinfo=UTC)):
        for _ in range(settings.login_max_failures):
            with pytest.raises(NotAuthenticated):
                login(settings, user, "wrong-password", ip)
        # from that source, even the right password waits for the back-off
        with pytest.raises(TooManyAttempts):
            login(settings, user, "password123", ip)
        clock.advance(timedelta(seconds=2))
        assert login(settings, user, "password123", ip).username == user
