"""Nearest places to a point (一端服务: toilets, car parks, parks): k-nearest and radius search.

Distances are great-circle (haversine on the mean Earth radius, IUGG R1 = 6 371 008.8 m). The
index is a k-d tree (scipy ``cKDTree``) over 3-D unit vectors: the straight-line (chord)
distance between two unit vectors grows with the angle between them, so the tree's nearest by
chord are the nearest on the sphere, with no trouble at the antimeridian or near the poles that
a lon/lat grid has. Every answer's distance is computed again with haversine, and
``brute_force`` is the reference the index is tested against.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from mingyue.sdk.errors import InvalidInput

EARTH_RADIUS_M = 6_371_008.8
MAX_K = 1000
MAX_RADIUS_M = 100_000.0


@dataclass(frozen=True)
class Place:
    """A place that can be found: its id, WGS84 position (lon, lat) and what it shows."""

    id: str
    lon: float
    lat: float
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    """A place found, with its great-circle distance from the query point (metres)."""

    place: Place
    distance_m: float


def check_point(lon: float, lat: float, *, field_name: str = "point") -> None:
    """Refuse a position outside WGS84 ranges (GeoJSON order: lon, lat)."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InvalidInput(
            "citygov.finder.bad_point", "lon and lat must be numbers", field=field_name
        )
    if not -180.0 <= lon <= 180.0 or not -90.0 <= lat <= 90.0:
        raise InvalidInput(
            "citygov.finder.bad_point",
            f"({lon}, {lat}) is outside lon -180..180, lat -90..90",
            field=field_name,
        )


def _unit_vectors(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.float64]:
    lam, phi = np.radians(lon), np.radians(lat)
    cos_phi = np.cos(phi)
    return np.column_stack((cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)))


def haversine_m(
    lon1: float, lat1: float, lon2: NDArray[np.float64] | float, lat2: NDArray[np.float64] | float
) -> NDArray[np.float64]:
    """Return great-circle distances in metres from one point to one or many points."""
    phi1, phi2 = math.radians(lat1), np.radians(lat2)
    dphi = phi2 - phi1
    dlam = np.radians(np.asarray(lon2, dtype=np.float64) - lon1)
    a = np.sin(dphi / 2.0) ** 2 + math.cos(phi1) * np.cos(phi2) * np.sin(dlam / 2.0) ** 2
    return np.asarray(2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


def _check_query(k: int | None, radius_m: float | None) -> None:
    if k is None and radius_m is None:
        raise InvalidInput("citygov.finder.no_limit", "give k, a radius, or both", field="k")
    if k is not None and not 1 <= k <= MAX_K:
        raise InvalidInput("citygov.finder.bad_k", f"k must be 1 to {MAX_K}", field="k")
    if radius_m is not None and not (0.0 < radius_m <= MAX_RADIUS_M):
        raise InvalidInput(
            "citygov.finder.bad_radius",
            f"the radius must be above 0 and at most {MAX_RADIUS_M:.0f} m",
            field="radius",
        )


def _chord(radius_m: float) -> float:
    return 2.0 * math.sin(min(radius_m / EARTH_RADIUS_M, math.pi) / 2.0)


class PlaceIndex:
    """A k-d tree over places on the sphere; answers are sorted nearest first."""

    def __init__(self, places: Sequence[Place]) -> None:
        for p in places:
            check_point(p.lon, p.lat, field_name=p.id)
        self.places: tuple[Place, ...] = tuple(places)
        self._lon = np.fromiter((p.lon for p in self.places), np.float64, len(self.places))
        self._lat = np.fromiter((p.lat for p in self.places), np.float64, len(self.places))
        self._tree = cKDTree(_unit_vectors(self._lon, self._lat)) if self.places else None

    def __len__(self) -> int:
        return len(self.places)

    def search(
        self, lon: float, lat: float, *, k: int | None = None, radius_m: float | None = None
    ) -> list[Hit]:
        """Return the ``k`` nearest places, those within ``radius_m``, or the k nearest within it."""
        check_point(lon, lat)
        _check_query(k, radius_m)
        if self._tree is None:
            return []
        q = _unit_vectors(np.array([lon]), np.array([lat]))[0]
        # a hair over the chord of the radius: the exact cut is made with haversine below
        bound = np.inf if radius_m is None else _chord(radius_m) * (1 + 1e-9) + 1e-12
        if k is None:
            idx = np.asarray(self._tree.query_ball_point(q, bound), dtype=np.intp)
        else:
            n = min(k, len(self.places))
            _, found = self._tree.query(q, k=n, distance_upper_bound=bound)
            found = np.atleast_1d(found)
            idx = found[found < len(self.places)].astype(np.intp)
        if idx.size == 0:
            return []
        dist = haversine_m(lon, lat, self._lon[idx], self._lat[idx])
        if radius_m is not None:
            keep = dist <= radius_m
            idx, dist = idx[keep], dist[keep]
        order = np.lexsort((idx, dist))
        if k is not None:
            order = order[:k]
        return [Hit(self.places[int(idx[i])], float(dist[i])) for i in order]


def brute_force(
    places: Sequence[Place],
    lon: float,
    lat: float,
    *,
    k: int | None = None,
    radius_m: float | None = None,
) -> list[Hit]:
    """Answer a search by measuring every place (the reference the index is tested against)."""
    check_point(lon, lat)
    _check_query(k, radius_m)
    if not places:
        return []
    dist = haversine_m(
        lon,
        lat,
        np.fromiter((p.lon for p in places), np.float64, len(places)),
        np.fromiter((p.lat for p in places), np.float64, len(places)),
    )
    order = np.argsort(dist, kind="stable")
    if radius_m is not None:
        order = order[dist[order] <= radius_m]
    if k is not None:
        order = order[:k]
    return [Hit(places[int(i)], float(dist[i])) for i in order]


def feature_collection(hits: Sequence[Hit], *, query: tuple[float, float]) -> dict[str, Any]:
    """Return the hits as a GeoJSON FeatureCollection (RFC 7946; coordinates lon, lat)."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": h.place.id,
                "geometry": {"type": "Point", "coordinates": [h.place.lon, h.place.lat]},
                "properties": {**h.place.properties, "distance_m": round(h.distance_m, 1)},
            }
            for h in hits
        ],
        "query": {"type": "Point", "coordinates": [query[0], query[1]]},
    }
