"""citygov MQTT ingest against raw Mosquitto loopback, in the same run (issue 16, acceptance).

Both legs use a private Mosquitto on a free loopback port (persistence on, as in production)
and the same paho-mqtt publishers: ``--n`` JSON messages at QoS 1 from ``--devices`` devices,
each with its own increasing ``ts``.

- **raw**: paho → Mosquitto → an aiomqtt subscriber that only counts (the peer: nothing is
  checked or stored);
- **ours**: paho → Mosquitto → ``mingyue.enablers.citygov.mqtt_service.run`` (the service of
  ``mingyue serve``): batches, topic and device look-up, rate limit, size/JSON/schema/time
  checks, readings inserted, device state, the NGSI-LD entity mirrored, alarm rules evaluated,
  then the QoS 1 acknowledgements. Throughput is counted by rows in ``citygov_reading``.

The publishers run in a process of their own (devices are not the server). Each figure is
messages per second from the first publish to the last message received (raw) or stored
(ours); the ratio is ours / raw. Zero loss: every message is a row, once (counted at the end).

    .venv/bin/python bench/city_ingest.py                 # 100,000 messages, SQLite
    .venv/bin/python bench/city_ingest.py --n 20000 --pg postgresql+psycopg://postgres@127.0.0.1/bench
    nice .venv/bin/python bench/city_ingest.py --runs 3    # the median of three (load printed)

With ``--pg`` the database is emptied (schema ``public`` dropped) before each run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from sqlalchemy import func, select

from mingyue.core import config, migrate
from mingyue.core.db import dispose_engines, system_session
from mingyue.core.migrate import ensure_schema
from mingyue.core.tenancy.identity import Organization, User, actor_for, hash_password
from mingyue.core.uow import unit_of_work
from mingyue.enablers.citygov import mqtt_service
from mingyue.enablers.citygov.models_telemetry import CitygovReading
from mingyue.enablers.citygov.service import telemetry
from mingyue.testing import make_uscc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """A private Mosquitto (persistence on) for one leg."""

    def __init__(self, root: Path) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.dir = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        conf = root / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {root}/\nmax_queued_messages 0\nuser root\n",
            encoding="utf-8",
        )
        with (root / "log").open("ab") as log:
            self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=log, stderr=log)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("mosquitto did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def messages(n: int, devices: int, base: datetime) -> list[tuple[str, bytes]]:
    """The stream: device i's k-th message has ts base + k seconds."""
    out = []
    for k in range(n):
        d = k % devices
        ts = (base + timedelta(seconds=k // devices)).isoformat()
        body = {"ts": ts, "ch4": round((k % 200) / 10, 1), "h2s": round((k % 70) / 10, 1)}
        out.append((f"city/septic_tank/bench-{d:04d}", json.dumps(body).encode()))
    return out


def publish(port: int, stream: list[tuple[str, bytes]], publishers: int) -> float:
    """Publish the stream at QoS 1 from ``publishers`` paho clients; return the start time."""
    clients = []
    for i in range(publishers):
        c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{i}", protocol=mqtt.MQTTv5
        )
        c.max_inflight_messages_set(200)
        c.max_queued_messages_set(0)
        c.connect("127.0.0.1", port)
        c.loop_start()
        clients.append(c)
    began = time.time()

    def run(i: int) -> None:
        c = clients[i]
        infos = [c.publish(t, p, qos=1) for t, p in stream[i::publishers]]
        for info in infos:
            info.wait_for_publish(600)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(publishers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.loop_stop()
        c.disconnect()
    return began


class Publisher:
    """The publishers in a process of their own (they must not share the GIL with either
    subscriber: both legs get the same offered load)."""

    def __init__(self, port: int, args: argparse.Namespace, base: datetime) -> None:
        cmd = [
            sys.executable,
            __file__,
            "--publish-to",
            str(port),
            "--n",
            str(args.n),
            "--devices",
            str(args.devices),
            "--publishers",
            str(args.publishers),
            "--base",
            base.isoformat(),
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)

    def began(self) -> float:
        out, _ = self.proc.communicate(timeout=900)
        if self.proc.returncode != 0:
            raise SystemExit("the publishers failed")
        return float(out.strip().splitlines()[-1])


def raw_leg(root: Path, args: argparse.Namespace, base: datetime) -> float:
    """paho → Mosquitto → aiomqtt (count only): messages per second."""
    broker = Broker(root / "raw")
    try:
        n = args.n
        result: dict[str, float] = {}
        subscribed = threading.Event()

        async def sub() -> None:
            async with aiomqtt.Client(
                "127.0.0.1",
                broker.port,
                identifier="bench-raw-sub",
                protocol=aiomqtt.ProtocolVersion.V5,
            ) as c:
                await c.subscribe("city/#", qos=1)
                subscribed.set()
                got = 0
                async for _m in c.messages:
                    got += 1
                    if got == n:
                        result["end"] = time.time()
                        return

        th = threading.Thread(target=lambda: asyncio.run(sub()))
        th.start()
        subscribed.wait(10)
        pub = Publisher(broker.port, args, base)
        th.join(900)
        began = pub.began()
    finally:
        broker.stop()
    if "end" not in result:
        raise SystemExit("raw leg: not every message arrived")
    return n / (result["end"] - began)


def _seed(devices: int) -> None:
    settings = config.get_settings()
    ensure_schema(settings)
    with system_session(settings, "bench seed") as s:
        org = Organization(
            name="bench-city", kind="enterprise", uscc=make_uscc(), is_sme=False, settings={}
        )
        s.add(org)
        s.flush()
        user = User(
            username="bench_admin",
            password_hash=hash_password("bench-password-1"),
            organization_id=org.id,
            roles=["org_admin"],
            display_name="",
        )
        s.add(user)
        s.flush()
        actor = actor_for(user)
    with unit_of_work(actor, settings) as uow:
        for d in range(devices):
            telemetry.register_device(
                uow=uow,
                actor=actor,
                body=telemetry.DeviceIn(
                    device_id=f"bench-{d:04d}", kind="septic_tank", lon=106.5 + d * 1e-4, lat=29.5
                ),
            )


def _rows() -> int:
    with system_session(config.get_settings(), "bench count") as s:
        return int(s.scalar(select(func.count()).select_from(CitygovReading)) or 0)


def ours_leg(
    root: Path, args: argparse.Namespace, base: datetime
) -> tuple[float, int, dict[str, Any]]:
    """paho → Mosquitto → mingyue's subscriber → validated and stored: messages per second."""
    broker = Broker(root / "ours")
    try:
        config.reset()
        config.configure(
            data_dir=root / "data",
            env="dev",
            database_url=args.pg,
            citygov={
                "mqtt_url": f"mqtt://127.0.0.1:{broker.port}",
                "mqtt_client_id": "bench",
                "telemetry_rate_per_s": "100000",
                "telemetry_burst": "1000000",
            },
        )
        _seed(args.devices)
        holder: dict[str, Any] = {}
        ready = threading.Event()

        async def main() -> None:
            holder["loop"], holder["stop"] = asyncio.get_running_loop(), asyncio.Event()
            ready.set()
            await mqtt_service.run(holder["stop"])

        th = threading.Thread(target=lambda: asyncio.run(main()))
        th.start()
        ready.wait(10)
        for _ in range(200):
            if telemetry.mqtt_status()["state"] == "connected":
                break
            time.sleep(0.05)
        n = args.n
        pub = Publisher(broker.port, args, base)
        end = None
        deadline = time.time() + 900
        counters = telemetry.ingestor(config.get_settings()).counters
        while time.time() < deadline:
            # the service's own count (a COUNT(*) every few ms would slow what it measures); the
            # rows are counted once at the end for the zero-loss check
            if counters.stored + sum(counters.rejected.values()) >= n:
                end = time.time()
                break
            time.sleep(0.02)
        began = pub.began()
        time.sleep(1.0)
        rows = _rows()
        status = telemetry.mqtt_status()
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        th.join(60)
    finally:
        broker.stop()
    dispose_engines()
    if end is None:
        raise SystemExit(f"ours: {rows} of {n} messages stored after 15 min")
    return n / (end - began), rows, status


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=100_000, help="messages (default 100,000)")
    ap.add_argument("--devices", type=int, default=100, help="devices (default 100)")
    ap.add_argument("--publishers", type=int, default=2, help="paho publisher clients (default 2)")
    ap.add_argument("--pg", default=None, help="PostgreSQL URL for ours (default: SQLite)")
    ap.add_argument("--runs", type=int, default=1, help="runs; the median ratio is reported")
    ap.add_argument("--publish-to", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--base", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.publish_to is not None:  # the publishers' own process
        stream = messages(args.n, args.devices, datetime.fromisoformat(args.base))
        print(publish(args.publish_to, stream, args.publishers), flush=True)
        return
    db = "PostgreSQL" if args.pg else "SQLite"
    print(
        f"messages: {args.n:,} QoS 1 from {args.devices} devices, {args.publishers} paho publishers"
        f" (own process); {db}; {args.runs} run(s), raw and ours in turn",
        flush=True,
    )
    raws: list[float] = []
    ratios: list[float] = []
    losses = 0
    for run in range(1, args.runs + 1):
        if args.pg:
            _reset_pg(args.pg)
        base = datetime.now(UTC) - timedelta(days=2)
        with tempfile.TemporaryDirectory(prefix="city-ingest-") as tmp:
            root = Path(tmp)
            load_raw = _load()
            raw = raw_leg(root, args, base)
            load_ours = _load()
            ours, rows, status = ours_leg(root, args, base)
        loss = args.n - rows
        losses += abs(loss)
        raws.append(raw)
        ratios.append(ours / raw)
        batches = status.get("batches") or 1
        print(
            f"run {run}: raw {raw:,.0f} msg/s (load {load_raw}) | ours {ours:,.0f} msg/s"
            f" (load {load_ours}) | ratio {ours / raw:.2f} | stored {rows:,} of {args.n:,},"
            f" loss {loss}, rejected {status.get('rejected')} | {batches} batches"
            f" (mean {rows / max(1, batches):.0f})",
            flush=True,
        )
    mid = sorted(range(len(ratios)), key=lambda i: ratios[i])[len(ratios) // 2]
    print(f"raw Mosquitto loopback (paho -> aiomqtt, count only): {raws[mid]:,.0f} msg/s")
    print(
        f"mingyue citygov.mqtt (validated + stored, {db}):       {raws[mid] * ratios[mid]:,.0f} msg/s"
    )
    print(f"ratio ours/raw (median of {len(ratios)}): {ratios[mid]:.2f}  (goal >= 0.50)")
    print(f"loss over all runs: {losses}  (load now {_load()})")
    sys.exit(0 if losses == 0 else 1)


def _load() -> str:
    """The machine's load averages (1, 5, 15 min) and CPUs, printed beside each figure."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def _reset_pg(url: str) -> None:
    """Empty the benchmark database (each run starts from an empty schema, as SQLite does)."""
    from sqlalchemy import create_engine, text

    eng = create_engine(url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text("DROP SCHEMA public CASCADE"))
        c.execute(text("CREATE SCHEMA public"))
    eng.dispose()
    migrate.forget()  # the next run upgrades the emptied database again


if __name__ == "__main__":
    main()
