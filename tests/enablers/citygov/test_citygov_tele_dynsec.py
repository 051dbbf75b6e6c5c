"""scripts/citygov-mqtt-setup.sh on a private Mosquitto with dynamic security: a device may
publish on its own topic only; the platform's user receives it; anonymous clients are refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from citygov_tele_support import private_broker

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "citygov-mqtt-setup.sh"
PLUGIN = Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")


def _run(env: dict[str, str], *args: str) -> str:
    res = subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=30
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


def _client(port: int, user: str | None, password: str | None, cid: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
    if user:
        c.username_pw_set(user, password)
    return c


def test_device_may_publish_on_its_own_topic_only(tmp_path: Path) -> None:
    if shutil.which("mosquitto_ctrl") is None:
        pytest.skip("mosquitto_ctrl is missing (apt-get install mosquitto-clients)")
    if not PLUGIN.exists():
        pytest.skip(f"{PLUGIN} is missing (Debian package mosquitto)")
    env = {**os.environ, "MQTT_ADMIN": "admin", "MQTT_ADMIN_PASSWORD": "admin-pw-123"}
    conf = tmp_path / "dynsec.json"
    lines = _run(env, "init", str(conf), "admin")
    assert "plugin_opt_config_file" in lines and conf.stat().st_mode & 0o077 == 0
    extra = "".join(ln + "\n" for ln in lines.splitlines() if not ln.startswith("#"))
    with private_broker(
        tmp_path / "broker", extra=extra.replace("allow_anonymous false\n", ""), anonymous=False
    ) as b:
        env["MQTT_PORT"] = str(b.port)
        _run(env, "add-platform", "platform", "plat-pw-123")
        out = _run(env, "add-device", "septic_tank", "st-0001", "dev1-pw-123")
        assert "city/septic_tank/st-0001" in out
        _run(env, "add-device", "septic_tank", "st-0002", "dev2-pw-123")
        # a bad device id never reaches the broker
        bad = subprocess.run(
            ["bash", str(SCRIPT), "add-device", "septic_tank", "a/#"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert bad.returncode == 2 and "bad name" in bad.stderr

        got: list[tuple[str, bytes]] = []
        ready, arrived = threading.Event(), threading.Event()
        sub = _client(b.port, "platform", "plat-pw-123", "sub")
        sub.on_subscribe = lambda *a: ready.set()

        def on_message(_c, _u, m) -> None:
            got.append((m.topic, m.payload))
            arrived.set()

        sub.on_message = on_message
        sub.connect("127.0.0.1", b.port)
        sub.subscribe("city/#", qos=1)
        sub.loop_start()
        assert ready.wait(5)

        dev = _client(b.port, "dev-st-0001", "dev1-pw-123", "dev1")
        acks: dict[int, int] = {}
        acked = threading.Event()

        def on_publish(_c, _u, mid, rc, _p) -> None:
            acks[mid] = rc.value
            if len(acks) == 2:
                acked.set()

        dev.on_publish = on_publish
        dev.connect("127.0.0.1", b.port)
        dev.loop_start()
        own = dev.publish("city/septic_tank/st-0001", b'{"ch4": 1}', qos=1)
        other = dev.publish("city/septic_tank/st-0002", b'{"ch4": 99}', qos=1)
        assert acked.wait(5)
        assert acks[own.mid] == 0
        assert acks[other.mid] == 135  # MQTT 5 reason code 0x87: Not authorized
        assert arrived.wait(5)
        dev.loop_stop()
        dev.disconnect()
        sub.loop_stop()
        sub.disconnect()
        assert got == [("city/septic_tank/st-0001", b'{"ch4": 1}')]

        # anonymous clients and wrong passwords are refused at CONNECT
        refused: list[int] = []
        for user, pw in ((None, None), ("dev-st-0001", "wrong")):
            c = _client(b.port, user, pw, "x")
            c.on_connect = lambda _c, _u, _f, rc, _p: refused.append(rc.value)
            c.connect("127.0.0.1", b.port)
            c.loop_start()
            for _ in range(50):
                if len(refused) == (1 if user is None else 2):
                    break
                threading.Event().wait(0.05)
            c.loop_stop()
        assert refused and all(rc != 0 for rc in refused)
