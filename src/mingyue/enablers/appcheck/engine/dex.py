"""A small, bounds-checked DEX reader: the tables appcheck needs, nothing else.

androguard's DEX parser decodes every method body; for an SDK inventory we only need the string
and type tables, the class definitions and (rarely) the signature-level data that ``dexdump``
prints. Reading those directly keeps a scan fast and memory-flat. Format: AOSP "Dalvik Executable
format" (source.android.com/docs/core/runtime/dex-format).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

NO_INDEX = 0xFFFFFFFF
_HEADER = struct.Struct("<8sI20sIIIIIIIIIIIIIIIIIIII")


class DexError(ValueError):
    """The DEX file is malformed (bad magic, an offset outside the file...)."""


def _uleb(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 35:
            raise DexError("truncated uleb128")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _sleb(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 35:
            raise DexError("truncated sleb128")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            if b & 0x40:
                result -= 1 << shift
            return result, pos


class DexFile:
    """Random access to one ``classes*.dex`` image held in memory."""

    def __init__(self, buf: bytes) -> None:
        if len(buf) < 0x70 or not buf.startswith(b"dex\n") or buf[7] != 0:
            raise DexError("not a DEX file (bad magic)")
        h = _HEADER.unpack_from(buf, 0)
        self.buf = buf
        self.version = buf[4:7].decode("ascii", "replace")
        (
            self.string_ids_size,
            self.string_ids_off,
            self.type_ids_size,
            self.type_ids_off,
            self.proto_ids_size,
            self.proto_ids_off,
            self.field_ids_size,
            self.field_ids_off,
            self.method_ids_size,
            self.method_ids_off,
            self.class_defs_size,
            self.class_defs_off,
        ) = h[9:21]
        n = len(buf)
        for count, off, width in (
            (self.string_ids_size, self.string_ids_off, 4),
            (self.type_ids_size, self.type_ids_off, 4),
            (self.proto_ids_size, self.proto_ids_off, 12),
            (self.field_ids_size, self.field_ids_off, 8),
            (self.method_ids_size, self.method_ids_off, 8),
            (self.class_defs_size, self.class_defs_off, 32),
        ):
            if count and (off < 0x70 or off + count * width > n):
                raise DexError("DEX table outside the file")
        self._string_offs = struct.unpack_from(
            f"<{self.string_ids_size}I", buf, self.string_ids_off
        )
        self._type_desc = struct.unpack_from(f"<{self.type_ids_size}I", buf, self.type_ids_off)
        self._strings: dict[int, bytes] = {}

    # -- tables ---------------------------------------------------------------------------
    def string(self, idx: int) -> bytes:
        """Return string ``idx`` as its raw MUTF-8 bytes (no length prefix, no NUL)."""
        s = self._strings.get(idx)
        if s is not None:
            return s
        if not 0 <= idx < self.string_ids_size:
            raise DexError("string index out of range")
        off = self._string_offs[idx]
        _, start = _uleb(self.buf, off)
        end = self.buf.find(b"\x00", start)
        if end < 0:
            raise DexError("unterminated string")
        s = self.buf[start:end]
        self._strings[idx] = s
        return s

    def strings(self) -> Iterator[bytes]:
        """Yield every string of the string table (raw MUTF-8)."""
        buf = self.buf
        find = buf.find
        for off in self._string_offs:
            # skip the uleb128 length prefix without decoding it
            pos = off
            while pos < len(buf) and buf[pos] & 0x80:
                pos += 1
            pos += 1
            end = find(b"\x00", pos)
            if end < 0:
                raise DexError("unterminated string")
            yield buf[pos:end]

    def string_region(self) -> bytes:
        """Return the bytes spanning every string of the string table, in one slice.

        String data items sit together in the data section (each: uleb128 length, MUTF-8 bytes,
        NUL), so this is every string separated by a NUL and the next one's length prefix. Text
        searches over it (URLs, keywords, the εxodus class regex) run in C instead of a Python
        loop per string; a prefix byte glued to a string can only lengthen a regex match, never
        hide a substring, which keeps the εxodus superset sound (see :mod:`.exodus`).
        """
        if not self._string_offs:
            return b""
        start, last = min(self._string_offs), max(self._string_offs)
        _, pos = _uleb(self.buf, last)
        end = self.buf.find(b"\x00", pos)
        if end < 0 or start < 0x70:
            raise DexError("string data outside the file")
        return self.buf[start : end + 1]

    def type_name(self, idx: int) -> bytes:
        """Return the descriptor of type ``idx`` (e.g. ``Lcom/foo/Bar;``)."""
        if not 0 <= idx < self.type_ids_size:
            raise DexError("type index out of range")
        return self.string(self._type_desc[idx])

    def type_names(self) -> list[bytes]:
        """Return every type descriptor the DEX references or defines."""
        return [self.string(i) for i in self._type_desc]

    def _class_def(self, i: int) -> tuple[int, ...]:
        return struct.unpack_from("<8I", self.buf, self.class_defs_off + 32 * i)

    def class_descriptors(self) -> list[bytes]:
        """Return the descriptors of the classes this DEX defines."""
        return [self.type_name(self._class_def(i)[0]) for i in range(self.class_defs_size)]

    def _type_list(self, off: int) -> list[bytes]:
        if not off:
            return []
        if off + 4 > len(self.buf):
            raise DexError("type_list outside the file")
        (size,) = struct.unpack_from("<I", self.buf, off)
        if off + 4 + 2 * size > len(self.buf):
            raise DexError("type_list outside the file")
        return [self.type_name(t) for t in struct.unpack_from(f"<{size}H", self.buf, off + 4)]

    def _proto_types(self, proto_idx: int) -> list[bytes]:
        if not 0 <= proto_idx < self.proto_ids_size:
            raise DexError("proto index out of range")
        _shorty, ret, params_off = struct.unpack_from(
            "<3I", self.buf, self.proto_ids_off + 12 * proto_idx
        )
        return [*self._type_list(params_off), self.type_name(ret)]

    def _field(self, idx: int) -> tuple[int, int, int]:
        if not 0 <= idx < self.field_ids_size:
            raise DexError("field index out of range")
        return struct.unpack_from("<HHI", self.buf, self.field_ids_off + 8 * idx)

    def _method(self, idx: int) -> tuple[int, int, int]:
        if not 0 <= idx < self.method_ids_size:
            raise DexError("method index out of range")
        return struct.unpack_from("<HHI", self.buf, self.method_ids_off + 8 * idx)

    # -- what `dexdump` (no flags) prints ------------------------------------------------
    def dexdump_tokens(self) -> set[bytes]:
        """Return every string ``dexdump`` prints for this DEX, as raw bytes, deduplicated.

        Class descriptors, superclasses, interfaces, field types and static values, method names
        and prototypes, catch types, debug-info locals (name, type, generic signature) and source
        file names: the text exodus-core runs its class regex over.
        """
        out: set[bytes] = set()
        add = out.add
        buf = self.buf
        for i in range(self.class_defs_size):
            cls_idx, _acc, sup, ifaces, src, _ann, data_off, static_off = self._class_def(i)
            add(self.type_name(cls_idx))
            if sup != NO_INDEX:
                add(self.type_name(sup))
            out.update(self._type_list(ifaces))
            if src != NO_INDEX:
                add(self.string(src))
            if static_off:
                self._encoded_array(static_off, out)
            if not data_off:
                continue
            pos = data_off
            sf, pos = _uleb(buf, pos)
            inf, pos = _uleb(buf, pos)
            dm, pos = _uleb(buf, pos)
            vm, pos = _uleb(buf, pos)
            for count in (sf, inf):
                idx = 0
                for _ in range(count):
                    diff, pos = _uleb(buf, pos)
                    _, pos = _uleb(buf, pos)
                    idx += diff
                    _c, t, name = self._field(idx)
                    add(self.type_name(t))
                    add(self.string(name))
            for count in (dm, vm):
                idx = 0
                for _ in range(count):
                    diff, pos = _uleb(buf, pos)
                    _, pos = _uleb(buf, pos)
                    code_off, pos = _uleb(buf, pos)
                    idx += diff
                    _c, proto, name = self._method(idx)
                    add(self.string(name))
                    out.update(self._proto_types(proto))
                    if code_off:
                        self._code(code_off, out)
        return out

    def _code(self, off: int, out: set[bytes]) -> None:
        buf = self.buf
        if off + 16 > len(buf):
            raise DexError("code_item outside the file")
        _regs, _ins, _outs, tries, debug_off, insns = struct.unpack_from("<4HII", buf, off)
        pos = off + 16 + 2 * insns
        if tries:
            if insns & 1:
                pos += 2
            pos += 8 * tries
            nlists, pos = _uleb(buf, pos)
            for _ in range(nlists):
                size, pos = _sleb(buf, pos)
                for _ in range(abs(size)):
                    t, pos = _uleb(buf, pos)
                    _, pos = _uleb(buf, pos)
                    out.add(self.type_name(t))
                if size <= 0:
                    _, pos = _uleb(buf, pos)
        if debug_off:
            self._debug(debug_off, out)

    def _debug(self, pos: int, out: set[bytes]) -> None:
        buf = self.buf
        _, pos = _uleb(buf, pos)
        nparams, pos = _uleb(buf, pos)
        for _ in range(nparams):
            name, pos = _uleb(buf, pos)
            if name:
                out.add(self.string(name - 1))
        while True:
            if pos >= len(buf):
                raise DexError("debug info runs past the file")
            op = buf[pos]
            pos += 1
            if op == 0x00:
                return
            if op in (0x01, 0x05, 0x06):
                _, pos = _uleb(buf, pos)
            elif op == 0x02:
                _, pos = _sleb(buf, pos)
            elif op in (0x03, 0x04):
                _, pos = _uleb(buf, pos)
                name, pos = _uleb(buf, pos)
                typ, pos = _uleb(buf, pos)
                if name:
                    out.add(self.string(name - 1))
                if typ:
                    out.add(self.type_name(typ - 1))
                if op == 0x04:
                    sig, pos = _uleb(buf, pos)
                    if sig:
                        out.add(self.string(sig - 1))
            elif op == 0x09:
                _, pos = _uleb(buf, pos)

    def _encoded_array(self, pos: int, out: set[bytes]) -> int:
        size, pos = _uleb(self.buf, pos)
        for _ in range(size):
            pos = self._encoded_value(pos, out)
        return pos

    def _encoded_value(self, pos: int, out: set[bytes]) -> int:
        buf = self.buf
        if pos >= len(buf):
            raise DexError("encoded value outside the file")
        head = buf[pos]
        pos += 1
        vtype, arg = head & 0x1F, head >> 5
        if vtype in (0x1E, 0x1F):
            return pos
        if vtype == 0x1C:
            return self._encoded_array(pos, out)
        if vtype == 0x1D:
            t, pos = _uleb(buf, pos)
            out.add(self.type_name(t))
            n, pos = _uleb(buf, pos)
            for _ in range(n):
                name, pos = _uleb(buf, pos)
                out.add(self.string(name))
                pos = self._encoded_value(pos, out)
            return pos
        width = arg + 1
        if pos + width > len(buf):
            raise DexError("encoded value outside the file")
        val = int.from_bytes(buf[pos : pos + width], "little")
        pos += width
        if vtype == 0x17:
            out.add(_escape(self.string(val)))
        elif vtype == 0x18:
            out.add(self.type_name(val))
        elif vtype in (0x19, 0x1B):
            out.add(self.string(self._field(val)[2]))
        elif vtype == 0x1A:
            out.add(self.string(self._method(val)[2]))
        elif vtype == 0x15:
            out.update(self._proto_types(val))
        return pos


def _escape(raw: bytes) -> bytes:
    """Escape a string value the way dexdump's ``dumpEscapedString`` prints it."""
    if not any(c in raw for c in b'\\"\t\n\r'):
        return raw
    return (
        raw.replace(b"\\", b"\\\\")
        .replace(b'"', b'\\"')
        .replace(b"\t", b"\\t")
        .replace(b"\n", b"\\n")
        .replace(b"\r", b"\\r")
    )
