"""Build release variants of a real corpus APK for the review and release-history tests.

A variant is the corpus APK with only what a new release would change: an added DEX
(``classes2.dex`` defining the classes of an SDK package, e.g. ``com.umeng.analytics``), renamed
native libraries (a new SDK version in the library name) or added text assets. The DEX is a
minimal valid one (header, string/type/class tables, map list, checksum and signature).
"""

from __future__ import annotations

import hashlib
import struct
import zipfile
import zlib
from pathlib import Path


def _uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tiny_dex(classes: list[str]) -> bytes:
    """Return a valid DEX defining empty public classes (``com.foo.Bar``) extending Object."""
    classes_desc = sorted({"L" + c.replace(".", "/") + ";" for c in classes})
    descs = sorted(set(classes_desc) | {"Ljava/lang/Object;"})
    n = len(descs)
    string_ids_off = 0x70
    type_ids_off = string_ids_off + 4 * n
    class_defs_off = type_ids_off + 4 * n
    data_off = class_defs_off + 32 * len(classes_desc)
    data = bytearray()
    str_offs: list[int] = []
    for s in descs:
        str_offs.append(data_off + len(data))
        data += _uleb(len(s)) + s.encode() + b"\x00"
    while (data_off + len(data)) % 4:
        data += b"\x00"
    map_off = data_off + len(data)
    items = [
        (0x0000, 1, 0),
        (0x0001, n, string_ids_off),
        (0x0002, n, type_ids_off),
        (0x0006, len(classes_desc), class_defs_off),
        (0x2002, n, str_offs[0]),
        (0x1000, 1, map_off),
    ]
    data += struct.pack("<I", len(items))
    data += b"".join(struct.pack("<HHII", t, 0, size, off) for t, size, off in items)
    body = b"".join(struct.pack("<I", o) for o in str_offs)
    body += b"".join(struct.pack("<I", i) for i in range(n))
    obj = descs.index("Ljava/lang/Object;")
    for c in classes_desc:
        body += struct.pack("<8I", descs.index(c), 0x1, obj, 0, 0xFFFFFFFF, 0, 0, 0)
    header = bytearray(b"dex\n035\x00" + b"\x00" * (0x70 - 8))
    struct.pack_into(
        "<20I",
        header,
        0x20,
        0x70 + len(body) + len(data),
        0x70,
        0x12345678,
        0,
        0,
        map_off,
        n,
        string_ids_off,
        n,
        type_ids_off,
        0,
        0,
        0,
        0,
        0,
        0,
        len(classes_desc),
        class_defs_off,
        len(data),
        data_off,
    )
    buf = bytearray(header + body + data)
    buf[12:32] = hashlib.sha1(buf[32:]).digest()  # noqa: S324 - the DEX format's own signature
    struct.pack_into("<I", buf, 8, zlib.adler32(bytes(buf[12:])))
    return bytes(buf)


def make_variant(
    src: Path,
    dst: Path,
    *,
    classes: list[str] = (),  # type: ignore[assignment]
    rename: dict[str, str] | None = None,
    assets: dict[str, str] | None = None,
) -> Path:
    """Write ``dst``: ``src`` with an added DEX of ``classes``, renamed members, added assets."""
    rename = rename or {}
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zo:
        for info in zi.infolist():
            name = info.filename
            for old, new in rename.items():
                name = name.replace(old, new)
            zo.writestr(name, zi.read(info))
        if classes:
            zo.writestr("classes2.dex", tiny_dex(list(classes)))
        for name, text in (assets or {}).items():
            zo.writestr(name, text.encode("utf-8"))
    return dst
