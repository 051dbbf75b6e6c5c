"""One-time form keys: a reload or a double click never starts the same work twice.

A console form that starts work carries a random key (``new_key()`` when the form is rendered).
The POST handler claims the key first thing in its unit of work (``claim``) and records where the
work landed (``record``) before the commit; a second POST with the same key finds the claim and
is sent to the same place. The unique (user, key) row makes the claim safe between concurrent
requests: on PostgreSQL the second insert waits for the first transaction and then fails, on
SQLite every unit of work takes the write lock first (``BEGIN IMMEDIATE``), so the second one
reads the committed claim.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from mingyue.core.db import Base, MingyueSession, utcnow
from mingyue.core.errors import InvalidInput

_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# Where a claimed key sends a repeat whose first request recorded nothing (it should not happen:
# a handler that claims a key records the location in the same transaction).
FALLBACK_LOCATION = "/"


class FormKey(Base):
    """A claimed form key of a user and where the work it started can be seen."""

    __tablename__ = "core_form_key"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_core_form_key_user_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("core_user.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(64))
    location: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def new_key() -> str:
    """Return a fresh random form key (URL-safe, 32 characters)."""
    return secrets.token_urlsafe(24)


def check_key(key: str | None) -> str:
    """Return the key if it is well formed, else raise InvalidInput naming the field."""
    if not key or not _KEY.match(key):
        raise InvalidInput(
            "core.form_key.missing", "the form key is missing or malformed", field="form_key"
        )
    return key


def _location(session: MingyueSession, user_id: int, key: str) -> str | None:
    row = session.execute(
        select(FormKey.location).where(FormKey.user_id == user_id, FormKey.key == key)
    ).first()
    if row is None:
        return None
    return str(row[0]) or FALLBACK_LOCATION


def claim(session: MingyueSession, user_id: int, key: str) -> str | None:
    """Claim ``key`` for the user: None when claimed now, else the location recorded before."""
    key = check_key(key)
    seen = _location(session, user_id, key)
    if seen is not None:
        return seen
    try:
        with session.begin_nested():
            session.add(FormKey(user_id=user_id, key=key, location=""))
            session.flush()
    except IntegrityError:
        # A concurrent request claimed it and committed while this one waited on the row.
        return _location(session, user_id, key) or FALLBACK_LOCATION
    return None


def record(session: MingyueSession, user_id: int, key: str, location: str) -> None:
    """Record where the work started under a claimed key can be seen."""
    key = check_key(key)
    row = session.execute(
        select(FormKey).where(FormKey.user_id == user_id, FormKey.key == key)
    ).scalar_one_or_none()
    if row is None:
        raise RuntimeError("form key recorded before it was claimed")
    row.location = location[:500]
    session.flush()
