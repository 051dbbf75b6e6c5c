"""Observed traffic as events: parsers for proxy access logs and Zeek logs.

Formats: squid native ``access.log``; the NCSA "combined" format written by nginx and by squid
(``logformat combined``); Zeek ``conn.log``, ``http.log`` and ``ssl.log`` (TSV with ``#fields``
headers, or Zeek's JSON lines). A line that does not parse is counted, never guessed at.
"""

from __future__ import annotations

import calendar
import json
import re
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit


@dataclass(slots=True)
class FlowEvent:
    """One observed request or connection leaving the network."""

    ts: float
    client: str | None
    host: str | None
    ip: str | None
    port: int | None
    method: str | None
    target: str | None  # path and query (or the full URL as logged)
    bytes_out: int = 0
    body: bytes | None = None


class LineParser(Protocol):
    """Turns one log line into an event (None when the line is not an event or does not parse)."""

    name: str
    bad_lines: int

    def parse(self, line: str) -> FlowEvent | None:
        """Parse one line (without its newline)."""
        ...

    def header(self, line: str) -> bool:
        """Consume a header/comment line; return True if it was one."""
        ...


_MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}
# The time must read dd/Mon/yyyy:HH:MM:SS[ +zzzz]; bulk.py reads the same fields chunk-wise.
_COMBINED = re.compile(
    r"(?P<client>\S+) \S+ \S+ \[(?P<time>\d\d/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d(?: [+-]\d{4})?)\] "
    r'"(?P<method>[A-Z]+) (?P<target>\S+)'
    r'(?: HTTP/[0-9.]+)?" (?P<status>\d{3}) (?P<bytes>\d+|-)'
)
_SQUID = re.compile(
    r"(?P<ts>\d+(?:\.\d+)?)\s+\d+ (?P<client>\S+) \S+/(?P<status>\d{3}) (?P<bytes>\d+) "
    r"(?P<method>\S+) (?P<url>\S+) \S+ (?P<hier>[A-Z_]+)/(?P<peer>\S+)"
)


def _split_target(target: str, method: str) -> tuple[str | None, int | None, str]:
    """Return (host, port, path+query) from an absolute URL, CONNECT authority or a path."""
    if method == "CONNECT" or ("://" not in target and not target.startswith("/")):
        host, _, port = target.rpartition(":")
        if host and port.isdigit():
            return host.strip("[]").lower(), int(port), ""
        return target.lower(), None, ""
    if target.startswith("/"):
        return None, None, target
    scheme_end = target.find("://")
    rest = target[scheme_end + 3 :]
    slash = rest.find("/")
    hostport, path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    if "@" not in hostport and "[" not in hostport:  # the common case, without urlsplit's cost
        host, colon, port = hostport.partition(":")
        if not colon:
            return host.lower() or None, None, path
        if port.isdigit():
            return host.lower() or None, int(port), path
    parts = urlsplit(target)
    try:
        port_num = parts.port
    except ValueError:
        port_num = None
    full = parts.path + ("?" + parts.query if parts.query else "")
    return (parts.hostname or None), port_num, full


class _TimeCache:
    """Parse '10/Oct/2000:13:55:36 -0700' quickly (strptime costs ~10 µs a line)."""

    def __init__(self) -> None:
        self._hours: dict[str, float] = {}

    def epoch(self, s: str) -> float:
        key = s[:14] + s[20:]  # dd/Mon/yyyy:HH and the zone
        base = self._hours.get(key)
        if base is None:
            day, mon, year, hour = int(s[0:2]), _MONTHS[s[3:6]], int(s[7:11]), int(s[12:14])
            tz = s[21:26] if len(s) >= 26 else "+0000"
            offset = (int(tz[1:3]) * 3600 + int(tz[3:5]) * 60) * (1 if tz[0] == "+" else -1)
            base = float(calendar.timegm((year, mon, day, hour, 0, 0)) - offset)
            if len(self._hours) > 10_000:
                self._hours.clear()
            self._hours[key] = base
        return base + int(s[15:17]) * 60 + int(s[18:20])


class CombinedParser:
    """NCSA combined / common log format (nginx, squid ``logformat combined``)."""

    name = "combined"

    def __init__(self) -> None:
        self.bad_lines = 0
        self._time = _TimeCache()

    def header(self, line: str) -> bool:
        return False

    def parse(self, line: str) -> FlowEvent | None:
        m = _COMBINED.match(line)
        if m is None:
            self.bad_lines += 1
            return None
        try:
            ts = self._time.epoch(m["time"])
        except (KeyError, ValueError, IndexError):
            self.bad_lines += 1
            return None
        host, port, path = _split_target(m["target"], m["method"])
        size = m["bytes"]
        return FlowEvent(ts, m["client"], host, None, port, m["method"], path,
                         0 if size == "-" else int(size))  # fmt: skip


class SquidParser:
    """Squid's native access.log format (the peer IP gives the destination address)."""

    name = "squid"

    def __init__(self) -> None:
        self.bad_lines = 0

    def header(self, line: str) -> bool:
        return False

    def parse(self, line: str) -> FlowEvent | None:
        m = _SQUID.match(line)
        if m is None:
            self.bad_lines += 1
            return None
        host, port, path = _split_target(m["url"], m["method"])
        peer = m["peer"]
        ip = peer if peer != "-" and (peer[0].isdigit() or ":" in peer) else None
        return FlowEvent(float(m["ts"]), m["client"], host, ip, port, m["method"], path,
                         int(m["bytes"]))  # fmt: skip


class ZeekParser:
    """Zeek conn/http/ssl logs, TSV (with ``#fields``) or JSON lines."""

    name = "zeek"

    def __init__(self) -> None:
        self.bad_lines = 0
        self.fields: list[str] = []
        self.path = ""
        self.sep = "\t"

    def header(self, line: str) -> bool:
        if not line.startswith("#"):
            return False
        if line.startswith("#separator"):
            raw = line.split(" ", 1)[1].strip()
            self.sep = raw.encode().decode("unicode_escape") if raw.startswith("\\x") else raw
        elif line.startswith("#fields"):
            self.fields = line.split(self.sep)[1:]
        elif line.startswith("#path"):
            self.path = line.split(self.sep)[1].strip()
        return True

    def _event(self, rec: dict[str, Any]) -> FlowEvent | None:
        def val(key: str) -> Any:
            v = rec.get(key)
            return None if v in (None, "-", "(empty)") else v

        ip = val("id.resp_h")
        port = val("id.resp_p")
        host = val("host") or val("server_name")
        ts = float(rec["ts"])
        method = val("method")
        target = val("uri")
        sent = val("orig_bytes") or val("request_body_len") or 0
        return FlowEvent(ts, val("id.orig_h"), host.lower() if host else None, ip,
                         int(port) if port is not None else None, method, target,
                         int(sent))  # fmt: skip

    def parse(self, line: str) -> FlowEvent | None:
        try:
            if line.startswith("{"):
                rec = json.loads(line)
            else:
                if not self.fields:
                    self.bad_lines += 1
                    return None
                values = line.split(self.sep)
                if len(values) != len(self.fields):
                    self.bad_lines += 1
                    return None
                rec = dict(zip(self.fields, values, strict=True))
            return self._event(rec)
        except (ValueError, KeyError, TypeError):
            self.bad_lines += 1
            return None


PARSERS: dict[str, type[CombinedParser | SquidParser | ZeekParser]] = {
    "combined": CombinedParser,
    "nginx": CombinedParser,
    "squid": SquidParser,
    "zeek": ZeekParser,
}


def sniff_format(first_line: str) -> str:
    """Guess a log format from its first line; raise ValueError when none fits."""
    if first_line.startswith("#separator") or (
        first_line.startswith("{") and '"id.orig_h"' in first_line
    ):
        return "zeek"
    if _SQUID.match(first_line):
        return "squid"
    if _COMBINED.match(first_line):
        return "combined"
    raise ValueError(f"unrecognised log format: {first_line[:80]!r}")


def make_parser(fmt: str) -> CombinedParser | SquidParser | ZeekParser:
    """Return a fresh parser for a format name."""
    try:
        return PARSERS[fmt]()
    except KeyError:
        raise ValueError(f"unknown log format {fmt!r}; one of {', '.join(PARSERS)}") from None
