"""NGSI-LD subscriptions: HTTP notifications to a local server, MQTT to Mosquitto, allow-lists."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mingyue.enablers.citygov.service import subscriptions as sub_service
from tests.enablers.citygov.citygov_ngsi_support import (
    BASE,
    CORE,
    entity,
    js,
    ld,
    ngsi_client_fixture,  # noqa: F401 - registers the ngsi_client fixture
)


class _Receiver:
    """A loopback HTTP server that records the notifications it gets."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's method name
                length = int(self.headers.get("Content-Length", "0"))
                received.append(
                    {"headers": dict(self.headers), "body": json.loads(self.rfile.read(length))}
                )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < n and time.monotonic() < deadline:
            sub_service.wait_idle(0.2)
            time.sleep(0.05)
        return self.received

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Any:
    r = _Receiver()
    yield r
    r.close()


def _subscription(uri: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "Subscription",
        "entities": [{"type": "Thermometer"}],
        "watchedAttributes": ["temperature"],
        "q": "temperature>30",
        "notification": {
            "endpoint": {"uri": uri, "accept": "application/json"},
            "attributes": ["temperature"],
        },
        "@context": [CORE],
        **extra,
    }


def test_http_notification_on_matching_change(ngsi_client, tenants, receiver) -> None:
    h = tenants.a.headers()
    r = ngsi_client.post(f"{BASE}/subscriptions", json=_subscription(receiver.url), headers=ld(h))
    assert r.status_code == 201, r.text
    sub_id = r.headers["Location"].rsplit("/", 1)[1]
    dev = entity(
        "urn:ngsi-ld:Device:t1",
        "Thermometer",
        temperature={"type": "Property", "value": 20},
        battery={"type": "Property", "value": 90},
    )
    ngsi_client.post(f"{BASE}/entities", json=dev, headers=ld(h))
    url = f"{BASE}/entities/urn:ngsi-ld:Device:t1/attrs"
    # a change of another attribute, or a value that fails q, notifies nobody
    ngsi_client.patch(url, json={"battery": {"type": "Property", "value": 80}}, headers=js(h))
    ngsi_client.patch(url, json={"temperature": {"type": "Property", "value": 25}}, headers=js(h))
    ngsi_client.patch(url, json={"temperature": {"type": "Property", "value": 35}}, headers=js(h))
    got = receiver.wait(1)
    time.sleep(0.3)
    assert len(got) == 1
    body = got[0]["body"]
    assert body["type"] == "Notification" and body["subscriptionId"] == sub_id
    assert body["data"] == [
        {
            "id": "urn:ngsi-ld:Device:t1",
            "type": "Thermometer",
            "temperature": {"type": "Property", "value": 35},
        }
    ]
    assert CORE in got[0]["headers"]["Link"]
    r = ngsi_client.get(f"{BASE}/subscriptions/{sub_id}", headers=h).json()
    assert r["notification"]["timesSent"] == 1 and r["notification"]["status"] == "ok"
    assert r["watchedAttributes"] == ["temperature"] and r["entities"] == [{"type": "Thermometer"}]


def test_key_values_notification_and_deletion(ngsi_client, tenants, receiver) -> None:
    h = tenants.a.headers()
    body = {
        "type": "Subscription",
        "entities": [{"type": "Thermometer", "idPattern": "^urn:ngsi-ld:Device:k"}],
        "notificationTrigger": ["entityCreated", "entityDeleted"],
        "notification": {
            "format": "keyValues",
            "endpoint": {"uri": receiver.url, "accept": "application/ld+json"},
        },
        "@context": [CORE],
    }
    r = ngsi_client.post(f"{BASE}/subscriptions", json=body, headers=ld(h))
    assert r.status_code == 201, r.text
    ngsi_client.post(
        f"{BASE}/entities", json=entity("urn:ngsi-ld:Device:other", "Thermometer"), headers=ld(h)
    )
    ngsi_client.post(
        f"{BASE}/entities",
        json=entity("urn:ngsi-ld:Device:k1", "Thermometer", level={"type": "Property", "value": 3}),
        headers=ld(h),
    )
    ngsi_client.delete(f"{BASE}/entities/urn:ngsi-ld:Device:k1", headers=h)
    got = receiver.wait(2)
    assert len(got) == 2
    created, deleted = (g["body"] for g in got)
    assert created["@context"] == CORE
    assert created["data"] == [
        {"id": "urn:ngsi-ld:Device:k1", "type": "Thermometer", "level": 3, "@context": CORE}
    ]
    assert set(deleted["data"][0]) == {"id", "type", "deletedAt", "@context"}
    assert deleted["data"][0]["id"] == "urn:ngsi-ld:Device:k1"


def test_subscription_crud_and_validation(ngsi_client, tenants, receiver) -> None:
    h = tenants.a.headers()
    sid = "urn:ngsi-ld:Subscription:fixed-1"
    r = ngsi_client.post(
        f"{BASE}/subscriptions", json={**_subscription(receiver.url), "id": sid}, headers=ld(h)
    )
    assert r.status_code == 201
    r = ngsi_client.post(
        f"{BASE}/subscriptions", json={**_subscription(receiver.url), "id": sid}, headers=ld(h)
    )
    assert r.status_code == 409
    r = ngsi_client.patch(
        f"{BASE}/subscriptions/{sid}", json={"q": "temperature>40"}, headers=js(h)
    )
    assert r.status_code == 204
    assert ngsi_client.get(f"{BASE}/subscriptions/{sid}", headers=h).json()["q"] == "temperature>40"
    assert len(ngsi_client.get(f"{BASE}/subscriptions", headers=h).json()) == 1
    assert ngsi_client.get(f"{BASE}/subscriptions", headers=tenants.b.headers()).json() == []
    assert (
        ngsi_client.get(f"{BASE}/subscriptions/{sid}", headers=tenants.b.headers()).status_code
        == 404
    )
    for bad in (
        {"q": "temperature>>"},
        {"type": "Nope"},
        {"notification": {}},
        {"geoQ": {"georel": "near;maxDistance==5", "geometry": "Point", "coordinates": [1, 95]}},
    ):
        r = ngsi_client.post(
            f"{BASE}/subscriptions", json={**_subscription(receiver.url), **bad}, headers=ld(h)
        )
        assert r.status_code == 400, bad
    assert ngsi_client.delete(f"{BASE}/subscriptions/{sid}", headers=h).status_code == 204
    assert ngsi_client.get(f"{BASE}/subscriptions/{sid}", headers=h).status_code == 404


def test_endpoints_outside_the_allow_list_are_refused(ngsi_client, tenants) -> None:
    h = tenants.a.headers()
    for uri in (
        "http://169.254.169.254/latest/meta-data",
        "http://example.com/hook",
        "mqtt://broker.example.com:1883/x",
        "file:///etc/passwd",
        "ftp://127.0.0.1/x",
    ):
        r = ngsi_client.post(f"{BASE}/subscriptions", json=_subscription(uri), headers=ld(h))
        assert r.status_code == 400, uri
        assert r.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"


def test_a_rolled_back_change_notifies_nobody(ngsi_client, tenants, receiver) -> None:
    h = tenants.a.headers()
    sub = {**_subscription(receiver.url), "q": "temperature>0"}
    ngsi_client.post(f"{BASE}/subscriptions", json=sub, headers=ld(h))
    items = [
        entity(
            "urn:ngsi-ld:Device:r1", "Thermometer", temperature={"type": "Property", "value": 5}
        ),
        entity(
            "urn:ngsi-ld:Device:r1", "Thermometer", temperature={"type": "Property", "value": 6}
        ),
    ]
    # the second create of the same id fails; the batch answers 207 with one success
    r = ngsi_client.post(f"{BASE}/entityOperations/create", json=items, headers=ld(h))
    assert r.status_code == 207
    assert len(receiver.wait(1)) == 1
    # a request that fails as a whole sends nothing
    r = ngsi_client.post(
        f"{BASE}/entities",
        json={
            **items[0],
            "id": "urn:ngsi-ld:Device:r2",
            "location": {"type": "Property", "value": 1},
        },
        headers=ld(h),
    )
    assert r.status_code == 400
    time.sleep(0.5)
    assert len(receiver.received) == 1


def _mqtt_up(host: str = "127.0.0.1", port: int = 1883) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def test_mqtt_notification_to_mosquitto(ngsi_client, tenants) -> None:
    if not _mqtt_up():
        pytest.skip("Mosquitto is not listening on 127.0.0.1:1883 (start it: `mosquitto -d`)")
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    topic = f"mingyue-test/{uuid.uuid4().hex}"
    got: list[dict[str, Any]] = []
    ready = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, *_: (c.subscribe(topic, qos=1), ready.set())
    client.on_message = lambda c, u, msg: got.append(json.loads(msg.payload))
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    try:
        assert ready.wait(5)
        time.sleep(0.2)
        h = tenants.a.headers()
        sub = _subscription(f"mqtt://127.0.0.1:1883/{topic}")
        r = ngsi_client.post(f"{BASE}/subscriptions", json=sub, headers=ld(h))
        assert r.status_code == 201, r.text
        dev = entity(
            "urn:ngsi-ld:Device:m1", "Thermometer", temperature={"type": "Property", "value": 41}
        )
        ngsi_client.post(f"{BASE}/entities", json=dev, headers=ld(h))
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            sub_service.wait_idle(0.2)
            time.sleep(0.05)
    finally:
        client.loop_stop()
        client.disconnect()
    assert got, "no notification arrived on the MQTT topic"
    msg = got[0]
    assert msg["metadata"]["Content-Type"] == "application/json"
    assert msg["body"]["data"][0]["temperature"]["value"] == 41


def test_show_changes_and_deleted_attributes(ngsi_client, tenants, receiver) -> None:
    h = tenants.a.headers()
    sub = {
        "type": "Subscription",
        "entities": [{"type": "Thermometer"}],
        "notificationTrigger": ["attributeUpdated", "attributeDeleted"],
        "notification": {"showChanges": True, "endpoint": {"uri": receiver.url}},
        "@context": [CORE],
    }
    assert ngsi_client.post(f"{BASE}/subscriptions", json=sub, headers=ld(h)).status_code == 201
    dev = entity(
        "urn:ngsi-ld:Device:s1",
        "Thermometer",
        state={"type": "Property", "value": "idle"},
        owner={"type": "Relationship", "object": "urn:ngsi-ld:Org:a"},
    )
    ngsi_client.post(f"{BASE}/entities", json=dev, headers=ld(h))  # a creation: not subscribed
    url = f"{BASE}/entities/urn:ngsi-ld:Device:s1"
    ngsi_client.patch(
        f"{url}/attrs", json={"state": {"type": "Property", "value": "busy"}}, headers=js(h)
    )
    ngsi_client.delete(f"{url}/attrs/owner", headers=h)
    got = receiver.wait(2)
    assert len(got) == 2
    updated, deleted = (g["body"]["data"][0] for g in got)
    assert updated["state"] == {"type": "Property", "value": "busy", "previousValue": "idle"}
    assert deleted["owner"] == {
        "type": "Relationship",
        "object": "urn:ngsi-ld:null",
        "previousObject": "urn:ngsi-ld:Org:a",
    }


def test_periodic_subscription(ngsi_client, tenants, receiver, settings) -> None:
    from mingyue.enablers.citygov.service import ngsi_periodic

    h = tenants.a.headers()
    for i in range(2):
        ngsi_client.post(
            f"{BASE}/entities",
            headers=ld(h),
            json=entity(
                f"urn:ngsi-ld:Device:p{i}",
                "Thermometer",
                temperature={"type": "Property", "value": 30 + i},
            ),
        )
    sub = {
        "type": "Subscription",
        "entities": [{"type": "Thermometer"}],
        "timeInterval": 3600,
        "q": "temperature>30",
        "notification": {"endpoint": {"uri": receiver.url}},
        "@context": [CORE],
    }
    assert ngsi_client.post(f"{BASE}/subscriptions", json=sub, headers=ld(h)).status_code == 201
    assert ngsi_periodic.notify_due(settings) == 1
    assert ngsi_periodic.notify_due(settings) == 0  # not due again within the hour
    got = receiver.wait(1)
    assert [e["id"] for e in got[0]["body"]["data"]] == ["urn:ngsi-ld:Device:p1"]
    # a change does not fire a periodic subscription
    ngsi_client.patch(
        f"{BASE}/entities/urn:ngsi-ld:Device:p0/attrs",
        headers=js(h),
        json={"temperature": {"type": "Property", "value": 50}},
    )
    time.sleep(0.5)
    assert len(receiver.received) == 1
