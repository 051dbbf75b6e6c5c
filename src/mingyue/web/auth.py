"""Authentication: bearer API tokens and the console's signed session cookie; login throttling."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select, update

from mingyue.core.config import Settings
from mingyue.core.db import system_session, utcnow
from mingyue.core.errors import Forbidden, MingyueError, NotAuthenticated
from mingyue.core.plugins import registry
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
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class TooManyAttempts(MingyueError):
    """Login attempts are being throttled (HTTP 429)."""

    status = 429


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt="mingyue.session")


def make_session_cookie(settings: Settings, user_id: int) -> tuple[str, str]:
    """Return (cookie value, CSRF token) for a new console session of the user's current epoch."""
    with system_session(settings, "open console session") as s:
        epoch = s.scalar(select(User.session_epoch).where(User.id == user_id))
    if epoch is None:
        raise NotAuthenticated("core.auth.session_invalid", "session is no longer valid")
    csrf = secrets.token_urlsafe(24)
    return _serializer(settings).dumps({"uid": user_id, "ep": epoch, "csrf": csrf}), csrf


def read_session_cookie(settings: Settings, value: str) -> dict[str, Any] | None:
    """Return the session data of a cookie, or None when missing, forged, expired or outdated.

    The signature and age are checked here; whether the session was ended (logout) is checked
    against the database by ``actor_from_session``.
    """
    try:
        data = _serializer(settings).loads(value, max_age=SESSION_MAX_AGE)
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(data, dict):
        return None
    if not isinstance(data.get("uid"), int) or not isinstance(data.get("ep"), int):
        return None
    return data


def end_sessions(settings: Settings, user_id: int) -> None:
    """End every console session of the user (logout): their cookies no longer authenticate."""
    with system_session(settings, "end console sessions") as s:
        s.execute(
            update(User)
            .where(User.id == user_id)
            .values(session_epoch=User.session_epoch + 1)
            .execution_options(synchronize_session=False)
        )
    actor_cache.clear()


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


def actor_from_session(settings: Settings, data: dict[str, Any]) -> Actor:
    """Return the actor of a console session (checked against the user's epoch on every request).

    Raise NotAuthenticated when the user is gone or inactive or the session was ended.
    """
    user_id, epoch = int(data["uid"]), int(data["ep"])
    invalid = NotAuthenticated("core.auth.session_invalid", "session is no longer valid")
    # The epoch is read on every request (never cached): a logout in another worker process
    # ends the session at once.
    with system_session(settings, "authenticate console session") as s:
        current = s.scalar(select(User.session_epoch).where(User.id == user_id))
        if current is None or current != epoch:
            raise invalid
        key = (settings.sqlalchemy_url, f"uid:{user_id}:{epoch}")
        cached = actor_cache.get(key)
        if cached is not None:
            return cached
        user = s.get(User, user_id)
        if user is None or not user.is_active:
            raise invalid
        actor = actor_for(user)
    actor_cache.put(key, actor)
    return actor


def is_machine_path(path: str) -> bool:
    """Tell whether a path is a machine interface: the JSON API or a standard interface mount.

    Standard interfaces (``Enabler.mounts``: NGSI-LD, Open311 …) answer like /api: problem
    documents, no login redirect, the CSRF header for a cookie-authenticated unsafe request.
    """
    if path == "/api" or path.startswith("/api/"):
        return True
    return any(path == p or path.startswith(p + "/") for p in registry().mount_prefixes())


def _is_api(request: Request) -> bool:
    return is_machine_path(request.url.path)


def _bearer_token(request: Request) -> str | None:
    """Return the bearer token of the request, None without an Authorization header.

    Raise NotAuthenticated for a header that is not ``Bearer <token>``.
    """
    auth = request.headers.get("authorization", "")
    if not auth:
        return None
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("core.auth.bad_header", "use 'Authorization: Bearer <token>'")
    return token.strip()


def cached_actor(request: Request, settings: Settings) -> Actor | None:
    """Return the actor of the request's bearer token if ``actor_cache`` holds it, else None.

    No database work, so it may run on the event loop; ``authenticate`` does the rest (a token
    not seen for a few seconds, a console session, whose epoch is read on every request).
    """
    token = _bearer_token(request)
    if token is None:
        return None
    return actor_cache.get((settings.sqlalchemy_url, token_digest(token)))


def authenticate(request: Request, settings: Settings) -> Actor:
    """Return the actor of a request (bearer token first, then the session cookie)."""
    token = _bearer_token(request)
    if token is not None:
        return actor_from_token(settings, token)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        data = read_session_cookie(settings, cookie)
        if data:
            actor = actor_from_session(settings, data)
            request.state.csrf = data.get("csrf")
            # A browser sends the cookie with any cross-site form post: the API accepts a
            # cookie-authenticated unsafe request only with the session's CSRF token in a header
            # (the console's htmx sends it on every request; a foreign page cannot read it).
            if _is_api(request) and request.method not in SAFE_METHODS:
                sent = request.headers.get(CSRF_HEADER, "")
                expected = str(data.get("csrf") or "")
                if not sent or not expected or not hmac.compare_digest(sent, expected):
                    raise Forbidden("core.csrf_failed", "CSRF token missing or wrong")
            return actor
    raise NotAuthenticated("core.auth.required", "authentication required")


# Failed logins are counted three ways (issue 12, item 9): per source address (all accounts),
# per account and source, and per account (all sources). A source that keeps failing is slowed
# down to one try per PAIR_MAX_BACKOFF_S; the account-wide back-off is capped at
# ACCOUNT_MAX_BACKOFF_S, so an attacker cannot keep the real user, trying from elsewhere, locked
# out: refused attempts do not count, and the attacker's own back-off outlasts the account's.
SOURCE_WINDOW_S = 300.0
SOURCE_MAX_FAILURES = 20
PAIR_MAX_BACKOFF_S = 900
ACCOUNT_MAX_BACKOFF_S = 60
_TRACKED_MAX = 100_000


class _LoginFailures:
    """In-process failure counters per source and per (account, source)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._source: dict[str, deque[datetime]] = {}
        self._pair: dict[tuple[str, str], tuple[int, datetime]] = {}

    def source_throttled(self, ip: str, at: datetime) -> bool:
        with self._lock:
            q = self._source.get(ip)
            if not q:
                return False
            while q and q[0] < at - timedelta(seconds=SOURCE_WINDOW_S):
                q.popleft()
            return len(q) >= SOURCE_MAX_FAILURES

    def pair_wait_until(self, username: str, ip: str, free: int) -> datetime | None:
        with self._lock:
            hit = self._pair.get((username, ip))
        if hit is None:
            return None
        wait = backoff_seconds(hit[0], free, cap=PAIR_MAX_BACKOFF_S)
        return hit[1] + timedelta(seconds=wait) if wait else None

    def fail(self, username: str, ip: str, at: datetime) -> None:
        with self._lock:
            if len(self._pair) > _TRACKED_MAX or len(self._source) > _TRACKED_MAX:
                self._forget_old(at)
            self._source.setdefault(ip, deque()).append(at)
            count = self._pair.get((username, ip), (0, at))[0]
            self._pair[(username, ip)] = (count + 1, at)

    def succeed(self, username: str, ip: str) -> None:
        with self._lock:
            self._pair.pop((username, ip), None)

    def clear(self) -> None:
        with self._lock:
            self._source.clear()
            self._pair.clear()

    def _forget_old(self, at: datetime) -> None:
        horizon = at - timedelta(seconds=max(PAIR_MAX_BACKOFF_S, SOURCE_WINDOW_S))
        self._pair = {k: v for k, v in self._pair.items() if v[1] >= horizon}
        self._source = {k: q for k, q in self._source.items() if q and q[-1] >= horizon}


login_failures = _LoginFailures()


def backoff_seconds(failures: int, free: int, cap: int = PAIR_MAX_BACKOFF_S) -> int:
    """Return how long to wait after this many consecutive failures (at most ``cap``)."""
    if failures < free:
        return 0
    return int(min(2 ** (failures - free + 1), cap))


def login(settings: Settings, username: str, password: str, client_ip: str) -> Actor:
    """Check a username and password; throttle repeated failures; never say which part was wrong."""
    bad = NotAuthenticated("core.auth.login_failed", "wrong username or password")
    throttled = TooManyAttempts("core.auth.throttled", "too many failed attempts; try again later")
    at = utcnow()
    free = settings.login_max_failures
    if login_failures.source_throttled(client_ip, at):
        raise throttled
    until = login_failures.pair_wait_until(username, client_ip, free)
    if until is not None and at < until:
        raise throttled
    with system_session(settings, "console login") as s:
        user = find_user(s, username)
        if user is not None and user.failed_logins >= free and user.last_failed_at:
            wait = backoff_seconds(user.failed_logins, free, cap=ACCOUNT_MAX_BACKOFF_S)
            if at < user.last_failed_at + timedelta(seconds=wait):
                raise throttled
        ok = user is not None and user.is_active and verify_password(user.password_hash, password)
        if not ok:
            login_failures.fail(username, client_ip, at)
            if user is not None:
                user.failed_logins += 1
                user.last_failed_at = at
            failed = True
        else:
            if user is None:  # unreachable: a missing user counts as a failure above
                raise bad
            user.failed_logins = 0
            failed = False
            actor = actor_for(user)
    if failed:
        raise bad
    login_failures.succeed(username, client_ip)
    return actor
