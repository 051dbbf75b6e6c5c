"""The finder of 一端服务: nearest public toilets, car parks (with free spaces) and parks.

Places are the context broker's entities of the caller's organization and of the command
centre (public facilities are the centre's): Smart Data Models ``PointOfInterest`` whose
``category`` names toilets or parks (no SDM model of a public toilet exists; OSM's
``amenity=toilets`` is the usual source), ``Park``, and ``OffStreetParking``. A car park's free
spaces are counted from its ``ParkingSpot`` entities (``refParkingSite``, ``status`` "free")
when it has any, else read from its ``availableSpotNumber``. Indexes (``engine/finder.py``) are
kept for ``CACHE_S`` seconds per organization set and category: car parks for a few seconds, so
free spaces stay live.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mingyue.enablers.citygov.engine.finder import (
    MAX_K,
    Place,
    PlaceIndex,
    feature_collection,
)
from mingyue.enablers.citygov.service import broker, common
from mingyue.sdk import Actor, UnitOfWork, check
from mingyue.sdk.errors import InvalidInput

Category = Literal["toilet", "parking", "park"]


@dataclass(frozen=True)
class Source:
    """Where the places of a category come from."""

    types: tuple[str, ...]
    categories: frozenset[str] | None  # PointOfInterest.category values; None: every entity
    ttl_s: float


SOURCES: dict[str, Source] = {
    "toilet": Source(
        ("PointOfInterest",),
        frozenset({"toilets", "toilet", "public_toilet", "publicToilet", "公厕", "公共厕所"}),
        120.0,
    ),
    "park": Source(("Park", "PointOfInterest"), frozenset({"park", "公园"}), 120.0),
    "parking": Source(("OffStreetParking",), None, 10.0),
}

_CACHE: dict[tuple[str, tuple[int, ...], str], tuple[float, PlaceIndex]] = {}
_LOCK = threading.Lock()


def _value(attr: Any) -> Any:
    if isinstance(attr, Mapping):
        if "value" in attr:
            return attr["value"]
        if "object" in attr:
            return attr["object"]
    return attr


def _names(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {str(v) for v in value}
    return set()


def _point(entity: Mapping[str, Any]) -> tuple[float, float] | None:
    loc = _value(entity.get("location"))
    if not isinstance(loc, Mapping) or loc.get("type") != "Point":
        return None
    coords = loc.get("coordinates")
    if not isinstance(coords, list) or len(coords) < 2:
        return None
    lon, lat = coords[0], coords[1]
    if not all(isinstance(c, int | float) and not isinstance(c, bool) for c in (lon, lat)):
        return None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        return None
    return float(lon), float(lat)


def _entities(uow: UnitOfWork, org_ids: Iterable[int], type_: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with uow.unscoped(reason="citygov finder: public facilities", record=False):
        for org in org_ids:
            out.extend(broker.all_entities(uow, org_id=org, type_=type_))
    return out


def _free_spaces(uow: UnitOfWork, org_ids: Iterable[int]) -> dict[str, int]:
    free: dict[str, int] = {}
    for spot in _entities(uow, org_ids, "ParkingSpot"):
        site = _value(spot.get("refParkingSite"))
        if not isinstance(site, str):
            continue
        free.setdefault(site, 0)
        if _value(spot.get("status")) == "free":
            free[site] += 1
    return free


def build_places(uow: UnitOfWork, org_ids: Iterable[int], category: str) -> list[Place]:
    """Read the places of a category from the broker (no cache)."""
    src = SOURCES[category]
    orgs = list(org_ids)
    spots = _free_spaces(uow, orgs) if category == "parking" else {}
    places: list[Place] = []
    seen: set[str] = set()
    for type_ in src.types:
        for e in _entities(uow, orgs, type_):
            eid = str(e.get("id", ""))
            if not eid or eid in seen:
                continue
            if (
                src.categories is not None
                and type_ == "PointOfInterest"
                and not (_names(_value(e.get("category"))) & src.categories)
            ):
                continue
            pt = _point(e)
            if pt is None:
                continue
            seen.add(eid)
            props: dict[str, Any] = {"type": type_, "name": _value(e.get("name")) or ""}
            if category == "parking":
                total = _value(e.get("totalSpotNumber"))
                props["total_spaces"] = total if isinstance(total, int) else None
                if eid in spots:
                    props["free_spaces"], props["free_from"] = spots[eid], "ParkingSpot"
                else:
                    avail = _value(e.get("availableSpotNumber"))
                    props["free_spaces"] = avail if isinstance(avail, int) else None
                    props["free_from"] = "availableSpotNumber"
            places.append(Place(eid, pt[0], pt[1], props))
    return places


def _orgs(uow: UnitOfWork, actor: Actor) -> tuple[int, ...]:
    orgs = {actor.organization_id} if actor.organization_id is not None else set()
    with contextlib.suppress(InvalidInput):  # no command centre yet: the caller's own only
        orgs.add(common.centre_org(uow).id)
    return tuple(sorted(o for o in orgs if o is not None))


def _index(uow: UnitOfWork, org_ids: tuple[int, ...], category: str) -> PlaceIndex:
    key = (str(uow.settings.data_dir), org_ids, category)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None and time.monotonic() - hit[0] < SOURCES[category].ttl_s:
            return hit[1]
    index = PlaceIndex(build_places(uow, org_ids, category))
    with _LOCK:
        _CACHE[key] = (time.monotonic(), index)
    return index


def forget() -> None:
    """Drop every cached index (tests; a bulk import of places)."""
    with _LOCK:
        _CACHE.clear()


def find(
    *,
    uow: UnitOfWork,
    actor: Actor,
    category: str,
    lon: float,
    lat: float,
    k: int | None = 5,
    radius_m: float | None = None,
) -> dict[str, Any]:
    """Return the nearest places of a category as a GeoJSON FeatureCollection, nearest first."""
    check(actor, "citygov.read")
    if category not in SOURCES:
        raise InvalidInput(
            "citygov.finder.bad_category",
            f"unknown category {category!r}; one of {', '.join(SOURCES)}",
            field="category",
        )
    index = _index(uow, _orgs(uow, actor), category)
    # a radius alone still answers at most MAX_K places, nearest first
    hits = index.search(lon, lat, k=k if k is not None else MAX_K, radius_m=radius_m)
    return feature_collection(hits, query=(lon, lat))
