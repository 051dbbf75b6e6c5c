"""Archive caps, the refusal error and the member-name check shared by the zip and tar readers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mingyue.core.config import Settings, get_settings
from mingyue.core.errors import InvalidInput

CHUNK = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafeArchive(InvalidInput):
    """An archive was refused: traversal, bomb, lying sizes, or a corrupt directory (422)."""


@dataclass(frozen=True)
class ArchiveCaps:
    """Limits an archive must stay within (defaults: the settings ``archive_*``)."""

    max_ratio: int = 100
    max_total_bytes: int = 1024 * 1024 * 1024
    max_entries: int = 20000
    # Members smaller than this are not ratio-checked (a small text file may compress 500:1);
    # they stay bounded by max_total_bytes and max_entries.
    ratio_floor_bytes: int = 1024 * 1024


def caps_from_settings(settings: Settings | None = None) -> ArchiveCaps:
    """Return the archive caps configured in the settings."""
    s = settings or get_settings()
    return ArchiveCaps(
        max_ratio=s.archive_max_ratio,
        max_total_bytes=s.archive_max_total_bytes,
        max_entries=s.archive_max_entries,
    )


@dataclass(frozen=True)
class ArchiveReport:
    """What the central directory says about an archive that passed the checks."""

    entries: int
    total_uncompressed: int
    total_compressed: int
    max_ratio: float
    encrypted: bool


def name_problem(raw: str) -> str | None:
    """Say why a member name is unsafe to extract (None when it is safe)."""
    if not raw or "\x00" in raw:
        return "empty name or NUL byte"
    if "\\" in raw:
        return "backslash in name"
    if raw.startswith("/") or _DRIVE.match(raw):
        return "absolute path"
    if ".." in raw.split("/"):
        return "parent directory reference"
    return None
