"""NGSI-LD geo-query latency: ``near;maxDistance==600`` over 100,000 entities, SQLite and PG.

Seeds --entities PublicToilet entities at random points around Chongqing (29.4–29.8 N,
106.3–106.8 E) in one tenant, then times --queries ``near;maxDistance==<radius>`` queries from
random points, three ways in the same run:

- ``service``: ``service.broker.query_entities`` (index pre-filter on the location box, exact
  distance with shapely, rendering) — what the API and telemetry call;
- ``http``: ``GET /ngsi-ld/v1/entities?...`` through the platform app in process (bearer
  token, tenant resolution, JSON) with FastAPI's TestClient;
- ``scan`` (the peer): the same answer by a full scan — every entity's document read and its
  haversine distance computed, i.e. the broker without its location index.

Prints p50/p95/max per way and backend, the index's speed-up over the scan, and checks that
every way returns the same ids. Goal (issue 16): p95 < 20 ms.

    .venv/bin/python bench/geo_query.py [--entities 100000] [--queries 200] [--db sqlite,pg]

PostgreSQL: $MINGYUE_TEST_PG_URL (default postgres@127.0.0.1:5432/test, trust auth); the
database ``mingyue_geo_bench`` is created and dropped.

``--wrk`` measures through real HTTP instead: the same entities (default 10,000 with
``--wrk``) are seeded by the migrations' schema into a data directory, ``mingyue serve
--workers 2`` (uvicorn, production middleware: access log, metrics, audit) serves them, and
``wrk`` (Debian package) with ``bench/wrk/geo.lua`` sends ``near;maxDistance==`` and
``within`` (a square of the same half-side) queries from random points, keyValues, for
``--seconds`` each after a warm-up; p50/p95/p99 come from wrk's latency histogram. Rounds
repeat the pair; the table shows each round and the median.

    .venv/bin/python bench/geo_query.py --wrk [--entities 10000] [--rounds 3] [--db sqlite,pg]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text

from mingyue.core import config
from mingyue.core.db import Base, dispose_engines
from mingyue.core.models import import_all_models
from mingyue.core.plugins import registry
from mingyue.core.tenancy.access import SYSTEM
from mingyue.core.tenancy.identity import Organization
from mingyue.core.uow import unit_of_work
from mingyue.enablers.citygov.engine.ngsi import geo
from mingyue.enablers.citygov.models_broker import NgsiEntity
from mingyue.enablers.citygov.service import broker

PG_ADMIN = os.environ.get(
    "MINGYUE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
DBNAME = "mingyue_geo_bench"
BATCH = 5000


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _setup(kind: str, workdir: Path) -> Any:
    config.reset()
    dispose_engines()
    if kind == "pg":
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{DBNAME}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{DBNAME}"'))
        admin.dispose()
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{DBNAME}"
        settings = config.configure(
            data_dir=workdir / "pg", env="test", database_url=url, access_log=False
        )
    else:
        settings = config.configure(data_dir=workdir / "sqlite", env="test", access_log=False)
    (workdir / kind).mkdir(parents=True, exist_ok=True)
    import_all_models()
    from mingyue.core.db import get_engine

    Base.metadata.create_all(get_engine(settings))
    registry()
    return settings


def _seed(settings: Any, n: int, rng: random.Random) -> tuple[int, list[tuple[float, float]]]:
    with unit_of_work(SYSTEM, settings) as uow:
        org = Organization(name="geo-bench", kind="operator")
        uow.session.add(org)
        uow.flush()
        org_id = org.id
    points = [(rng.uniform(106.3, 106.8), rng.uniform(29.4, 29.8)) for _ in range(n)]
    ctx = broker.core_context()
    for start in range(0, n, BATCH):
        bodies = [
            {
                "id": f"urn:ngsi-ld:PublicToilet:{i}",
                "type": "PublicToilet",
                "name": {"type": "Property", "value": f"公厕 {i}"},
                "location": {
                    "type": "GeoProperty",
                    "value": {"type": "Point", "coordinates": [lon, lat]},
                },
            }
            for i, (lon, lat) in enumerate(points[start : start + BATCH], start)
        ]
        with unit_of_work(SYSTEM, settings) as uow:
            broker.import_entities(uow, org_id=org_id, ctx=ctx, bodies=bodies)
    return org_id, points


def _scan(settings: Any, org_id: int, lon: float, lat: float, radius: float) -> set[str]:
    """The peer: read every entity and test its distance (no index)."""
    out = set()
    with unit_of_work(SYSTEM, settings) as uow:
        for eid, doc in uow.session.execute(
            select(NgsiEntity.entity_id, NgsiEntity.doc).where(NgsiEntity.organization_id == org_id)
        ):
            for inst in doc["attrs"].get("https://uri.etsi.org/ngsi-ld/location", []):
                x, y = inst["value"]["coordinates"]
                if geo.haversine_m(lon, lat, x, y) <= radius:
                    out.add(eid)
    return out


def _client(settings: Any, org_id: int) -> tuple[Any, dict[str, str]] | None:
    try:
        from fastapi.testclient import TestClient

        from mingyue.core.tenancy import accounts
        from mingyue.core.tenancy.identity import User
        from mingyue.web.app import create_app

        app = create_app(settings, start_workers=False)
    except Exception as exc:  # another enabler of the checkout may not load yet
        print(f"note: no in-process app ({type(exc).__name__}: {exc}); http timings skipped")
        return None
    with unit_of_work(SYSTEM, settings) as uow:
        no_login = "!"  # an unusable hash: the bench user only holds an API token
        user = User(
            username="geo_bench",
            organization_id=org_id,
            roles=["org_admin"],
            password_hash=no_login,
        )
        uow.session.add(user)
        uow.flush()
        token = accounts.issue_token(uow=uow, actor=SYSTEM, user_id=user.id, name="bench").token
    client = TestClient(app)
    return client, {"Authorization": f"Bearer {token}"}


def run(kind: str, n: int, queries: int, radius: float, scans: int) -> dict[str, Any]:
    """Seed, query and time one backend; return its figures."""
    rng = random.Random(2026)
    with tempfile.TemporaryDirectory() as tmp:
        settings = _setup(kind, Path(tmp))
        t0 = time.perf_counter()
        org_id, points = _seed(settings, n, rng)
        seed_s = time.perf_counter() - t0
        origins = [(rng.uniform(106.3, 106.8), rng.uniform(29.4, 29.8)) for _ in range(queries)]
        for lon, lat in origins[:5]:  # warm caches and the connection pool (not timed)
            with unit_of_work(SYSTEM, settings) as uow:
                broker.query_entities(
                    uow,
                    org_id=org_id,
                    type_="PublicToilet",
                    georel="near;maxDistance==600",
                    geometry="Point",
                    coordinates=[lon, lat],
                    q=None,
                    limit=1000,
                )
        service_ms: list[float] = []
        hits: list[int] = []
        answers: list[set[str]] = []
        for lon, lat in origins:
            with unit_of_work(SYSTEM, settings) as uow:
                t = time.perf_counter()
                got = broker.query_entities(
                    uow,
                    org_id=org_id,
                    type_="PublicToilet",
                    georel=f"near;maxDistance=={radius:g}",
                    geometry="Point",
                    coordinates=[lon, lat],
                    q=None,
                    limit=1000,
                )
                service_ms.append((time.perf_counter() - t) * 1000)
            hits.append(len(got))
            answers.append({e["id"] for e in got})
        http_ms: list[float] = []
        made = _client(settings, org_id)
        if made is not None:
            client, headers = made
            with client:
                client.get("/ngsi-ld/v1/entities", params={"type": "PublicToilet"}, headers=headers)
                for (lon, lat), want in zip(origins, answers, strict=True):
                    params = {
                        "type": "PublicToilet",
                        "georel": f"near;maxDistance=={radius:g}",
                        "geometry": "Point",
                        "coordinates": f"[{lon},{lat}]",
                        "limit": "1000",
                        "options": "keyValues",
                    }
                    t = time.perf_counter()
                    r = client.get("/ngsi-ld/v1/entities", params=params, headers=headers)
                    http_ms.append((time.perf_counter() - t) * 1000)
                    if r.status_code != 200 or {e["id"] for e in r.json()} != want:
                        sys.exit(f"error: HTTP answer differs ({r.status_code})")
        scan_ms: list[float] = []
        for (lon, lat), want in list(zip(origins, answers, strict=True))[:scans]:
            t = time.perf_counter()
            brute = _scan(settings, org_id, lon, lat, radius)
            scan_ms.append((time.perf_counter() - t) * 1000)
            if brute != want:
                sys.exit("error: the indexed query and the full scan disagree")
        dispose_engines()
        if kind == "pg":
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{DBNAME}" WITH (FORCE)'))
            admin.dispose()
        config.reset()
    del points
    return {
        "db": kind,
        "seed_s": seed_s,
        "hits": statistics.median(hits),
        "service": service_ms,
        "http": http_ms,
        "scan": scan_ms,
    }


# -- through HTTP with wrk ---------------------------------------------------------------------

LUA = Path(__file__).resolve().parent / "wrk" / "geo.lua"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_seeded(kind: str, workdir: Path, n: int) -> tuple[dict[str, str], str]:
    """Seed n entities through the migrated schema; return the server's env and a token."""
    from mingyue.core.migrate import ensure_schema, forget
    from mingyue.core.tenancy import accounts
    from mingyue.core.tenancy.identity import User

    config.reset()
    dispose_engines()
    forget()
    env = {**os.environ, "MINGYUE_DATA_DIR": str(workdir / "data"), "MINGYUE_EMBEDDED_WORKERS": "0"}
    env["MINGYUE_CITYGOV__MQTT_URL"] = "mqtt://127.0.0.1:1"  # no broker: not measured here
    url = None
    if kind == "pg":
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{DBNAME}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{DBNAME}"'))
        admin.dispose()
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{DBNAME}"
        env["MINGYUE_DATABASE_URL"] = url
    settings = config.configure(data_dir=workdir / "data", database_url=url)
    ensure_schema(settings)
    registry()
    org_id, _ = _seed(settings, n, random.Random(2026))
    with unit_of_work(SYSTEM, settings) as uow:
        no_login = "!"  # an unusable hash: the bench user only holds an API token
        user = User(
            username="geo_bench",
            organization_id=org_id,
            roles=["org_admin"],
            password_hash=no_login,
        )
        uow.session.add(user)
        uow.flush()
        token = accounts.issue_token(uow=uow, actor=SYSTEM, user_id=user.id, name="bench").token
    dispose_engines()
    config.reset()
    return env, token


def _wrk(base: str, token: str, georel: str, radius: float, seconds: float, conns: int) -> Any:
    env = {
        **os.environ,
        "BENCH_TOKEN": token,
        "BENCH_GEOREL": georel,
        "BENCH_RADIUS": f"{radius:g}",
        "BENCH_SEED": str(time.time_ns() % 100_000),
    }
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(LUA), base]
    out = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if out.returncode != 0 or line is None:
        sys.exit(f"error: wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout}")
    res: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
    if sum(res["errors"].values()):
        sys.exit(f"error: wrk saw errors {res['errors']}")
    res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
    return res


def run_wrk(kind: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Serve a seeded data directory with `mingyue serve` and load it with wrk; return runs."""
    if shutil.which("wrk") is None:
        sys.exit("error: wrk not found (apt-get install -y wrk)")
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        env, token = _serve_seeded(kind, Path(tmp), args.entities)
        port = _free_port()
        log_path = Path(tmp) / "serve.log"
        log = log_path.open("wb")
        cmd = [sys.executable, "-m", "mingyue.cli", "serve", "--port", str(port)]
        cmd += ["--workers", str(args.workers)]
        server = subprocess.Popen(
            cmd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            import httpx

            probe = f"{base}/ngsi-ld/v1/entities?type=PublicToilet&limit=1"
            deadline = time.monotonic() + 300  # workers start slowly on a loaded machine
            while time.monotonic() < deadline:
                if server.poll() is not None:
                    tail = log_path.read_text(errors="replace")[-2000:]
                    sys.exit(f"error: the server exited ({server.returncode}):\n{tail}")
                try:
                    headers = {"Authorization": f"Bearer {token}"}
                    if httpx.get(probe, headers=headers, timeout=30).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            else:
                tail = log_path.read_text(errors="replace")[-2000:]
                sys.exit(f"error: the server did not answer within 300 s:\n{tail}")
            for georel in ("near", "within"):  # warm both workers (not counted)
                _wrk(base, token, georel, args.radius, 3, args.connections)
            for r in range(args.rounds):
                for georel in ("near", "within"):
                    res = _wrk(base, token, georel, args.radius, args.seconds, args.connections)
                    res.update(db=kind, georel=georel, round=r + 1, load1=os.getloadavg()[0])
                    runs.append(res)
                    lat = res["latency_us"]
                    print(
                        f"{kind:<7} {georel:<7} round {r + 1}: {res['rps']:7.0f} req/s  "
                        f"p50 {lat['p50'] / 1000:6.2f}  p95 {lat['p95'] / 1000:6.2f}  "
                        f"p99 {lat['p99'] / 1000:6.2f} ms  (load {res['load1']:.1f})",
                        flush=True,
                    )
        finally:
            server.terminate()
            server.wait(30)
            log.close()
            if kind == "pg":
                admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
                with admin.connect() as c:
                    c.execute(text(f'DROP DATABASE IF EXISTS "{DBNAME}" WITH (FORCE)'))
                admin.dispose()
    return runs


def report_wrk(runs: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Print the medians over rounds per database and georel."""
    print(
        f"\nwrk -t2 -c{args.connections} {args.seconds:g} s, {args.workers} uvicorn workers, "
        f"{args.entities} entities, radius {args.radius:g} m, keyValues (median of "
        f"{args.rounds} rounds)"
    )
    print(f"{'db':<7} {'georel':<7} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for kind in dict.fromkeys(r["db"] for r in runs):
        for georel in ("near", "within"):
            mine = [r for r in runs if r["db"] == kind and r["georel"] == georel]
            if not mine:
                continue

            def med(key: str, rows: list[dict[str, Any]] = mine) -> float:
                return statistics.median(r["latency_us"][key] / 1000 for r in rows)

            rps = statistics.median(r["rps"] for r in mine)
            p95 = med("p95")
            print(
                f"{kind:<7} {georel:<7} {rps:>7.0f} {med('p50'):>8.2f} {p95:>8.2f} "
                f"{med('p99'):>8.2f}  goal p95 < 20 ms {'met' if p95 < 20 else 'NOT met'}"
            )


def main() -> int:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entities", type=int, default=None, help="100,000 (10,000 with --wrk)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--radius", type=float, default=600.0)
    ap.add_argument("--scans", type=int, default=5, help="full-scan (peer) queries timed")
    ap.add_argument("--db", default="sqlite,pg")
    ap.add_argument("--wrk", action="store_true", help="through mingyue serve with wrk")
    ap.add_argument("--rounds", type=int, default=3, help="wrk rounds")
    ap.add_argument("--seconds", type=float, default=10, help="duration of each wrk run")
    ap.add_argument("--connections", type=int, default=2, help="wrk connections")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    ap.add_argument("--json", default=None, help="write the wrk runs to this file")
    args = ap.parse_args()
    if args.wrk:
        args.entities = args.entities or 10_000
        runs = [r for k in args.db.split(",") if k.strip() for r in run_wrk(k.strip(), args)]
        report_wrk(runs, args)
        if args.json:
            Path(args.json).write_text(json.dumps(runs, indent=1), encoding="utf-8")
        return 0
    args.entities = args.entities or 100_000
    rows = [
        run(k.strip(), args.entities, args.queries, args.radius, args.scans)
        for k in args.db.split(",")
        if k.strip()
    ]
    print(
        f"\nnear;maxDistance=={args.radius:g} over {args.entities} entities, "
        f"{args.queries} queries (median {rows[0]['hits']:.0f} hits)"
    )
    print(f"{'db':<7} {'way':<8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for row in rows:
        for way in ("service", "http", "scan"):
            v = row[way]
            if v:
                print(
                    f"{row['db']:<7} {way:<8} {statistics.median(v):>8.2f} {_pct(v, 95):>8.2f} "
                    f"{max(v):>8.2f}"
                )
        speed = statistics.median(row["scan"]) / statistics.median(row["service"])
        goal = "met" if _pct(row["service"], 95) < 20 else "NOT met"
        print(
            f"{row['db']:<7} index vs full scan: {speed:.0f}x faster (p50); "
            f"seeding {row['seed_s']:.0f} s; goal p95 < 20 ms {goal}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
