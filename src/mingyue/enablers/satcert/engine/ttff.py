"""Time to first fix (TTFF) after cold, warm and hot resets; median and 95th percentile over N.

A reset is sent either as a UBX CFG-RST frame (u-blox receivers; ``navBbrMask`` 0xFFFF cold,
0x0001 warm (ephemeris cleared), 0x0000 hot; ``resetMode`` 2 = controlled GNSS-only software
reset) or as a vendor AT command (default Quectel ``AT+QGPSDEL=0|2|1``; a plan may give others).

TTFF runs from the reset (the moment the UBX frame was written, or the OK of the AT command)
to the arrival of the first GGA that passes NMEA validation (checksum, fields) with quality ≥ 1
and a position — read by ``engine/nmea.py``. Sentences that arrive within ``guard_s`` of a UBX
reset are ignored: they were on the wire before the reset took effect.

The 95th percentile is the nearest-rank one (``ceil(0.95·N)``-th smallest); a trial without a
fix within its timeout counts as +∞, so a DUT that sometimes never fixes cannot pass a limit.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Literal

from pyubx2 import SET, UBXMessage

from mingyue.enablers.satcert.engine.at import TIME_EPSILON, AtEngine, TimedLine
from mingyue.enablers.satcert.engine.link import LinkClosed
from mingyue.enablers.satcert.engine.nmea import read_fixes

ResetMode = Literal["cold", "warm", "hot"]
NAV_BBR_MASK: dict[str, int] = {"cold": 0xFFFF, "warm": 0x0001, "hot": 0x0000}
QUECTEL_RESET: dict[str, str] = {
    "cold": "AT+QGPSDEL=0",
    "warm": "AT+QGPSDEL=2",
    "hot": "AT+QGPSDEL=1",
}


def ubx_cfg_rst(mode: str, reset_mode: int = 2) -> bytes:
    """Return the UBX CFG-RST frame for a cold, warm or hot start."""
    if mode not in NAV_BBR_MASK:
        raise ValueError(f"reset mode must be cold, warm or hot, not {mode!r}")
    payload = NAV_BBR_MASK[mode].to_bytes(2, "little") + bytes((reset_mode, 0))
    return bytes(UBXMessage(b"\x06", b"\x04", SET, payload=payload).serialize())


@dataclass(frozen=True)
class Trial:
    """One reset and what followed."""

    mode: str
    index: int
    ttff_s: float | None  # None: no valid fix within the timeout
    status: Literal["fix", "timeout", "reset_failed", "closed"]
    sentences: int  # NMEA lines seen after the reset
    rejected: int  # of them, lines that failed validation
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True)
class TtffStats:
    """N trials of one reset mode."""

    mode: str
    n: int
    fixes: int
    timeouts: int
    median_s: float | None  # None when it is +inf (half the trials never fixed)
    p95_s: float | None
    min_s: float | None
    max_s: float | None
    trials: tuple[Trial, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready summary (trials as their TTFF in seconds, null for none)."""
        return {
            "mode": self.mode,
            "n": self.n,
            "fixes": self.fixes,
            "timeouts": self.timeouts,
            "median_s": self.median_s,
            "p95_s": self.p95_s,
            "min_s": self.min_s,
            "max_s": self.max_s,
            "trials_s": [t.ttff_s for t in self.trials],
        }


def nearest_rank(values: list[float], q: float) -> float:
    """Return the nearest-rank ``q`` quantile (0 < q ≤ 1) of a non-empty list."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    k = max(1, math.ceil(q * len(ordered)))
    return ordered[k - 1]


def _finite(x: float) -> float | None:
    return round(x, 6) if math.isfinite(x) else None


def summarize(mode: str, trials: list[Trial]) -> TtffStats:
    """Reduce trials to median, 95th percentile, min and max (timeouts as +inf)."""
    values = [t.ttff_s if t.ttff_s is not None else math.inf for t in trials]
    fixes = [v for v in values if math.isfinite(v)]
    return TtffStats(
        mode=mode,
        n=len(trials),
        fixes=len(fixes),
        timeouts=len(values) - len(fixes),
        median_s=_finite(statistics.median(values)) if values else None,
        p95_s=_finite(nearest_rank(values, 0.95)) if values else None,
        min_s=_finite(min(fixes)) if fixes else None,
        max_s=_finite(max(values)) if values else None,
        trials=tuple(trials),
    )


def _new_nmea(engine: AtEngine, seen: int) -> list[TimedLine]:
    fresh = engine.nmea_count - seen
    if fresh <= 0:
        return []
    kept = list(engine.nmea)
    return kept[-min(fresh, len(kept)) :]


def measure_once(
    engine: AtEngine,
    mode: str,
    index: int = 0,
    *,
    method: Literal["ubx", "at"] = "at",
    at_commands: dict[str, str] | None = None,
    timeout_s: float = 120.0,
    guard_s: float = 0.02,
    slice_s: float = 0.05,
) -> Trial:
    """Reset the receiver once and wait for its first valid fix."""
    if mode not in NAV_BBR_MASK:
        raise ValueError(f"reset mode must be cold, warm or hot, not {mode!r}")
    try:
        engine.poll(0.0)
        seen = engine.nmea_count
        if method == "ubx":
            engine.link.write(ubx_cfg_rst(mode))
            t_reset = engine.now()
            ignore_before = t_reset + guard_s
        else:
            cmd = (at_commands or QUECTEL_RESET)[mode]
            resp = engine.command(cmd)
            if resp.status == "closed":
                return Trial(mode, index, None, "closed", 0, 0)
            if not resp.ok:
                return Trial(mode, index, None, "reset_failed", 0, 0)
            t_reset = resp.sent_at
            # lines read while the command ran came before its OK: all of them predate the reset
            ignore_before = -math.inf
            seen = engine.nmea_count
        deadline = t_reset + timeout_s
        sentences = rejected = 0
        while True:
            for line in _new_nmea(engine, seen):
                seen += 1
                if line.t < ignore_before:
                    continue
                sentences += 1
                fixes, report = read_fixes(line.text.encode("ascii", "replace") + b"\r\n")
                if report.accepted == 0:
                    rejected += 1
                    continue
                if fixes and fixes[0].quality >= 1:
                    fix = fixes[0]
                    return Trial(
                        mode, index, line.t - t_reset, "fix", sentences, rejected, fix.lat, fix.lon
                    )
            seen = engine.nmea_count
            remaining = deadline - engine.now()
            if remaining <= TIME_EPSILON:
                return Trial(mode, index, None, "timeout", sentences, rejected)
            engine.poll(min(slice_s, remaining))
    except LinkClosed:
        return Trial(mode, index, None, "closed", 0, 0)


def run_ttff(
    engine: AtEngine,
    mode: str,
    n: int,
    *,
    method: Literal["ubx", "at"] = "at",
    at_commands: dict[str, str] | None = None,
    timeout_s: float = 120.0,
) -> TtffStats:
    """Reset ``n`` times in ``mode`` and summarise; stops early when the link closes."""
    if n < 1:
        raise ValueError("n must be at least 1")
    trials: list[Trial] = []
    for i in range(n):
        trial = measure_once(
            engine, mode, i, method=method, at_commands=at_commands, timeout_s=timeout_s
        )
        trials.append(trial)
        if trial.status == "closed":
            break
    return summarize(mode, trials)
