"""Authentication: bearer API tokens and the console's signed session cookie; login throttling."""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from datetime import timedelta
from typing import Any

from fastapi import Request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from mingyue.core.config import Settings
from mingyue.core.db import system_session, utcnow
from mingyue.core.errors import MingyueError, NotAuthenticated
from mingyue.core.tenancy import accounts
from mingyue.core.tenancy.access import Actor
from mingyue.core.tenancy.identity import (
    ApiToken,
    User,
    actor_for,
    find_user,
    token_digest,
    verify_password,
)

SESSION_COOKIE = "mingyue_session"
SESSION_MAX_AGE = 12 * 3600


class TooManyAttempts(MingyueError):
    """Login attempts are being throttled (HTTP 429)."""

    status = 429


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt="mingyue.session")


def make_session_cookie(settings: Settings, user_id: int) -> tuple[str, str]:
    """Return (cookie value, CSRF token) for a new console session."""
    csrf = secrets.token_urlsafe(24)
    return _serializer(settings).dumps({"uid": user_id, "csrf": csrf}), csrf


def read_session_cookie(settings: Settings, value: str) -> dict[str, Any] | None:
    """Return the session data of a cookie, or None when missing, forged or expired."""
    try:
        data = _serializer(settings).loads(value, max_age=SESSION_MAX_AGE)
    except (BadSignature, SignatureExpired):
        return None
    return data if isinstance(data, dict) and "uid" in data else None


class _ActorCache:
    """A short-lived cache of authenticated actors (keeps token auth off the hot path)."""

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._data: dict[tuple[str, str], tuple[float, Actor]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> Actor | None:
        with self._lock:
            hit = self._data.get(key)
            if hit and hit[0] > time.monotonic():
                return hit[1]
            self._data.pop(key, None)
            return None

    def put(self, key: tuple[str, str], actor: Actor) -> None:
        with self._lock:
            if len(self._data) > 10000:
                self._data.clear()
            self._data[key] = (time.monotonic() + self.ttl, actor)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


actor_cache = _ActorCache()
accounts.on_identity_change(actor_cache.clear)


def actor_from_token(settings: Settings, token: str) -> Actor:
    """Return the actor of a bearer token; raise NotAuthenticated."""
    digest = token_digest(token)
    cached = actor_cache.get((settings.sqlalchemy_url, digest))
    if cached is not None:
        return cached
    with system_session(settings, "authenticate bearer token") as s:
        row = s.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).first()
        if row is None or row.revoked or not row.user.is_active:
            raise NotAuthenticated("core.auth.bad_token", "invalid or revoked API token")
        row.last_used_at = utcnow()
        actor = actor_for(row.user)
    actor_cache.put((settings.sqlalchemy_url, digest), actor)
    return actor


def actor_from_user_id(settings: Settings, user_id: int) -> Actor:
    """Return the actor of a console session's user; raise NotAuthenticated."""
    key = (settings.sqlalchemy_url, f"uid:{user_id}")
    cached = actor_cache.get(key)
    if cached is not None:
        return cached
    with system_session(settings, "authenticate console session") as s:
        user = s.get(User, user_id)
        if user is None or not user.is_active:
            raise NotAuthenticated("core.auth.session_invalid", "session is no longer valid")
        actor = actor_for(user)
    actor_cache.put(key, actor)
    return actor


def authenticate(request: Request, settings: Settings) -> Actor:
    """Return the actor of a request (bearer token first, then the session cookie)."""
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated("core.auth.bad_header", "use 'Authorization: Bearer <token>'")
        return actor_from_token(settings, token.strip())
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        data = read_session_cookie(settings, cookie)
        if data:
            request.state.csrf = data.get("csrf")
            return actor_from_user_id(settings, int(data["uid"]))
    raise NotAuthenticated("core.auth.required", "authentication required")


# Per-client-address throttle, on top of the per-user counter kept in the database.
_ip_failures: dict[str, deque[float]] = {}
_ip_lock = threading.Lock()
IP_WINDOW_S = 300.0
IP_MAX_FAILURES = 20


def _ip_throttled(ip: str) -> bool:
    now = time.monotonic()
    with _ip_lock:
        q = _ip_failures.setdefault(ip, deque())
        while q and q[0] < now - IP_WINDOW_S:
            q.popleft()
        return len(q) >= IP_MAX_FAILURES


def _ip_fail(ip: str) -> None:
    with _ip_lock:
        _ip_failures.setdefault(ip, deque()).append(time.monotonic())


def backoff_seconds(failures: int, free: int) -> int:
    """Return how long a user must wait after this many consecutive failures."""
    if failures < free:
        return 0
    return int(min(2 ** (failures - free + 1), 900))


def login(settings: Settings, username: str, password: str, client_ip: str) -> Actor:
    """Check a username and password; throttle repeated failures; never say which part was wrong."""
    bad = NotAuthenticated("core.auth.login_failed", "wrong username or password")
    if _ip_throttled(client_ip):
        raise TooManyAttempts("core.auth.throttled", "too many failed attempts; try again later")
    with system_session(settings, "console login") as s:
        user = find_user(s, username)
        if user is not None and user.failed_logins >= settings.login_max_failures:
            wait = backoff_seconds(user.failed_logins, settings.login_max_failures)
            if user.last_failed_at and utcnow() < user.last_failed_at + timedelta(seconds=wait):
                raise TooManyAttempts(
                    "core.auth.throttled", "too many failed attempts; try again later"
                )
        ok = user is not None and user.is_active and verify_password(user.password_hash, password)
        if not ok:
            _ip_fail(client_ip)
            if user is not None:
                user.failed_logins += 1
                user.last_failed_at = utcnow()
            failed = True
        else:
            if user is None:  # unreachable: a missing user counts as a failure above
                raise bad
            user.failed_logins = 0
            failed = False
            actor = actor_for(user)
    if failed:
        raise bad
    return actor
