"""Score logged positions against a surveyed truth.

CEP50/CEP95 are percentiles of the horizontal error sqrt(dE² + dN²), V50/V95 percentiles of |dU|,
2DRMS = 2·sqrt(mean(dE² + dN²)), bias = mean (dE, dN, dU), all in the truth's local ENU frame
(WGS 84, pymap3d). Percentiles use numpy's default "linear" method (Hyndman & Fan type 7): the
one that reproduces the RTKLIB/GEONET reference figures (SPP CEP50 1.110 m, CEP95 2.549 m); the
inverted-CDF, Weibull, Hazen and interpolated-inverted-CDF definitions each miss one by over 1 mm.
Availability is valid fixes over the epochs the log should hold (its time span over its rate);
RTK fixed rate is the share of GGA quality 4 among position fixes, time-to-fix the time from the
first epoch of the log to the first quality-4 epoch.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Final, Protocol

import numpy as np

from mingyue.enablers.satcert.engine.geodesy import FloatArray, Truth, enu_errors
from mingyue.sdk.errors import InvalidInput

RTK_FIXED = 4
RTK_FLOAT = 5
# GGA quality: 1 GPS SPS, 2 DGPS, 3 PPS, 4 RTK fixed, 5 RTK float are measured positions;
# 6 (dead reckoning), 7 (manual input) and 8 (simulator) are not, so they never count as fixes.
POSITION_QUALITIES: frozenset[int] = frozenset({1, 2, 3, 4, 5})
PERCENTILE_METHOD: Final = "linear"
SECONDS_PER_DAY = 86_400.0


class GgaFix(Protocol):
    """A GGA/GNS position as the NMEA reader gives it (``engine.nmea.Fix`` satisfies this)."""

    @property
    def time(self) -> time: ...  # UTC time of day from the sentence
    @property
    def timestamp(self) -> datetime | None: ...  # UTC date and time when a date was seen
    @property
    def lat(self) -> float: ...
    @property
    def lon(self) -> float: ...
    @property
    def alt_msl_m(self) -> float | None: ...  # GGA field 9: altitude above mean sea level
    @property
    def geoid_sep_m(self) -> float | None: ...  # GGA field 11: geoid separation N
    @property
    def quality(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Epoch:
    """One epoch of a log: when it was, and the position if the receiver had one."""

    t: float | None  # seconds on one continuous scale (POSIX, or unwrapped time of day)
    lat: float | None  # degrees; None: no position this epoch
    lon: float | None
    h: float | None  # ellipsoidal height (m); None when unknown
    quality: int  # GGA fix quality, 0 = no fix

    @property
    def has_position(self) -> bool:
        """Tell whether the epoch carries a measured position."""
        return self.lat is not None and self.lon is not None and self.quality in POSITION_QUALITIES


def ellipsoidal_height(alt_msl_m: float | None, geoid_sep_m: float | None) -> float | None:
    """Return h = H + N (NMEA 0183 GGA: altitude above MSL plus geoid separation), None if unknown.

    A missing separation is not taken as zero: that would put the fix tens of metres off
    vertically (−36.5 m at GEONET 0759), so the fix is then scored horizontally only.
    """
    if alt_msl_m is None or geoid_sep_m is None:
        return None
    return alt_msl_m + geoid_sep_m


def epochs_from_fixes(fixes: Iterable[GgaFix]) -> list[Epoch]:
    """Turn reader fixes into epochs: h = altitude + separation, one continuous time scale.

    Dated fixes use their UTC timestamps; if any fix lacks a date the time of day is used for all,
    adding a day whenever it steps back by more than twelve hours (a log across midnight).
    """
    items = list(fixes)
    dated = [f.timestamp for f in items]
    times: list[float]
    if items and all(d is not None for d in dated):
        times = [_posix(d) for d in dated if d is not None]
    else:
        times = unwrap_time_of_day([_seconds_of_day(f.time) for f in items])
    return [
        Epoch(
            t=t,
            lat=f.lat,
            lon=f.lon,
            h=ellipsoidal_height(f.alt_msl_m, f.geoid_sep_m),
            quality=f.quality,
        )
        for f, t in zip(items, times, strict=True)
    ]


def unwrap_time_of_day(seconds: Sequence[float]) -> list[float]:
    """Make times of day continuous across midnight (a step back of over 12 h adds a day)."""
    out: list[float] = []
    offset = 0.0
    prev: float | None = None
    for s in seconds:
        if prev is not None and s < prev - SECONDS_PER_DAY / 2:
            offset += SECONDS_PER_DAY
        out.append(s + offset)
        prev = s
    return out


@dataclass(frozen=True, slots=True)
class AccuracyReport:
    """What the scorer measured (metres, seconds, shares 0..1)."""

    fixes: int
    cep50_m: float
    cep95_m: float
    drms2_m: float
    v50_m: float | None
    v95_m: float | None
    bias_enu_m: tuple[float, float, float | None]
    availability: float | None
    rtk_fixed_rate: float
    rtk_time_to_fix_s: float | None
    rejected_sentences: dict[str, int]
    truth: Truth
    expected_epochs: int
    position_epochs: int
    rate_s: float | None
    span_s: float | None
    duplicates: int
    fixes_without_height: int
    excluded_by_quality: dict[int, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """Return the report as plain data (the `satcert score --json` document)."""
        return {
            "fixes": self.fixes,
            "cep50_m": self.cep50_m,
            "cep95_m": self.cep95_m,
            "drms2_m": self.drms2_m,
            "v50_m": self.v50_m,
            "v95_m": self.v95_m,
            "bias_enu_m": list(self.bias_enu_m),
            "availability": self.availability,
            "rejected_sentences": dict(self.rejected_sentences),
            "rtk_fixed_rate": self.rtk_fixed_rate,
            "rtk_time_to_fix_s": self.rtk_time_to_fix_s,
            "truth": self.truth.to_dict(),
            "epochs": {
                "expected": self.expected_epochs,
                "with_position": self.position_epochs,
                "rate_s": self.rate_s,
                "span_s": self.span_s,
                "duplicates": self.duplicates,
                "without_height": self.fixes_without_height,
                "excluded_by_quality": {str(q): n for q, n in self.excluded_by_quality.items()},
            },
        }


def score(
    epochs: Sequence[Epoch],
    truth: Truth,
    *,
    qualities: Iterable[int] | None = None,
    rate_s: float | None = None,
    expected_epochs: int | None = None,
    log_epochs: int = 0,
    rejected: Mapping[str, int] | None = None,
) -> AccuracyReport:
    """Score epochs against the truth.

    ``qualities`` limits the fixes scored for accuracy (e.g. ``{4}``: RTK fixed only; default all
    measured positions, GGA 1–5). ``rate_s`` overrides the log rate (else the median step between
    epochs), ``expected_epochs`` the epochs the session should hold (else its time span over the
    rate, and never fewer than ``log_epochs``, the GGA epochs the reader saw with or without a
    fix). ``rejected`` is the reader's count of rejected sentences by reason, passed through.
    """
    if rate_s is not None and not rate_s > 0:
        raise InvalidInput("satcert.score.bad_rate", f"rate {rate_s} s must be > 0", field="--rate")
    if expected_epochs is not None and expected_epochs < 1:
        raise InvalidInput(
            "satcert.score.bad_rate",
            f"expected epochs {expected_epochs} must be ≥ 1",
            field="--expected-epochs",
        )
    wanted = POSITION_QUALITIES if qualities is None else frozenset(qualities)
    unique, duplicates = _dedupe(epochs)
    positions = [ep for ep in unique if ep.has_position]
    used = [ep for ep in positions if ep.quality in wanted]
    excluded: dict[int, int] = {}
    for ep in positions:
        if ep.quality not in wanted:
            excluded[ep.quality] = excluded.get(ep.quality, 0) + 1
    if not used:
        raise InvalidInput(
            "satcert.score.no_fixes",
            f"no position fix to score ({len(unique)} epochs, {len(positions)} with a "
            f"position, {len(used)} of quality {sorted(wanted)})",
        )

    lat = np.array([ep.lat for ep in used], dtype=np.float64)
    lon = np.array([ep.lon for ep in used], dtype=np.float64)
    has_h = np.array([ep.h is not None for ep in used], dtype=bool)
    # A fix without a known height is scored horizontally at the truth's height: the horizontal
    # error this introduces is (height error × distance / Earth radius), far below a millimetre.
    h = np.array([truth.h if ep.h is None else ep.h for ep in used], dtype=np.float64)
    e, n, u = enu_errors(lat, lon, h, truth)
    horizontal = np.hypot(e, n)
    up = u[has_h]

    times = sorted({ep.t for ep in unique if ep.t is not None})
    rate = rate_s if rate_s is not None else _median_step(times)
    span = times[-1] - times[0] if times else None
    from_span = round(span / rate) + 1 if span is not None and rate else len(times)
    expected = (
        expected_epochs
        if expected_epochs is not None
        else max(from_span, log_epochs, len(unique), 1)
    )
    fixed = [ep for ep in positions if ep.quality == RTK_FIXED]
    start = times[0] if times else None
    first_fixed = next(
        (ep.t for ep in unique if ep.quality == RTK_FIXED and ep.t is not None), None
    )

    return AccuracyReport(
        fixes=len(used),
        cep50_m=_pct(horizontal, 50),
        cep95_m=_pct(horizontal, 95),
        drms2_m=float(2.0 * np.sqrt(np.mean(e**2 + n**2))),
        v50_m=_pct(np.abs(up), 50) if up.size else None,
        v95_m=_pct(np.abs(up), 95) if up.size else None,
        bias_enu_m=(float(np.mean(e)), float(np.mean(n)), float(np.mean(up)) if up.size else None),
        availability=min(1.0, len(positions) / expected),
        rtk_fixed_rate=len(fixed) / len(positions),
        rtk_time_to_fix_s=(
            first_fixed - start if first_fixed is not None and start is not None else None
        ),
        rejected_sentences=dict(rejected or {}),
        truth=truth,
        expected_epochs=expected,
        position_epochs=len(positions),
        rate_s=rate,
        span_s=span,
        duplicates=duplicates,
        fixes_without_height=int(np.count_nonzero(~has_h)),
        excluded_by_quality=dict(sorted(excluded.items())),
    )


def _pct(values: FloatArray, q: float) -> float:
    return float(np.percentile(values, q, method=PERCENTILE_METHOD))


def _dedupe(epochs: Sequence[Epoch]) -> tuple[list[Epoch], int]:
    # A receiver that sends GGA and GNS for one epoch gives two records with the same time:
    # scoring both would weigh that epoch twice. The first record of a time wins.
    seen: set[float] = set()
    out: list[Epoch] = []
    for ep in epochs:
        if ep.t is not None:
            if ep.t in seen:
                continue
            seen.add(ep.t)
        out.append(ep)
    return out, len(epochs) - len(out)


def _median_step(times: Sequence[float]) -> float | None:
    steps = [b - a for a, b in itertools.pairwise(times) if b > a]
    return statistics.median(steps) if steps else None


def _seconds_of_day(t: time) -> float:
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


def _posix(d: datetime) -> float:
    return (d if d.tzinfo is not None else d.replace(tzinfo=UTC)).timestamp()
