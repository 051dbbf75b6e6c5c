"""API speed of mingyue against the bare stack, measured in the same run with wrk.

Creates the PostgreSQL database ``mingyue_bench`` (dropped first and at the end; server from
$MINGYUE_TEST_PG_URL, default postgres@127.0.0.1:5432 with trust auth), seeds mingyue's demo
plus --cases cases of enterprise 1, seeds the bare app's own tables (bench/api_bare.py) with the
same number of cases, and serves both with uvicorn, --workers each (mingyue: `mingyue serve`
with its production defaults — access checks, audit ledger, access log, Prometheus multiprocess
metrics; the bare app: nothing but FastAPI + SQLAlchemy).

The load is wrk with bench/wrk/mixed.lua: GET the 20 newest cases of the caller's organization
(an enterprise org admin's bearer token), and every --write-every-th request a transition
(mingyue: POST /api/cases/{id}/transitions start_review as an operator reviewer, with an
Idempotency-Key; bare: its comparable write). Each round runs, bare first then mingyue:

- closed loop: wrk -t --threads -c --connections -d --seconds (throughput, req/s);
- paced: --rate req/s over --open-connections connections (latency p50/p99). Debian has no
  wrk2, so the pacing is the Lua script's delay() hook: requests leave on a fixed schedule while
  a connection is free (see bench/wrk/mixed.lua for what that means for coordinated omission).

Prints every run, the medians and spread per target, and mingyue's figures as ratios of the
bare ones, with the goals of issue 14 (p99 at --rate ≤ 2× bare, throughput ≥ 50 % of bare).

    scripts/bench-setup.sh                     # installs wrk (Debian) if missing
    .venv/bin/python bench/api_latency.py [--rounds 3] [--seconds 10] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

HERE = Path(__file__).resolve().parent
LUA = HERE / "wrk" / "mixed.lua"
PG_ADMIN = os.environ.get(
    "MINGYUE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
DBNAME = "mingyue_bench"


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def wait_ready(url: str, headers: dict[str, str], proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            sys.exit(f"error: server exited ({proc.returncode}) before answering {url}")
        try:
            if httpx.get(url, headers=headers, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    sys.exit(f"error: {url} did not answer within 60 s")


class Target:
    """One server under load: how to reach it and which requests to send."""

    def __init__(self, name: str, base: str, env: dict[str, str], ids_sql: str) -> None:
        self.name = name
        self.base = base
        self.env = env
        self.ids_sql = ids_sql


def run_wrk(
    target: Target,
    engine: Any,
    tmp: Path,
    *,
    label: str,
    connections: int,
    threads: int,
    seconds: float,
    rate: float,
    write_every: int,
) -> dict[str, Any]:
    """Run wrk once against the target; return its figures (from the script's WRKJSON line)."""
    with engine.connect() as c:
        ids = [str(i) for i in c.execute(text(target.ids_sql)).scalars()]
    ids_file = tmp / f"ids-{target.name}.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    env = {
        **os.environ,
        **target.env,
        "BENCH_IDS": str(ids_file),
        "BENCH_THREADS": str(threads),
        "BENCH_RATE": str(rate),
        "BENCH_WRITE_EVERY": str(write_every),
        "BENCH_RUN_ID": f"{label}-{time.time_ns()}",
    }
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(LUA),
        target.base,
    ]
    load = os.getloadavg()[0]
    out = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if out.returncode != 0 or line is None:
        sys.exit(f"error: wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout}")
    res: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
    res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
    res["load1"] = load
    res["errors_total"] = sum(res["errors"].values())
    if write_every and res["ids_left"] == 0:
        print(f"  warning: {target.name} ran out of cases to move; add --cases", file=sys.stderr)
    return res


def seed_mingyue(url: str, data_dir: Path, n: int) -> dict[str, Any]:
    """Run `mingyue demo` on the bench database and open n cases for enterprise 1."""
    env = {
        **os.environ,
        "MINGYUE_DATABASE_URL": url,
        "MINGYUE_DATA_DIR": str(data_dir),
    }
    exe = [sys.executable, "-m", "mingyue.cli"]
    demo = subprocess.run(
        [*exe, "demo", "--json"], env=env, check=True, capture_output=True, text=True
    )
    users = {u["username"]: u for u in json.loads(demo.stdout)["users"]}
    code = (
        "import sys\n"
        "from mingyue.core import cases\n"
        "from mingyue.core.config import get_settings\n"
        "from mingyue.core.plugins import registry\n"
        "from mingyue.core.tenancy import SYSTEM\n"
        "from mingyue.core.uow import unit_of_work\n"
        "registry()  # registers the permissions and case kinds\n"
        "org, n = int(sys.argv[1]), int(sys.argv[2])\n"
        "for start in range(0, n, 500):\n"
        "    with unit_of_work(SYSTEM, get_settings()) as uow:\n"
        "        for i in range(start, min(n, start + 500)):\n"
        "            cases.open_case(uow=uow, kind='core.general', title=f'bench case {i}',\n"
        "                            organization_id=org)\n"
    )
    eng = create_engine(url)
    with eng.connect() as c:
        org: int = c.execute(
            text("SELECT organization_id FROM core_user WHERE username = 'ent1_admin'")
        ).scalar_one()
    subprocess.run([sys.executable, "-c", code, str(org), str(n)], env=env, check=True)
    with eng.connect() as c:
        in_org: int = c.execute(
            text("SELECT count(*) FROM core_case WHERE organization_id = :o"), {"o": org}
        ).scalar_one()
        other: int = c.execute(
            text("SELECT count(*) FROM core_case WHERE organization_id <> :o"), {"o": org}
        ).scalar_one()
    eng.dispose()
    return {
        "env": env,
        "org": org,
        "read_token": users["ent1_admin"]["api_token"],
        "write_token": users["op_member"]["api_token"],
        "cases_in_org": in_org,
        "cases_other": other,
    }


def pct_spread(values: list[float]) -> str:
    return f"{min(values):.1f}–{max(values):.1f}"


def summarise(results: list[dict[str, Any]], rate: float) -> dict[str, Any]:
    """Return medians, spreads and ratios (mingyue / bare) over the rounds."""
    out: dict[str, Any] = {}
    for mode in ("closed", "paced"):
        by: dict[str, list[dict[str, Any]]] = {"bare": [], "mingyue": []}
        for r in results:
            if r["mode"] == mode:
                by[r["target"]].append(r)
        figs: dict[str, Any] = {}
        for name, runs in by.items():
            figs[name] = {
                "rps": [r["rps"] for r in runs],
                "p50_ms": [r["latency_us"]["p50"] / 1000 for r in runs],
                "p99_ms": [r["latency_us"]["p99"] / 1000 for r in runs],
                "errors": sum(r["errors_total"] for r in runs),
            }
        pairs = list(zip(by["bare"], by["mingyue"], strict=False))
        ratios = {
            "rps": [m["rps"] / b["rps"] for b, m in pairs],
            "p50": [m["latency_us"]["p50"] / max(1, b["latency_us"]["p50"]) for b, m in pairs],
            "p99": [m["latency_us"]["p99"] / max(1, b["latency_us"]["p99"]) for b, m in pairs],
        }
        out[mode] = {"figures": figs, "round_ratios": ratios}
    return out


def report(summary: dict[str, Any], args: argparse.Namespace) -> bool:
    """Print the medians, spreads and ratios; return whether both goals are met."""
    med = statistics.median
    ok = True
    for mode, title in (
        ("closed", f"closed loop, wrk -t{args.threads} -c{args.connections} -d{args.seconds:g}s"),
        ("paced", f"paced at {args.rate:g} req/s over {args.open_connections} connections"),
    ):
        s = summary[mode]
        f, rr = s["figures"], s["round_ratios"]
        if not f["bare"]["rps"] or not f["mingyue"]["rps"]:
            continue
        print(f"\n{title} — medians of {len(f['bare']['rps'])} rounds (min–max)")
        for name in ("bare", "mingyue"):
            x = f[name]
            print(
                f"  {name:8s} {med(x['rps']):7.1f} req/s ({pct_spread(x['rps'])})  "
                f"p50 {med(x['p50_ms']):6.1f} ms ({pct_spread(x['p50_ms'])})  "
                f"p99 {med(x['p99_ms']):6.1f} ms ({pct_spread(x['p99_ms'])})  "
                f"errors {x['errors']}"
            )
        b, m = f["bare"], f["mingyue"]
        thr = med(m["rps"]) / med(b["rps"])
        p50 = med(m["p50_ms"]) / med(b["p50_ms"])
        p99 = med(m["p99_ms"]) / med(b["p99_ms"])
        print(
            f"  mingyue/bare: throughput {thr:.2f}× "
            f"(per round {', '.join(f'{v:.2f}' for v in rr['rps'])}), "
            f"p50 {p50:.2f}× ({', '.join(f'{v:.2f}' for v in rr['p50'])}), "
            f"p99 {p99:.2f}× ({', '.join(f'{v:.2f}' for v in rr['p99'])})"
        )
        if mode == "closed":
            met = thr >= 0.5
            print(f"  goal closed-loop throughput ≥ 50 % of bare: {'MET' if met else 'NOT MET'}")
        else:
            met = p99 <= 2.0
            print(f"  goal p99 at {args.rate:g} req/s ≤ 2× bare: {'MET' if met else 'NOT MET'}")
        ok = ok and met
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (bare, mingyue)")
    ap.add_argument("--seconds", type=float, default=10, help="duration of each wrk run")
    ap.add_argument("--connections", type=int, default=16, help="closed-loop connections")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--rate", type=float, default=200, help="paced request rate (req/s)")
    ap.add_argument("--open-connections", type=int, default=32, help="paced connections")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn workers of each server")
    ap.add_argument("--write-every", type=int, default=10, help="every n-th request moves a case")
    ap.add_argument("--cases", type=int, default=3000, help="cases of the reader's organization")
    ap.add_argument("--only", choices=("closed", "paced"), help="run one mode only")
    ap.add_argument(
        "--hold", action="store_true", help="after seeding, serve until Ctrl-C or SIGTERM"
    )
    ap.add_argument("--json", type=Path, help="write every run's figures here")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("error: wrk not found; run scripts/bench-setup.sh (Debian package wrk)")
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{DBNAME}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{DBNAME}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{DBNAME}"
    tmp = Path(tempfile.mkdtemp(prefix="mingyue-bench-"))
    servers: list[subprocess.Popen[bytes]] = []
    bench_db = create_engine(url)
    try:
        t0 = time.perf_counter()
        my = seed_mingyue(url, tmp / "data", args.cases)
        seeded = subprocess.run(
            [
                sys.executable,
                str(HERE / "api_bare.py"),
                "seed",
                "--url",
                url,
                "--cases",
                str(my["cases_in_org"]),
                "--other-cases",
                str(my["cases_other"]),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        bare = json.loads(seeded.stdout)
        print(
            f"seeded in {time.perf_counter() - t0:.0f} s: {my['cases_in_org']} cases in the "
            f"reader's organization, {my['cases_other']} elsewhere (each side)",
            file=sys.stderr,
        )
        metrics_dir = tmp / "prometheus"
        metrics_dir.mkdir()
        my_port, bare_port = free_port(), free_port()
        my_env = {
            **my["env"],
            "MINGYUE_EMBEDDED_WORKERS": "0",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        servers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mingyue.cli",
                    "serve",
                    "--port",
                    str(my_port),
                    "--workers",
                    str(args.workers),
                ],
                env=my_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        servers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(HERE / "api_bare.py"),
                    "serve",
                    "--port",
                    str(bare_port),
                    "--workers",
                    str(args.workers),
                ],
                env={**os.environ, "BARE_DATABASE_URL": url},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        my_base, bare_base = f"http://127.0.0.1:{my_port}", f"http://127.0.0.1:{bare_port}"
        wait_ready(
            f"{my_base}/api/cases?limit=20",
            {"Authorization": f"Bearer {my['read_token']}"},
            servers[0],
        )
        wait_ready(
            f"{bare_base}/cases?limit=20",
            {"Authorization": f"Bearer {bare['tokens']['reader']}"},
            servers[1],
        )
        targets = [
            Target(
                "bare",
                bare_base,
                {
                    "BENCH_READ_PATH": "/cases?limit=20",
                    "BENCH_READ_TOKEN": bare["tokens"]["reader"],
                    "BENCH_WRITE_PATH": "/cases/%d/transitions",
                    "BENCH_WRITE_TOKEN": bare["tokens"]["reviewer"],
                    "BENCH_WRITE_BODY": '{"name":"start_review"}',
                },
                "SELECT id FROM bare_case WHERE state = 'submitted' "
                "AND title LIKE 'bench case %' ORDER BY id",
            ),
            Target(
                "mingyue",
                my_base,
                {
                    "BENCH_READ_PATH": "/api/cases?limit=20",
                    "BENCH_READ_TOKEN": my["read_token"],
                    "BENCH_WRITE_PATH": "/api/cases/%d/transitions",
                    "BENCH_WRITE_TOKEN": my["write_token"],
                    "BENCH_WRITE_BODY": '{"name":"start_review"}',
                },
                "SELECT id FROM core_case WHERE state = 'submitted' "
                "AND title LIKE 'bench case %' ORDER BY id",
            ),
        ]
        if args.hold:
            print(f"bare {bare_base}  mingyue {my_base}; Ctrl-C ends", file=sys.stderr)
            for t in targets:
                print(f"{t.name}: {json.dumps(t.env)}", file=sys.stderr)
            # A background job started by a script ignores SIGINT: SIGTERM ends the hold too.
            signal.signal(signal.SIGTERM, signal.default_int_handler)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                return
        common = {"threads": args.threads, "write_every": args.write_every}
        for t in targets:  # warm-up: connections, caches, first-request imports
            run_wrk(t, bench_db, tmp, label="warm", connections=4, seconds=3, rate=0, **common)
        print(
            f"wrk {LUA.relative_to(HERE.parent)}; {args.workers} uvicorn workers each; "
            f"1 in {args.write_every} requests a transition; {os.cpu_count()} CPUs; "
            f"load average before each run shown (others' work included)"
        )
        modes = [("closed", args.connections, 0.0), ("paced", args.open_connections, args.rate)]
        modes = [m for m in modes if args.only in (None, m[0])]
        results: list[dict[str, Any]] = []
        for rnd in range(1, args.rounds + 1):
            for mode, conns, rate in modes:
                for t in targets:
                    r = run_wrk(
                        t,
                        bench_db,
                        tmp,
                        label=f"{mode}{rnd}",
                        connections=conns,
                        seconds=args.seconds,
                        rate=rate,
                        **common,
                    )
                    r.update(target=t.name, mode=mode, round=rnd, connections=conns, rate=rate)
                    results.append(r)
                    lat = r["latency_us"]
                    print(
                        f"round {rnd} {mode:6s} {t.name:8s} {r['rps']:7.1f} req/s  "
                        f"p50 {lat['p50'] / 1000:6.1f} ms  p90 {lat['p90'] / 1000:6.1f} ms  "
                        f"p99 {lat['p99'] / 1000:6.1f} ms  max {lat['max'] / 1000:6.1f} ms  "
                        f"writes {r['writes']:4d}  errors {r['errors_total']}  "
                        f"load {r['load1']:.1f}",
                        flush=True,
                    )
        if not results:
            return
        summary = summarise(results, args.rate)
        met = report(summary, args)
        print(f"\n{'goals' if args.only is None else 'goal'}: {'MET' if met else 'NOT MET'}")
        if args.json:
            args.json.write_text(json.dumps({"runs": results, "summary": summary}, indent=1))
    finally:
        for p in servers:
            p.terminate()
        for p in servers:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        bench_db.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{DBNAME}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
