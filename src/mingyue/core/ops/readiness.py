"""Readiness: may this process take traffic? Database, Redis, migrations, signing key.

Each check answers ok or a short, fixed reason; the exception behind a failure goes to the log,
never into the answer (a probe is unauthenticated and must not name hosts, users or paths).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from mingyue.core import migrate
from mingyue.core.config import Settings
from mingyue.core.db import get_engine
from mingyue.core.ledger import keys

log = logging.getLogger(__name__)
REDIS_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Check:
    """The outcome of one readiness check (``ok`` None: not applicable here)."""

    ok: bool | None
    detail: str = ""

    def to_dict(self) -> dict[str, object]:
        """Return the check as the probe shows it."""
        out: dict[str, object] = {"ok": self.ok}
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True)
class Readiness:
    """Every check by name; ready when none failed."""

    checks: dict[str, Check]

    @property
    def ready(self) -> bool:
        """Tell whether no check failed (skipped checks do not count)."""
        return all(c.ok is not False for c in self.checks.values())

    @property
    def failed(self) -> list[str]:
        """Return the names of the failed checks."""
        return [name for name, c in self.checks.items() if c.ok is False]


def check_database(settings: Settings) -> Check:
    """Run ``SELECT 1`` on the database."""
    try:
        with get_engine(settings).connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        log.warning("ready: database unreachable: %s", type(exc).__name__, exc_info=exc)
        return Check(False, "unreachable")
    return Check(True)


def check_redis(settings: Settings) -> Check:
    """Ping Redis when it is configured."""
    if not settings.redis_url:
        return Check(None, "not configured")
    try:
        client = redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
        )
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        log.warning("ready: redis unreachable: %s", type(exc).__name__, exc_info=exc)
        return Check(False, "unreachable")
    return Check(True)


# The code's revision graph does not change while the process runs: once a set of applied
# revisions was found at head, the same set is at head on every later probe.
_at_head: dict[str, frozenset[str]] = {}
_head_lock = threading.Lock()


def check_migrations(settings: Settings) -> Check:
    """Tell whether every Alembic branch (the core and each enabler) is at its head."""
    url = settings.sqlalchemy_url
    try:
        applied = frozenset(migrate.current(settings))
        with _head_lock:
            if _at_head.get(url) == applied:
                return Check(True)
        if not applied:
            return Check(False, "database not migrated (run `mingyue db upgrade`)")
        if not migrate.up_to_date(settings):
            return Check(False, "behind the code's heads (run `mingyue db upgrade`)")
    except Exception as exc:
        log.warning("ready: migrations unknown: %s", type(exc).__name__, exc_info=exc)
        return Check(False, "revision unknown to this code or unreadable")
    with _head_lock:
        _at_head[url] = applied
    return Check(True)


_key_seen: dict[str, tuple[int, int]] = {}


def check_signing_key(settings: Settings) -> Check:
    """Tell whether the Ed25519 signing key is present, readable and a private key."""
    path = keys.key_path(settings).resolve()
    try:
        st = path.stat()
    except FileNotFoundError:
        return Check(False, "missing")
    except OSError:
        return Check(False, "unreadable")
    stamp = (st.st_mtime_ns, st.st_size)
    if _key_seen.get(str(path)) == stamp and os.access(path, os.R_OK):
        return Check(True)
    problem = _key_problem(path)
    if problem:
        return Check(False, problem)
    _key_seen[str(path)] = stamp
    return Check(True)


def _key_problem(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return "unreadable"
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        return "not a PEM private key"
    if not isinstance(key, Ed25519PrivateKey):
        return "not an Ed25519 key"
    return ""


def readiness(settings: Settings) -> Readiness:
    """Run every readiness check."""
    return Readiness(
        {
            "database": check_database(settings),
            "redis": check_redis(settings),
            "migrations": check_migrations(settings),
            "signing_key": check_signing_key(settings),
        }
    )
