"""NMEA 0183 stream reader and validator for terminal certification (IEC 61162-1 / NMEA 0183 v4.11).

Reads raw receiver bytes (a log file or transport chunks): resyncs on `$` and on UBX sync bytes
(0xB5 0x62), reads Android GnssLogger lines (`NMEA,<sentence>,<unixms>`), counts binary noise, and
gives every sentence a verdict with a stable reason key. GGA/GNS sentences with a position become
`Fix` records for the accuracy scorer; an empty position is "no fix", never latitude 0.0.

Certification mode fails what the standard forbids (missing checksum, CR-only or absent terminator,
more than 82 characters, unknown talker); lenient mode accepts those with a warning. A line over
1024 characters, a wrong checksum, a truncated sentence or a field out of range is rejected in both.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import operator
import os
import re
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal, cast

from mingyue.enablers.satcert.engine import ubx
from mingyue.enablers.satcert.engine.nmea_fields import (
    CHECKERS,
    FAIL,
    FAST,
    SHORT,
    Clock,
    GsvPart,
    Position,
    Stamp,
    check_fields,
)
from mingyue.sdk.errors import InvalidInput

Mode = Literal["certification", "lenient"]
MODES: tuple[Mode, ...] = ("certification", "lenient")

MAX_SENTENCE = 79  # characters between `$` and CR LF: 82 with them (NMEA 0183 §5.3)
HARD_CAP = 1024  # longer runs of text are not buffered: rejected as too_long in both modes
TALKERS = frozenset({"GP", "GL", "GA", "BD", "GB", "GN", "GQ", "GI"})

# Stable reason keys (reports, plans and the console translate these).
BAD_CHECKSUM = "bad_checksum"
MISSING_CHECKSUM = "missing_checksum"
BAD_TERMINATOR = "bad_terminator"
LF_TERMINATOR = "lf_terminator"  # warning only: LF without CR (logs rewritten by tools)
TOO_LONG = "too_long"
UNKNOWN_TALKER = "unknown_talker"
OUT_OF_RANGE = "out_of_range"
TRUNCATED = "truncated"
MALFORMED = "malformed"
INCOMPLETE_GSV = "incomplete_gsv"
NO_FIX = "no_fix"
BINARY_NOISE = "binary_noise"
UBX_BAD_CHECKSUM = "ubx_bad_checksum"
UBX_TRUNCATED = "ubx_truncated"  # a UBX frame cut short by the end of the log
UBX_UNDECODED = "ubx_undecoded"  # warning only: checksum right, pyubx2 has no layout for it
REASONS = (
    BAD_CHECKSUM,
    MISSING_CHECKSUM,
    BAD_TERMINATOR,
    TOO_LONG,
    UNKNOWN_TALKER,
    OUT_OF_RANGE,
    TRUNCATED,
    MALFORMED,
    INCOMPLETE_GSV,
    NO_FIX,
    BINARY_NOISE,
    UBX_BAD_CHECKSUM,
    UBX_TRUNCATED,
)

_CRLF, _LF, _CR, _CUT, _EOF = range(5)
_LINE = re.compile(rb"\$[\x20-\x23\x25-\x7e]{0,%d}" % (HARD_CAP + 1))
_TEXT = re.compile(rb"[\x20-\x23\x25-\x7e]*")
_NEXT = re.compile(rb"[$\r\n\xb5N]")
# A complete, canonically framed sentence: address, fields, upper-case checksum, CR LF.
_FAST = re.compile(rb"\$([A-Z][A-Z0-9]{1,9}),[\x20-\x23\x25-\x29\x2b-\x7e]*\*([0-9A-F]{2})\r\n")
_HEX = frozenset("0123456789ABCDEFabcdef")
_LOGGER_PREFIX = b"NMEA,$"
_LOGGER_SUFFIX = re.compile(r",\d{1,16}\Z")
_ADDRESS = re.compile(r"[A-Z][A-Z0-9]{1,9}\Z")
_DAY = dt.timedelta(days=1)
_NO_WARNINGS: list[str] = []  # shared, never appended to: the fast path's "no warnings"
_FastEntry = tuple[re.Pattern[bytes], Callable[[re.Match[bytes], Clock], object]]


@dataclass(frozen=True, slots=True)
class Fix:
    """One position from a GGA or GNS sentence that passed validation."""

    time: dt.time
    timestamp: dt.datetime | None
    lat: float
    lon: float
    alt_msl_m: float | None
    geoid_sep_m: float | None
    quality: int
    sats: int | None
    hdop: float | None
    sentence_type: str
    talker: str
    line_no: int


@dataclass(frozen=True, slots=True)
class UbxFix:
    """A position from a UBX NAV-PVT frame (u-blox receivers mixing UBX into the stream)."""

    itow_ms: int  # GPS time of week
    lat: float
    lon: float
    alt_msl_m: float
    height_m: float  # above the ellipsoid
    fix_type: int  # 0 none, 2 2D, 3 3D, 4 GNSS+DR, 5 time only
    sats: int


@dataclass(frozen=True, slots=True)
class SentenceVerdict:
    """The verdict on one sentence: accepted or the reason it was rejected, and warnings."""

    line_no: int
    talker: str
    sentence_type: str
    accepted: bool
    reason: str | None  # rejection reason; "no_fix" on an accepted GGA/GNS without a position
    warnings: tuple[str, ...]
    text: str  # the sentence as received (without `$` and terminator), cut at 100 characters


@dataclass(slots=True)
class ValidationReport:
    """Counts over a whole stream: what was accepted, what was rejected and why."""

    mode: str
    sentences: int = 0
    accepted: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    by_talker: dict[str, int] = field(default_factory=dict)
    rejected_sentences: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    epochs: int = 0
    ubx_messages: dict[str, int] = field(default_factory=dict)
    noise_bytes: int = 0
    rates_hz: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Say whether the stream conforms: nothing rejected except epochs without a fix."""
        return all(n == 0 for k, n in self.rejected_sentences.items() if k != NO_FIX)

    @property
    def ubx_total(self) -> int:
        """Return the number of UBX frames with a correct checksum."""
        return sum(self.ubx_messages.values())

    def to_dict(self) -> dict[str, object]:
        """Return the report as plain data (JSON-ready)."""
        out = cast(dict[str, object], asdict(self))
        out["passed"] = self.passed
        return out


@dataclass(slots=True)
class _GsvSeq:
    total: int
    in_view: int
    next_num: int
    items: list[tuple[int, str, list[str]]]


def _bump(counts: dict[str, int], key: str, n: int = 1) -> None:
    counts[key] = counts.get(key, 0) + n


class NmeaReader:
    """Validate a receiver byte stream chunk by chunk; `feed` returns the new fixes."""

    def __init__(self, mode: Mode = "certification", *, keep_verdicts: bool = False) -> None:
        if mode not in MODES:
            raise InvalidInput("satcert.nmea.bad_mode", f"unknown NMEA mode {mode!r}", mode=mode)
        self._report = ValidationReport(mode=mode)
        self.fixes: list[Fix] = []
        self.ubx_fixes: list[UbxFix] = []
        self.verdicts: list[SentenceVerdict] | None = [] if keep_verdicts else None
        self._lenient = mode == "lenient"
        self._buf = b""
        self._skipping = False
        self._prefixed = False
        self._in_noise = False
        self._closed = False
        self._date: dt.date | None = None
        self._date_sod = 0.0
        self._last_sod: float | None = None
        self._day = 0.0
        self._epochs: set[float] = set()
        self._gsv_open: dict[tuple[str, str], _GsvSeq] = {}
        self._new: list[Fix] = []
        self._addresses: dict[bytes, tuple[str, str, _FastEntry | None]] = {}
        self._times: dict[bytes, tuple[float, dt.time]] = {}
        self._addr_counts: dict[bytes, int] = {}

    @property
    def report(self) -> ValidationReport:
        """Return the report so far (complete after `close`)."""
        counts = self._addr_counts
        if counts:
            rep = self._report
            for addr, n in counts.items():
                talker, stype, _ = self._addresses[addr]
                rep.accepted += n
                rep.by_type[stype] = rep.by_type.get(stype, 0) + n
                rep.by_talker[talker] = rep.by_talker.get(talker, 0) + n
            counts.clear()
        return self._report

    # -- framing -------------------------------------------------------------------------------
    def feed(self, data: bytes) -> list[Fix]:
        """Add bytes from the receiver; return the fixes completed by them."""
        if self._closed:
            raise InvalidInput("satcert.nmea.closed", "the NMEA reader is already closed")
        self._buf = self._buf + bytes(data) if self._buf else bytes(data)
        self._new = []
        self._scan(final=False)
        return self._new

    def close(self) -> ValidationReport:
        """End the stream: judge what is left in the buffer, close open GSV sequences, compute rates."""
        if not self._closed:
            self._new = []
            self._scan(final=True)
            for key in list(self._gsv_open):
                self._gsv_flush(key, complete=False)
            self._rates()
            self._closed = True
        return self.report

    def _scan(self, *, final: bool) -> None:
        buf = self._buf
        pos = 0
        # Fast path: well-formed "$...*hh<CR><LF>" sentences found by one C-level search; the
        # bytes between them (noise, UBX, anything odd) go through the byte-by-byte scanner.
        for m in _FAST.finditer(buf):
            start = m.start()
            if start < pos:
                continue  # inside something the scanner already consumed (a UBX frame)
            if start > pos:
                pos = self._slow(buf, pos, start, final=final)
                if pos < 0:
                    self._buf = buf[-pos - 1 :]
                    return
                if pos > start:
                    continue
            self._fast(buf, m)
            pos = m.end()
        pos = self._slow(buf, pos, len(buf), final=final)
        self._buf = buf[pos:] if pos >= 0 else buf[-pos - 1 :]

    def _fast(self, buf: bytes, m: re.Match[bytes]) -> None:
        self._in_noise = False
        self._prefixed = False
        start, end = m.span()
        addr, ck = m.groups()
        info = self._addresses.get(addr) or self._address(addr)
        long = end - start > MAX_SENTENCE + 3
        if (
            info is None
            or (long and not self._lenient)
            or functools.reduce(operator.xor, buf[start + 1 : end - 5], 0) != int(ck, 16)
        ):
            self._sentence(buf[start + 1 : end - 2], _CRLF)
            return
        talker, stype, fast = info
        rep = self._report
        rep.sentences += 1
        line_no = rep.sentences
        warns = [TOO_LONG] if long else _NO_WARNINGS
        keep = self.verdicts is not None
        text = buf[start + 1 : end - 5].decode("ascii") if keep else ""
        body_start = start + len(addr) + 2
        if fast is not None:
            g = fast[0].fullmatch(buf, body_start, end - 5)
            if g is not None:
                value = fast[1](g, self._clock)
                if value is not FAIL:
                    if keep or long or type(value) is Position:
                        self._accept(line_no, talker, stype, text, warns, value)
                        return
                    # The common case (RMC/GLL/GSA/VTG, no verdict kept): count by address only.
                    counts = self._addr_counts
                    counts[addr] = counts.get(addr, 0) + 1
                    if value is not None:
                        stamp = cast(Stamp, value)
                        if stamp.sod is not None:
                            self._tick(stamp.sod)
                            if stamp.date is not None:
                                self._date, self._date_sod = stamp.date, stamp.sod
                    return
        elif stype not in CHECKERS:
            self._accept(line_no, talker, stype, text, warns)
            return
        fields = buf[body_start : end - 5].decode("ascii").split(",")
        self._judge(line_no, talker, stype, fields, text, warns, has_checksum=True)

    def _address(self, addr: bytes) -> tuple[str, str, _FastEntry | None] | None:
        """Look up (and cache) an address that the fast path may take, or None."""
        a = addr.decode("ascii")
        if len(self._addresses) > 256 or _ADDRESS.match(a) is None:
            return None
        if a[0] == "P":
            info: tuple[str, str, _FastEntry | None] = ("P", a, None)
        elif len(a) == 5 and a[:2] in TALKERS:
            info = (a[:2], a[2:], FAST.get(a[2:]))
        else:
            return None
        self._addresses[addr] = info
        return info

    def _clock(self, ts: bytes | None) -> tuple[float, dt.time] | None:
        """Return (seconds of day, time) of a time field the fast patterns already validated."""
        if ts is None:
            return None
        hit = self._times.get(ts)
        if hit is None:
            if len(self._times) > 64:
                self._times.clear()
            h, mi, se = int(ts[0:2]), int(ts[2:4]), int(ts[4:6])
            us = min(round(float(ts[6:]) * 1_000_000), 999_999) if len(ts) > 6 else 0
            sod = h * 3600 + mi * 60 + se + us / 1e6
            hit = self._times[ts] = (sod, dt.time(h, mi, min(se, 59), us, tzinfo=dt.UTC))
        return hit

    def _slow(self, buf: bytes, pos: int, limit: int, *, final: bool) -> int:
        """Scan items starting in [pos, limit); return where scanning stopped, or -(pos+1) to wait."""
        n = len(buf)
        while pos < limit:
            if self._skipping:
                pos = _TEXT.match(buf, pos).end()  # type: ignore[union-attr]
                if pos >= n:
                    break
                self._skipping = False
                continue
            c = buf[pos]
            if c == 0x24:  # "$"
                end = _LINE.match(buf, pos).end()  # type: ignore[union-attr]
                if end - pos - 1 > HARD_CAP:
                    self._sentence(buf[pos + 1 : pos + 101], _CUT, long=True)
                    self._skipping = True
                    self._in_noise = False
                    pos = end
                    continue
                if end >= n:
                    if not final:
                        return -pos - 1
                    term, nxt = _EOF, end
                else:
                    t = buf[end]
                    if t == 0x0D:
                        if end + 1 < n:
                            term, nxt = (_CRLF, end + 2) if buf[end + 1] == 0x0A else (_CR, end + 1)
                        elif final:
                            term, nxt = _CR, end + 1
                        else:
                            return -pos - 1
                    elif t == 0x0A:
                        term, nxt = _LF, end + 1
                    else:
                        term, nxt = _CUT, end
                self._sentence(buf[pos + 1 : end], term)
                self._in_noise = False
                pos = nxt
                continue
            if c == 0x0D or c == 0x0A:
                pos += 1
                continue
            if c == 0xB5:
                step = self._ubx(buf, pos, n, final)
                if step < 0:
                    return -pos - 1
                if step > 0:
                    pos += step
                    continue
            elif c == 0x4E:  # "N": Android GnssLogger "NMEA,$..."
                if buf.startswith(_LOGGER_PREFIX, pos):
                    self._prefixed = True
                    pos += 5
                    continue
                if not final and n - pos < 6 and _LOGGER_PREFIX.startswith(buf[pos:]):
                    return -pos - 1
            m = _NEXT.search(buf, pos + 1, limit)
            stop = m.start() if m else limit
            self._noise(stop - pos)
            pos = stop
        return pos

    def _noise(self, n: int) -> None:
        self._report.noise_bytes += n
        self._prefixed = False
        if not self._in_noise:
            self._in_noise = True
            _bump(self._report.rejected_sentences, BINARY_NOISE)

    def _ubx(self, buf: bytes, pos: int, n: int, final: bool) -> int:
        """Consume a UBX frame at pos: bytes used, 0 if not a frame (noise), -1 to wait for data."""
        if pos + 1 >= n:
            return 0 if final else -1
        if buf[pos + 1] != 0x62:
            return 0
        if n - pos < ubx.HEADER_LEN:
            if not final:
                return -1
            _bump(self._report.rejected_sentences, UBX_TRUNCATED)
            self._in_noise = False
            return 2
        length = buf[pos + 4] | (buf[pos + 5] << 8)
        if length > ubx.MAX_PAYLOAD:
            return 0
        total = length + 8
        if n - pos < total:
            if not final:
                return -1
            # Cut short at the end of the log: count it, then read what follows the sync as bytes.
            _bump(self._report.rejected_sentences, UBX_TRUNCATED)
            self._in_noise = False
            return 2
        frame = buf[pos : pos + total]
        self._in_noise = False
        self._prefixed = False
        if not ubx.frame_ok(frame):
            # Resync just after the sync bytes: an NMEA sentence inside a false frame is still read.
            _bump(self._report.rejected_sentences, UBX_BAD_CHECKSUM)
            return 2
        name, msg = ubx.decode(frame)
        _bump(self._report.ubx_messages, name)
        if msg is None:
            _bump(self._report.warnings, UBX_UNDECODED)
        elif name == "NAV-PVT":
            self.ubx_fixes.append(
                UbxFix(
                    int(msg.iTOW),
                    float(msg.lat),
                    float(msg.lon),
                    float(msg.hMSL) / 1000.0,
                    float(msg.height) / 1000.0,
                    int(msg.fixType),
                    int(msg.numSV),
                )
            )
        return total

    # -- one sentence --------------------------------------------------------------------------
    def _sentence(self, raw: bytes, term: int, *, long: bool = False) -> None:
        rep = self._report
        rep.sentences += 1
        line_no = rep.sentences
        prefixed, self._prefixed = self._prefixed, False
        text = raw.decode("ascii")
        lenient = self._lenient
        warns: list[str] = []
        if long:
            self._reject(line_no, "", "", text, TOO_LONG, warns)
            return
        if prefixed:
            m = _LOGGER_SUFFIX.search(text)
            if m is not None:
                text = text[: m.start()]
        star = text.find("*")
        if term >= _CR:
            ck = text[star + 1 :] if star >= 0 else ""
            if term != _CR and (len(ck) != 2 or ck[0] not in _HEX or ck[1] not in _HEX):
                self._reject(line_no, "", "", text, TRUNCATED, warns)
                return
            if not lenient:
                self._reject(line_no, "", "", text, BAD_TERMINATOR, warns)
                return
            warns.append(BAD_TERMINATOR)
        elif term == _LF:
            warns.append(LF_TERMINATOR)
        if star < 0:
            if not lenient:
                self._reject(line_no, "", "", text, MISSING_CHECKSUM, warns)
                return
            warns.append(MISSING_CHECKSUM)
            body = text
        else:
            body = text[:star]
            ck = text[star + 1 :]
            if len(ck) != 2:
                reason = BAD_TERMINATOR if len(ck) > 2 and "*" not in ck else BAD_CHECKSUM
                self._reject(line_no, "", "", text, reason, warns)
                return
            expected = int(ck, 16) if ck[0] in _HEX and ck[1] in _HEX else -1
            if functools.reduce(operator.xor, raw[:star], 0) != expected:
                self._reject(line_no, "", "", text, BAD_CHECKSUM, warns)
                return
        if len(text) > MAX_SENTENCE:
            if not lenient:
                self._reject(line_no, "", "", text, TOO_LONG, warns)
                return
            warns.append(TOO_LONG)
        fields = body.split(",")
        addr = fields[0]
        if _ADDRESS.match(addr) is None:
            self._reject(line_no, "", "", text, MALFORMED, warns)
            return
        if addr[0] == "P":
            talker, stype = "P", addr
        elif len(addr) == 5:
            talker, stype = addr[:2], addr[2:]
            if talker not in TALKERS:
                if not lenient:
                    self._reject(line_no, talker, stype, text, UNKNOWN_TALKER, warns)
                    return
                warns.append(UNKNOWN_TALKER)
        else:
            self._reject(line_no, "", "", text, MALFORMED, warns)
            return
        self._judge(line_no, talker, stype, fields[1:], text, warns, has_checksum=star >= 0)

    def _judge(
        self,
        line_no: int,
        talker: str,
        stype: str,
        fields: list[str],
        text: str,
        warns: list[str],
        *,
        has_checksum: bool,
    ) -> None:
        problem, value = check_fields(stype, fields)
        if problem is not None:
            if problem in (SHORT, MALFORMED):
                # Without a checksum, a sentence short of fields was most likely cut off.
                problem = MALFORMED if has_checksum else TRUNCATED
            self._reject(line_no, talker, stype, text, problem, warns)
            return
        if type(value) is GsvPart:
            self._gsv(line_no, talker, text, warns, value)
            return
        self._accept(line_no, talker, stype, text, warns, value)

    def _reject(
        self, line_no: int, talker: str, stype: str, text: str, reason: str, warns: list[str]
    ) -> None:
        _bump(self._report.rejected_sentences, reason)
        for w in warns:
            _bump(self._report.warnings, w)
        if self.verdicts is not None:
            self.verdicts.append(
                SentenceVerdict(line_no, talker, stype, False, reason, tuple(warns), text[:100])
            )

    def _accept(
        self,
        line_no: int,
        talker: str,
        stype: str,
        text: str,
        warns: list[str],
        value: object = None,
    ) -> None:
        rep = self._report
        rep.accepted += 1
        by_type = rep.by_type
        by_type[stype] = by_type.get(stype, 0) + 1
        by_talker = rep.by_talker
        by_talker[talker] = by_talker.get(talker, 0) + 1
        for w in warns:
            _bump(rep.warnings, w)
        reason: str | None = None
        if type(value) is Position:
            rep.epochs += 1
            if value.sod is not None:
                self._tick(value.sod)
            if value.lat is None or value.lon is None or value.quality == 0 or value.time is None:
                reason = NO_FIX
                _bump(rep.rejected_sentences, NO_FIX)
            else:
                fix = Fix(
                    value.time,
                    self._timestamp(value.sod, value.time),
                    value.lat,
                    value.lon,
                    value.alt_msl_m,
                    value.geoid_sep_m,
                    value.quality,
                    value.sats,
                    value.hdop,
                    stype,
                    talker,
                    line_no,
                )
                self.fixes.append(fix)
                self._new.append(fix)
        elif type(value) is Stamp and value.sod is not None:
            self._tick(value.sod)
            if value.date is not None:
                self._date, self._date_sod = value.date, value.sod
        if self.verdicts is not None:
            self.verdicts.append(
                SentenceVerdict(line_no, talker, stype, True, reason, tuple(warns), text[:100])
            )

    # -- GSV sequences -------------------------------------------------------------------------
    def _gsv(self, line_no: int, talker: str, text: str, warns: list[str], part: GsvPart) -> None:
        key = (talker, part.signal)
        seq = self._gsv_open.get(key)
        item = (line_no, text, warns)
        if part.num == 1:
            if seq is not None:
                self._gsv_flush(key, complete=False)
            if part.total == 1:
                self._accept(line_no, talker, "GSV", text, warns)
            else:
                self._gsv_open[key] = _GsvSeq(part.total, part.in_view, 2, [item])
            return
        if (
            seq is None
            or seq.total != part.total
            or seq.in_view != part.in_view
            or seq.next_num != part.num
        ):
            if seq is not None:
                self._gsv_flush(key, complete=False)
            self._reject(line_no, talker, "GSV", text, INCOMPLETE_GSV, warns)
            return
        seq.items.append(item)
        seq.next_num = part.num + 1
        if part.num == part.total:
            self._gsv_flush(key, complete=True)

    def _gsv_flush(self, key: tuple[str, str], *, complete: bool) -> None:
        seq = self._gsv_open.pop(key)
        for line_no, text, warns in seq.items:
            if complete:
                self._accept(line_no, key[0], "GSV", text, warns)
            else:
                self._reject(line_no, key[0], "GSV", text, INCOMPLETE_GSV, warns)

    # -- time ----------------------------------------------------------------------------------
    def _tick(self, sod: float) -> None:
        last = self._last_sod
        if last is not None and sod < last - 43_200:
            self._day += 86_400  # UTC midnight passed
        self._last_sod = sod
        self._epochs.add(sod + self._day)

    def _timestamp(self, sod: float | None, time: dt.time) -> dt.datetime | None:
        date = self._date
        if date is None or sod is None:
            return None
        if self._date_sod - sod > 43_200:
            date += _DAY
        elif sod - self._date_sod > 43_200:
            date -= _DAY
        return dt.datetime.combine(date, time)

    def _rates(self) -> None:
        rep = self.report
        epochs = sorted(self._epochs)
        if len(epochs) < 2:
            return
        step = statistics.median(b - a for a, b in itertools.pairwise(epochs))
        window = epochs[-1] - epochs[0] + step
        if window > 0:
            rep.rates_hz = {t: round(n / window, 6) for t, n in sorted(rep.by_type.items())}


def read_fixes(
    source: str | os.PathLike[str] | bytes, mode: Mode = "certification"
) -> tuple[list[Fix], ValidationReport]:
    """Read a receiver log (path or bytes) and return its validated fixes and the report."""
    reader = NmeaReader(mode)
    if isinstance(source, (bytes, bytearray, memoryview)):
        reader.feed(bytes(source))
    else:
        try:
            with open(source, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    reader.feed(chunk)
        except OSError as exc:
            raise InvalidInput(
                "satcert.nmea.unreadable",
                f"cannot read NMEA log {os.fspath(source)!r}: {exc.strerror or exc}",
                path=os.fspath(source),
            ) from exc
    report = reader.close()
    return reader.fixes, report


def read_verdicts(
    source: bytes, mode: Mode = "certification"
) -> tuple[list[SentenceVerdict], ValidationReport]:
    """Validate bytes and return one verdict per sentence (GSV verdicts come when their sequence ends)."""
    reader = NmeaReader(mode, keep_verdicts=True)
    reader.feed(source)
    report = reader.close()
    return reader.verdicts or [], report
