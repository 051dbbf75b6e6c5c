"""NGSI-LD API under /ngsi-ld/v1: CRUD, representations, error model, tenancy."""

from __future__ import annotations

import copy

from tests.enablers.citygov.citygov_ngsi_support import (
    BASE,
    CORE,
    entity,
    js,
    ld,
    ngsi_client_fixture,  # noqa: F401 - registers the ngsi_client fixture
    point,
)

PROBLEM = "https://uri.etsi.org/ngsi-ld/errors/"

NESTED = {
    "id": "urn:ngsi-ld:Bridge:chaotianmen",
    "type": "Bridge",
    "name": {"type": "Property", "value": "朝天门长江大桥"},
    "spans": {"type": "Property", "value": [190, 552, 190], "unitCode": "MTR"},
    "load": {
        "type": "Property",
        "value": {"axles": [{"n": 1, "t": 7.5}, {"n": 2, "t": 11.0}], "ok": True, "note": "x<y"},
        "observedAt": "2026-12-01T08:00:00Z",
        "sensor": {"type": "Relationship", "object": "urn:ngsi-ld:Device:wim-01"},
    },
    "location": {
        "type": "GeoProperty",
        "value": {
            "type": "LineString",
            "coordinates": [[106.5870, 29.5847], [106.5905, 29.5880]],
        },
    },
    "ownedBy": {"type": "Relationship", "object": "urn:ngsi-ld:Organization:transport"},
    "@context": [CORE],
}


def _create(client, headers, body):
    r = client.post(f"{BASE}/entities", json=body, headers=ld(headers))
    assert r.status_code == 201, r.text
    return r


def test_create_retrieve_delete_round_trip(ngsi_client, tenants) -> None:
    h = tenants.a.headers()
    r = _create(ngsi_client, h, NESTED)
    assert r.headers["Location"] == f"{BASE}/entities/urn:ngsi-ld:Bridge:chaotianmen"
    r = ngsi_client.get(f"{BASE}/entities/urn:ngsi-ld:Bridge:chaotianmen", headers=h)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert CORE in r.headers["link"]
    expected = {k: v for k, v in NESTED.items() if k != "@context"}
    assert r.json() == expected  # values, arrays, nested objects, GeoJSON: exactly
    r = ngsi_client.get(
        f"{BASE}/entities/urn:ngsi-ld:Bridge:chaotianmen",
        headers={**h, "Accept": "application/ld+json"},
    )
    assert r.headers["content-type"] == "application/ld+json"
    assert r.json()["@context"] == CORE
    r = ngsi_client.delete(f"{BASE}/entities/urn:ngsi-ld:Bridge:chaotianmen", headers=h)
    assert r.status_code == 204
    r = ngsi_client.get(f"{BASE}/entities/urn:ngsi-ld:Bridge:chaotianmen", headers=h)
    assert r.status_code == 404
    assert r.json()["type"] == PROBLEM + "ResourceNotFound"


def test_key_values_round_trip_exactly(ngsi_client, tenants) -> None:
    h = tenants.a.headers()
    _create(ngsi_client, h, NESTED)
    url = f"{BASE}/entities/urn:ngsi-ld:Bridge:chaotianmen"
    kv = ngsi_client.get(url, params={"options": "keyValues"}, headers=h).json()
    assert kv == {
        "id": "urn:ngsi-ld:Bridge:chaotianmen",
        "type": "Bridge",
        "name": "朝天门长江大桥",
        "spans": [190, 552, 190],
        "load": NESTED["load"]["value"],
        "location": NESTED["location"]["value"],
        "ownedBy": "urn:ngsi-ld:Organization:transport",
    }
    assert ngsi_client.get(url, params={"format": "simplified"}, headers=h).json() == kv
    # the simplified view posted back (concise input) gives the same simplified view
    again = {**copy.deepcopy(kv), "id": "urn:ngsi-ld:Bridge:copy", "@context": [CORE]}
    again["ownedBy"] = {"object": kv["ownedBy"]}  # a bare URI string would be a Property
    _create(ngsi_client, h, again)
    back = ngsi_client.get(
        f"{BASE}/entities/urn:ngsi-ld:Bridge:copy", params={"options": "keyValues"}, headers=h
    ).json()
    assert back == {**kv, "id": "urn:ngsi-ld:Bridge:copy"}


def test_context_expands_and_compacts_terms(ngsi_client, tenants) -> None:
    h = tenants.a.headers()
    ctx = {"Sensor": "https://example.org/city#Sensor", "pm25": "https://example.org/city#pm25"}
    body = {
        "id": "urn:ngsi-ld:Sensor:1",
        "type": "Sensor",
        "pm25": {"type": "Property", "value": 35},
        "@context": [ctx, CORE],
    }
    _create(ngsi_client, h, body)
    # without the user context the names come back as full IRIs
    r = ngsi_client.get(f"{BASE}/entities/urn:ngsi-ld:Sensor:1", headers=h).json()
    assert r["type"] == "https://example.org/city#Sensor"
    assert r["https://example.org/city#pm25"]["value"] == 35
    # a query by the expanded type finds it; by the short name in the default vocabulary not
    r = ngsi_client.get(
        f"{BASE}/entities", params={"type": "https://example.org/city#Sensor"}, headers=h
    )
    assert [e["id"] for e in r.json()] == ["urn:ngsi-ld:Sensor:1"]
    r = ngsi_client.get(f"{BASE}/entities", params={"type": "Sensor"}, headers=h)
    assert r.json() == []


def test_attribute_operations(ngsi_client, tenants) -> None:
    h = tenants.a.headers()
    _create(
        ngsi_client,
        h,
        entity("urn:ngsi-ld:Toilet:1", "Toilet", seats={"type": "Property", "value": 4}),
    )
    url = f"{BASE}/entities/urn:ngsi-ld:Toilet:1"
    # update: existing attributes only; the others are reported (207)
    r = ngsi_client.patch(
        f"{url}/attrs",
        json={
            "seats": {"type": "Property", "value": 6},
            "open": {"type": "Property", "value": True},
        },
        headers=js(h),
    )
    assert r.status_code == 207
    assert r.json()["updated"] == ["seats"]
    assert r.json()["notUpdated"][0]["attributeName"] == "open"
    # append, then noOverwrite keeps the existing value
    r = ngsi_client.post(
        f"{url}/attrs", json={"open": {"type": "Property", "value": True}}, headers=js(h)
    )
    assert r.status_code == 204
    r = ngsi_client.post(
        f"{url}/attrs",
        params={"options": "noOverwrite"},
        json={"open": {"type": "Property", "value": False}},
        headers=js(h),
    )
    assert r.status_code == 207
    # partial update of one attribute
    r = ngsi_client.patch(f"{url}/attrs/seats", json={"value": 8}, headers=js(h))
    assert r.status_code == 204
    got = ngsi_client.get(url, params={"options": "keyValues"}, headers=h).json()
    assert got["seats"] == 8 and got["open"] is True
    # delete one attribute; deleting it again is 404
    assert ngsi_client.delete(f"{url}/attrs/open", headers=h).status_code == 204
    r = ngsi_client.delete(f"{url}/attrs/open", headers=h)
    assert r.status_code == 404 and r.json()["type"] == PROBLEM + "ResourceNotFound"
    # merge: the NGSI-LD Null removes an attribute, other members merge
    r = ngsi_client.patch(
        url,
        json={
            "seats": {"type": "Property", "value": "urn:ngsi-ld:null"},
            "cleaned": {"type": "Property", "value": "2026-12-07"},
        },
        headers=js(h),
    )
    assert r.status_code == 204
    got = ngsi_client.get(url, params={"options": "keyValues"}, headers=h).json()
    assert "seats" not in got and got["cleaned"] == "2026-12-07"


def test_sys_attrs_and_attrs_projection(ngsi_client, tenants) -> None:
    h = tenants.a.headers()
    _create(
        ngsi_client,
        h,
        entity(
            "urn:ngsi-ld:Park:1",
            "Park",
            a={"type": "Property", "value": 1},
            b={"type": "Property", "value": 2},
        ),
    )
    url = f"{BASE}/entities/urn:ngsi-ld:Park:1"
    r = ngsi_client.get(url, params={"options": "sysAttrs", "attrs": "a"}, headers=h).json()
    assert set(r) == {"id", "type", "a", "createdAt", "modifiedAt"}
    assert r["createdAt"].endswith("Z") and "createdAt" in r["a"]


def test_batch_operations(ngsi_client, tenants) -> None:
    h = tenants.a.headers()
    items = [
        entity(f"urn:ngsi-ld:Spot:{i}", "Spot", free={"type": "Property", "value": i % 2 == 0})
        for i in range(3)
    ]
    r = ngsi_client.post(f"{BASE}/entityOperations/create", json=items, headers=ld(h))
    assert r.status_code == 201 and sorted(r.json()) == [e["id"] for e in items]
    bad = [*items[:1], {"id": "not a uri", "type": "Spot", "@context": [CORE]}]
    r = ngsi_client.post(f"{BASE}/entityOperations/create", json=bad, headers=ld(h))
    assert r.status_code == 207
    assert [e["entityId"] for e in r.json()["errors"]] == ["urn:ngsi-ld:Spot:0", "not a uri"]
    assert r.json()["errors"][0]["error"]["type"] == PROBLEM + "AlreadyExists"
    ups = [
        entity("urn:ngsi-ld:Spot:0", "Spot", free={"type": "Property", "value": False}),
        entity("urn:ngsi-ld:Spot:9", "Spot", free={"type": "Property", "value": True}),
    ]
    r = ngsi_client.post(f"{BASE}/entityOperations/upsert", json=ups, headers=ld(h))
    assert r.status_code == 201 and r.json() == ["urn:ngsi-ld:Spot:9"]
    r = ngsi_client.get(
        f"{BASE}/entities", params={"type": "Spot", "q": "free==true", "count": "true"}, headers=h
    )
    assert r.headers["NGSILD-Results-Count"] == "2"
    r = ngsi_client.post(
        f"{BASE}/entityOperations/delete",
        json=["urn:ngsi-ld:Spot:0", "urn:ngsi-ld:Spot:404"],
        headers=js(h),
    )
    assert r.status_code == 207
    assert r.json()["success"] == ["urn:ngsi-ld:Spot:0"]


def test_query_paging_and_limits(ngsi_client, tenants) -> None:
    h = tenants.a.headers()
    items = [
        entity(f"urn:ngsi-ld:Bin:{i:02d}", "WasteBin", fill={"type": "Property", "value": i * 10})
        for i in range(5)
    ]
    ngsi_client.post(f"{BASE}/entityOperations/create", json=items, headers=ld(h))
    r = ngsi_client.get(
        f"{BASE}/entities",
        params={"type": "WasteBin", "limit": 2, "offset": 2, "count": "true"},
        headers=h,
    )
    assert [e["id"] for e in r.json()] == ["urn:ngsi-ld:Bin:02", "urn:ngsi-ld:Bin:03"]
    assert r.headers["NGSILD-Results-Count"] == "5"
    assert 'rel="next"' in r.headers["link"] and 'rel="prev"' in r.headers["link"]
    r = ngsi_client.get(f"{BASE}/entities", params={"type": "WasteBin", "limit": 1001}, headers=h)
    assert r.status_code == 403 and r.json()["type"] == PROBLEM + "TooManyResults"
    assert (
        ngsi_client.get(
            f"{BASE}/entities", params={"type": "WasteBin", "limit": 1000}, headers=h
        ).status_code
        == 200
    )
    r = ngsi_client.get(
        f"{BASE}/entities", params={"type": "WasteBin", "q": "fill>=20;fill<40"}, headers=h
    )
    assert [e["id"] for e in r.json()] == ["urn:ngsi-ld:Bin:02", "urn:ngsi-ld:Bin:03"]
    r = ngsi_client.get(
        f"{BASE}/entities",
        params={"type": "WasteBin", "orderBy": "fill;desc", "limit": 2},
        headers=h,
    )
    assert [e["id"] for e in r.json()] == ["urn:ngsi-ld:Bin:04", "urn:ngsi-ld:Bin:03"]


def test_geo_query_and_geojson(ngsi_client, tenants) -> None:
    h = tenants.a.headers()
    near = entity("urn:ngsi-ld:Toilet:near", "Toilet", location=point(106.5500, 29.5600))
    far = entity("urn:ngsi-ld:Toilet:far", "Toilet", location=point(106.5600, 29.5600))
    ngsi_client.post(f"{BASE}/entityOperations/create", json=[near, far], headers=ld(h))
    params = {
        "type": "Toilet",
        "georel": "near;maxDistance==600",
        "geometry": "Point",
        "coordinates": "[106.5520,29.5600]",
    }
    r = ngsi_client.get(f"{BASE}/entities", params=params, headers=h)
    assert [e["id"] for e in r.json()] == ["urn:ngsi-ld:Toilet:near"]
    r = ngsi_client.get(
        f"{BASE}/entities", params=params, headers={**h, "Accept": "application/geo+json"}
    )
    assert r.headers["content-type"] == "application/geo+json"
    fc = r.json()
    assert fc["type"] == "FeatureCollection"
    assert fc["features"][0]["geometry"] == {"type": "Point", "coordinates": [106.55, 29.56]}


def test_error_model(ngsi_client, tenants) -> None:
    h = tenants.a.headers()
    e = entity("urn:ngsi-ld:X:1", "X")
    # wrong media type
    r = ngsi_client.post(
        f"{BASE}/entities", content=b"{}", headers={**h, "Content-Type": "text/plain"}
    )
    assert r.status_code == 415 and r.json()["type"] == PROBLEM + "UnsupportedMediaType"
    # ld+json without @context; json with @context
    no_ctx = {k: v for k, v in e.items() if k != "@context"}
    r = ngsi_client.post(f"{BASE}/entities", json=no_ctx, headers=ld(h))
    assert r.status_code == 400 and r.json()["type"] == PROBLEM + "BadRequestData"
    r = ngsi_client.post(f"{BASE}/entities", json=e, headers=js(h))
    assert r.status_code == 400
    # not JSON
    r = ngsi_client.post(f"{BASE}/entities", content=b"{not json", headers=ld(h))
    assert r.status_code == 400 and r.json()["type"] == PROBLEM + "InvalidRequest"
    # an id that is not a URI, in the body and in the path
    r = ngsi_client.post(f"{BASE}/entities", json={**e, "id": "toilet 1"}, headers=ld(h))
    assert r.status_code == 400 and "URI" in r.json()["detail"]
    r = ngsi_client.get(f"{BASE}/entities/notauri", headers=h)
    assert r.status_code == 400
    # conflict
    _create(ngsi_client, h, e)
    r = ngsi_client.post(f"{BASE}/entities", json=e, headers=ld(h))
    assert r.status_code == 409 and r.json()["type"] == PROBLEM + "AlreadyExists"
    # an unknown remote context is never fetched: 503 LdContextNotAvailable
    remote = {
        **e,
        "id": "urn:ngsi-ld:X:2",
        "@context": ["http://169.254.169.254/latest/ctx.jsonld"],
    }
    r = ngsi_client.post(f"{BASE}/entities", json=remote, headers=ld(h))
    assert r.status_code == 503 and r.json()["type"] == PROBLEM + "LdContextNotAvailable"
    # Accept nobody can serve
    r = ngsi_client.get(f"{BASE}/entities/urn:ngsi-ld:X:1", headers={**h, "Accept": "text/html"})
    assert r.status_code == 406
    # unknown query parameter
    r = ngsi_client.get(f"{BASE}/entities", params={"type": "X", "bogus": "1"}, headers=h)
    assert r.status_code == 400 and r.json()["type"] == PROBLEM + "InvalidRequest"


def test_bad_geometry_is_refused(ngsi_client, tenants) -> None:
    h = tenants.a.headers()

    def geo_entity(i: int, geometry: dict) -> dict:
        return entity(
            f"urn:ngsi-ld:G:{i}", "G", location={"type": "GeoProperty", "value": geometry}
        )

    cases = [
        ({"type": "Point", "coordinates": [29.56, 106.55]}, "latitude"),  # swapped (lat, lon)
        ({"type": "Point", "coordinates": [200.0, 29.5]}, "longitude"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}, "valid"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}, "closed"),
        ({"type": "GeometryCollection", "geometries": []}, "not supported"),
    ]
    for i, (geometry, word) in enumerate(cases):
        r = ngsi_client.post(f"{BASE}/entities", json=geo_entity(i, geometry), headers=ld(h))
        assert r.status_code == 400, geometry
        assert word in r.json()["detail"], r.json()
    r = ngsi_client.get(
        f"{BASE}/entities",
        params={
            "type": "G",
            "georel": "near;maxDistance==10",
            "geometry": "Point",
            "coordinates": "[10,95]",
        },
        headers=h,
    )
    assert r.status_code == 400 and "latitude" in r.json()["detail"]


def test_script_and_invisible_characters(ngsi_client, tenants) -> None:
    h = tenants.a.headers()
    xss = '<script>alert("x")</script>'
    _create(
        ngsi_client,
        h,
        entity("urn:ngsi-ld:Report:1", "Report", description={"type": "Property", "value": xss}),
    )
    r = ngsi_client.get(f"{BASE}/entities/urn:ngsi-ld:Report:1", headers=h)
    assert r.json()["description"]["value"] == xss  # kept verbatim, served as JSON only
    assert r.headers["content-type"] == "application/json"
    for bad in (
        "urn:ngsi-ld:Report:\u202e2",
        "urn:ngsi-ld:Report:\u200b3",
        "urn:ngsi-ld:Report:<4>",
    ):
        r = ngsi_client.post(f"{BASE}/entities", json=entity(bad, "Report"), headers=ld(h))
        assert r.status_code == 400, bad


def test_tenants_are_isolated(ngsi_client, tenants) -> None:
    a, b = tenants.a.headers(), tenants.b.headers()
    _create(ngsi_client, a, entity("urn:ngsi-ld:Device:secret", "Thermometer"))
    url = f"{BASE}/entities/urn:ngsi-ld:Device:secret"
    assert ngsi_client.get(url, headers=b).status_code == 404
    assert ngsi_client.delete(url, headers=b).status_code == 404
    assert (
        ngsi_client.get(f"{BASE}/entities", params={"type": "Thermometer"}, headers=b).json() == []
    )
    # the same id may exist in another tenant
    _create(ngsi_client, b, entity("urn:ngsi-ld:Device:secret", "Thermometer"))
    # naming another tenant is refused to its members, allowed to a platform admin
    other = {**b, "NGSILD-Tenant": tenants.a.org.name}
    r = ngsi_client.get(url, headers=other)
    assert r.status_code == 403 and r.json()["type"] == PROBLEM + "Forbidden"
    admin = {**tenants.operator.headers(admin=True), "NGSILD-Tenant": tenants.a.org.name}
    r = ngsi_client.get(url, headers=admin)
    assert r.status_code == 200 and r.headers["NGSILD-Tenant"] == tenants.a.org.name
    r = ngsi_client.get(url, headers={**admin, "NGSILD-Tenant": "no-such-org"})
    assert r.status_code == 404 and r.json()["type"] == PROBLEM + "NonexistentTenant"
    # naming one's own organization is fine
    own = {**a, "NGSILD-Tenant": tenants.a.org.name}
    assert ngsi_client.get(url, headers=own).status_code == 200


def test_every_route_needs_a_token(ngsi_client) -> None:
    for method, path in (
        ("GET", "/entities?type=X"),
        ("POST", "/entities"),
        ("GET", "/subscriptions"),
        ("DELETE", "/entities/urn:ngsi-ld:X:1"),
    ):
        r = ngsi_client.request(
            method, f"{BASE}{path}", json={}, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 401, (method, path)


def test_regulators_read_but_do_not_write(ngsi_client, tenants) -> None:
    reg = tenants.regulator.headers()
    r = ngsi_client.post(f"{BASE}/entities", json=entity("urn:ngsi-ld:X:9", "X"), headers=ld(reg))
    assert r.status_code == 403
    assert ngsi_client.get(f"{BASE}/entities", params={"type": "X"}, headers=reg).status_code == 200
