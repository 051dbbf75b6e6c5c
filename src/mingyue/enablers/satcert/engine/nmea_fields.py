"""Field checks for NMEA 0183 sentences (IEC 61162-1 / NMEA 0183 v4.11 field layouts).

Each checker takes the data fields of one sentence (the address field removed) and returns a
rejection reason (a stable key, or None) and, for sentences that carry a position or a date, the
parsed values. Pure string work: no pynmea2 on the hot path (it parses 37-44 k sentences/s and gives
latitude 0.0 for an empty field; these checks treat an empty position as "no fix").
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from typing import NamedTuple

OUT_OF_RANGE = "out_of_range"
MALFORMED = "malformed"
SHORT = "short"  # too few fields: the caller reports it as `truncated` or `malformed`

_TIME = re.compile(r"([01]\d|2[0-3])([0-5]\d)([0-5]\d|60)(\.\d{1,6})?\Z")
_LAT = re.compile(r"(\d\d)(\d\d(?:\.\d*)?)\Z")
_LON = re.compile(r"(\d\d\d)(\d\d(?:\.\d*)?)\Z")
_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)\Z")
_INT = re.compile(r"\d{1,4}\Z")
_GNS_MODE = re.compile(r"[NADPRFEMS]{1,6}\Z")
# GNS mode letter -> the GGA quality scale (NMEA 0183 v4.11 GGA field 6 / GNS field 6).
_GNS_QUALITY = {"A": 1, "D": 2, "P": 3, "R": 4, "F": 5, "E": 6, "M": 7, "S": 8}


class Position(NamedTuple):
    """Values of a GGA or GNS sentence; lat/lon are None when it carries no fix."""

    sod: float | None
    time: dt.time | None
    lat: float | None
    lon: float | None
    alt_msl_m: float | None
    geoid_sep_m: float | None
    quality: int
    sats: int | None
    hdop: float | None


class Stamp(NamedTuple):
    """Time of day (and date, when the sentence has one) of a time-bearing sentence."""

    sod: float | None
    date: dt.date | None


class GsvPart(NamedTuple):
    """Sequence fields of one GSV sentence."""

    total: int
    num: int
    in_view: int
    signal: str


Result = tuple[str | None, object]


class _Bad(Exception):
    """A field failed its check (internal control flow; never leaves this module)."""

    def __init__(self, reason: str = OUT_OF_RANGE) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_time(s: str) -> tuple[float, dt.time] | None:
    """Return (seconds of day, UTC time) for hhmmss[.ss], None for an empty field."""
    if not s:
        return None
    m = _TIME.match(s)
    if m is None:
        raise _Bad
    h, mi, se = int(m.group(1)), int(m.group(2)), int(m.group(3))
    frac = m.group(4)
    us = round(float(frac) * 1_000_000) if frac else 0
    if us >= 1_000_000:
        us = 999_999
    sod = h * 3600 + mi * 60 + se + us / 1e6
    # A leap second (:60) has no datetime.time; keep the count, clamp the clock value.
    return sod, dt.time(h, mi, min(se, 59), us, tzinfo=dt.UTC)


def _coord(value: str, hemi: str, rx: re.Pattern[str], limit: float, hemis: str) -> float | None:
    if not value and not hemi:
        return None
    if not value or len(hemi) != 1 or hemi not in hemis:
        raise _Bad
    m = rx.match(value)
    if m is None:
        raise _Bad
    minutes = float(m.group(2))
    if minutes >= 60.0:
        raise _Bad
    deg = int(m.group(1)) + minutes / 60.0
    if deg > limit:
        raise _Bad
    return -deg if hemi in "SW" else deg


def _lat(value: str, hemi: str) -> float | None:
    return _coord(value, hemi, _LAT, 90.0, "NS")


def _lon(value: str, hemi: str) -> float | None:
    return _coord(value, hemi, _LON, 180.0, "EW")


def _num(s: str, lo: float = -math.inf, hi: float = math.inf) -> float | None:
    if not s:
        return None
    if _NUM.match(s) is None:
        raise _Bad
    v = float(s)
    if not lo <= v <= hi:
        raise _Bad
    return v


def _int(s: str, lo: int, hi: int) -> int | None:
    if not s:
        return None
    if _INT.match(s) is None:
        raise _Bad
    v = int(s)
    if not lo <= v <= hi:
        raise _Bad
    return v


def _one_of(s: str, allowed: str) -> None:
    if s and (len(s) != 1 or s not in allowed):
        raise _Bad


def _need(f: list[str], n: int) -> None:
    if len(f) < n:
        raise _Bad(SHORT)


def _gga(f: list[str]) -> Result:
    _need(f, 14)
    t = parse_time(f[0])
    lat = _lat(f[1], f[2])
    lon = _lon(f[3], f[4])
    if (lat is None) != (lon is None):
        raise _Bad
    quality = _int(f[5], 0, 8)
    sats = _int(f[6], 0, 99)
    hdop = _num(f[7], 0.0, 1000.0)
    alt = _num(f[8], -10_000.0, 1_000_000.0)
    _one_of(f[9], "M")
    sep = _num(f[10], -200.0, 200.0)
    _one_of(f[11], "M")
    _num(f[12], 0.0)
    _int(f[13], 0, 1023)
    q = quality or 0
    if q > 0 and lat is None:
        raise _Bad  # a fix quality with no position is self-contradictory
    return None, Position(
        t[0] if t else None, t[1] if t else None, lat, lon, alt, sep, q, sats, hdop
    )


def _gns(f: list[str]) -> Result:
    _need(f, 12)
    t = parse_time(f[0])
    lat = _lat(f[1], f[2])
    lon = _lon(f[3], f[4])
    if (lat is None) != (lon is None):
        raise _Bad
    mode = f[5]
    if _GNS_MODE.match(mode) is None:
        raise _Bad
    sats = _int(f[6], 0, 99)
    hdop = _num(f[7], 0.0, 1000.0)
    alt = _num(f[8], -10_000.0, 1_000_000.0)
    sep = _num(f[9], -200.0, 200.0)
    _num(f[10], 0.0)
    _int(f[11], 0, 1023)
    q = next((_GNS_QUALITY[c] for c in mode if c != "N"), 0)
    if q > 0 and lat is None:
        raise _Bad
    return None, Position(
        t[0] if t else None, t[1] if t else None, lat, lon, alt, sep, q, sats, hdop
    )


def _date(dd: str, mm: str, year: int) -> dt.date:
    try:
        return dt.date(year, int(mm), int(dd))
    except ValueError:
        raise _Bad from None


def rmc_date(d: str) -> dt.date:
    """Return the date of an RMC ddmmyy field (years 1980-2079: the GPS era)."""
    if len(d) != 6 or not d.isdigit():
        raise _Bad
    yy = int(d[4:])
    return _date(d[:2], d[2:4], 1900 + yy if yy >= 80 else 2000 + yy)


def _rmc(f: list[str]) -> Result:
    _need(f, 11)
    t = parse_time(f[0])
    _one_of(f[1], "AV")
    lat = _lat(f[2], f[3])
    lon = _lon(f[4], f[5])
    if (lat is None) != (lon is None) or (f[1] == "A" and lat is None):
        raise _Bad
    _num(f[6], 0.0, 10_000.0)
    _num(f[7], 0.0, 360.0)
    date = rmc_date(f[8]) if f[8] else None
    _num(f[9], 0.0, 180.0)
    _one_of(f[10], "EW")
    if len(f) > 11:
        _one_of(f[11], "ADEFMNPRS")
    if len(f) > 12:
        _one_of(f[12], "SCUV")
    return None, Stamp(t[0] if t else None, date)


def _gll(f: list[str]) -> Result:
    _need(f, 6)
    lat = _lat(f[0], f[1])
    lon = _lon(f[2], f[3])
    if (lat is None) != (lon is None):
        raise _Bad
    t = parse_time(f[4])
    _one_of(f[5], "AV")
    if len(f) > 6:
        _one_of(f[6], "ADEFMNPRS")
    return None, Stamp(t[0] if t else None, None)


def _gsa(f: list[str]) -> Result:
    _need(f, 17)
    _one_of(f[0], "AM")
    _int(f[1], 1, 3)
    for prn in f[2:14]:
        _int(prn, 1, 999)
    for dop in f[14:17]:
        _num(dop, 0.0, 1000.0)
    if len(f) > 17:
        _one_of(f[17], "0123456789ABCDEF")
    return None, None


def _gsv(f: list[str]) -> Result:
    _need(f, 3)
    total = _int(f[0], 1, 99)
    num = _int(f[1], 1, 99)
    in_view = _int(f[2], 0, 999)
    if total is None or num is None or in_view is None or num > total:
        raise _Bad
    rest = len(f) - 3
    blocks, signal_fields = divmod(rest, 4)
    if signal_fields > 1 or blocks > 4:
        raise _Bad(MALFORMED)
    signal = f[-1] if signal_fields else ""
    _one_of(signal, "0123456789ABCDEF")
    if total != max(1, -(-in_view // 4)):
        raise _Bad  # message count does not match the satellites in view
    present = 0
    for i in range(3, 3 + 4 * blocks, 4):
        prn, elev, azim, snr = f[i], f[i + 1], f[i + 2], f[i + 3]
        if not prn:
            if elev or azim or snr:
                raise _Bad
            continue
        present += 1
        _int(prn, 1, 999)
        _num(elev, -90.0, 90.0)
        _num(azim, 0.0, 360.0)
        _int(snr, 0, 99)
    if present != min(4, in_view - 4 * (num - 1)):
        raise _Bad  # satellite blocks do not match the satellites in view
    return None, GsvPart(total, num, in_view, signal)


def _vtg(f: list[str]) -> Result:
    _need(f, 8)
    _num(f[0], 0.0, 360.0)
    _one_of(f[1], "T")
    _num(f[2], 0.0, 360.0)
    _one_of(f[3], "M")
    _num(f[4], 0.0, 10_000.0)
    _one_of(f[5], "N")
    _num(f[6], 0.0, 20_000.0)
    _one_of(f[7], "K")
    if len(f) > 8:
        _one_of(f[8], "ADEFMNPRS")
    return None, None


def _zda(f: list[str]) -> Result:
    _need(f, 6)
    t = parse_time(f[0])
    date: dt.date | None = None
    if f[1] or f[2] or f[3]:
        if len(f[3]) != 4 or not f[3].isdigit() or not f[1].isdigit() or not f[2].isdigit():
            raise _Bad
        date = _date(f[1], f[2], int(f[3]))
    _int(f[4].lstrip("-+"), 0, 13)
    _int(f[5], 0, 59)
    return None, Stamp(t[0] if t else None, date)


def _txt(f: list[str]) -> Result:
    _need(f, 4)
    total = _int(f[0], 1, 99)
    num = _int(f[1], 1, 99)
    if total is not None and num is not None and num > total:
        raise _Bad
    _int(f[2], 0, 99)
    return None, None


CHECKERS: dict[str, Callable[[list[str]], Result]] = {
    "GGA": _gga,
    "GNS": _gns,
    "RMC": _rmc,
    "GLL": _gll,
    "GSA": _gsa,
    "GSV": _gsv,
    "VTG": _vtg,
    "ZDA": _zda,
    "TXT": _txt,
}


# -- fast path -------------------------------------------------------------------------------
# Whole-sentence patterns for the common types. A match (plus the cross-field checks in the
# extractors) accepts only what the field checks above accept - each pattern is a subset of them,
# tested sentence by sentence - so valid sentences skip the split-and-check path; whatever a
# pattern does not match goes through `check_fields`, which finds the reason.
_B_TIME = rb"((?:[01]\d|2[0-3])[0-5]\d(?:[0-5]\d|60)(?:\.\d{1,6})?)?"
_B_POS = (
    rb"(?:([0-8]\d|90(?=00(?:\.0*)?,))([0-5]\d(?:\.\d*)?),([NS]),"
    rb"(0\d\d|1[0-7]\d|180(?=00(?:\.0*)?,))([0-5]\d(?:\.\d*)?),([EW])|,,,)"
)
_B_DOP = rb"(\d{1,3}(?:\.\d*)?)?"
_B_ANGLE = rb"(?:(?:[0-2]?\d?\d|3[0-5]\d)(?:\.\d*)?)?"
_B_SPEED = rb"(?:\d{1,4}(?:\.\d*)?)?"
_B_MODE = rb"[ADEFMNPRS]?"
_B_PRN = rb"(?:[1-9]\d{0,2}|0[1-9]\d?|00[1-9])?"
FAST_GGA = re.compile(
    _B_TIME
    + b","
    + _B_POS
    + rb",([0-8]?),(\d{1,2})?,"
    + _B_DOP
    + rb",((?:-\d{1,4}|\d{1,6})(?:\.\d*)?)?,M?,(-?(?:1\d\d|\d{1,2})(?:\.\d*)?)?,M?,"
    + rb"(?:\d+(?:\.\d*)?)?,(?:\d{1,3}|0\d{3}|10[01]\d|102[0-3])?"
)
FAST_RMC = re.compile(
    _B_TIME
    + rb",([AV]),"
    + _B_POS
    + b","
    + _B_SPEED
    + b","
    + _B_ANGLE
    + rb",(\d{6})?,(?:(?:1[0-7]\d|\d{1,2})(?:\.\d*)?)?,[EW]?(?:,"
    + _B_MODE
    + rb"(?:,[SCUV]?)?)?"
)
FAST_GLL = re.compile(_B_POS + b"," + _B_TIME + b",[AV]?(?:," + _B_MODE + b")?")
FAST_GSA = re.compile(
    rb"[AM]?,[1-3]?,"
    + b",".join([_B_PRN] * 12)
    + b","
    + b",".join([_B_DOP] * 3)
    + rb"(?:,[0-9A-F]?)?"
)
FAST_VTG = re.compile(
    _B_ANGLE
    + b",T?,"
    + _B_ANGLE
    + b",M?,"
    + _B_SPEED
    + rb",N?,(?:\d{1,4}(?:\.\d*)?)?,K?(?:,"
    + _B_MODE
    + b")?"
)
FAIL = object()  # an extractor's answer when a cross-field rule needs the slow path
Clock = Callable[[bytes | None], tuple[float, dt.time] | None]


def _fast_pos(g: re.Match[bytes], i: int) -> tuple[float | None, float | None]:
    if g.group(i) is None:
        return None, None
    lat = int(g.group(i)) + float(g.group(i + 1)) / 60.0
    lon = int(g.group(i + 3)) + float(g.group(i + 4)) / 60.0
    return (-lat if g.group(i + 2) == b"S" else lat), (-lon if g.group(i + 5) == b"W" else lon)


def fast_gga(g: re.Match[bytes], clock: Clock) -> object:
    """Return the values of a GGA matched by FAST_GGA (FAIL when a cross-field rule is broken)."""
    t = clock(g.group(1))
    lat, lon = _fast_pos(g, 2)
    q = int(g.group(8)) if g.group(8) else 0
    if q > 0 and lat is None:
        return FAIL
    sats, hdop, alt, sep = g.group(9), g.group(10), g.group(11), g.group(12)
    return Position(
        t[0] if t else None,
        t[1] if t else None,
        lat,
        lon,
        float(alt) if alt is not None else None,
        float(sep) if sep is not None else None,
        q,
        int(sats) if sats is not None else None,
        float(hdop) if hdop is not None else None,
    )


def fast_rmc(g: re.Match[bytes], clock: Clock) -> object:
    """Return the values of an RMC matched by FAST_RMC."""
    t = clock(g.group(1))
    if g.group(2) == b"A" and g.group(3) is None:
        return FAIL
    d = g.group(9)
    date = None
    if d is not None:
        try:
            date = rmc_date(d.decode())
        except _Bad:
            return FAIL
    return Stamp(t[0] if t else None, date)


def fast_gll(g: re.Match[bytes], clock: Clock) -> object:
    """Return the values of a GLL matched by FAST_GLL."""
    t = clock(g.group(7))
    return Stamp(t[0] if t else None, None)


def fast_none(g: re.Match[bytes], clock: Clock) -> object:
    """Return nothing: GSA and VTG carry no values the reader keeps."""
    return None


FAST: dict[str, tuple[re.Pattern[bytes], Callable[[re.Match[bytes], Clock], object]]] = {
    "GGA": (FAST_GGA, fast_gga),
    "RMC": (FAST_RMC, fast_rmc),
    "GLL": (FAST_GLL, fast_gll),
    "GSA": (FAST_GSA, fast_none),
    "VTG": (FAST_VTG, fast_none),
}


def check_fields(sentence_type: str, fields: list[str]) -> Result:
    """Check the data fields of one sentence; return (reason or None, parsed values or None)."""
    checker = CHECKERS.get(sentence_type)
    if checker is None:
        return None, None
    try:
        return checker(fields)
    except _Bad as bad:
        return bad.reason, None
    except ValueError:
        return OUT_OF_RANGE, None
