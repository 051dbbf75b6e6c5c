"""The platform's one clock: ``now()`` in UTC, frozen or moved by tests, shown in the display zone.

Every "what time is it" in the core and the enablers goes through ``now()`` so that a test can
freeze it (``with frozen(at): ...``) and a periodic task can be replayed at a given moment.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

_lock = threading.Lock()
_frozen: datetime | None = None


def now() -> datetime:
    """Return the current time, timezone-aware UTC (the frozen time inside ``frozen``)."""
    at = _frozen
    return at if at is not None else datetime.now(UTC)


@contextmanager
def frozen(at: datetime) -> Iterator[None]:
    """Freeze ``now()`` at ``at`` (timezone-aware) for the duration of the block."""
    global _frozen
    if at.tzinfo is None:
        raise ValueError("frozen() needs a timezone-aware datetime")
    with _lock:
        before, _frozen = _frozen, at.astimezone(UTC)
    try:
        yield
    finally:
        with _lock:
            _frozen = before


def advance(delta: timedelta) -> None:
    """Move a frozen clock forward (only inside ``frozen``)."""
    global _frozen
    with _lock:
        if _frozen is None:
            raise RuntimeError("advance() needs a frozen clock")
        _frozen = _frozen + delta


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    """Return the named time zone (cached)."""
    return ZoneInfo(name)


def local_time(at: datetime | None, tz: str, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """Format a UTC time in the display zone ``tz`` (the setting ``timezone``); "—" for none."""
    if at is None:
        return "—"
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(zone(tz)).strftime(pattern)


def local_now(tz: str) -> datetime:
    """Return ``now()`` in the display zone ``tz``."""
    return now().astimezone(zone(tz))
