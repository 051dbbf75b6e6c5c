"""Deployment checks (``mingyue check --deploy``): what a production deployment must not run with.

An *error* refuses the deployment (exit 1); a *warning* is printed and does not. To add a check:
1. write a function ``(settings) -> list[Problem]`` below; 2. add it to ``CHECKS``;
3. document it in docs/settings.md ("Deployment checks") and test it in tests/core/test_ops_deploy.py.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from mingyue.core.config import Settings
from mingyue.core.ledger import keys

# Values seen in sample files and tutorials; a key among them is as good as public.
PLACEHOLDER_SECRETS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "secret-key",
        "secret_key",
        "mysecret",
        "dev",
        "development",
        "test",
        "insecure",
        "password",
        "mingyue",
        "please-change-me",
        "replace-me",
    }
)
MIN_SECRET_LENGTH = 32


@dataclass(frozen=True)
class Problem:
    """One finding: its level, a stable code, and the line printed for it."""

    level: Literal["error", "warning"]
    code: str
    message: str

    def line(self) -> str:
        """Return the one line printed for this problem."""
        return f"{self.level}: {self.code}: {self.message}"


def _env(s: Settings) -> list[Problem]:
    if s.env != "prod":
        return [Problem("error", "deploy.env", f"MINGYUE_ENV is {s.env!r}; set MINGYUE_ENV=prod")]
    return []


def _secret(s: Settings) -> list[Problem]:
    key = s.secret_key
    lowered = key.strip().lower()
    if s.dev_defaults() and "MINGYUE_SECRET_KEY unset" in s.dev_defaults():
        return [
            Problem(
                "error",
                "deploy.secret_key",
                "MINGYUE_SECRET_KEY is unset (a generated development key is in use)",
            )
        ]
    if lowered in PLACEHOLDER_SECRETS or any(
        lowered.startswith(p) for p in ("changeme", "change-me")
    ):
        return [Problem("error", "deploy.secret_key", "MINGYUE_SECRET_KEY is a placeholder value")]
    if len(key) < MIN_SECRET_LENGTH or len(set(key)) < 8:
        return [
            Problem(
                "error",
                "deploy.secret_key",
                f"MINGYUE_SECRET_KEY is too weak (at least {MIN_SECRET_LENGTH} random characters; "
                'e.g. python -c "import secrets; print(secrets.token_urlsafe(48))")',
            )
        ]
    return []


def _debug(s: Settings) -> list[Problem]:
    if s.debug:
        return [Problem("error", "deploy.debug", "MINGYUE_DEBUG is on (tracebacks reach clients)")]
    return []


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _https(s: Settings) -> list[Problem]:
    parts = urlsplit(s.base_url)
    if parts.scheme == "https":
        if not s.cookie_secure:
            return [
                Problem(
                    "error",
                    "deploy.cookie_secure",
                    "MINGYUE_BASE_URL is https but MINGYUE_COOKIE_SECURE is false "
                    "(the session cookie would also travel over plain HTTP)",
                )
            ]
        return []
    if not _loopback(parts.hostname or ""):
        return [
            Problem(
                "warning",
                "deploy.https",
                f"MINGYUE_BASE_URL is {parts.scheme}:// on a public name; serve it behind TLS",
            )
        ]
    return []


def _workers(s: Settings) -> list[Problem]:
    found = []
    if s.is_sqlite and s.web_workers > 1:
        found.append(
            Problem(
                "error",
                "deploy.sqlite_workers",
                f"MINGYUE_WEB_WORKERS={s.web_workers} on SQLite; use PostgreSQL "
                "(MINGYUE_DATABASE_URL) for several workers",
            )
        )
    elif s.is_sqlite:
        found.append(
            Problem(
                "warning",
                "deploy.sqlite",
                "the database is SQLite; production deployments run on PostgreSQL",
            )
        )
    if s.web_workers > 1 and not s.redis_url:
        found.append(
            Problem(
                "warning",
                "deploy.redis_workers",
                f"MINGYUE_WEB_WORKERS={s.web_workers} without MINGYUE_REDIS_URL: every web "
                "worker also runs jobs; set MINGYUE_REDIS_URL and run `mingyue worker`",
            )
        )
    if s.web_workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        found.append(
            Problem(
                "warning",
                "deploy.metrics_multiproc",
                f"MINGYUE_WEB_WORKERS={s.web_workers} without PROMETHEUS_MULTIPROC_DIR: "
                "/metrics shows only the worker that answers the scrape",
            )
        )
    return found


def _signing_key(s: Settings) -> list[Problem]:
    path = keys.key_path(s)
    try:
        st = path.stat()
    except FileNotFoundError:
        return [
            Problem(
                "warning",
                "deploy.signing_key_missing",
                "the signing key does not exist yet (it is created on first use; "
                "create it now with `mingyue audit public-key` and back it up)",
            )
        ]
    except OSError as exc:
        return [Problem("error", "deploy.signing_key", f"{path}: {exc.strerror or exc}")]
    found = []
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        found.append(
            Problem(
                "error",
                "deploy.signing_key_mode",
                f"{path} is mode {stat.S_IMODE(st.st_mode):04o}: readable by others "
                f"(chmod 600 {path})",
            )
        )
    if not os.access(path, os.R_OK):
        found.append(Problem("error", "deploy.signing_key", f"{path} is not readable"))
    return found


CHECKS: tuple[Callable[[Settings], list[Problem]], ...] = (
    _env,
    _secret,
    _debug,
    _https,
    _workers,
    _signing_key,
)


def deploy_problems(settings: Settings) -> list[Problem]:
    """Run every deployment check; errors first."""
    found = [p for check in CHECKS for p in check(settings)]
    return sorted(found, key=lambda p: p.level != "error")
