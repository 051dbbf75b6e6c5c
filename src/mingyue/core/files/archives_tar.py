"""Safe tar handling (plain, .tar.gz, .tar.bz2, .tar.xz): one streamed pass under a hard budget.

A tar has no central directory, so judging it means reading it. Every byte that comes out of the
decompressor is counted: the pass stops the moment the stream exceeds the total budget or the
compression-ratio cap, before the bytes reach a disk. Only regular files and directories are
accepted (no links, devices, FIFOs or sparse files).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from mingyue.core.files.archive_caps import (
    CHUNK,
    ArchiveCaps,
    ArchiveReport,
    UnsafeArchive,
    name_problem,
)

# Each member costs a 512-byte header, up to 511 bytes of padding, and maybe a PAX header.
_PER_MEMBER_OVERHEAD = 2048


def _refuse(key: str, message: str, **params: object) -> UnsafeArchive:
    return UnsafeArchive(key, message, field="file", **params)


class _Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class _BudgetReader:
    """A read-only stream that counts decompressed bytes and refuses past the caps."""

    def __init__(
        self, raw: _Readable, compressed_size: int, compressed: bool, caps: ArchiveCaps
    ) -> None:
        self.raw = raw
        self.count = 0
        self.total_limit = caps.max_total_bytes + _PER_MEMBER_OVERHEAD * (caps.max_entries + 2)
        self.ratio_limit = (
            max(caps.ratio_floor_bytes, compressed_size * caps.max_ratio) if compressed else None
        )
        self.compressed_size = compressed_size
        self.max_ratio = caps.max_ratio

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(CHUNK if n is None or n < 0 else min(n, CHUNK))
        self.count += len(data)
        if self.ratio_limit is not None and self.count > self.ratio_limit:
            ratio = self.count / max(self.compressed_size, 1)
            raise _refuse(
                "core.archive.ratio",
                f"archive expands more than {self.max_ratio}:1 (zip bomb)",
                entry="*",
                ratio=round(ratio),
                cap=self.max_ratio,
            )
        if self.count > self.total_limit:
            raise _refuse(
                "core.archive.too_large", "archive exceeds its byte budget", cap=self.total_limit
            )
        return data


@contextmanager
def _decompressed(path: Path | str) -> Iterator[tuple[_Readable, bool]]:
    with open(path, "rb") as fh:
        head = fh.read(6)
        fh.seek(0)
        if head.startswith(b"\x1f\x8b"):
            with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
                yield gz, True
        elif head.startswith(b"BZh"):
            with bz2.BZ2File(fh, "rb") as bz:
                yield bz, True
        elif head.startswith(b"\xfd7zXZ\x00"):
            with lzma.LZMAFile(fh, "rb") as xz:
                yield xz, True
        else:
            yield fh, False


def _check_member(member: tarfile.TarInfo, seen: set[str], caps: ArchiveCaps) -> None:
    if len(seen) >= caps.max_entries:
        raise _refuse(
            "core.archive.too_many_entries",
            f"archive has more than {caps.max_entries} entries",
            entries=len(seen) + 1,
            cap=caps.max_entries,
        )
    problem = name_problem(member.name) or (
        None if member.isfile() or member.isdir() else "link, device or FIFO"
    )
    if problem is None and member.sparse is not None:
        problem = "sparse file"
    if problem:
        raise _refuse(
            "core.archive.unsafe_name",
            f"unsafe entry {member.name!r}: {problem}",
            entry=member.name[:200],
        )
    name = member.name.removeprefix("./").rstrip("/") or "."
    if name in seen:
        raise _refuse(
            "core.archive.duplicate_entry", f"entry {name!r} appears twice", entry=name[:200]
        )
    seen.add(name)


def _walk(
    path: Path | str,
    caps: ArchiveCaps,
    on_member: Callable[[tarfile.TarFile, tarfile.TarInfo], None],
) -> ArchiveReport:
    size = os.path.getsize(path)
    seen: set[str] = set()
    total = 0
    try:
        with _decompressed(path) as (raw, compressed):
            counted = _BudgetReader(raw, size, compressed, caps)
            with tarfile.open(fileobj=counted, mode="r|") as tf:  # type: ignore[call-overload]
                for member in tf:
                    _check_member(member, seen, caps)
                    total += member.size
                    if total > caps.max_total_bytes:
                        raise _refuse(
                            "core.archive.too_large",
                            f"archive expands to more than {caps.max_total_bytes} bytes",
                            cap=caps.max_total_bytes,
                        )
                    on_member(tf, member)
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError) as exc:
        raise _refuse("core.archive.bad_tar", f"unreadable tar archive: {exc}") from exc
    ratio = counted.count / max(size, 1) if compressed else 1.0
    return ArchiveReport(
        entries=len(seen),
        total_uncompressed=total,
        total_compressed=size,
        max_ratio=round(ratio, 2),
        encrypted=False,
    )


def check_tar(path: Path | str, caps: ArchiveCaps) -> ArchiveReport:
    """Stream a tar once under the caps without writing anything; raise UnsafeArchive."""
    return _walk(path, caps, lambda _tf, _m: None)


def extract_tar(path: Path | str, dest: Path, caps: ArchiveCaps) -> list[Path]:
    """Check then extract a tar into ``dest`` (regular files and directories only)."""
    check_tar(path, caps)
    root = dest.resolve()
    root.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def extract(tf: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        target = (root / member.name).resolve()
        if not target.is_relative_to(root):
            raise _refuse(
                "core.archive.unsafe_name",
                f"entry {member.name!r} leaves the destination",
                entry=member.name[:200],
            )
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        src = tf.extractfile(member)
        if src is None:
            raise _refuse("core.archive.bad_tar", f"entry {member.name!r} has no data")
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o640)
        written.append(target)
        count = 0
        with os.fdopen(fd, "wb") as out:
            while data := src.read(CHUNK):
                count += len(data)
                out.write(data)
        if count != member.size:
            raise _refuse(
                "core.archive.size_mismatch",
                f"entry {member.name!r} does not match its declared size",
            )

    try:
        _walk(path, caps, extract)
    except BaseException:
        for f in written:
            f.unlink(missing_ok=True)
        raise
    return written
