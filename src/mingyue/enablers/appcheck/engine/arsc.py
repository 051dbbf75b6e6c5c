"""Read the global string pool of ``resources.arsc`` (all string values of the App's resources).

Only the ResStringPool chunk that follows the ResTable header is decoded (format: AOSP
``ResourceTypes.h``); that is where every string resource value lives, which is what the privacy-
policy and SDK-list evidence needs, without androguard's full resource-table analysis.
"""

from __future__ import annotations

import struct

UTF8_FLAG = 1 << 8
MAX_STRINGS = 500_000


def _len8(buf: bytes, pos: int) -> tuple[int, int]:
    n = buf[pos]
    if n & 0x80:
        return ((n & 0x7F) << 8) | buf[pos + 1], pos + 2
    return n, pos + 1


def _len16(buf: bytes, pos: int) -> tuple[int, int]:
    (n,) = struct.unpack_from("<H", buf, pos)
    if n & 0x8000:
        (lo,) = struct.unpack_from("<H", buf, pos + 2)
        return ((n & 0x7FFF) << 16) | lo, pos + 4
    return n, pos + 2


def string_pool(arsc: bytes) -> list[str]:
    """Return the strings of the table's global string pool (empty list if malformed)."""
    try:
        rtype, hsize, _size = struct.unpack_from("<HHI", arsc, 0)
        if rtype != 0x0002:
            return []
        base = hsize
        ptype, phsize, psize, count, _styles, flags, strings_start, _ = struct.unpack_from(
            "<HHIIIIII", arsc, base
        )
        if ptype != 0x0001 or count > MAX_STRINGS or base + psize > len(arsc):
            return []
        offs = struct.unpack_from(f"<{count}I", arsc, base + phsize)
        data = base + strings_start
        out: list[str] = []
        utf8 = bool(flags & UTF8_FLAG)
        for off in offs:
            pos = data + off
            if utf8:
                _, pos = _len8(arsc, pos)
                n, pos = _len8(arsc, pos)
                out.append(arsc[pos : pos + n].decode("utf-8", "replace"))
            else:
                n, pos = _len16(arsc, pos)
                out.append(arsc[pos : pos + 2 * n].decode("utf-16-le", "replace"))
        return out
    except (struct.error, IndexError):
        return []
