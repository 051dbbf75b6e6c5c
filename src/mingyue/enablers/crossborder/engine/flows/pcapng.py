"""The pcapng block layer (what Wireshark and dumpcap write by default), read with byte offsets.

Blocks are read here, not with ``dpkt.pcapng.Reader``, so that every packet has the file offset
after it to resume from. A section header fixes the byte order; interface description blocks give
each interface's link type, time resolution (``if_tsresol``) and offset (``if_tsoffset``).
Enhanced, simple and (obsolete) packet blocks carry packets; other blocks (name resolution,
statistics, decryption secrets, custom) are skipped. Resuming at an offset re-reads only the
section and interface blocks before it (headers of the others are skipped with a seek).
Format: IETF draft-ietf-opsawg-pcapng (the pcapng specification).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

MAGIC = b"\x0a\x0d\x0d\x0a"  # the section header block's type, the same in both byte orders
_BOM = 0x1A2B3C4D
_SHB, _IDB, _PB, _SPB, _EPB = 0x0A0D0D0A, 1, 2, 3, 6
_MAX_BLOCK = 1 << 24


class BlockError(ValueError):
    """A block is corrupt or truncated; the message names the byte where it starts."""


@dataclass
class _Interface:
    linktype: int
    snaplen: int
    units: float = 1e6  # timestamp units per second (if_tsresol; default microseconds)
    offset: int = 0  # if_tsoffset, seconds


class NgBlocks:
    """Walks the blocks of a pcapng file, keeping section and interface state."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.endian = "<"
        self.interfaces: list[_Interface] = []
        self.last_ts = 0.0

    def _header(self, fp: BinaryIO, pos: int) -> tuple[int, int] | None:
        """Read a block's type and total length at ``pos`` (None at the end of the file)."""
        head = fp.read(8)
        if not head:
            return None
        if len(head) < 8:
            raise BlockError(f"{self.name}: truncated block header at byte {pos}")
        if head[:4] == MAGIC:  # a new section: its byte-order magic follows the length
            bom = fp.read(4)
            if len(bom) < 4:
                raise BlockError(f"{self.name}: truncated section header at byte {pos}")
            if struct.unpack("<I", bom)[0] == _BOM:
                self.endian = "<"
            elif struct.unpack(">I", bom)[0] == _BOM:
                self.endian = ">"
            else:
                raise BlockError(f"{self.name}: corrupt section header at byte {pos} (byte order)")
            fp.seek(-4, 1)
        btype, length = struct.unpack(self.endian + "II", head)
        if length < 12 or length % 4 or length > _MAX_BLOCK:
            raise BlockError(f"{self.name}: corrupt block at byte {pos} (length {length})")
        return btype, length

    def _body(self, fp: BinaryIO, pos: int, length: int) -> bytes:
        rest = fp.read(length - 8)
        if len(rest) < length - 8:
            raise BlockError(f"{self.name}: truncated block at byte {pos}")
        if struct.unpack(self.endian + "I", rest[-4:])[0] != length:
            raise BlockError(f"{self.name}: corrupt block at byte {pos} (trailing length differs)")
        return rest[:-4]

    def _section(self, body: bytes, pos: int) -> None:
        major = struct.unpack(self.endian + "H", body[4:6])[0]
        if major != 1:
            raise BlockError(f"{self.name}: unsupported pcapng version {major} at byte {pos}")
        self.interfaces = []  # interface ids are per section

    def _interface(self, body: bytes, pos: int) -> None:
        if len(body) < 8:
            raise BlockError(f"{self.name}: corrupt interface block at byte {pos}")
        linktype, _res, snaplen = struct.unpack(self.endian + "HHI", body[:8])
        iface = _Interface(linktype, snaplen)
        i = 8
        while i + 4 <= len(body):
            code, size = struct.unpack(self.endian + "HH", body[i : i + 4])
            value = body[i + 4 : i + 4 + size]
            if code == 0 or len(value) < size:
                break
            if code == 9 and size >= 1:  # if_tsresol: 10^-v, or 2^-v when the top bit is set
                v = value[0]
                iface.units = float(2 ** (v & 0x7F)) if v & 0x80 else float(10**v)
            elif code == 14 and size >= 8:  # if_tsoffset
                iface.offset = struct.unpack(self.endian + "q", value[:8])[0]
            i += 4 + size + (-size % 4)
        self.interfaces.append(iface)

    def _iface(self, index: int, pos: int) -> _Interface:
        if index >= len(self.interfaces):
            raise BlockError(
                f"{self.name}: packet at byte {pos} names undeclared interface {index}"
            )
        return self.interfaces[index]

    def _packet(self, btype: int, body: bytes, pos: int) -> tuple[int, float, bytes]:
        e = self.endian
        if btype == _SPB:  # no timestamp: the last one seen stands in
            if len(body) < 4:
                raise BlockError(f"{self.name}: corrupt packet block at byte {pos}")
            iface = self._iface(0, pos)
            orig = struct.unpack(e + "I", body[:4])[0]
            cap = min(orig, iface.snaplen or orig, len(body) - 4)
            return iface.linktype, self.last_ts, body[4 : 4 + cap]
        if len(body) < 20:
            raise BlockError(f"{self.name}: corrupt packet block at byte {pos}")
        if btype == _EPB:
            index, hi, lo, cap, _orig = struct.unpack(e + "IIIII", body[:20])
        else:  # obsolete packet block: a 16-bit interface id and a drops counter
            index, _drops, hi, lo, cap, _orig = struct.unpack(e + "HHIIII", body[:20])
        if cap > len(body) - 20:
            raise BlockError(f"{self.name}: corrupt packet block at byte {pos} (length {cap})")
        iface = self._iface(index, pos)
        ts = ((hi << 32) | lo) / iface.units + iface.offset
        self.last_ts = ts
        return iface.linktype, ts, body[20 : 20 + cap]

    def skip_to(self, fp: BinaryIO, start: int) -> None:
        """Re-read section and interface state up to ``start`` (a block boundary)."""
        pos = 0
        fp.seek(0)
        while pos < start:
            found = self._header(fp, pos)
            if found is None:
                break
            btype, length = found
            if btype in (_SHB, _IDB):
                body = self._body(fp, pos, length)
                (self._section if btype == _SHB else self._interface)(body, pos)
            else:
                fp.seek(pos + length)
            pos += length
        if pos != start:
            raise BlockError(f"{self.name}: resume offset {start} is not a block boundary")

    def blocks(self, fp: BinaryIO, pos: int) -> Iterator[tuple[int | None, float, bytes, int]]:
        """From ``pos`` on, per block: (link type, time, data, offset after); no link type when the
        block holds no packet."""
        fp.seek(pos)
        while True:
            found = self._header(fp, pos)
            if found is None:
                return
            btype, length = found
            body = self._body(fp, pos, length)
            start, pos = pos, pos + length
            if btype == _SHB:
                self._section(body, start)
            elif btype == _IDB:
                self._interface(body, start)
            elif btype in (_EPB, _SPB, _PB):
                yield (*self._packet(btype, body, start), pos)
                continue
            yield None, 0.0, b"", pos
