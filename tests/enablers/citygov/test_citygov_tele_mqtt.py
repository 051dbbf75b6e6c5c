"""MQTT ingest through the background service ``citygov.mqtt`` (mqtt_service.run), for real:
the local Mosquitto (127.0.0.1:1883, started by .ci/run) and private brokers on free ports.

- a JSON object published on city/<kind>/<id> updates the entity and the time series within
  a second; a bad message before it does not stop the stream;
- a broker restart in the middle of a stream loses nothing (QoS 1, persistent session);
- with no broker the status says "down" and HTTP ingest keeps working.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from citygov_tele_support import free_port, port_open, private_broker, register, use_options
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import func, select

from mingyue.enablers.citygov import mqtt_service
from mingyue.enablers.citygov.models_telemetry import CitygovReading
from mingyue.enablers.citygov.service import broker, telemetry
from mingyue.sdk import SYSTEM, unit_of_work

pytestmark = pytest.mark.service


@contextmanager
def running_service() -> Iterator[None]:
    """Run mqtt_service.run in a thread with its own event loop for the block."""
    holder: dict[str, Any] = {}
    started = threading.Event()

    async def main() -> None:
        holder["loop"] = asyncio.get_running_loop()
        holder["stop"] = asyncio.Event()
        started.set()
        await mqtt_service.run(holder["stop"])

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    assert started.wait(5)
    try:
        yield
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(20)
        assert not thread.is_alive(), "the MQTT service did not stop"


def wait_for(pred: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def forget_session(port: int, client_id: str) -> None:
    """End the persistent session a test left on a shared broker."""
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", port, clean_start=True, properties=props)
    c.loop_start()
    time.sleep(0.2)
    c.disconnect()
    c.loop_stop()


def publisher(port: int, cid: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(100)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def _stored(settings: Any) -> int:
    with unit_of_work(SYSTEM, settings) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(CitygovReading)) or 0)


def test_published_json_updates_the_entity_within_a_second(app, client, tenants, settings) -> None:
    if not port_open(1883):
        pytest.skip("no MQTT broker on 127.0.0.1:1883 (.ci/run starts the local Mosquitto)")
    stem = f"test-{uuid.uuid4().hex[:10]}"
    s = use_options(app, mqtt_client_id=stem)
    dev_id = f"st-{uuid.uuid4().hex[:8]}"
    dev = register(client, tenants.a.headers(admin=True), device_id=dev_id)
    try:
        with running_service():
            wait_for(lambda: telemetry.mqtt_status(s)["state"] == "connected", 10, "connected")
            st = telemetry.mqtt_status(s)
            assert st["topic"] == "city/#" and st["client_id"] == f"{stem}-0"
            pub = publisher(1883, f"{stem}-pub")
            try:
                pub.publish(f"city/septic_tank/{dev_id}", b"garbage", qos=1).wait_for_publish(5)
                began = time.monotonic()
                body = b'{"ch4": 12.5, "h2s": 0.8}'
                pub.publish(f"city/septic_tank/{dev_id}", body, qos=1).wait_for_publish(5)

                def mirrored() -> bool:
                    with unit_of_work(SYSTEM, s) as uow:
                        e = broker.get_entity(
                            uow, org_id=tenants.a.org.id, entity_id=dev["entity_id"]
                        )
                    return bool(e and e.get("ch4", {}).get("value") == 12.5)

                wait_for(mirrored, 1.0, "the entity to show the published value")
                elapsed = time.monotonic() - began
            finally:
                pub.loop_stop()
                pub.disconnect()
            assert elapsed < 1.0
            readings = client.get(
                f"/api/citygov/devices/{dev_id}/readings", headers=tenants.a.headers()
            ).json()
            assert [r["values"] for r in readings] == [{"ch4": 12.5, "h2s": 0.8}]
            assert readings[0]["via"] == "mqtt"
            device = client.get(
                f"/api/citygov/devices/{dev_id}", headers=tenants.a.headers()
            ).json()
            assert device["rejected"] == {"not_json": 1}
    finally:
        forget_session(1883, f"{stem}-0")


def test_a_broker_restart_loses_nothing(app, client, tenants, settings, tmp_path) -> None:
    with private_broker(tmp_path / "broker") as b:
        s = use_options(
            app,
            mqtt_url=b.url,
            mqtt_client_id="restart",
            telemetry_rate_per_s=100000,
            telemetry_burst=100000,
        )
        devices = [f"st-r{i}" for i in range(3)]
        for d in devices:
            register(client, tenants.a.headers(admin=True), device_id=d)
        n_each = 200
        t0 = datetime.now(UTC) - timedelta(hours=1)
        with running_service():
            wait_for(lambda: telemetry.mqtt_status(s)["state"] == "connected", 10, "connected")
            pub = publisher(b.port, "restart-pub")
            try:
                for i in range(n_each):
                    for d in devices:
                        ts = (t0 + timedelta(seconds=i)).isoformat()
                        pub.publish(
                            f"city/septic_tank/{d}",
                            b'{"ts": "%s", "ch4": %d}' % (ts.encode(), i % 20),
                            qos=1,
                        )
                    if i == n_each // 2:
                        b.stop()  # mid-stream, with messages in flight both ways
                        time.sleep(0.5)
                        b.start()
                wait_for(lambda: _stored(s) == n_each * len(devices), 60, "every message stored")
            finally:
                pub.loop_stop()
                pub.disconnect()
            time.sleep(0.5)
            assert _stored(s) == n_each * len(devices)  # nothing lost, nothing twice
            counters = telemetry.ingestor(s).counters
            assert counters.stored == n_each * len(devices)


def test_no_broker_is_said_and_http_still_works(app, client, tenants, settings) -> None:
    port = free_port()  # nothing listens there
    s = use_options(app, mqtt_url=f"mqtt://127.0.0.1:{port}", mqtt_client_id="nobroker")
    dev = register(client, tenants.a.headers(admin=True))
    with running_service():
        wait_for(lambda: telemetry.mqtt_status(s)["state"] == "down", 10, "state down")
        st = telemetry.mqtt_status(s)
        assert st["url"] == f"mqtt://127.0.0.1:{port}" and st["last_error"]
        r = client.post(
            "/telemetry/v1/septic_tank/st-0001",
            json={"ch4": 1},
            headers={"X-Device-Token": dev["token"]},
        )
        assert r.status_code == 202
        r = client.get("/api/citygov/telemetry/status", headers=tenants.a.headers())
        assert r.status_code == 200 and r.json()["state"] == "down" and r.json()["http"] is True
    assert telemetry.mqtt_status(s)["state"] == "off"


def test_one_subscriber_per_data_dir(settings, tmp_path) -> None:
    """Without a shared group a second process stands by: it cannot claim slot 0."""
    first = mqtt_service._claim(settings, 0)
    assert first is not None
    try:
        assert mqtt_service._claim(settings, 0) is None
    finally:
        first.close()
    again = mqtt_service._claim(settings, 0)
    assert again is not None
    again.close()
