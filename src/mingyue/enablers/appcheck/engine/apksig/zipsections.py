"""The ZIP sections an APK signature covers: entries, APK Signing Block, central directory, EOCD.

Layout (source.android.com/docs/security/features/apksigning/v2): ``[entries][signing block]
[central directory][EOCD]``. The block ends with its size and the magic ``APK Sig Block 42`` and
must sit immediately before the central directory; the EOCD must follow the central directory.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import BinaryIO

MAGIC = b"APK Sig Block 42"
EOCD_SIG = b"PK\x05\x06"
MAX_BLOCK = 64 * 1024 * 1024


class ZipSectionsError(ValueError):
    """The archive's end records are inconsistent (a verifier reports it; it never crashes)."""


@dataclass
class ZipSections:
    """Offsets of the signed regions, and the signing block's id -> value pairs."""

    size: int
    cd_offset: int
    cd_size: int
    eocd_offset: int
    eocd: bytes
    block_offset: int | None = None
    pairs: dict[int, bytes] = field(default_factory=dict)
    block_problem: str = ""


def find_sections(fh: BinaryIO, size: int) -> ZipSections:
    """Locate EOCD and central directory, then the APK Signing Block right before it."""
    if size < 22:
        raise ZipSectionsError("file too short for a ZIP end-of-central-directory record")
    tail_len = min(size, 0xFFFF + 22)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    pos = -1
    # the EOCD whose comment length reaches exactly the end of the file (as apksig looks for it)
    search = len(tail) - 22
    while search >= 0:
        pos = tail.rfind(EOCD_SIG, 0, search + 4)
        if pos < 0:
            break
        (comment_len,) = struct.unpack_from("<H", tail, pos + 20)
        if pos + 22 + comment_len == len(tail):
            break
        search = pos - 1
        pos = -1
    if pos < 0:
        raise ZipSectionsError("no ZIP end-of-central-directory record")
    eocd_offset = size - tail_len + pos
    cd_size, cd_offset = struct.unpack_from("<II", tail, pos + 12)
    if cd_offset + cd_size > eocd_offset:
        raise ZipSectionsError("ZIP central directory overlaps the end-of-central-directory record")
    sec = ZipSections(size, cd_offset, cd_size, eocd_offset, tail[pos:])
    if cd_offset + cd_size != eocd_offset:
        sec.block_problem = (
            "ZIP central directory is not immediately followed by the end-of-central-directory "
            "record: APK Signing Block ignored"
        )
        return sec
    if cd_offset < 32:
        return sec
    fh.seek(cd_offset - 24)
    footer = fh.read(24)
    if footer[8:] != MAGIC:
        return sec
    (block_size,) = struct.unpack_from("<Q", footer, 0)
    start = cd_offset - block_size - 8
    if block_size < 24 or block_size > MAX_BLOCK or start < 0:
        sec.block_problem = f"APK Signing Block size {block_size} out of range"
        return sec
    fh.seek(start)
    block = fh.read(block_size + 8)
    (head_size,) = struct.unpack_from("<Q", block, 0)
    if head_size != block_size:
        sec.block_problem = "APK Signing Block sizes in header and footer differ"
        return sec
    sec.block_offset = start
    pos2, end = 8, len(block) - 24
    while pos2 < end:
        if pos2 + 12 > end:
            sec.block_problem = "APK Signing Block: truncated id-value pair"
            break
        (length,) = struct.unpack_from("<Q", block, pos2)
        if length < 4 or pos2 + 8 + length > end:
            sec.block_problem = "APK Signing Block: id-value pair length out of range"
            break
        (pid,) = struct.unpack_from("<I", block, pos2 + 8)
        sec.pairs.setdefault(pid, block[pos2 + 12 : pos2 + 8 + length])
        pos2 += 8 + length
    return sec
