"""The byte link to a device under test, and the raw log of everything that crossed it.

A link is anything with ``write``, ``read(timeout)`` and ``close`` (pyserial ports, pty pairs,
loopback sockets: ``adapters/transport.py``). Every read takes a timeout, so no wait on a DUT can
hang; a DUT that drops the connection makes ``read``/``write`` raise :class:`LinkClosed`.

The raw log is JSON Lines, one record per chunk (``{"data": …, "dir": "rx"|"tx"|"ev", "t": s}``,
bytes as Latin-1 code points so that every byte survives), and its sha256 is what a certificate
carries. A log past ``max_bytes`` keeps counting and says so in an ``ev`` record: never a silent
drop.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

Clock = Callable[[], float]  # monotonic seconds
Direction = Literal["tx", "rx", "ev"]
LOG_FORMAT = "mingyue-satcert-rawlog/1"
DEFAULT_LOG_CAP = 16 * 1024 * 1024


class LinkClosed(Exception):
    """The DUT closed or lost the connection."""


class ByteLink(Protocol):
    """A bidirectional byte stream to the DUT where every read has a timeout."""

    def write(self, data: bytes) -> None:
        """Send bytes; raise LinkClosed when the link is gone."""

    def read(self, timeout: float) -> bytes:
        """Return the bytes that arrive within ``timeout`` s (``b""`` if none); LinkClosed if gone."""

    def close(self) -> None:
        """Release the link (idempotent)."""


@dataclass
class RawLog:
    """Timestamped record of every byte sent and received, bounded by ``max_bytes``."""

    clock: Clock = time.monotonic
    max_bytes: int = DEFAULT_LOG_CAP
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    records: list[tuple[float, Direction, bytes]] = field(default_factory=list)
    kept_bytes: int = 0
    dropped_bytes: int = 0
    _t0: float = field(default=0.0, init=False)
    _truncation_noted: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._t0 = self.clock()

    def elapsed(self) -> float:
        """Return seconds since the log started."""
        return self.clock() - self._t0

    def add(self, direction: Direction, data: bytes) -> None:
        """Record one chunk (or count it when the cap is reached)."""
        if not data:
            return
        room = max(self.max_bytes - self.kept_bytes, 0)
        kept = data[:room]
        if kept:
            self.kept_bytes += len(kept)
            self.records.append((self.elapsed(), direction, kept))
        if len(kept) < len(data):
            self.dropped_bytes += len(data) - len(kept)
            if not self._truncation_noted:
                self._truncation_noted = True
                self.records.append(
                    (self.elapsed(), "ev", f"log cap {self.max_bytes} bytes reached".encode())
                )

    def event(self, text: str) -> None:
        """Record a bench event (reset sent, step started …), not counted against the cap."""
        self.records.append((self.elapsed(), "ev", text.encode("utf-8", "replace")))

    def to_bytes(self) -> bytes:
        """Serialise the log (header line, then one JSON record per chunk)."""
        header = {
            "format": LOG_FORMAT,
            "started_at": self.started_at,
            "kept_bytes": self.kept_bytes,
            "dropped_bytes": self.dropped_bytes,
        }
        lines = [json.dumps(header, sort_keys=True, separators=(",", ":"))]
        for t, direction, data in self.records:
            rec = {"t": round(t, 6), "dir": direction, "data": data.decode("latin-1")}
            lines.append(json.dumps(rec, sort_keys=True, separators=(",", ":")))
        return ("\n".join(lines) + "\n").encode("ascii")

    def sha256(self) -> str:
        """Return the hex sha256 of :meth:`to_bytes` (what a certificate carries)."""
        return hashlib.sha256(self.to_bytes()).hexdigest()


def parse_log(blob: bytes) -> list[tuple[float, Direction, bytes]]:
    """Read back a serialised raw log (ValueError on a foreign or damaged one)."""
    lines = blob.decode("ascii").splitlines()
    if not lines or json.loads(lines[0]).get("format") != LOG_FORMAT:
        raise ValueError("not a mingyue satcert raw log")
    out: list[tuple[float, Direction, bytes]] = []
    for line in lines[1:]:
        rec = json.loads(line)
        out.append((float(rec["t"]), rec["dir"], rec["data"].encode("latin-1")))
    return out


class LoggedLink:
    """A link that records every byte it carries into a :class:`RawLog`."""

    def __init__(self, link: ByteLink, log: RawLog) -> None:
        self.link = link
        self.log = log
        self.closed = False

    def write(self, data: bytes) -> None:
        """Send and record."""
        if self.closed:
            raise LinkClosed("link already closed")
        self.log.add("tx", data)
        try:
            self.link.write(data)
        except LinkClosed as exc:
            self.closed = True
            self.log.event(f"link closed on write: {exc}")
            raise

    def read(self, timeout: float) -> bytes:
        """Receive and record."""
        if self.closed:
            raise LinkClosed("link already closed")
        try:
            data = self.link.read(timeout)
        except LinkClosed as exc:
            self.closed = True
            self.log.event(f"link closed on read: {exc}")
            raise
        self.log.add("rx", data)
        return data

    def close(self) -> None:
        """Close the underlying link."""
        self.closed = True
        self.link.close()
