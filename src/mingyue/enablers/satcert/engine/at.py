"""AT command engine (ITU-T V.250, 3GPP TS 27.007) over a :class:`~.link.ByteLink`.

One command at a time: send ``AT…\\r``, read lines until a final result code or the command's
deadline. Lines are sorted as they arrive:

- the echo of the command line (ATE1, V.250 §6.2.4) is stripped;
- final result codes (V.250 §5.7: OK, ERROR, NO CARRIER, BUSY, NO ANSWER, NO DIALTONE, CONNECT;
  27.007 §9.2: ``+CME ERROR: <err>``, 27.005 §3.2.5: ``+CMS ERROR: <err>``) end the command;
- NMEA sentences (``$…``) on the same port go to a bounded NMEA buffer with their arrival time;
- unsolicited result codes (``+NAME: …`` of another command, ``RING``, and a registration URC of the
  same command — told apart by its form, see :func:`is_registration_urc`) go to a bounded URC
  buffer with their arrival time, counted even when the buffer is full;
- every other line is an information response.

Verbose result codes (ATV1) are assumed: the bench sends ``ATV1`` when it opens the DUT.
Concatenated command lines (``AT+CGMI;+CGMM``) are not split.
"""

from __future__ import annotations

import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from mingyue.enablers.satcert.engine.link import ByteLink, Clock, LinkClosed

Status = Literal["ok", "error", "timeout", "closed"]
FINAL_OK = ("OK", "CONNECT")
FINAL_ERROR = ("ERROR", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE")
REGISTRATION_PREFIXES = ("+CREG", "+CGREG", "+CEREG", "+C5GREG")
_NAME_RE = re.compile(r"^([+^%$#*][A-Z0-9_]+):\s?(.*)$", re.IGNORECASE)
_CME_RE = re.compile(r"^\+(CME|CMS) ERROR:\s*(.*)$", re.IGNORECASE)
MAX_DRAIN_READS = 256  # reads past a deadline while data keeps coming (a flood ends a wait too)
TIME_EPSILON = 1e-6  # s: deadlines closer than this count as reached
MAX_LINE = 1024  # longer lines are cut and counted (a DUT spewing binary never grows a line)


@dataclass(frozen=True)
class TimedLine:
    """One line from the DUT with its arrival time (s since the engine started)."""

    t: float
    text: str


@dataclass(frozen=True)
class AtResponse:
    """The outcome of one AT command."""

    command: str
    status: Status
    final: str  # the final result code line, "" on timeout or a closed link
    lines: tuple[str, ...]  # information responses, echo and URCs removed
    urcs: tuple[TimedLine, ...]  # URCs that arrived while the command ran
    echoed: bool
    sent_at: float
    elapsed_s: float
    first_byte_s: float | None
    error_code: int | None = None  # +CME/+CMS ERROR <err> when numeric
    error_text: str | None = None  # +CME/+CMS ERROR text when verbose (AT+CMEE=2)
    lines_dropped: int = 0

    @property
    def ok(self) -> bool:
        """Tell whether the command ended with OK (or CONNECT)."""
        return self.status == "ok"

    def info(self, prefix: str | None = None) -> list[str]:
        """Return the information lines, those of ``prefix`` (``+CSQ``) without it when given."""
        if prefix is None:
            return list(self.lines)
        out = []
        for line in self.lines:
            head, _, rest = line.partition(":")
            if head.strip().upper() == prefix.upper():
                out.append(rest.strip())
        return out


def command_prefix(command: str) -> str | None:
    """Return the response prefix of an extended command (``AT+CEREG?`` → ``+CEREG``)."""
    m = re.match(r"^AT([+^%$#*][A-Z0-9_]+)", command.strip(), re.IGNORECASE)
    return m.group(1).upper() if m else None


def split_fields(text: str) -> list[str]:
    """Split a response's parameters on commas outside double quotes."""
    fields: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
            cur.append(ch)
        elif ch == "," and not quoted:
            fields.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    fields.append("".join(cur).strip())
    return fields


def is_registration_urc(line: str) -> bool:
    """Tell a registration URC (``+CEREG: <stat>[,"<tac>",…]``) from a read response.

    27.007 §7.2/§10.1.22/§10.1.74: the read response starts ``<n>,<stat>`` (two numbers), the
    URC starts ``<stat>`` followed by a quoted area code or nothing.
    """
    m = _NAME_RE.match(line)
    if not m or m.group(1).upper() not in REGISTRATION_PREFIXES:
        return False
    fields = split_fields(m.group(2))
    if len(fields) == 1:
        return True
    return fields[1].startswith('"') or fields[1] == ""


def is_final(line: str) -> bool:
    """Tell whether a line is a final result code."""
    up = line.upper()
    if up in FINAL_ERROR or up == "OK":
        return True
    return up.startswith("CONNECT") or _CME_RE.match(line) is not None


@dataclass
class AtEngine:
    """Send AT commands and sort what comes back; every wait is bounded by a deadline."""

    link: ByteLink
    clock: Clock = time.monotonic
    default_timeout_s: float = 5.0
    max_urcs: int = 1000
    max_nmea: int = 20000
    max_lines_per_response: int = 1000
    urcs: deque[TimedLine] = field(init=False)
    nmea: deque[TimedLine] = field(init=False)
    urc_count: int = 0
    nmea_count: int = 0
    stray: int = 0  # non-URC lines outside any command (late answers after a timeout)
    cut_lines: int = 0
    timings: list[tuple[str, Status, float]] = field(default_factory=list)
    closed: bool = False
    _buf: bytearray = field(default_factory=bytearray)
    _t0: float = 0.0

    def __post_init__(self) -> None:
        self.urcs = deque(maxlen=self.max_urcs)
        self.nmea = deque(maxlen=self.max_nmea)
        self._t0 = self.clock()

    @property
    def urcs_dropped(self) -> int:
        """Return how many URCs were counted but not kept (buffer full)."""
        return self.urc_count - len(self.urcs)

    def now(self) -> float:
        """Return seconds since the engine started."""
        return self.clock() - self._t0

    # -- lines ---------------------------------------------------------------------------------
    def _read_line(self, deadline: float, drained: list[bool]) -> TimedLine | None:
        """Return the next non-empty line before ``deadline`` (engine time), else None."""
        while True:
            line = self._pop_line()
            if line is not None:
                return line
            remaining = deadline - self.now()
            if remaining <= TIME_EPSILON:  # float residue must not spin a read that cannot wait
                # past the deadline, take what is already waiting (bounded by MAX_DRAIN_READS): a DUT that
                # never stops talking cannot keep a command (or a poll) alive
                if len(drained) >= MAX_DRAIN_READS or (drained and not drained[-1]):
                    return None
                remaining = 0.0
            try:
                chunk = self.link.read(min(remaining, 0.5))
            except LinkClosed:
                self.closed = True
                raise
            if remaining == 0.0:
                drained.append(bool(chunk))
            if chunk:
                self._buf.extend(chunk)

    def _pop_line(self) -> TimedLine | None:
        while self._buf:
            ends = [i for i in (self._buf.find(b"\r"), self._buf.find(b"\n")) if i >= 0]
            idx = min(ends) if ends else -1
            skip = 1
            if idx < 0 or idx > MAX_LINE:
                if idx < 0 and len(self._buf) <= MAX_LINE:
                    return None
                idx, skip = MAX_LINE, 0
                self.cut_lines += 1
            raw = bytes(self._buf[:idx])
            del self._buf[: idx + skip]
            text = raw.decode("ascii", "replace").strip()
            if text:
                return TimedLine(self.now(), text)
        return None

    def _route_unsolicited(self, line: TimedLine) -> bool:
        """File an NMEA sentence or a URC; return False for any other line."""
        if line.text.startswith("$") or line.text.startswith("!"):
            self.nmea_count += 1
            self.nmea.append(line)
            return True
        m = _NAME_RE.match(line.text)
        if (m and not _CME_RE.match(line.text)) or line.text.upper() in ("RING", "NO CARRIER"):
            self.urc_count += 1
            self.urcs.append(line)
            return True
        return False

    # -- commands ------------------------------------------------------------------------------
    def poll(self, duration_s: float) -> int:
        """Collect URCs and NMEA for ``duration_s`` s; return how many lines arrived."""
        deadline = self.now() + max(duration_s, 0.0)
        drained: list[bool] = []
        n = 0
        while True:
            line = self._read_line(deadline, drained)
            if line is None:
                return n
            n += 1
            if not self._route_unsolicited(line):
                self.stray += 1

    def command(self, command: str, *, timeout_s: float | None = None) -> AtResponse:
        """Send one command line and return its response (status ``timeout``/``closed`` too)."""
        timeout = self.default_timeout_s if timeout_s is None else timeout_s
        if self.closed:
            return self._done(command, "closed", "", [], [], False, self.now(), None, 0)
        self.poll(0.0)  # what came before the command is not its answer
        sent_at = self.now()
        prefix = command_prefix(command)
        is_test = command.strip().endswith("=?")
        lines: list[str] = []
        urcs: list[TimedLine] = []
        echoed = False
        first: float | None = None
        dropped = 0
        try:
            self.link.write(command.encode("ascii") + b"\r")
            deadline = sent_at + timeout
            drained: list[bool] = []
            while True:
                line = self._read_line(deadline, drained)
                if line is None:
                    return self._done(
                        command, "timeout", "", lines, urcs, echoed, sent_at, first, dropped
                    )
                if first is None:
                    first = line.t - sent_at
                text = line.text
                if not echoed and not lines and text.upper() == command.strip().upper():
                    echoed = True
                    continue
                if is_final(text):
                    status: Status = (
                        "ok"
                        if text.upper() == "OK" or text.upper().startswith("CONNECT")
                        else "error"
                    )
                    return self._done(
                        command, status, text, lines, urcs, echoed, sent_at, first, dropped
                    )
                head = _NAME_RE.match(text)
                own = head is not None and prefix is not None and head.group(1).upper() == prefix
                if own and (is_test or not is_registration_urc(text)):
                    pass
                elif self._route_unsolicited(line):
                    if not text.startswith(("$", "!")) and len(urcs) < self.max_urcs:
                        urcs.append(line)
                    continue
                if len(lines) < self.max_lines_per_response:
                    lines.append(text)
                else:
                    dropped += 1
        except LinkClosed:
            self.closed = True
            return self._done(command, "closed", "", lines, urcs, echoed, sent_at, first, dropped)

    def _done(
        self,
        command: str,
        status: Status,
        final: str,
        lines: list[str],
        urcs: list[TimedLine],
        echoed: bool,
        sent_at: float,
        first: float | None,
        dropped: int,
    ) -> AtResponse:
        code: int | None = None
        etext: str | None = None
        m = _CME_RE.match(final)
        if m:
            value = m.group(2).strip()
            if value.isdigit():
                code = int(value)
            else:
                etext = value
        elapsed = self.now() - sent_at
        self.timings.append((command, status, elapsed))
        return AtResponse(
            command=command,
            status=status,
            final=final,
            lines=tuple(lines),
            urcs=tuple(urcs),
            echoed=echoed,
            sent_at=sent_at,
            elapsed_s=elapsed,
            first_byte_s=first,
            error_code=code,
            error_text=etext,
            lines_dropped=dropped,
        )
