"""Accuracy scorer: RTKLIB/GEONET 0759 reference figures to 1 mm, and synthetic known answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pymap3d
import pytest

from mingyue.enablers.satcert.engine.accuracy import (
    Epoch,
    ellipsoidal_height,
    epochs_from_fixes,
    score,
    unwrap_time_of_day,
)
from mingyue.enablers.satcert.engine.geodesy import (
    Truth,
    parse_truth,
    truth_from_ecef,
    truth_from_geodetic,
)
from mingyue.sdk.errors import InvalidInput

REPO = Path(__file__).resolve().parents[4]
GEONET = REPO.parent / "shared" / "data" / "gnss" / "rtklib-geonet"
# GEONET 0759, RINEX header APPROX POSITION XYZ (../shared/data/gnss/SOURCE.md)
TRUTH_0759 = (-3976219.5082, 3382372.5671, 3652512.9849)
MM = 0.001


@dataclass(frozen=True, slots=True)
class GgaRecord:
    """A test-local fix record with the reader's field names (checks the GgaFix protocol)."""

    time: time
    timestamp: datetime | None
    lat: float
    lon: float
    alt_msl_m: float | None
    geoid_sep_m: float | None
    quality: int


def _dm(value: str, hemi: str, deg_digits: int) -> float:
    deg = int(value[:deg_digits]) + float(value[deg_digits:]) / 60.0
    return -deg if hemi in ("S", "W") else deg


def _opt(value: str) -> float | None:
    return float(value) if value else None


def parse_gga_log(path: Path, *, dated: bool = True) -> list[GgaRecord]:
    """Parse GGA (dated by the last RMC) on our own, so the scorer is tested without the reader."""
    out: list[GgaRecord] = []
    day: datetime | None = None
    for raw in path.read_text().splitlines():
        body, _, check = raw.strip().lstrip("$").partition("*")
        xor = 0
        for ch in body.encode():
            xor ^= ch
        assert int(check, 16) == xor, raw
        f = body.split(",")
        hhmmss = f[1]
        tod = time(int(hhmmss[:2]), int(hhmmss[2:4]), int(float(hhmmss[4:])), tzinfo=UTC)
        if f[0].endswith("RMC") and f[9]:
            day = datetime(2000 + int(f[9][4:6]), int(f[9][2:4]), int(f[9][:2]), tzinfo=UTC)
        if not f[0].endswith("GGA") or not f[2]:
            continue
        stamp = None
        if dated and day is not None:
            stamp = day + timedelta(hours=tod.hour, minutes=tod.minute, seconds=tod.second)
        out.append(
            GgaRecord(
                time=tod,
                timestamp=stamp,
                lat=_dm(f[2], f[3], 2),
                lon=_dm(f[4], f[5], 3),
                alt_msl_m=_opt(f[9]),
                geoid_sep_m=_opt(f[11]),
                quality=int(f[6]),
            )
        )
    return out


@pytest.fixture(scope="module")
def geonet() -> Path:
    """The RTKLIB solutions of GEONET 0759 (../shared/data/gnss/rtklib-geonet); skip if absent."""
    if not (GEONET / "spp0759.nmea").is_file():
        pytest.skip(f"shared GNSS data not found at {GEONET}")
    return GEONET


@pytest.fixture(scope="module")
def truth() -> Truth:
    """GEONET 0759 as ECEF."""
    return truth_from_ecef(*TRUTH_0759)


# --- reference figures (RTKLIB rnx2rtkp 2.4.3 b34 on GEONET 0759, ../shared/notes/engines.md) ---


def test_spp_reference_figures_to_1mm(geonet: Path, truth: Truth) -> None:
    rep = score(epochs_from_fixes(parse_gga_log(geonet / "spp0759.nmea")), truth)
    assert rep.fixes == 115
    assert abs(rep.cep50_m - 1.110) <= MM
    assert abs(rep.cep95_m - 2.549) <= MM
    assert abs(rep.drms2_m - 3.036) <= MM
    assert rep.v95_m is not None and abs(rep.v95_m - 15.28) <= 0.005
    # h = GGA altitude + geoid separation: the known +13.74 m up bias; altitude alone would
    # give −22.74 m (the 36.478 m separation RTKLIB writes).
    assert rep.bias_enu_m[2] is not None and abs(rep.bias_enu_m[2] - 13.737) <= MM
    assert rep.availability == 1.0
    assert rep.rate_s == 30.0 and rep.span_s == 114 * 30.0
    assert rep.rtk_fixed_rate == 0.0 and rep.rtk_time_to_fix_s is None


def test_rtk_reference_figures_to_1mm(geonet: Path, truth: Truth) -> None:
    rep = score(epochs_from_fixes(parse_gga_log(geonet / "rtk0759.nmea")), truth)
    assert rep.fixes == 115
    assert abs(rep.cep95_m - 0.125) <= MM
    assert abs(rep.cep50_m - 0.121) <= MM
    assert rep.rtk_fixed_rate == 1.0
    assert rep.rtk_time_to_fix_s == 0.0
    # RTK and SPP share the geoid separation: the RTK height sits 0.12 m from the truth.
    assert rep.bias_enu_m[2] is not None and abs(rep.bias_enu_m[2]) < 0.2


def test_percentile_definition_matters(geonet: Path, truth: Truth) -> None:
    """Only the linear (type 7) percentile gives CEP50 1.110 and CEP95 2.549 together."""
    rep = score(epochs_from_fixes(parse_gga_log(geonet / "spp0759.nmea")), truth)
    fixes = parse_gga_log(geonet / "spp0759.nmea")
    lat = np.array([f.lat for f in fixes])
    lon = np.array([f.lon for f in fixes])
    h = np.array([(f.alt_msl_m or 0.0) + (f.geoid_sep_m or 0.0) for f in fixes])
    e, n, _ = pymap3d.geodetic2enu(lat, lon, h, truth.lat, truth.lon, truth.h)
    hz = np.hypot(e, n)
    for other in ("inverted_cdf", "weibull", "hazen", "interpolated_inverted_cdf"):
        c50, c95 = np.percentile(hz, [50, 95], method=other)
        assert abs(c50 - 1.110) > MM or abs(c95 - 2.549) > MM, other
    assert rep.cep95_m == pytest.approx(float(np.percentile(hz, 95)))


def test_geodetic_truth_gives_the_same_figures(geonet: Path, truth: Truth) -> None:
    epochs = epochs_from_fixes(parse_gga_log(geonet / "spp0759.nmea"))
    geo = parse_truth(f"{truth.lat!r},{truth.lon!r},{truth.h!r}", "geodetic")
    a, b = score(epochs, truth), score(epochs, geo)
    assert abs(a.cep95_m - b.cep95_m) < 1e-6 and abs(a.drms2_m - b.drms2_m) < 1e-6


def test_time_of_day_only_log_crosses_midnight(geonet: Path, truth: Truth) -> None:
    """Without RMC dates the 23:59:47 → 00:56:47 UTC log still spans 57 minutes."""
    fixes = parse_gga_log(geonet / "spp0759.nmea", dated=False)
    assert fixes[0].time.hour == 23 and fixes[-1].time.hour == 0
    rep = score(epochs_from_fixes(fixes), truth)
    assert rep.span_s == 114 * 30.0 and rep.expected_epochs == 115 and rep.availability == 1.0


# --- synthetic known answers ---

T0 = truth_from_geodetic(31.2304, 121.4737, 20.0)  # Shanghai, 20 m ellipsoidal


def _at(e: float, n: float, u: float, *, t: float | None = 0.0, q: int = 1) -> Epoch:
    lat, lon, h = pymap3d.enu2geodetic(e, n, u, T0.lat, T0.lon, T0.h)
    return Epoch(t=t, lat=float(lat), lon=float(lon), h=float(h), quality=q)


def test_zero_error() -> None:
    rep = score([_at(0, 0, 0, t=float(i)) for i in range(10)], T0)
    assert rep.cep50_m < 1e-6 and rep.cep95_m < 1e-6 and rep.drms2_m < 1e-6
    assert rep.v95_m is not None and rep.v95_m < 1e-6
    assert all(abs(b or 0.0) < 1e-6 for b in rep.bias_enu_m)
    assert rep.availability == 1.0 and rep.fixes == 10


def test_constant_offset_is_bias_and_cep() -> None:
    rep = score([_at(3.0, 4.0, -2.0, t=float(i)) for i in range(20)], T0)
    assert rep.bias_enu_m[0] == pytest.approx(3.0, abs=1e-6)
    assert rep.bias_enu_m[1] == pytest.approx(4.0, abs=1e-6)
    assert rep.bias_enu_m[2] == pytest.approx(-2.0, abs=1e-6)
    assert rep.cep50_m == pytest.approx(5.0, abs=1e-6)
    assert rep.cep95_m == pytest.approx(5.0, abs=1e-6)
    assert rep.drms2_m == pytest.approx(10.0, abs=1e-6)
    assert rep.v50_m == pytest.approx(2.0, abs=1e-6)
    assert rep.v95_m == pytest.approx(2.0, abs=1e-6)


def test_percentiles_interpolate_linearly() -> None:
    # horizontal errors 1..5 m: linear type-7 percentile 50 → 3, 95 → 4.8
    rep = score([_at(float(k), 0.0, 0.0, t=float(k)) for k in range(1, 6)], T0)
    assert rep.cep50_m == pytest.approx(3.0, abs=1e-6)
    assert rep.cep95_m == pytest.approx(4.8, abs=1e-6)
    assert rep.drms2_m == pytest.approx(2 * np.sqrt(11.0), abs=1e-6)


def test_availability_counts_gaps_from_span_and_rate() -> None:
    epochs = [_at(0, 0, 0, t=float(i)) for i in range(10) if i not in (3, 4, 5)]
    rep = score(epochs, T0)
    assert rep.rate_s == 1.0 and rep.span_s == 9.0 and rep.expected_epochs == 10
    assert rep.availability == pytest.approx(0.7)


def test_availability_counts_no_fix_epochs() -> None:
    epochs = [
        Epoch(t=float(i), lat=None, lon=None, h=None, quality=0)
        if i < 3
        else _at(0, 0, 0, t=float(i))
        for i in range(10)
    ]
    rep = score(epochs, T0)
    assert rep.fixes == 7 and rep.availability == pytest.approx(0.7)


def test_availability_with_expected_epochs_and_log_epochs() -> None:
    epochs = [_at(0, 0, 0, t=float(i)) for i in range(5)]
    assert score(epochs, T0, expected_epochs=10).availability == pytest.approx(0.5)
    # the reader saw 8 GGA epochs (3 without a position): 5/8
    assert score(epochs, T0, log_epochs=8).availability == pytest.approx(5 / 8)
    # a 2 s rate over a 4 s span expects 3 epochs, but never fewer than the epochs seen
    assert score(epochs, T0, rate_s=2.0).expected_epochs == 5


def test_rtk_fixed_rate_and_time_to_fix() -> None:
    qs = [0, 0, 1, 1, 5, 5, 5, 4, 4, 4, 5, 4]
    epochs = [
        Epoch(t=100.0 + 0.5 * i, lat=None, lon=None, h=None, quality=0)
        if q == 0
        else _at(0.01, 0.0, 0.0, t=100.0 + 0.5 * i, q=q)
        for i, q in enumerate(qs)
    ]
    rep = score(epochs, T0)
    assert rep.rtk_time_to_fix_s == pytest.approx(3.5)  # first q4 at index 7, 0.5 s steps
    assert rep.rtk_fixed_rate == pytest.approx(4 / 10)
    only_fixed = score(epochs, T0, qualities={4})
    assert only_fixed.fixes == 4 and only_fixed.excluded_by_quality == {1: 2, 5: 4}
    assert only_fixed.availability == rep.availability


def test_never_fixed_has_no_time_to_fix() -> None:
    rep = score([_at(0, 0, 0, t=float(i), q=5) for i in range(4)], T0)
    assert rep.rtk_time_to_fix_s is None and rep.rtk_fixed_rate == 0.0


def test_height_is_altitude_plus_geoid_separation() -> None:
    assert ellipsoidal_height(47.347, 36.478) == pytest.approx(83.825)
    assert ellipsoidal_height(47.347, None) is None
    lat, lon, h = pymap3d.enu2geodetic(0.0, 0.0, 0.0, T0.lat, T0.lon, T0.h)
    at = datetime(2025, 1, 1, tzinfo=UTC)
    recs = [
        GgaRecord(at.timetz(), at, float(lat), float(lon), float(h) - 7.5, 7.5, 1),
        GgaRecord(at.timetz(), at + timedelta(seconds=1), float(lat), float(lon), 12.0, None, 1),
    ]
    rep = score(epochs_from_fixes(recs), T0)
    assert rep.fixes == 2 and rep.fixes_without_height == 1
    assert rep.v95_m is not None and rep.v95_m < 1e-6
    assert rep.cep95_m < 1e-6


def test_no_height_at_all_scores_horizontally() -> None:
    rep = score([Epoch(t=0.0, lat=T0.lat, lon=T0.lon, h=None, quality=1)], T0)
    assert rep.v50_m is None and rep.bias_enu_m[2] is None and rep.cep50_m < 1e-6


def test_duplicate_epochs_count_once() -> None:
    epochs = [_at(1, 0, 0, t=0.0), _at(5, 0, 0, t=0.0), _at(1, 0, 0, t=1.0)]
    rep = score(epochs, T0)
    assert rep.fixes == 2 and rep.duplicates == 1 and rep.cep95_m == pytest.approx(1.0)


def test_estimated_and_simulated_fixes_are_not_positions() -> None:
    epochs = [_at(0, 0, 0, t=0.0, q=6), _at(0, 0, 0, t=1.0, q=8), _at(0, 0, 0, t=2.0)]
    rep = score(epochs, T0)
    assert rep.fixes == 1 and rep.availability == pytest.approx(1 / 3)


def test_no_fixes_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as exc:
        score([Epoch(t=0.0, lat=None, lon=None, h=None, quality=0)], T0)
    assert exc.value.key == "satcert.score.no_fixes"
    with pytest.raises(InvalidInput):
        score([], T0)
    with pytest.raises(InvalidInput) as exc:
        score([_at(0, 0, 0, q=1)], T0, qualities={4})
    assert exc.value.key == "satcert.score.no_fixes"


def test_bad_rate_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        score([_at(0, 0, 0)], T0, rate_s=0.0)
    with pytest.raises(InvalidInput):
        score([_at(0, 0, 0)], T0, expected_epochs=0)


def test_unwrap_time_of_day() -> None:
    assert unwrap_time_of_day([86398.0, 86399.0, 0.0, 1.0]) == [86398.0, 86399.0, 86400.0, 86401.0]
    assert unwrap_time_of_day([10.0, 9.0]) == [10.0, 9.0]  # a small step back is not midnight


# --- truth ---


def test_truth_ecef_and_geodetic_agree() -> None:
    t = truth_from_ecef(*TRUTH_0759)
    assert t.lat == pytest.approx(35.16087504, abs=1e-8)
    assert t.lon == pytest.approx(139.61383725, abs=1e-8)
    assert t.h == pytest.approx(70.1535, abs=1e-4)
    back = parse_truth(f"{t.lat!r}, {t.lon!r}, {t.h!r}", "geodetic")
    assert (back.x, back.y, back.z) == pytest.approx(TRUTH_0759, abs=1e-6)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("1,2", "ecef"),
        ("a,b,c", "ecef"),
        ("1,2,3,4", "ecef"),
        ("nan,0,0", "ecef"),
        ("35.16,139.61,70.15", "ecef"),  # geodetic passed as ECEF
        ("-3976219.5,3382372.6,3652513.0", "geodetic"),  # ECEF passed as geodetic
        ("95,0,0", "geodetic"),
        ("0,0,0", "xyz"),
    ],
)
def test_bad_truth_is_invalid_input(text: str, kind: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_truth(text, kind)
    assert exc.value.key == "satcert.score.bad_truth"
