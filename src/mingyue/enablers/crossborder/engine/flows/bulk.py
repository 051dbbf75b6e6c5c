"""Fast path for proxy logs (NCSA combined, squid native): one regex over a chunk of lines.

The watcher hands over a chunk of complete lines (bytes). The chunk is decoded once (a chunk that is
not valid UTF-8 falls back to line-by-line decoding, the bad lines counted), one multi-line regex
pulls only the fields the monitor needs (time, method, target, size; squid's peer address), and
everything that repeats is memoised: the year of an hour (combined) or a day (squid), the route of
a URL's authority, the people in a query value. A line the regex does not match is a bad line,
exactly as for ``CombinedParser`` / ``SquidParser`` (the same field patterns), so both paths count
the same.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable

from .events import _MONTHS, _split_target
from .monitor import SHANGHAI, Batch, FlowMonitor, Route, query_texts

# The fields of events._COMBINED, anchored at each line start; `[^\]\n]` so no match spans lines.
_LINES = re.compile(
    r"^\S+ \S+ \S+ \[(\d\d/[A-Za-z]{3}/\d{4}:\d\d):(\d\d):\d\d(?: ([+-]\d{4}))?\] "
    r'"([A-Z]+) (\S+)(?: HTTP/[0-9.]+)?" \d{3} (\d+|-)',
    re.MULTILINE,
)
# The fields of events._SQUID; `[^\S\n]` is its `\s` without the newline.
_SQUID_LINES = re.compile(
    r"^(\d+(?:\.\d+)?)[^\S\n]+\d+ \S+ \S+/\d{3} (\d+) (\S+) (\S+) \S+ [A-Z_]+/(\S+)",
    re.MULTILINE,
)
_EMPTY = re.compile(r"^\r*\n", re.MULTILINE)
_CACHE_MAX = 100_000
_SLICE = 1 << 20
_SPLIT = -1  # a year-cache value: this hour holds the new year, decide per minute


def _decode(chunk: bytes) -> tuple[str, int]:
    """Decode a chunk of lines; lines that are not UTF-8 are dropped and counted."""
    try:
        return chunk.decode("utf-8"), 0
    except UnicodeDecodeError:
        pass
    good: list[str] = []
    bad = 0
    for raw in chunk.split(b"\n")[:-1]:
        try:
            good.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            bad += 1
    return "\n".join(good) + "\n" if good else "", bad


class BulkReader:
    """Reads chunks of combined (``squid=False``) or squid native lines into a monitor batch."""

    def __init__(self, monitor: FlowMonitor, *, squid: bool = False) -> None:
        self.monitor = monitor
        self.squid = squid
        self.name = "squid" if squid else "combined"
        self.lines_re = _SQUID_LINES if squid else _LINES
        self._years: dict[tuple[str, str], int | None] = {}
        # keyed by a URL's scheme and authority, with the destination IP when the log gives one
        self._routes: dict[str | tuple[str, str], tuple[Route | None, bool]] = {}

    def feed(self, chunk: bytes, batch: Batch) -> tuple[int, int]:
        """Add a chunk of complete lines to the batch; return (lines, bad lines).

        Parsed in slices of about 1 MiB, so the decoded text and the regex rows held at once stay
        small whatever the chunk size.
        """
        lines = bad = 0
        start, size = 0, len(chunk)
        while start < size:
            end = chunk.find(b"\n", start + _SLICE) + 1 if start + _SLICE < size else size
            n, b = self._feed(chunk[start : end or size], batch)
            lines, bad = lines + n, bad + b
            start = end or size
        return lines, bad

    def _feed(self, chunk: bytes, batch: Batch) -> tuple[int, int]:
        lines = chunk.count(b"\n")
        text, bad = _decode(chunk)
        rows = self.lines_re.findall(text)
        matched = len(rows)
        if matched + bad < lines:  # some lines are empty (not bad) or do not parse (bad)
            bad += lines - bad - matched - len(_EMPTY.findall(text))
        return lines, bad + self._count(rows, batch)

    def _year(self, hour: str, minute: int, zone: str) -> int | None:
        """Shanghai calendar year of 'dd/Mon/yyyy:HH' plus minutes in a zone (None: not a time)."""
        try:
            day, mon, year, hh = (
                int(hour[0:2]),
                _MONTHS[hour[3:6]],
                int(hour[7:11]),
                int(hour[12:14]),
            )
            tz = zone or "+0000"
            offset = (int(tz[1:3]) * 60 + int(tz[3:5])) * (1 if tz[0] == "+" else -1)
            epoch = calendar.timegm((year, mon, day, hh, minute, 0)) - offset * 60
            return dt.datetime.fromtimestamp(epoch, SHANGHAI).year
        except (KeyError, ValueError, OverflowError, OSError):
            return None

    def _hour_year(self, hour: str, zone: str) -> int | None:
        """The year of a whole local hour, or _SPLIT when the Shanghai new year falls inside it.

        Only a zone with a minutes part (+0530) can split an hour: the year turns at 16:00 UTC.
        """
        first = self._year(hour, 0, zone)
        if first is None or zone[3:5] in ("", "00"):
            return first
        return first if self._year(hour, 59, zone) == first else _SPLIT

    def _route(self, target: str, method: str, ip: str | None) -> tuple[Route | None, str]:
        """Route and path+query of a target."""
        host, _port, path = _split_target(target, method)
        return self.monitor.route(host, ip), path

    def _count(self, rows: list[tuple[str, ...]], batch: Batch) -> int:
        """The per-line loop, with everything it touches bound to locals; return bad lines.

        One loop for both formats (only its first lines differ): a second pass over the rows
        would cost ~10 % of the time.
        """
        years, routes, squid = self._years, self._routes, self.squid
        year_of = self.monitor.year_of
        people: Callable[[str], tuple[tuple[str, bytes], ...]] = self.monitor.people
        observed, undeclared, hashes = batch.observed, batch.undeclared, batch.hashes
        last_hour, last_zone, hour_year = "", "", None
        bad = events = 0
        ip: str | None = None
        for row in rows:
            if squid:
                ts, size, method, target, peer = row
                try:
                    year = year_of(float(ts))
                except (OverflowError, ValueError, OSError):  # a time no calendar holds
                    bad += 1
                    continue
                ip = peer if peer != "-" and (peer[0].isdigit() or ":" in peer) else None
            else:
                hour, minute, zone, method, target, size = row
                if hour != last_hour or zone != last_zone:
                    key = (hour, zone)
                    hour_year = years.get(key, 0)
                    if hour_year == 0:
                        hour_year = self._hour_year(hour, zone)
                        if len(years) > _CACHE_MAX:
                            years.clear()
                        years[key] = hour_year
                    last_hour, last_zone = hour, zone
                if hour_year is None:
                    bad += 1
                    continue
                # In the one hour that holds the new year, the minute decides.
                year = (
                    (self._year(hour, int(minute), zone) or hour_year)
                    if hour_year == _SPLIT
                    else hour_year
                )
            events += 1
            s = target.find("://") if target[0] != "/" and method != "CONNECT" else -1
            if s > 0:
                # An absolute URL: its scheme and authority key the memo (hosts repeat, paths not).
                e = target.find("/", s + 3)
                auth = target if e < 0 else target[:e]
                rkey = auth if ip is None else (auth, ip)
                found = routes.get(rkey)
                if found is None:
                    route, _path = self._route(auth, method, ip)
                    found = (route, "@" not in auth and "[" not in auth)
                    if len(routes) > _CACHE_MAX:
                        routes.clear()
                    routes[rkey] = found
                route = found[0]
                if route is None:
                    continue
                if found[1]:
                    q = target.find("?", e) if e > 0 else -1
                    query = target[q + 1 :] if q >= 0 else ""
                else:  # userinfo or an IPv6 literal: urlsplit decides where the path starts
                    path = self._route(target, method, ip)[1]
                    q = path.find("?")
                    query = path[q + 1 :] if q >= 0 else ""
            else:
                route, path = self._route(target, method, ip)
                if route is None:
                    continue
                q = path.find("?")
                query = path[q + 1 :] if q >= 0 else ""
            recipient, endpoint, country, declared = route
            if not declared and (endpoint, year) not in undeclared:
                undeclared[(endpoint, year)] = {"endpoint": endpoint, "ip": ip, "country": country}
            okey = (recipient, endpoint, country, year, declared)
            nbytes = 0 if size == "-" else int(size)
            obs = observed.get(okey)
            if obs is None:
                observed[okey] = [1, nbytes]
            else:
                obs[0] += 1
                obs[1] += nbytes
            if query:
                for text in query_texts(query):
                    for kind, h in people(text):
                        hashes[(recipient, year, kind)].add(h)
        batch.events += events
        return bad
