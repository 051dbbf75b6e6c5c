"""Syntax checks of NGSI-LD identifiers, names, scopes and timestamps (clauses 4.6, 4.18)."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

from mingyue.enablers.citygov.engine.ngsi.errors import bad_data

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")
# Characters never allowed in an identifier: RFC 3986/3987 excluded ASCII, and invisible or
# confusable code points that make two ids look alike (bidi controls, zero-width, fillers).
_FORBIDDEN_ASCII = set('<>"{}|\\^`')
_FILLERS = {0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800, 0x180E, 0x034F}
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
_SCOPE_LEVEL = r"[A-Za-z_][A-Za-z0-9_]*"
_SCOPE = re.compile(rf"^/?{_SCOPE_LEVEL}(/{_SCOPE_LEVEL})*$")
# A short name: a letter (any script) or "_" first, then letters, digits or "_".
_SHORT_NAME = re.compile(r"^[^\W\d]\w*$", re.UNICODE)
MAX_ID = 512
MAX_NAME = 512


def _bad_char(ch: str) -> bool:
    cp = ord(ch)
    if ch in _FORBIDDEN_ASCII or cp in _FILLERS:
        return True
    if 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF:  # variation selectors
        return True
    if 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE:  # noncharacters
        return True
    cat = unicodedata.category(ch)
    return cat in ("Cc", "Cf", "Zs", "Zl", "Zp", "Co", "Cn", "Cs")


def is_uri(value: object) -> bool:
    """Tell whether a value is an absolute URI/IRI usable as an NGSI-LD identifier."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID:
        return False
    if not _SCHEME.match(value):
        return False
    return not any(_bad_char(c) for c in value)


def check_id(value: object, what: str = "id") -> str:
    """Return an entity id, or raise BadRequestData when it is not a URI (or the NGSI-LD Null)."""
    if not isinstance(value, str):
        raise bad_data(f"{what} must be a string (a URI)")
    if not is_uri(value):
        raise bad_data(f"{what} {value!r} is not a valid URI")
    if value == "urn:ngsi-ld:null":
        raise bad_data(f"{what} cannot be the NGSI-LD Null")
    return value


def is_name(value: str) -> bool:
    """Tell whether a type or attribute name is a short name, compact IRI or IRI (4.6.2)."""
    if not value or len(value) > MAX_NAME:
        return False
    if any(_bad_char(c) for c in value):
        return False
    if ":" in value:
        return not any(c.isspace() for c in value)
    return bool(_SHORT_NAME.match(value))


def check_name(value: object, what: str) -> str:
    """Return a valid name or raise BadRequestData."""
    if not isinstance(value, str) or not is_name(value):
        raise bad_data(f"{what} {value!r} is not a valid name")
    return value


def check_scope(value: object) -> list[str]:
    """Return the scopes of an entity (a string or an array of strings), or raise."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise bad_data("scope must not be empty")
    out: list[str] = []
    for s in items:
        if not isinstance(s, str) or not _SCOPE.match(s):
            raise bad_data(f"scope {s!r} is not valid (/Level/Level with letters, digits, _)")
        out.append(s if s.startswith("/") else "/" + s)
    return out


def is_datetime(value: object) -> bool:
    """Tell whether a value is an NGSI-LD DateTime (ISO 8601 in UTC with a Z)."""
    if not isinstance(value, str) or not _DATETIME.match(value):
        return False
    try:
        parse_datetime(value)
    except ValueError:
        return False
    return True


def parse_datetime(value: str) -> datetime:
    """Parse an ISO 8601 timestamp (Z or offset) to an aware UTC datetime."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # fromisoformat takes at most 6 fractional digits
    m = re.match(r"^(.*T\d{2}:\d{2}:\d{2})\.(\d+)(.*)$", text)
    if m:
        text = f"{m.group(1)}.{m.group(2)[:6].ljust(6, '0')}{m.group(3)}"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def format_datetime(dt: datetime) -> str:
    """Format a datetime as an NGSI-LD DateTime (UTC, milliseconds, Z)."""
    dt = dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
