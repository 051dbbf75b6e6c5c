"""The broker's service interface (used by telemetry) and geo-queries against brute force."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mingyue.enablers.citygov.engine.ngsi import geo
from mingyue.enablers.citygov.engine.ngsi.errors import NgsiError
from mingyue.enablers.citygov.service import broker


def test_upsert_entity_attrs_creates_then_merges(tenants, actor_of, uow_as) -> None:
    org = tenants.a.org.id
    when = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    with uow_as(actor_of(tenants.a.member)) as uow:
        broker.upsert_entity_attrs(
            uow,
            org_id=org,
            entity_id="urn:ngsi-ld:Device:septic-01",
            entity_type="Device",
            attrs={
                "methane": {"type": "Property", "value": 1.2, "unitCode": "P1"},
                "controlledProperty": {"type": "Property", "value": ["airPollution"]},
                "location": {
                    "type": "GeoProperty",
                    "value": {"type": "Point", "coordinates": [106.55, 29.56]},
                },
            },
            observed_at=when,
        )
    with uow_as(actor_of(tenants.a.member)) as uow:
        broker.upsert_entity_attrs(
            uow,
            org_id=org,
            entity_id="urn:ngsi-ld:Device:septic-01",
            entity_type="Device",
            attrs={"methane": {"type": "Property", "value": 3.4}},
            observed_at=when,
        )
    with uow_as(actor_of(tenants.a.member)) as uow:
        got = broker.get_entity(uow, org_id=org, entity_id="urn:ngsi-ld:Device:septic-01")
        near = broker.query_entities(
            uow,
            org_id=org,
            type_="Device",
            georel="near;maxDistance==100",
            geometry="Point",
            coordinates=[106.5505, 29.5601],
            q="methane>3",
            limit=10,
        )
        other = broker.get_entity(
            uow, org_id=tenants.b.org.id, entity_id="urn:ngsi-ld:Device:septic-01"
        )
    assert got is not None
    assert got["methane"] == {
        "type": "Property",
        "value": 3.4,
        "observedAt": "2026-12-07T08:00:00.000Z",
        "unitCode": "P1",
    }
    assert got["location"]["value"]["coordinates"] == [106.55, 29.56]
    assert [e["id"] for e in near] == ["urn:ngsi-ld:Device:septic-01"]
    assert other is None


def _points(n: int, seed: int = 7) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(rng.uniform(106.3, 106.8), rng.uniform(29.4, 29.8)) for _ in range(n)]


def test_near_query_matches_brute_force(tenants, actor_of, uow_as) -> None:
    org = tenants.a.org.id
    pts = _points(600)
    with uow_as(actor_of(tenants.a.member)) as uow:
        ctx = broker.core_context()
        for i, (lon, lat) in enumerate(pts):
            broker.create_entity(
                uow,
                org_id=org,
                ctx=ctx,
                body={
                    "id": f"urn:ngsi-ld:PublicToilet:{i}",
                    "type": "PublicToilet",
                    "location": {
                        "type": "GeoProperty",
                        "value": {"type": "Point", "coordinates": [lon, lat]},
                    },
                },
            )
    rng = random.Random(11)
    with uow_as(actor_of(tenants.a.member)) as uow:
        for _ in range(15):
            lon, lat = rng.uniform(106.3, 106.8), rng.uniform(29.4, 29.8)
            radius = rng.choice([600.0, 1500.0, 4000.0])
            got = broker.query_entities(
                uow,
                org_id=org,
                type_="PublicToilet",
                georel=f"near;maxDistance=={radius}",
                geometry="Point",
                coordinates=[lon, lat],
                q=None,
                limit=1000,
            )
            want = {
                f"urn:ngsi-ld:PublicToilet:{i}"
                for i, (x, y) in enumerate(pts)
                if geo.haversine_m(lon, lat, x, y) <= radius
            }
            assert {e["id"] for e in got} == want
        # within a polygon (a box around the city centre) against point-in-box
        box = [[106.5, 29.5], [106.6, 29.5], [106.6, 29.6], [106.5, 29.6], [106.5, 29.5]]
        got = broker.query_entities(
            uow,
            org_id=org,
            type_="PublicToilet",
            georel="within",
            geometry="Polygon",
            coordinates=[box],
            q=None,
            limit=1000,
        )
        want = {
            f"urn:ngsi-ld:PublicToilet:{i}"
            for i, (x, y) in enumerate(pts)
            if 106.5 < x < 106.6 and 29.5 < y < 29.6
        }
        assert {e["id"] for e in got} == want


FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ngsi"


@pytest.mark.parametrize(
    ("fixture", "attr", "bad_value"),
    [
        ("parkingspot-normalized.jsonld", "status", "half-full"),
        ("wastecontainer-normalized.jsonld", "fillingLevel", 7),
    ],
)
def test_smart_data_models_are_validated(
    tenants, actor_of, uow_as, fixture, attr, bad_value
) -> None:
    org = tenants.a.org.id
    example = json.loads((FIXTURES / fixture).read_text(encoding="utf-8"))
    with uow_as(actor_of(tenants.a.member)) as uow:
        ctx = broker.active_context(uow.settings, example["@context"])
        body = {k: v for k, v in example.items() if k != "@context"}
        broker.create_entity(uow, org_id=org, ctx=ctx, body=body)  # the official example is valid
        bad = {**body, "id": body["id"] + ":bad", attr: {"type": "Property", "value": bad_value}}
        with pytest.raises(NgsiError) as err:
            broker.create_entity(uow, org_id=org, ctx=ctx, body=bad)
    assert err.value.status == 400
    assert attr in err.value.message and body["type"] in err.value.message


def test_every_shipped_schema_resolves_offline() -> None:
    from mingyue.enablers.citygov.engine.ngsi import smartdata

    models = smartdata.models()
    assert {"ParkingSpot", "OffStreetParking", "WasteContainer", "service_requests"} <= set(models)
    for model in models.values():
        # every $ref (GSMA-Commons, Location-Commons…) resolves from the local common schema
        with pytest.raises(NgsiError):
            smartdata.validate(model, {"id": "urn:ngsi-ld:X:1", "type": "Wrong"})


def test_haversine_is_metric() -> None:
    # one degree along a meridian on the mean-radius sphere: 2 pi R / 360
    assert math.isclose(geo.haversine_m(0, 0, 0, 1), 2 * math.pi * geo.EARTH_RADIUS_M / 360)
    # at 60 degrees north a degree of longitude is about half as long
    assert math.isclose(geo.haversine_m(10, 60, 11, 60), 55_800, rel_tol=0.01)
