"""The ledger as people page through it: filters and keyset paging on the sequence number.

Pages are cut by ``seq`` (the entry id), never by offset: "older" asks for entries below the
oldest one shown, "newer" for entries above the newest one shown, so a page stays the same while
new entries arrive and any entry, however old, is reached (no cap).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from mingyue.core.clock import zone
from mingyue.core.errors import InvalidInput
from mingyue.core.ledger.audit import AuditEntry
from mingyue.core.registries import known_event
from mingyue.core.tenancy.identity import Organization

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_SEQ = 2**63 - 1
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EVENT_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")


@dataclass(frozen=True)
class LedgerFilter:
    """What a reader narrows the ledger to; ``None`` means no narrowing on that field."""

    organization_id: int | None = None
    actor: str | None = None
    event: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def params(self) -> dict[str, str]:
        """Return the filter as query parameters (for the links that keep it while paging)."""
        out: dict[str, str] = {}
        if self.organization_id is not None:
            out["organization"] = str(self.organization_id)
        if self.actor:
            out["actor"] = self.actor
        if self.event:
            out["event"] = self.event
        if self.date_from:
            out["date_from"] = self.date_from.isoformat()
        if self.date_to:
            out["date_to"] = self.date_to.isoformat()
        return out


@dataclass(frozen=True)
class LedgerPage:
    """One page of entries, newest first, and whether there are more on either side."""

    rows: list[AuditEntry]
    has_older: bool
    has_newer: bool

    @property
    def oldest_seq(self) -> int | None:
        """Return the smallest sequence number on the page."""
        return self.rows[-1].seq if self.rows else None

    @property
    def newest_seq(self) -> int | None:
        """Return the largest sequence number on the page."""
        return self.rows[0].seq if self.rows else None


def _blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _positive_int(value: str | None, *, key: str, field: str, upper: int) -> int | None:
    value = _blank(value)
    if value is None:
        return None
    if not value.isdigit() or not 1 <= int(value) <= upper:
        raise InvalidInput(key, f"{field} must be a whole number from 1 to {upper}", field=field)
    return int(value)


def _date(value: str | None, field: str) -> date | None:
    value = _blank(value)
    if value is None:
        return None
    try:
        if not _DATE_RE.match(value):
            raise ValueError(value)
        day = date.fromisoformat(value)
        if not 1970 <= day.year <= 9998:  # the day after, in UTC, must still be a date
            raise ValueError(value)
        return day
    except ValueError:
        raise InvalidInput(
            "core.audit.bad_date", f"{field} must read YYYY-MM-DD", field=field, value=value[:40]
        ) from None


def parse_filter(
    session: Session,
    *,
    visible_orgs: list[int] | None,
    organization: str | None = None,
    actor: str | None = None,
    event: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
) -> LedgerFilter:
    """Check a reader's filter values; raise ``InvalidInput`` naming the first bad one.

    ``visible_orgs`` is the reader's reach (``None``: every organization).
    """
    org_id = _positive_int(
        organization, key="core.audit.bad_org", field="organization", upper=2**31 - 1
    )
    if org_id is not None and (
        (visible_orgs is not None and org_id not in visible_orgs)
        or session.get(Organization, org_id) is None
    ):
        raise InvalidInput(
            "core.audit.bad_org", "no such organization in reach", field="organization"
        )
    actor = _blank(actor)
    if actor is not None and len(actor) > 120:
        raise InvalidInput("core.audit.bad_actor", "actor is longer than 120", field="actor")
    event = _blank(event)
    if event is not None and (not _EVENT_RE.match(event) or not known_event(event)):
        raise InvalidInput(
            "core.audit.bad_event", "unknown event kind", field="event", event=event[:120]
        )
    start, end = _date(date_from, "date_from"), _date(date_to, "date_to")
    if start and end and start > end:
        raise InvalidInput("core.audit.bad_range", "date_from is after date_to", field="date_from")
    return LedgerFilter(org_id, actor, event, start, end)


def parse_cursor(
    before: str | None, after: str | None, limit: str | None
) -> tuple[int | None, int | None, int]:
    """Check paging values: (before, after, limit); raise ``InvalidInput`` on a bad one."""
    b = _positive_int(before, key="core.audit.bad_cursor", field="before", upper=MAX_SEQ)
    a = _positive_int(after, key="core.audit.bad_cursor", field="after", upper=MAX_SEQ)
    if a is not None and b is not None:
        raise InvalidInput("core.audit.bad_cursor", "give before or after, not both", field="after")
    n = _positive_int(limit, key="core.audit.bad_limit", field="limit", upper=MAX_LIMIT)
    return b, a, n or DEFAULT_LIMIT


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def conditions(
    flt: LedgerFilter, org_ids: Iterable[int] | None, tz: str
) -> list[ColumnElement[bool]]:
    """Return the SQL conditions of a filter within the reader's reach (``None``: all)."""
    conds: list[ColumnElement[bool]] = []
    if org_ids is not None:
        conds.append(AuditEntry.organization_id.in_(list(org_ids)))
    if flt.organization_id is not None:
        conds.append(AuditEntry.organization_id == flt.organization_id)
    if flt.actor:
        conds.append(AuditEntry.actor.ilike(_like(flt.actor), escape="\\"))
    if flt.event:
        conds.append(AuditEntry.action == flt.event)
    # Dates are days of the display zone: [start of date_from, start of the day after date_to).
    if flt.date_from:
        start = datetime.combine(flt.date_from, time.min, tzinfo=zone(tz)).astimezone(UTC)
        conds.append(AuditEntry.time >= start)
    if flt.date_to:
        end = datetime.combine(flt.date_to + timedelta(days=1), time.min, tzinfo=zone(tz))
        conds.append(AuditEntry.time < end.astimezone(UTC))
    return conds


def _exists(session: Session, conds: list[ColumnElement[bool]]) -> bool:
    return session.scalar(select(AuditEntry.seq).where(*conds).limit(1)) is not None


def page(
    session: Session,
    *,
    flt: LedgerFilter,
    org_ids: Iterable[int] | None,
    tz: str,
    before: int | None = None,
    after: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> LedgerPage:
    """Return one page, newest first: the newest entries, those below ``before``, or above ``after``."""
    limit = max(1, min(limit, 1000))
    conds = conditions(flt, org_ids, tz)
    seq = AuditEntry.seq
    if after is not None:
        got = list(
            session.scalars(
                select(AuditEntry).where(*conds, seq > after).order_by(seq.asc()).limit(limit + 1)
            )
        )
        has_newer = len(got) > limit
        rows = list(reversed(got[:limit]))
        floor = rows[-1].seq if rows else after + 1
        return LedgerPage(rows, _exists(session, [*conds, seq < floor]), has_newer)
    where = [*conds, seq < before] if before is not None else conds
    got = list(
        session.scalars(select(AuditEntry).where(*where).order_by(seq.desc()).limit(limit + 1))
    )
    rows = got[:limit]
    has_newer = False
    if before is not None:
        ceiling = rows[0].seq if rows else before - 1
        has_newer = _exists(session, [*conds, seq > ceiling])
    return LedgerPage(rows, len(got) > limit, has_newer)


def organization_names(session: Session, ids: Iterable[int] | None) -> dict[int, str]:
    """Return id → name of the given organizations (``None``: every organization)."""
    q = select(Organization.id, Organization.name).order_by(Organization.name)
    if ids is not None:
        q = q.where(Organization.id.in_(list(ids)))
    return {int(i): str(n) for i, n in session.execute(q)}
