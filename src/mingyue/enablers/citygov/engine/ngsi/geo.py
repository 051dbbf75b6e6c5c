"""GeoJSON geometries and NGSI-LD geo-queries (clause 4.10): validation, predicates, distances.

Coordinates are GeoJSON (longitude, latitude) in WGS 84. Topological relations (within,
contains, intersects, equals, disjoint, overlaps) are evaluated by shapely on those coordinates,
as brokers do; ``near`` distances are in metres: the closest point pair is found in a local
equirectangular projection around the reference and the distance is then the great-circle
(haversine) distance between the two points, so it stays metric at high latitudes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from mingyue.enablers.citygov.engine.ngsi.errors import bad_data

GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
GEORELS = ("near", "within", "contains", "intersects", "equals", "disjoint", "overlaps")
EARTH_RADIUS_M = 6_371_008.8
M_PER_DEG_LAT = 111_320.0
MAX_DISTANCE_M = 40_075_000.0  # once around the equator


@dataclass(frozen=True)
class BBox:
    """A longitude/latitude bounding box."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float


@dataclass(frozen=True)
class GeoQuery:
    """A parsed geo-query: relation, optional distance bounds, reference geometry, property."""

    georel: str
    geometry: BaseGeometry
    geojson: dict[str, Any]
    geoproperty: str = "location"
    max_distance: float | None = None
    min_distance: float | None = None


def _position(pos: Any, where: str) -> tuple[float, float]:
    if (
        not isinstance(pos, list)
        or len(pos) not in (2, 3)
        or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in pos)
    ):
        raise bad_data(f"{where}: a position is [longitude, latitude]")
    lon, lat = float(pos[0]), float(pos[1])
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise bad_data(f"{where}: coordinates must be finite numbers")
    if not -180.0 <= lon <= 180.0:
        raise bad_data(f"{where}: longitude {lon} is out of range (GeoJSON is [lon, lat])")
    if not -90.0 <= lat <= 90.0:
        raise bad_data(f"{where}: latitude {lat} is out of range (GeoJSON is [lon, lat])")
    return lon, lat


def _positions(items: Any, where: str, minimum: int) -> list[tuple[float, float]]:
    if not isinstance(items, list) or len(items) < minimum:
        raise bad_data(f"{where}: at least {minimum} positions are needed")
    return [_position(p, where) for p in items]


def _ring(items: Any, where: str) -> None:
    pts = _positions(items, where, 4)
    if pts[0] != pts[-1]:
        raise bad_data(f"{where}: a polygon ring must be closed (first position = last)")


def check_geometry(value: Any, where: str = "geometry") -> dict[str, Any]:
    """Validate a GeoJSON geometry object (RFC 7946) and return it; BadRequestData if not."""
    if not isinstance(value, dict):
        raise bad_data(f"{where} must be a GeoJSON geometry object")
    gtype = value.get("type")
    if gtype not in GEOMETRY_TYPES:
        raise bad_data(
            f"{where}: geometry type {gtype!r} is not supported ({', '.join(GEOMETRY_TYPES)})"
        )
    coords = value.get("coordinates")
    if coords is None:
        raise bad_data(f"{where}: coordinates are missing")
    if gtype == "Point":
        _position(coords, where)
    elif gtype == "MultiPoint":
        _positions(coords, where, 1)
    elif gtype == "LineString":
        _positions(coords, where, 2)
    elif gtype == "MultiLineString":
        if not isinstance(coords, list) or not coords:
            raise bad_data(f"{where}: MultiLineString needs lines")
        for line in coords:
            _positions(line, where, 2)
    elif gtype == "Polygon":
        if not isinstance(coords, list) or not coords:
            raise bad_data(f"{where}: Polygon needs at least one ring")
        for ring in coords:
            _ring(ring, where)
    else:  # MultiPolygon
        if not isinstance(coords, list) or not coords:
            raise bad_data(f"{where}: MultiPolygon needs polygons")
        for poly in coords:
            if not isinstance(poly, list) or not poly:
                raise bad_data(f"{where}: MultiPolygon needs polygons")
            for ring in poly:
                _ring(ring, where)
    geom = to_shape(value)
    if gtype in ("Polygon", "MultiPolygon") and not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        raise bad_data(f"{where}: the polygon is not valid ({reason}), e.g. self-intersecting")
    return value


def to_shape(value: dict[str, Any]) -> BaseGeometry:
    """Return the shapely geometry of a GeoJSON geometry (already validated)."""
    return shape(value)


def bbox_of(value: dict[str, Any]) -> BBox:
    """Return the bounding box of a GeoJSON geometry."""
    b = to_shape(value).bounds
    return BBox(b[0], b[1], b[2], b[3])


def point_of(value: dict[str, Any]) -> tuple[float, float] | None:
    """Return (lon, lat) of a Point geometry, else ``None``."""
    if value.get("type") == "Point":
        c = value["coordinates"]
        return float(c[0]), float(c[1])
    return None


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Return the great-circle distance in metres between two points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def distance_m(a: BaseGeometry, b: BaseGeometry) -> float:
    """Return the distance in metres between the closest points of two geometries."""
    if a.intersects(b):
        return 0.0
    if a.geom_type == "Point" and b.geom_type == "Point":
        return haversine_m(a.x, a.y, b.x, b.y)
    ref = b.representative_point() if not b.is_empty else a.representative_point()
    k = max(math.cos(math.radians(ref.y)), 1e-6)
    origin = np.array([ref.x, ref.y])
    scale = np.array([k, 1.0])

    def fwd(coords: Any) -> Any:
        return (coords - origin) * scale

    pa, pb = nearest_points(shapely.transform(a, fwd), shapely.transform(b, fwd))
    return haversine_m(pa.x / k + ref.x, pa.y + ref.y, pb.x / k + ref.x, pb.y + ref.y)


def search_box(q: GeoQuery) -> BBox | None:
    """Return a box every matching geometry must intersect (index pre-filter), if any."""
    if q.georel == "disjoint" or (q.georel == "near" and q.max_distance is None):
        return None
    b = q.geometry.bounds
    box = BBox(b[0], b[1], b[2], b[3])
    if q.georel == "near" and q.max_distance is not None:
        dlat = q.max_distance / M_PER_DEG_LAT
        lat_edge = min(89.999, max(abs(box.min_lat), abs(box.max_lat)) + dlat)
        dlon = q.max_distance / (M_PER_DEG_LAT * max(math.cos(math.radians(lat_edge)), 1e-9))
        dlat *= 1.001
        dlon *= 1.001
        if lat_edge >= 89.99 or dlon >= 180:
            return BBox(
                -180.0, max(-90.0, box.min_lat - dlat), 180.0, min(90.0, box.max_lat + dlat)
            )
        return BBox(
            box.min_lon - dlon,
            max(-90.0, box.min_lat - dlat),
            box.max_lon + dlon,
            min(90.0, box.max_lat + dlat),
        )
    return box


def matches(q: GeoQuery, value: dict[str, Any]) -> bool:
    """Tell whether an entity's geometry satisfies the geo-query."""
    try:
        g = to_shape(value)
    except (ValueError, TypeError, AttributeError, KeyError):
        return False
    ref = q.geometry
    rel = q.georel
    if rel == "near":
        d = distance_m(g, ref)
        if q.max_distance is not None and d > q.max_distance:
            return False
        return not (q.min_distance is not None and d < q.min_distance)
    if rel == "within":
        return bool(g.within(ref))
    if rel == "contains":
        return bool(g.contains(ref))
    if rel == "intersects":
        return bool(g.intersects(ref))
    if rel == "equals":
        return bool(g.equals(ref))
    if rel == "disjoint":
        return bool(g.disjoint(ref))
    if rel == "overlaps":
        return bool(g.overlaps(ref))
    return False


def _distance_value(raw: str, what: str) -> float:
    try:
        v = float(raw)
    except ValueError:
        raise bad_data(f"{what} must be a number of metres, not {raw!r}") from None
    if not math.isfinite(v) or v > MAX_DISTANCE_M:
        raise bad_data(f"{what} must be a finite distance (at most {MAX_DISTANCE_M:.0f} m)")
    if v < 0:
        raise bad_data(f"{what} must not be negative")
    return v


def parse_georel(georel: str) -> tuple[str, float | None, float | None]:
    """Parse ``near;maxDistance==600`` (or a bare relation) into (relation, max, min)."""
    parts = [p.strip() for p in georel.split(";")]
    rel = parts[0]
    if rel not in GEORELS:
        raise bad_data(f"georel {rel!r} is not one of {', '.join(GEORELS)}")
    max_d = min_d = None
    mods = parts[1:]
    if rel != "near":
        if mods:
            raise bad_data(f"georel {rel} takes no distance modifier")
        return rel, None, None
    if len(mods) != 1:
        raise bad_data("georel near needs exactly one of maxDistance== or minDistance==")
    name, sep, raw = mods[0].partition("==")
    if not sep:
        raise bad_data("georel near needs maxDistance==<m> or minDistance==<m>")
    if name == "maxDistance":
        max_d = _distance_value(raw, "maxDistance")
        if max_d == 0:
            raise bad_data("maxDistance must be greater than 0")
    elif name == "minDistance":
        min_d = _distance_value(raw, "minDistance")
    else:
        raise bad_data(f"unknown distance modifier {name!r}")
    return rel, max_d, min_d


def parse_coordinates(raw: Any) -> Any:
    """Parse the ``coordinates`` parameter (a JSON array in a string, or already an array)."""
    if isinstance(raw, list):
        return raw
    if not isinstance(raw, str):
        raise bad_data("coordinates must be a JSON array")
    text = raw.strip()
    if not text.startswith("["):
        text = f"[{text}]"
    try:
        value = json.loads(text)
    except ValueError:
        raise bad_data(f"coordinates {raw!r} are not a JSON array") from None
    if not isinstance(value, list):
        raise bad_data("coordinates must be a JSON array")
    return value


def build_query(
    georel: str | None,
    geometry: Any,
    coordinates: Any,
    geoproperty: str | None = None,
) -> GeoQuery | None:
    """Build a geo-query from the request members; ``None`` when none is given."""
    if georel is None and geometry is None and coordinates is None:
        return None
    if georel is None or geometry is None or coordinates is None:
        raise bad_data("a geo-query needs georel, geometry and coordinates together")
    if not isinstance(geometry, str):
        raise bad_data("geometry must be a string naming a GeoJSON geometry type")
    if not isinstance(georel, str):
        raise bad_data("georel must be a string")
    rel, max_d, min_d = parse_georel(georel)
    geojson = {"type": geometry, "coordinates": parse_coordinates(coordinates)}
    check_geometry(geojson, "geo-query")
    return GeoQuery(
        georel=rel,
        geometry=to_shape(geojson),
        geojson=geojson,
        geoproperty=geoproperty or "location",
        max_distance=max_d,
        min_distance=min_d,
    )
