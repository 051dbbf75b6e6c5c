"""Look at an APK's ZIP structure before anything parses it.

Only the end-of-central-directory record and the central directory are read (stdlib ``zipfile``
``infolist``, nothing inflated), and the archive is refused when its entry count, total
uncompressed size, one entry's size or one entry's compression ratio exceed :class:`ArchiveCaps`.
That is what keeps a 400 MB zip bomb from ever reaching androguard, which inflates members fully.
"""

from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .errors import ArchiveRefused, MalformedArchive, NotAnApk

_EOCD_SIG = b"PK\x05\x06"
_ZIP64_LOCATOR_SIG = b"PK\x06\x07"
_ZIP64_EOCD_SIG = b"PK\x06\x06"
_MAX_COMMENT = 0xFFFF


@dataclass(frozen=True)
class ArchiveCaps:
    """Limits an archive must respect before it is parsed (defaults suit real-world APKs)."""

    max_file_bytes: int = 512 * 1024 * 1024
    max_entries: int = 60_000
    max_total_uncompressed: int = 1024 * 1024 * 1024
    max_entry_uncompressed: int = 512 * 1024 * 1024
    #: per-entry uncompressed/compressed ratio; real DEX/ARSC files stay well under 20
    max_ratio: float = 100.0
    #: entries smaller than this are not ratio-checked (tiny zero-filled files are harmless)
    ratio_min_bytes: int = 1024 * 1024
    #: split containers (.apks/.xapk): how many inner APKs are analysed at most
    max_inner_apks: int = 64


@dataclass(frozen=True)
class EntryInfo:
    """One central-directory entry (name as stored, sizes as declared)."""

    name: str
    compressed: int
    uncompressed: int
    method: int


@dataclass
class ArchiveInfo:
    """What the central directory says about an archive that passed the caps."""

    path: str
    size: int
    entries: list[EntryInfo]
    total_uncompressed: int
    has_manifest: bool
    inner_apks: list[str] = field(default_factory=list)
    suspicious_names: list[str] = field(default_factory=list)

    @property
    def is_split_container(self) -> bool:
        """True for .apks/.xapk style containers (inner APKs, no manifest at the root)."""
        return not self.has_manifest and bool(self.inner_apks)


def _declared_entry_count(fh: BinaryIO, size: int) -> int:
    """Read the entry count from the EOCD (and ZIP64 EOCD) without building any ZipInfo."""
    f = fh
    tail_len = min(size, _MAX_COMMENT + 22 + 20)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    pos = tail.rfind(_EOCD_SIG)
    if pos < 0 or len(tail) - pos < 22:
        raise NotAnApk(
            "Not a ZIP/APK file: no end-of-central-directory record.", key="appcheck.not_a_zip"
        )
    (total,) = struct.unpack_from("<H", tail, pos + 10)
    loc = pos - 20
    if loc >= 0 and tail[loc : loc + 4] == _ZIP64_LOCATOR_SIG:
        (z64_off,) = struct.unpack_from("<Q", tail, loc + 8)
        if 0 <= z64_off <= size - 56:
            f.seek(z64_off)
            rec = f.read(56)
            if rec[:4] == _ZIP64_EOCD_SIG:
                (total,) = struct.unpack_from("<Q", rec, 32)
    return int(total)


def _suspicious(name: str) -> bool:
    return (
        name.startswith(("/", "\\"))
        or ".." in name.replace("\\", "/").split("/")
        or any(c in name for c in "\x00\r\n\\")
        or (len(name) > 1 and name[1] == ":")
    )


def inspect_archive(path: str | Path, caps: ArchiveCaps | None = None) -> ArchiveInfo:
    """Read the central directory of ``path`` and refuse it if it breaks ``caps``.

    Raises :class:`NotAnApk`, :class:`MalformedArchive` or :class:`ArchiveRefused`; never inflates.
    """
    caps = caps or ArchiveCaps()
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise NotAnApk(f"Cannot read file: {exc.strerror}.", key="appcheck.unreadable") from exc
    if size == 0:
        raise NotAnApk("Empty file: not an APK.", key="appcheck.empty_file")
    if size > caps.max_file_bytes:
        raise ArchiveRefused(
            f"File is {size} bytes, over the {caps.max_file_bytes}-byte cap.",
            key="appcheck.file_too_large",
            size=size,
            cap=caps.max_file_bytes,
        )
    with p.open("rb") as fh:
        if size < 22:
            raise NotAnApk("File too short to be a ZIP/APK.", key="appcheck.not_a_zip")
        declared = _declared_entry_count(fh, size)
        if declared > caps.max_entries:
            raise ArchiveRefused(
                f"Archive declares {declared} entries, over the cap of {caps.max_entries}.",
                key="appcheck.too_many_entries",
                entries=declared,
                cap=caps.max_entries,
            )
        fh.seek(0)
        try:
            with zipfile.ZipFile(fh) as zf:
                infos = zf.infolist()
        except zipfile.BadZipFile as exc:
            raise MalformedArchive(
                f"Malformed ZIP structure: {exc}.", key="appcheck.malformed_archive"
            ) from exc
        except (OSError, ValueError, EOFError, struct.error, NotImplementedError) as exc:
            raise MalformedArchive(
                f"Malformed ZIP structure: {exc}.", key="appcheck.malformed_archive"
            ) from exc
    if len(infos) > caps.max_entries:
        raise ArchiveRefused(
            f"Archive has {len(infos)} entries, over the cap of {caps.max_entries}.",
            key="appcheck.too_many_entries",
            entries=len(infos),
            cap=caps.max_entries,
        )
    entries: list[EntryInfo] = []
    seen: set[str] = set()
    total = 0
    suspicious: list[str] = []
    for info in infos:
        name = info.filename
        if name in seen:
            # Android refuses duplicate entries since the 2013 "master key" bug; so do we.
            raise MalformedArchive(
                f"Duplicate entry name in archive: {name!r}.",
                key="appcheck.duplicate_entry",
                entry=name,
            )
        seen.add(name)
        usize, csize = int(info.file_size), int(info.compress_size)
        if usize > caps.max_entry_uncompressed:
            raise ArchiveRefused(
                f"Entry {name!r} inflates to {usize} bytes, over the per-entry cap.",
                key="appcheck.entry_too_large",
                entry=name,
                size=usize,
                cap=caps.max_entry_uncompressed,
            )
        if usize >= caps.ratio_min_bytes:
            ratio = usize / max(csize, 1)
            if ratio > caps.max_ratio:
                raise ArchiveRefused(
                    f"Entry {name!r} has compression ratio {ratio:.0f}:1, over the cap of "
                    f"{caps.max_ratio:.0f}:1 (zip bomb?).",
                    key="appcheck.ratio_too_high",
                    entry=name,
                    ratio=round(ratio, 1),
                    cap=caps.max_ratio,
                )
        total += usize
        if total > caps.max_total_uncompressed:
            raise ArchiveRefused(
                f"Archive inflates to more than {caps.max_total_uncompressed} bytes.",
                key="appcheck.total_too_large",
                cap=caps.max_total_uncompressed,
            )
        if _suspicious(name):
            suspicious.append(name)
        entries.append(EntryInfo(name, csize, usize, int(info.compress_type)))
    names = {e.name for e in entries}
    inner = [
        e.name for e in entries if e.name.lower().endswith(".apk") and not e.name.endswith("/")
    ]
    return ArchiveInfo(
        path=str(p),
        size=size,
        entries=entries,
        total_uncompressed=total,
        has_manifest="AndroidManifest.xml" in names,
        inner_apks=inner,
        suspicious_names=suspicious,
    )
