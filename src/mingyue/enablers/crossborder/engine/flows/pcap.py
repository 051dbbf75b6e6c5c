"""Read pcap and pcapng files with byte offsets (resumable) and turn HTTP requests into events.

The record layer is read here (16 bytes a packet in pcap; blocks in pcapng, see pcapng.py) so
every packet has a file offset to resume from; dpkt decodes the link, IP and TCP layers and parses
HTTP requests. The format is sniffed from the magic number, not the file name. Client-to-server TCP
payloads are reassembled per stream in sequence order (retransmissions dropped) until a whole
request, body included, parses. TLS connections yield an event with the SNI host when present.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dpkt

from .events import FlowEvent
from .pcapng import MAGIC as NG_MAGIC
from .pcapng import BlockError, NgBlocks

_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_LINKTYPES = (1, 101, 113, 228, 229)  # Ethernet, raw IP, Linux cooked, raw IPv4, raw IPv6
_MAX_RECORD = 1 << 18
_MAX_STREAM = 4 << 20
_HTTP_METHODS = (b"GET ", b"POST", b"PUT ", b"PATC", b"DELE", b"HEAD", b"OPTI")


class PcapError(ValueError):
    """The capture is corrupt or truncated; the message says at which byte."""


def _ip_str(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6 if len(raw) == 16 else socket.AF_INET, raw)


class PcapReader:
    """Iterate packets from ``start`` (a record boundary), yielding events and offsets."""

    def __init__(self, path: str | Path, start: int = 0) -> None:
        self.path = Path(path)
        self.bad_packets = 0
        self.streams: dict[tuple[bytes, int, bytes, int], list[Any]] = {}  # [next seq, buffer]
        with self.path.open("rb") as fp:
            head = fp.read(24)
            self.ng: NgBlocks | None = None
            if head[:4] == NG_MAGIC:  # pcapng: Wireshark's and dumpcap's default
                self.ng = NgBlocks(self.path.name)
                self.offset = max(start, 0)
                try:
                    self.ng.skip_to(fp, self.offset)
                except BlockError as exc:
                    raise PcapError(str(exc)) from None
                self.linktype = 0
                return
        if len(head) < 24:
            raise PcapError(f"{self.path.name}: not a pcap file (only {len(head)} bytes)")
        if head[:4] not in _MAGIC:
            raise PcapError(f"{self.path.name}: not a pcap file (bad magic {head[:4].hex()})")
        self.endian, self.scale = _MAGIC[head[:4]]
        self.linktype = struct.unpack(self.endian + "I", head[20:24])[0] & 0x0FFFFFFF
        if self.linktype not in _LINKTYPES:
            raise PcapError(f"{self.path.name}: unsupported link type {self.linktype}")
        self.offset = max(start, 24)

    @property
    def quiet(self) -> bool:
        """True when no TCP stream holds a partial request."""
        return not any(s[1] for s in self.streams.values())

    def _ip(self, data: bytes, lt: int) -> dpkt.ip.IP | dpkt.ip6.IP6 | None:
        if lt == 1:
            pkt = dpkt.ethernet.Ethernet(data).data
        elif lt == 113:
            pkt = dpkt.sll.SLL(data).data
        elif lt == 229:
            pkt = dpkt.ip6.IP6(data)
        elif lt == 228:
            pkt = dpkt.ip.IP(data)
        else:  # 101: raw IP, v4 or v6 by the version nibble
            pkt = dpkt.ip.IP(data) if data and data[0] >> 4 == 4 else dpkt.ip6.IP6(data)
        return pkt if isinstance(pkt, (dpkt.ip.IP, dpkt.ip6.IP6)) else None

    def read(self) -> Iterator[tuple[FlowEvent | None, int, bool]]:
        """Yield (event or None, offset after the packet, quiet) for each complete record."""
        if self.ng is not None:
            yield from self._read_ng()
            return
        rec = struct.Struct(self.endian + "IIII")
        with self.path.open("rb") as fp:
            fp.seek(self.offset)
            while True:
                header = fp.read(16)
                if not header:
                    return
                if len(header) < 16:
                    raise PcapError(
                        f"{self.path.name}: truncated record header at byte {self.offset}"
                    )
                sec, frac, incl, _orig = rec.unpack(header)
                if incl > _MAX_RECORD:
                    raise PcapError(
                        f"{self.path.name}: corrupt record at byte {self.offset} (length {incl})"
                    )
                data = fp.read(incl)
                if len(data) < incl:
                    raise PcapError(f"{self.path.name}: truncated packet at byte {self.offset}")
                self.offset += 16 + incl
                yield (
                    self._decode(sec + frac * self.scale, data, self.linktype),
                    self.offset,
                    self.quiet,
                )

    def _read_ng(self) -> Iterator[tuple[FlowEvent | None, int, bool]]:
        if self.ng is None:
            raise RuntimeError("not a pcapng reader")
        with self.path.open("rb") as fp:
            try:
                for linktype, ts, data, after in self.ng.blocks(fp, self.offset):
                    self.offset = after
                    if linktype is not None:
                        event = self._decode(ts, data, linktype) if linktype in _LINKTYPES else None
                        yield event, after, self.quiet
            except BlockError as exc:
                raise PcapError(str(exc)) from None

    def _decode(self, ts: float, data: bytes, linktype: int) -> FlowEvent | None:
        try:
            return self._packet(ts, data, linktype)
        except (dpkt.UnpackError, struct.error, ValueError, IndexError):
            self.bad_packets += 1
            return None

    def _packet(self, ts: float, data: bytes, linktype: int) -> FlowEvent | None:
        ip = self._ip(data, linktype)
        if ip is None or not isinstance(ip.data, dpkt.tcp.TCP):
            return None
        tcp = ip.data
        key = (ip.src, tcp.sport, ip.dst, tcp.dport)
        payload = bytes(tcp.data)
        if tcp.flags & dpkt.tcp.TH_SYN:
            self.streams[key] = [tcp.seq + 1, b""]
            return None
        if not payload:
            if tcp.flags & (dpkt.tcp.TH_FIN | dpkt.tcp.TH_RST):
                self.streams.pop(key, None)
            return None
        stream = self.streams.get(key)
        if stream is None:
            if not payload.startswith(_HTTP_METHODS) and not payload.startswith(b"\x16\x03"):
                return None
            stream = self.streams[key] = [tcp.seq, b""]
        if tcp.seq < stream[0]:
            return None  # retransmission of data already taken
        stream[0] = tcp.seq + len(payload)
        buf = stream[1] + payload
        if buf.startswith(b"\x16\x03"):
            stream[1] = b""
            return self._tls(ts, ip, tcp, buf)
        try:
            req = dpkt.http.Request(buf)
        except dpkt.NeedData:
            stream[1] = buf if len(buf) < _MAX_STREAM else b""
            return None
        except dpkt.UnpackError:
            stream[1] = b""
            self.bad_packets += 1
            return None
        stream[1] = b""
        host = req.headers.get("host")
        if isinstance(host, list):
            host = host[0]
        host = host.split(":")[0].lower() if host else None
        return FlowEvent(ts, _ip_str(ip.src), host, _ip_str(ip.dst), tcp.dport, req.method,
                         req.uri, len(buf), bytes(req.body) or None)  # fmt: skip

    def _tls(self, ts: float, ip: dpkt.ip.IP, tcp: dpkt.tcp.TCP, buf: bytes) -> FlowEvent:
        host = None
        try:
            records, _ = dpkt.ssl.tls_multi_factory(buf)
            for record in records:
                if record.type == 22:
                    hs = dpkt.ssl.TLSHandshake(record.data)
                    if isinstance(hs.data, dpkt.ssl.TLSClientHello):
                        for ext_type, ext_data in hs.data.extensions:
                            if ext_type == 0 and len(ext_data) > 5:
                                host = ext_data[5:].decode("ascii", "replace").lower()
        except (dpkt.UnpackError, dpkt.NeedData, ValueError, struct.error):
            pass
        return FlowEvent(
            ts, _ip_str(ip.src), host, _ip_str(ip.dst), tcp.dport, "TLS", None, len(buf)
        )

    def flush(self) -> Iterator[FlowEvent]:
        """At the end of a capture, give up on partial requests (nothing more will arrive)."""
        self.streams.clear()
        return iter(())
