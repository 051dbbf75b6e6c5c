"""Surveyed truth and local ENU errors: WGS 84 through pymap3d, never our own formulas."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pymap3d
from numpy.typing import NDArray

from mingyue.sdk.errors import InvalidInput

TruthKind = Literal["ecef", "geodetic"]
TRUTH_KINDS: tuple[TruthKind, ...] = ("ecef", "geodetic")

# A truth is a point a terminal can stand on or fly over: ellipsoidal height from the Dead Sea
# shore / the deepest geoid low (−11 km is generous) up to 100 km. It catches "lat,lon,h" passed
# as ECEF (a point 70 m from the Earth's centre) and a dropped sign or digit in X, Y or Z.
MIN_HEIGHT_M = -11_000.0
MAX_HEIGHT_M = 100_000.0

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Truth:
    """A surveyed antenna position, both as ECEF (m) and WGS 84 geodetic (deg, deg, m)."""

    x: float
    y: float
    z: float
    lat: float
    lon: float
    h: float

    def to_dict(self) -> dict[str, object]:
        """Return the truth as plain data (both forms)."""
        return {
            "ecef_m": [self.x, self.y, self.z],
            "geodetic": {"lat_deg": self.lat, "lon_deg": self.lon, "h_m": self.h},
        }


def truth_from_ecef(x: float, y: float, z: float) -> Truth:
    """Build a truth from ECEF metres; refuse a point that is not near the Earth's surface."""
    _finite("X,Y,Z", x, y, z)
    lat, lon, h = (float(v) for v in pymap3d.ecef2geodetic(x, y, z))
    if not MIN_HEIGHT_M <= h <= MAX_HEIGHT_M:
        raise InvalidInput(
            "satcert.score.bad_truth",
            f"truth X,Y,Z is {h / 1000:.0f} km from the WGS 84 ellipsoid, not a surveyed "
            "point (latitude,longitude,height? use --truth-kind geodetic)",
            field="--truth",
        )
    return Truth(float(x), float(y), float(z), lat, lon, h)


def truth_from_geodetic(lat: float, lon: float, h: float) -> Truth:
    """Build a truth from WGS 84 latitude, longitude (degrees) and ellipsoidal height (m)."""
    _finite("lat,lon,h", lat, lon, h)
    if not -90.0 <= lat <= 90.0:
        raise InvalidInput(
            "satcert.score.bad_truth",
            f"truth latitude {lat} is outside -90..90",
            field="--truth",
        )
    if not -180.0 <= lon <= 360.0:
        raise InvalidInput(
            "satcert.score.bad_truth",
            f"truth longitude {lon} is outside -180..360",
            field="--truth",
        )
    if not MIN_HEIGHT_M <= h <= MAX_HEIGHT_M:
        raise InvalidInput(
            "satcert.score.bad_truth",
            f"truth height {h} m is outside {MIN_HEIGHT_M:.0f}..{MAX_HEIGHT_M:.0f} m "
            "(an ellipsoidal height in metres; X,Y,Z? use --truth-kind ecef)",
            field="--truth",
        )
    x, y, z = (float(v) for v in pymap3d.geodetic2ecef(lat, lon, h))
    return Truth(x, y, z, float(lat), float(lon), float(h))


def parse_truth(text: str, kind: str = "ecef") -> Truth:
    """Parse ``X,Y,Z`` (ECEF metres) or ``lat,lon,h`` (``kind="geodetic"``) into a truth."""
    if kind not in TRUTH_KINDS:
        raise InvalidInput(
            "satcert.score.bad_truth",
            f"truth kind {kind!r} is not one of {', '.join(TRUTH_KINDS)}",
            field="--truth-kind",
        )
    parts = [p.strip() for p in text.split(",")]
    what = "X,Y,Z" if kind == "ecef" else "lat,lon,h"
    if len(parts) != 3 or not all(parts):
        raise InvalidInput(
            "satcert.score.bad_truth",
            f"truth {text!r} is not three comma-separated numbers ({what})",
            field="--truth",
        )
    try:
        a, b, c = (float(p) for p in parts)
    except ValueError:
        raise InvalidInput(
            "satcert.score.bad_truth",
            f"truth {text!r} is not three comma-separated numbers ({what})",
            field="--truth",
        ) from None
    return truth_from_ecef(a, b, c) if kind == "ecef" else truth_from_geodetic(a, b, c)


def enu_errors(
    lat: FloatArray, lon: FloatArray, h: FloatArray, truth: Truth
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return east, north, up (m) of WGS 84 positions in the truth's local tangent plane."""
    e, n, u = pymap3d.geodetic2enu(lat, lon, h, truth.lat, truth.lon, truth.h)
    return (
        np.asarray(e, dtype=np.float64),
        np.asarray(n, dtype=np.float64),
        np.asarray(u, dtype=np.float64),
    )


def _finite(what: str, *values: float) -> None:
    if not all(math.isfinite(v) for v in values):
        raise InvalidInput(
            "satcert.score.bad_truth", f"truth {what} must be finite numbers", field="--truth"
        )
