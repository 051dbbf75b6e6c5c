"""Safe archive handling: judge a zip by its central directory, extract it under a byte budget.

``check_archive`` never inflates anything: it reads the end-of-central-directory record (entry
count first, so a directory of millions of entries is refused before it is parsed), then each
entry's name, sizes and offsets. ``safe_extract`` inflates each member itself, a megabyte at a
time, and stops the moment a member produces more bytes than its header declared (a member that
lies about its size) or the archive exceeds its total budget.
"""

from __future__ import annotations

import os
import stat
import struct
import zipfile
import zlib
from itertools import pairwise
from pathlib import Path
from typing import BinaryIO

from mingyue.core.files.archive_caps import (
    CHUNK,
    ArchiveCaps,
    ArchiveReport,
    UnsafeArchive,
    caps_from_settings,
    name_problem,
)
from mingyue.core.files.archives_tar import check_tar, extract_tar

__all__ = [
    "CHUNK",
    "ArchiveCaps",
    "ArchiveReport",
    "UnsafeArchive",
    "caps_from_settings",
    "check_archive",
    "is_tar",
    "name_problem",
    "safe_extract",
]


def _refuse(key: str, message: str, **params: object) -> UnsafeArchive:
    return UnsafeArchive(key, message, field="file", **params)


def _declared_entries(fh: BinaryIO) -> int:
    """Read the entry count from the (zip64) end-of-central-directory record."""
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    tail_len = min(size, 22 + 65535)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    pos = tail.rfind(b"PK\x05\x06")
    if pos < 0 or len(tail) - pos < 22:
        raise _refuse("core.archive.bad_zip", "not a zip archive (no end of central directory)")
    count = struct.unpack("<H", tail[pos + 10 : pos + 12])[0]
    loc = pos - 20
    if count == 0xFFFF and loc >= 0 and tail[loc : loc + 4] == b"PK\x06\x07":
        z64_offset = struct.unpack("<Q", tail[loc + 8 : loc + 16])[0]
        if z64_offset + 56 > size:
            raise _refuse("core.archive.bad_zip", "zip64 directory record outside the file")
        fh.seek(z64_offset)
        rec = fh.read(56)
        if rec[:4] != b"PK\x06\x06":
            raise _refuse("core.archive.bad_zip", "zip64 directory record is missing")
        count = struct.unpack("<Q", rec[32:40])[0]
    return int(count)


def _name_problem(info: zipfile.ZipInfo) -> str | None:
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link"
    return name_problem(info.orig_filename)


def is_tar(path: Path | str) -> bool:
    """Tell whether a file is a tar archive, plain or gzip/bzip2/xz-compressed."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    return head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")) or head[257:262] == b"ustar"


def check_archive(path: Path | str, caps: ArchiveCaps | None = None) -> ArchiveReport:
    """Judge an archive without extracting it; raise UnsafeArchive when it breaks a cap.

    A zip is judged by its central directory alone (nothing is inflated). A tar has no
    directory: it is streamed once under the byte budget and the compression-ratio cap.
    """
    caps = caps or caps_from_settings()
    if is_tar(path):
        return check_tar(path, caps)
    with open(path, "rb") as fh:
        declared = _declared_entries(fh)
        if declared > caps.max_entries:
            raise _refuse(
                "core.archive.too_many_entries",
                f"archive has {declared} entries (cap {caps.max_entries})",
                entries=declared,
                cap=caps.max_entries,
            )
        try:
            with zipfile.ZipFile(fh) as zf:
                infos = zf.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
            raise _refuse("core.archive.bad_zip", f"unreadable zip directory: {exc}") from exc
    if len(infos) > caps.max_entries:
        raise _refuse(
            "core.archive.too_many_entries",
            f"archive has {len(infos)} entries (cap {caps.max_entries})",
            entries=len(infos),
            cap=caps.max_entries,
        )
    seen: set[str] = set()
    total = packed = 0
    worst = 0.0
    encrypted = False
    for info in infos:
        problem = _name_problem(info)
        if problem:
            raise _refuse(
                "core.archive.unsafe_name",
                f"unsafe entry {info.orig_filename!r}: {problem}",
                entry=info.orig_filename[:200],
            )
        if info.filename in seen:
            raise _refuse(
                "core.archive.duplicate_entry",
                f"entry {info.filename!r} appears twice",
                entry=info.filename[:200],
            )
        seen.add(info.filename)
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise _refuse(
                "core.archive.size_mismatch",
                f"stored entry {info.filename!r} declares two different sizes",
            )
        total += info.file_size
        packed += info.compress_size
        ratio = info.file_size / max(info.compress_size, 1)
        worst = max(worst, ratio)
        if info.file_size >= caps.ratio_floor_bytes and ratio > caps.max_ratio:
            raise _refuse(
                "core.archive.ratio",
                f"entry {info.filename!r} expands {ratio:.0f}:1 (cap {caps.max_ratio}:1)",
                entry=info.filename[:200],
                ratio=round(ratio),
                cap=caps.max_ratio,
            )
        if total > caps.max_total_bytes:
            raise _refuse(
                "core.archive.too_large",
                f"archive expands to more than {caps.max_total_bytes} bytes",
                cap=caps.max_total_bytes,
            )
        encrypted = encrypted or bool(info.flag_bits & 0x1)
    _check_overlap(infos)
    return ArchiveReport(
        entries=len(infos),
        total_uncompressed=total,
        total_compressed=packed,
        max_ratio=round(worst, 2),
        encrypted=encrypted,
    )


def _check_overlap(infos: list[zipfile.ZipInfo]) -> None:
    # Overlapping members (one compressed stream referenced many times) are the non-recursive
    # zip bomb's trick; honest archives lay members out one after another.
    spans = sorted(
        (i.header_offset, i.header_offset + 30 + i.compress_size, i.filename) for i in infos
    )
    for (_, end, name), (start, _, nxt) in pairwise(spans):
        if start < end:
            raise _refuse(
                "core.archive.overlapping", f"entries {name!r} and {nxt!r} overlap in the file"
            )


def _stream_member(
    fh: BinaryIO, zf: zipfile.ZipFile, info: zipfile.ZipInfo, out: BinaryIO, budget: int
) -> int:
    """Inflate one member into ``out``; stop as soon as it exceeds its declared size or budget."""
    limit = min(info.file_size, budget)
    written, crc = 0, 0

    def emit(data: bytes) -> None:
        nonlocal written, crc
        written += len(data)
        if written > info.file_size:
            raise _refuse(
                "core.archive.size_mismatch",
                f"entry {info.filename!r} inflates beyond its declared {info.file_size} bytes",
                entry=info.filename[:200],
            )
        if written > limit:
            raise _refuse("core.archive.too_large", "archive exceeds its byte budget")
        crc = zlib.crc32(data, crc)
        out.write(data)

    if info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        fh.seek(info.header_offset)
        header = fh.read(30)
        if header[:4] != b"PK\x03\x04":
            raise _refuse("core.archive.corrupt", f"entry {info.filename!r} has no local header")
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        fh.seek(info.header_offset + 30 + name_len + extra_len)
        inflater = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
        left = info.compress_size
        while left > 0 and not (inflater and inflater.eof):
            chunk = fh.read(min(CHUNK, left))
            if not chunk:
                raise _refuse("core.archive.corrupt", f"entry {info.filename!r} is truncated")
            left -= len(chunk)
            if inflater is None:
                emit(chunk)
                continue
            buf = chunk
            while buf and not inflater.eof:
                try:
                    emit(inflater.decompress(buf, CHUNK))
                except zlib.error as exc:
                    raise _refuse(
                        "core.archive.corrupt", f"entry {info.filename!r}: {exc}"
                    ) from exc
                buf = inflater.unconsumed_tail
        if inflater is not None and not inflater.eof:
            raise _refuse("core.archive.corrupt", f"entry {info.filename!r} ends early")
    else:
        try:
            with zf.open(info) as src:
                while data := src.read(CHUNK):
                    emit(data)
        except (zipfile.BadZipFile, NotImplementedError, EOFError, OSError) as exc:
            raise _refuse("core.archive.corrupt", f"entry {info.filename!r}: {exc}") from exc
    if written != info.file_size or crc != info.CRC:
        raise _refuse(
            "core.archive.size_mismatch" if written != info.file_size else "core.archive.corrupt",
            f"entry {info.filename!r} does not match its declared size or CRC",
            entry=info.filename[:200],
        )
    return written


def safe_extract(path: Path | str, dest: Path | str, caps: ArchiveCaps | None = None) -> list[Path]:
    """Check then extract a zip or tar into ``dest`` under a hard byte budget; return the files."""
    caps = caps or caps_from_settings()
    if is_tar(path):
        return extract_tar(path, Path(dest), caps)
    report = check_archive(path, caps)
    if report.encrypted:
        raise _refuse("core.archive.encrypted", "encrypted archives are not extracted")
    root = Path(dest).resolve()
    root.mkdir(parents=True, exist_ok=True)
    written_files: list[Path] = []
    budget = caps.max_total_bytes
    try:
        with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
            for info in zf.infolist():
                target = (root / info.filename).resolve()
                if not target.is_relative_to(root) or target == root:
                    raise _refuse(
                        "core.archive.unsafe_name",
                        f"entry {info.filename!r} leaves the destination",
                    )
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o640)
                written_files.append(target)
                with os.fdopen(fd, "wb") as out:
                    budget -= _stream_member(fh, zf, info, out, budget)
    except BaseException:
        for f in written_files:
            f.unlink(missing_ok=True)
        raise
    return written_files
