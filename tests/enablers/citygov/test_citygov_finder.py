"""The finder: k-nearest and radius answers of the index equal brute force on 10,000 places
around Chongqing (29.4–29.8 N, 106.3–106.8 E); GeoJSON out; bad points refused; the service
reads toilets, parks and car parks (live free spaces) from the context broker."""

from __future__ import annotations

import random

import pytest
from citygov_tele_support import use_options
from hypothesis import given, settings
from hypothesis import strategies as st

from mingyue.enablers.citygov.engine.finder import (
    Place,
    PlaceIndex,
    brute_force,
    feature_collection,
    haversine_m,
)
from mingyue.enablers.citygov.service import broker, finder
from mingyue.sdk import SYSTEM, now, unit_of_work
from mingyue.sdk.errors import InvalidInput

N = 10_000
_rng = random.Random(20261207)
PLACES = [
    Place(f"p{i}", _rng.uniform(106.3, 106.8), _rng.uniform(29.4, 29.8), {"n": i}) for i in range(N)
]
INDEX = PlaceIndex(PLACES)

lons = st.floats(106.2, 106.9, allow_nan=False)
lats = st.floats(29.3, 29.9, allow_nan=False)


def _same(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        # equal distances to a millimetre; ids equal unless two places tie at that distance
        assert x.distance_m == pytest.approx(y.distance_m, abs=1e-3)
    assert {h.place.id for h in a if h.distance_m < a[-1].distance_m - 1e-3} == {
        h.place.id for h in b if h.distance_m < b[-1].distance_m - 1e-3
    }


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(lon=lons, lat=lats, k=st.integers(1, 50))
def test_k_nearest_equals_brute_force(lon: float, lat: float, k: int) -> None:
    _same(INDEX.search(lon, lat, k=k), brute_force(PLACES, lon, lat, k=k))


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(lon=lons, lat=lats, radius=st.floats(1.0, 3000.0))
def test_radius_equals_brute_force(lon: float, lat: float, radius: float) -> None:
    got = INDEX.search(lon, lat, radius_m=radius)
    want = brute_force(PLACES, lon, lat, radius_m=radius)
    assert [h.place.id for h in got] == [h.place.id for h in want]
    assert all(h.distance_m <= radius for h in got)


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(lon=lons, lat=lats, k=st.integers(1, 20), radius=st.floats(50.0, 2000.0))
def test_k_within_radius_equals_brute_force(lon: float, lat: float, k: int, radius: float) -> None:
    _same(
        INDEX.search(lon, lat, k=k, radius_m=radius),
        brute_force(PLACES, lon, lat, k=k, radius_m=radius),
    )


def test_haversine_against_a_known_distance() -> None:
    # one degree of latitude on the mean sphere: R * pi / 180
    assert float(haversine_m(106.5, 29.5, 106.5, 30.5)[()]) == pytest.approx(111_195.08, abs=0.1)
    assert float(haversine_m(106.5, 29.5, 106.5, 29.5)[()]) == 0.0


def test_geojson_is_lon_lat() -> None:
    hits = INDEX.search(106.55, 29.56, k=3)
    fc = feature_collection(hits, query=(106.55, 29.56))
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 3
    f = fc["features"][0]
    assert f["geometry"]["coordinates"] == [hits[0].place.lon, hits[0].place.lat]
    assert 106.3 <= f["geometry"]["coordinates"][0] <= 106.8
    assert f["properties"]["distance_m"] == round(hits[0].distance_m, 1)
    dists = [x["properties"]["distance_m"] for x in fc["features"]]
    assert dists == sorted(dists)


@pytest.mark.parametrize(
    ("lon", "lat", "k", "radius"),
    [
        (29.56, 106.55, 5, None),  # swapped: latitude 106.55 is impossible
        (181.0, 29.5, 5, None),
        (float("nan"), 29.5, 5, None),
        (106.5, 29.5, None, None),
        (106.5, 29.5, 0, None),
        (106.5, 29.5, 5, -1.0),
        (106.5, 29.5, 5, 1e9),
    ],
)
def test_bad_queries_are_refused(lon, lat, k, radius) -> None:
    with pytest.raises(InvalidInput):
        INDEX.search(lon, lat, k=k, radius_m=radius)


def test_empty_index_and_far_radius() -> None:
    assert PlaceIndex([]).search(106.5, 29.5, k=3) == []
    assert INDEX.search(0.0, 0.0, radius_m=1000) == []
    assert len(INDEX.search(0.0, 0.0, k=2)) == 2  # the nearest, however far


def test_finder_service_reads_the_broker(app, client, tenants) -> None:
    # these entities carry core-context names, not the Smart Data Models context: the
    # broker's SDM validation (its own tests) is off here
    opts = use_options(app, ngsi_validate_models="false")
    finder.forget()
    org = tenants.a.org.id

    def loc(lon: float, lat: float) -> dict:
        return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}

    def prop(v: object) -> dict:
        return {"type": "Property", "value": v}

    with unit_of_work(SYSTEM, opts) as uow:
        for i, (lon, lat) in enumerate([(106.551, 29.561), (106.60, 29.60), (106.50, 29.50)]):
            broker.upsert_entity_attrs(
                uow,
                org_id=org,
                entity_id=f"urn:ngsi-ld:PointOfInterest:wc{i}",
                entity_type="PointOfInterest",
                attrs={
                    "location": loc(lon, lat),
                    "category": prop(["toilets"]),
                    "name": prop(f"公厕{i}"),
                },
                observed_at=now(),
            )
        broker.upsert_entity_attrs(
            uow,
            org_id=org,
            entity_id="urn:ngsi-ld:PointOfInterest:park0",
            entity_type="PointOfInterest",
            attrs={"location": loc(106.552, 29.562), "category": prop(["park"])},
            observed_at=now(),
        )
        site = "urn:ngsi-ld:OffStreetParking:lot1"
        broker.upsert_entity_attrs(
            uow,
            org_id=org,
            entity_id=site,
            entity_type="OffStreetParking",
            attrs={
                "location": loc(106.553, 29.563),
                "availableSpotNumber": prop(99),
                "totalSpotNumber": prop(3),
            },
            observed_at=now(),
        )
        for j, status in enumerate(["free", "occupied", "free"]):
            broker.upsert_entity_attrs(
                uow,
                org_id=org,
                entity_id=f"urn:ngsi-ld:ParkingSpot:s{j}",
                entity_type="ParkingSpot",
                attrs={
                    "location": loc(106.553, 29.563),
                    "status": prop(status),
                    "category": prop(["offStreet"]),
                    "refParkingSite": {"type": "Relationship", "object": site},
                },
                observed_at=now(),
            )
    h = tenants.a.headers()
    r = client.get("/api/citygov/finder/toilet?lon=106.55&lat=29.56&k=2", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert [f["id"] for f in fc["features"]] == [
        "urn:ngsi-ld:PointOfInterest:wc0",
        "urn:ngsi-ld:PointOfInterest:wc1",
    ]
    r = client.get("/api/citygov/finder/park?lon=106.55&lat=29.56&radius=1000", headers=h)
    assert [f["id"] for f in r.json()["features"]] == ["urn:ngsi-ld:PointOfInterest:park0"]
    r = client.get("/api/citygov/finder/parking?lon=106.55&lat=29.56", headers=h)
    lot = r.json()["features"][0]["properties"]
    assert (
        lot["free_spaces"] == 2 and lot["free_from"] == "ParkingSpot" and lot["total_spaces"] == 3
    )
    # another organization's places are not its to find; bad points answer 422
    r = client.get("/api/citygov/finder/toilet?lon=106.55&lat=29.56", headers=tenants.b.headers())
    assert r.json()["features"] == []
    assert (
        client.get("/api/citygov/finder/toilet?lon=29.56&lat=106.55", headers=h).status_code == 422
    )
    assert client.get("/api/citygov/finder/shop?lon=106.5&lat=29.5", headers=h).status_code == 422
    assert client.get("/api/citygov/finder/toilet?lon=106.5&lat=29.5").status_code == 401
