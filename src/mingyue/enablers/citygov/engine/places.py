"""Where a problem is: WGS84 lon/lat checks against the city's box, distances on the sphere."""

from __future__ import annotations

import math
from dataclasses import dataclass

from mingyue.sdk.errors import InvalidInput

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)


@dataclass(frozen=True)
class Box:
    """A lon/lat bounding box (WGS84 degrees)."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    def contains(self, lon: float, lat: float) -> bool:
        """Tell whether the point lies inside the box."""
        return self.min_lon <= lon <= self.max_lon and self.min_lat <= lat <= self.max_lat


def parse_box(text: str) -> Box:
    """Parse ``min_lon,min_lat,max_lon,max_lat`` (InvalidInput otherwise)."""
    try:
        a, b, c, d = (float(x) for x in text.split(","))
    except ValueError:
        raise InvalidInput(
            "citygov.bad_service_area", "service area must be 4 numbers", field="service_area"
        ) from None
    box = Box(a, b, c, d)
    if not (-180 <= a < c <= 180 and -90 <= b < d <= 90):
        raise InvalidInput(
            "citygov.bad_service_area", "service area is not a lon/lat box", field="service_area"
        )
    return box


def check_point(lon: float, lat: float, box: Box) -> tuple[float, float]:
    """Return the point when it is a finite WGS84 lon/lat inside the city; refuse it otherwise.

    A point outside the city whose swapped coordinates fall inside is refused as swapped:
    GeoJSON and this API take lon,lat (RFC 7946 §3.1.1), many forms give lat,lon.
    """
    if not (isinstance(lon, int | float) and isinstance(lat, int | float)):
        raise InvalidInput("citygov.bad_location", "lon and lat must be numbers", field="lon")
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InvalidInput("citygov.bad_location", "lon and lat must be finite", field="lon")
    if box.contains(lat, lon) and not box.contains(lon, lat):
        raise InvalidInput(
            "citygov.swapped_location",
            "lon and lat look swapped (the order is lon,lat)",
            field="lon",
        )
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(
            "citygov.bad_location", "lon must be in -180..180 and lat in -90..90", field="lon"
        )
    if box.contains(lon, lat):
        return float(lon), float(lat)
    raise InvalidInput(
        "citygov.outside_area", "the location is outside the city's service area", field="lon"
    )


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Return the great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def degree_box(lon: float, lat: float, radius_m: float) -> Box:
    """Return a lon/lat box that contains every point within ``radius_m`` of the point."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    coslat = max(math.cos(math.radians(lat)), 1e-6)
    dlon = min(180.0, dlat / coslat)
    return Box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)
