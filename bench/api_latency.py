"""API latency at fixed arrival rate: an authenticated read and a case transition, on PostgreSQL.

Starts `mingyue serve` on a fresh PostgreSQL database (127.0.0.1:5432, trust auth), seeds demo
data, then sends requests open-loop at --rate requests/s for --seconds: 80 % `GET /api/cases`
(as an enterprise admin), 20 % `POST /api/cases/{id}/transitions` (a reviewer starting review).
Prints p50/p99 per kind and the achieved requests/s. Goal: p99 < 50 ms at 200 requests/s.

    .venv/bin/python bench/api_latency.py [--rate 200] [--seconds 10] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

PG_ADMIN = os.environ.get(
    "MINGYUE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(q / 100 * (len(values) - 1))))
    return values[k]


async def drive(
    base: str,
    admin_token: str,
    reviewer_token: str,
    case_ids: list[int],
    rate: float,
    seconds: float,
) -> dict[str, list[float]]:
    lat: dict[str, list[float]] = {"read": [], "transition": [], "errors": []}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    timeout = httpx.Timeout(30, pool=None)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) as client:
        read_h = {"Authorization": f"Bearer {admin_token}"}
        rev_h = {"Authorization": f"Bearer {reviewer_token}"}
        ids = iter(case_ids)

        async def one(i: int) -> None:
            kind = "transition" if i % 5 == 4 else "read"
            t0 = time.perf_counter()
            try:
                if kind == "read":
                    r = await client.get("/api/cases?limit=20", headers=read_h)
                else:
                    cid = next(ids)
                    r = await client.post(
                        f"/api/cases/{cid}/transitions",
                        headers=rev_h,
                        json={"name": "start_review"},
                    )
                status = r.status_code
            except httpx.HTTPError:
                status = 599
            dt = (time.perf_counter() - t0) * 1000
            if status >= 400:
                lat["errors"].append(status)
            lat[kind].append(dt)

        tasks = []
        start = time.perf_counter()
        n = int(rate * seconds)
        for i in range(n):
            target = start + i / rate
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        lat["elapsed"] = [time.perf_counter() - start]
    return lat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    dbname = f"mingyue_bench_{os.getpid()}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{dbname}"'))
        c.execute(text(f'CREATE DATABASE "{dbname}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{dbname}"
    tmp = Path(tempfile.mkdtemp(prefix="mingyue-bench-"))
    env = {
        **os.environ,
        "MINGYUE_DATABASE_URL": url,
        "MINGYUE_DATA_DIR": str(tmp),
        "MINGYUE_EMBEDDED_WORKERS": "0",
    }
    exe = [sys.executable, "-m", "mingyue.cli"]
    demo = subprocess.run(
        [*exe, "demo", "--json"], env=env, check=True, capture_output=True, text=True
    )
    users = {u["username"]: u for u in json.loads(demo.stdout)["users"]}
    port = free_port()
    server = subprocess.Popen(
        [*exe, "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        admin_tok = users["ent1_admin"]["api_token"]
        reviewer_tok = users["op_member"]["api_token"]
        n_trans = int(args.rate * args.seconds / 5) + 5
        case_ids = []
        with httpx.Client(base_url=base, timeout=30) as c:
            for i in range(n_trans):
                r = c.post(
                    "/api/cases",
                    headers={"Authorization": f"Bearer {admin_tok}"},
                    json={"kind": "core.general", "title": f"bench case {i}"},
                )
                r.raise_for_status()
                case_ids.append(r.json()["id"])
            for _ in range(50):  # warm-up
                c.get("/api/cases?limit=20", headers={"Authorization": f"Bearer {admin_tok}"})
        lat = asyncio.run(drive(base, admin_tok, reviewer_tok, case_ids, args.rate, args.seconds))
    finally:
        server.terminate()
        server.wait(10)
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
    total = len(lat["read"]) + len(lat["transition"])
    elapsed = lat["elapsed"][0]
    print(
        f"mingyue API on PostgreSQL, {args.workers} uvicorn workers, target {args.rate:.0f} req/s "
        f"for {args.seconds:.0f} s"
    )
    for kind in ("read", "transition"):
        v = lat[kind]
        print(
            f"  {kind:10s} n={len(v):5d}  p50={pct(v, 50):6.1f} ms  p99={pct(v, 99):6.1f} ms  "
            f"mean={statistics.fmean(v):6.1f} ms"
        )
    allv = lat["read"] + lat["transition"]
    print(f"  all        n={total:5d}  p50={pct(allv, 50):6.1f} ms  p99={pct(allv, 99):6.1f} ms")
    print(
        f"  achieved {total / elapsed:.1f} req/s; errors: {len(lat['errors'])} "
        f"{sorted(set(lat['errors']))}"
    )
    print(f"  goal p99 < 50 ms at 200 req/s: {'MET' if pct(allv, 99) < 50 else 'NOT MET'}")


if __name__ == "__main__":
    main()
