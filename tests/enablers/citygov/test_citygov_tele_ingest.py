"""HTTP ingest of city telemetry: registry, tokens, tenants, bad input, the mirrored entity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from citygov_tele_support import register, use_options

from mingyue.enablers.citygov.service import broker, telemetry
from mingyue.sdk import SYSTEM, unit_of_work

DEV_URL = "/telemetry/v1/septic_tank/st-0001"


def _ts(seconds_ago: float = 0.0) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat()


def test_register_ingest_and_mirror(client, tenants, settings) -> None:
    dev = register(client, tenants.a.headers(admin=True), name="解放碑化粪池1号")
    assert dev["token"].startswith("myd_") and dev["entity_id"] == "urn:ngsi-ld:Device:st-0001"
    url = "/api/citygov/telemetry/septic_tank/st-0001"
    # the device's own token, on the devices' mount
    dev_h = {"X-Device-Token": dev["token"]}
    body = b'{"ts": "%s", "ch4": 3.5, "h2s": 1.2}' % _ts(5).encode()
    r = client.post(DEV_URL, content=body, headers=dev_h)
    assert r.status_code == 202, r.text
    # a member's platform token of the owning organization
    r = client.post(url, json={"ch4": 4.0}, headers=tenants.a.headers())
    assert r.status_code == 202, r.text
    readings = client.get(
        "/api/citygov/devices/st-0001/readings", headers=tenants.a.headers()
    ).json()
    assert [x["values"] for x in readings] == [{"ch4": 4.0}, {"ch4": 3.5, "h2s": 1.2}]
    assert {x["via"] for x in readings} == {"http"}
    with unit_of_work(SYSTEM, settings) as uow:
        entity = broker.get_entity(uow, org_id=tenants.a.org.id, entity_id=dev["entity_id"])
    assert entity is not None
    assert entity["ch4"]["value"] == 4.0 and entity["h2s"]["value"] == 1.2
    assert entity["ch4"]["unitCode"] == "P1" and "observedAt" in entity["ch4"]
    assert entity["location"]["value"]["coordinates"] == [106.55, 29.56]
    device = client.get("/api/citygov/devices/st-0001", headers=tenants.a.headers()).json()
    assert device["received"] == 2 and device["last_values"]["ch4"][0] == 4.0


def test_tenants_and_tokens(client, tenants) -> None:
    dev = register(client, tenants.a.headers(admin=True))
    url = "/api/citygov/telemetry/septic_tank/st-0001"
    # another organization neither sees nor feeds the device
    assert (
        client.get("/api/citygov/devices/st-0001", headers=tenants.b.headers()).status_code == 404
    )
    assert client.post(url, json={"ch4": 1}, headers=tenants.b.headers()).status_code == 404
    assert client.get("/api/citygov/devices", headers=tenants.b.headers()).json() == []
    # no token, an unknown device token, a device token as a platform login, a rotated one
    assert client.post(url, json={"ch4": 1}).status_code == 401
    assert client.post(DEV_URL, json={"ch4": 1}).status_code == 401
    bad = {"X-Device-Token": "myd_not-a-real-token"}
    assert client.post(DEV_URL, json={"ch4": 1}, headers=bad).status_code == 401
    as_login = {"Authorization": f"Bearer {dev['token']}"}
    assert client.post(url, json={"ch4": 1}, headers=as_login).status_code == 401
    other = "/telemetry/v1/septic_tank/st-9999"
    assert (
        client.post(other, json={"ch4": 1}, headers={"X-Device-Token": dev["token"]}).status_code
        == 401
    )
    rotated = client.post(
        "/api/citygov/devices/st-0001/token", headers=tenants.a.headers(admin=True)
    )
    assert rotated.status_code == 200
    old = {"X-Device-Token": dev["token"]}
    assert client.post(DEV_URL, json={"ch4": 1}, headers=old).status_code == 401
    new = {"X-Device-Token": rotated.json()["token"]}
    assert client.post(DEV_URL, json={"ch4": 1}, headers=new).status_code == 202
    # a member may not register devices; a device id is unique across organizations
    r = client.post(
        "/api/citygov/devices",
        json={"device_id": "st-0002", "kind": "septic_tank", "lon": 106.5, "lat": 29.5},
        headers=tenants.a.headers(),
    )
    assert r.status_code == 403
    r = client.post(
        "/api/citygov/devices",
        json={"device_id": "st-0001", "kind": "septic_tank", "lon": 106.5, "lat": 29.5},
        headers=tenants.b.headers(admin=True),
    )
    assert r.status_code == 409
    # the oversight roles read every organization's devices
    regs = client.get("/api/citygov/devices", headers=tenants.regulator.headers()).json()
    assert [d["device_id"] for d in regs] == ["st-0001"]


def test_bad_input_is_refused_and_counted(app, client, tenants, settings) -> None:
    use_options(app, telemetry_max_skew_s=5, telemetry_max_bytes=256)
    dev = register(client, tenants.a.headers(admin=True))
    h = {"X-Device-Token": dev["token"], "Content-Type": "application/json"}
    url = DEV_URL

    def post(body: bytes) -> tuple[int, str]:
        r = client.post(url, content=body, headers=h)
        return r.status_code, r.json().get("key", "") if r.status_code >= 400 else ""

    assert post(b"not json") == (422, "citygov.telemetry.not_json")
    assert post(b'{"ch4": NaN}') == (422, "citygov.telemetry.not_json")
    assert post(b"[1, 2]") == (422, "citygov.telemetry.not_object")
    assert post(b'{"ch4": 101}') == (422, "citygov.telemetry.schema")  # out of range
    assert post(b'{"ch4": "1"}') == (422, "citygov.telemetry.schema")
    assert post(b'{"co2": 1}') == (422, "citygov.telemetry.schema")  # not a measure of the kind
    assert (
        post(b'{"ch4": 1, "extra": "<script>alert(1)</script>"}')[1] == "citygov.telemetry.schema"
    )
    assert post(b'{"ch4": 1, "ts": "2026-01-01T00:00:00"}') == (422, "citygov.telemetry.bad_ts")
    assert post(b'{"ch4": 1}' + b" " * 300) == (413, "citygov.telemetry.too_large")
    future = (datetime.now(UTC) + timedelta(minutes=5)).isoformat().encode()
    assert post(b'{"ch4": 1, "ts": "%s"}' % future) == (422, "citygov.telemetry.future")
    # a reading, then the same time again, then an older one: replays
    at = _ts(60).encode()
    assert post(b'{"ch4": 1, "ts": "%s"}' % at) == (202, "")
    assert post(b'{"ch4": 2, "ts": "%s"}' % at) == (409, "citygov.telemetry.replay")
    assert post(b'{"ch4": 2, "ts": "%s"}' % _ts(120).encode()) == (409, "citygov.telemetry.replay")
    # the wrong kind in the path
    r = client.post("/telemetry/v1/bridge_weigh/st-0001", content=b'{"ch4": 1}', headers=h)
    assert r.status_code == 422 and r.json()["key"] == "citygov.telemetry.kind_mismatch"
    device = client.get("/api/citygov/devices/st-0001", headers=tenants.a.headers()).json()
    assert device["received"] == 1
    assert device["rejected"]["schema"] == 4 and device["rejected"]["replay"] == 2
    assert device["rejected"]["not_json"] == 2 and device["rejected"]["too_large"] == 1
    assert device["last_rejection"].startswith("kind_mismatch")


def test_flood_is_rate_limited(app, client, tenants) -> None:
    use_options(app, telemetry_rate_per_s=0.001, telemetry_burst=5)
    dev = register(client, tenants.a.headers(admin=True))
    h = {"X-Device-Token": dev["token"]}
    codes = [
        client.post(
            DEV_URL,
            json={"ch4": 1, "ts": _ts(100 - i)},
            headers=h,
        ).status_code
        for i in range(8)
    ]
    assert codes == [202] * 5 + [429] * 3


def test_batch_store_counts_every_reason(tenants, settings, client) -> None:
    """The MQTT path: one transaction per batch, a bad message never stops the others."""
    register(client, tenants.a.headers(admin=True))
    register(client, tenants.a.headers(admin=True), device_id="tree-1", kind="ancient_tree")
    now = datetime.now(UTC)
    msgs = [
        telemetry.Incoming("city/septic_tank/st-0001", b'{"ch4": 1}', now),
        telemetry.Incoming("city/septic_tank/st-0001", b"\xff\xfe", now),
        telemetry.Incoming("city/ancient_tree/tree-1", b'{"tilt": 1.5, "soilMoisture": 30}', now),
        telemetry.Incoming("city/septic_tank/nope", b'{"ch4": 1}', now),
        telemetry.Incoming("city/x/y/z", b"{}", now),
        telemetry.Incoming("city/septic_tank/tree-1", b'{"ch4": 1}', now),
    ]
    out = telemetry.store_batch(settings, msgs)
    assert [(o.stored, o.reason) for o in out] == [
        (True, None),
        (False, "not_json"),
        (True, None),
        (False, "unknown_device"),
        (False, "bad_topic"),
        (False, "kind_mismatch"),
    ]
    counters = telemetry.ingestor(settings).counters
    assert counters.stored >= 2 and counters.rejected["bad_topic"] >= 1
