"""Claim: snapshotting a PostgreSQL table through mingyue costs ≤ 1.5× the usual fast path.

On a generated table of N rows (default 1 M; text identifier, two text categories, numeric(12,2),
integer, double, date) in a schema of its own on the local server (127.0.0.1:5432, database test),
times, each in a fresh subprocess (so CPU-seconds are that process's and its children's):
  1. mingyue: `adapters.postgres.snapshot` — read-only checks, count, server-side cursor in batches,
     explicit Arrow types, Parquet file;
  2. peer: `COPY (SELECT …) TO STDOUT (FORMAT csv)` streamed by psycopg to a file, then DuckDB
     `read_csv` → Parquet (what one would script by hand; DuckDB's postgres scanner is an extension
     it downloads, so it is not a peer here).
Server-side CPU is not counted for either. Prints median wall and CPU-seconds and the ratios.
Usage: .venv/bin/python bench/pg_snapshot.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

DSN = "postgresql://postgres@127.0.0.1:5432/test"

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
kind, dsn, table, out = sys.argv[1:5]
t0 = time.perf_counter()
if kind == "mingyue":
    from mingyue.enablers.datasandbox.adapters import postgres as pg
    params = pg.conninfo(dsn=dsn)
    snap = pg.snapshot(params, table, Path(out))
    rows = snap.rows
else:
    import duckdb, psycopg
    csv = Path(out).with_suffix(".csv")
    with psycopg.connect(dsn) as c, c.cursor() as cur, csv.open("wb") as f:
        with cur.copy(f"COPY (SELECT * FROM {table}) TO STDOUT (FORMAT csv, HEADER)") as cp:
            for chunk in cp:
                f.write(chunk)
    con = duckdb.connect()
    con.sql(f"COPY (SELECT * FROM read_csv('{csv}', header=true)) TO '{out}' (FORMAT parquet)")
    rows = con.sql(f"SELECT count(*) FROM read_parquet('{out}')").fetchall()[0][0]
    csv.unlink()
wall = time.perf_counter() - t0
r, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime
print(json.dumps({"wall": wall, "cpu": cpu, "rows": rows, "bytes": Path(out).stat().st_size}))
"""


def main() -> None:
    import psycopg

    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    schema = f"bench_{secrets.token_hex(3)}"
    role = f"bench_ro_{secrets.token_hex(3)}"
    admin = psycopg.connect(DSN, autocommit=True)
    admin.execute(f"CREATE SCHEMA {schema}")
    admin.execute(
        f"CREATE TABLE {schema}.t (uscc text, industry text, region text, "
        "revenue numeric(12,2), employees integer, score double precision, "
        "founded date)"
    )
    admin.execute(
        f"INSERT INTO {schema}.t SELECT 'U' || lpad(g::text, 17, '0'), "
        "(ARRAY['mfg','retail','it','energy'])[1 + g % 4], "
        "(ARRAY['bj','sh','gz'])[1 + g % 3], (g * 37 % 100000) / 7.0, g % 500, "
        f"g / 3.0, date '2000-01-01' + g % 9000 FROM generate_series(1, {args.rows}) g"
    )
    admin.execute(f"CREATE ROLE {role} LOGIN")
    admin.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
    admin.execute(f"GRANT SELECT ON {schema}.t TO {role}")
    admin.execute(f"ANALYZE {schema}.t")
    results: dict[str, list[dict[str, float]]] = {"mingyue": [], "peer": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.repeat):
                for kind in ("mingyue", "peer"):
                    out = Path(tmp) / f"{kind}{i}.parquet"
                    dsn = DSN.replace("postgres@", f"{role}@")
                    p = subprocess.run(
                        [sys.executable, "-c", CHILD, kind, dsn, f"{schema}.t", str(out)],
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    results[kind].append(json.loads(p.stdout))
                    out.unlink()
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.execute(f"DROP ROLE {role}")
        admin.close()
    med = {
        k: {m: statistics.median(r[m] for r in v) for m in ("wall", "cpu")}
        for k, v in results.items()
    }
    for k, v in results.items():
        print(
            f"{k:8s} rows={v[0]['rows']} parquet={v[0]['bytes'] / 1e6:.1f} MB "
            f"wall={med[k]['wall']:.2f}s cpu={med[k]['cpu']:.2f}s "
            f"(walls {[round(r['wall'], 2) for r in v]})"
        )
    print(
        f"ratio mingyue/peer: wall {med['mingyue']['wall'] / med['peer']['wall']:.2f}x, "
        f"cpu {med['mingyue']['cpu'] / med['peer']['cpu']:.2f}x"
    )


if __name__ == "__main__":
    main()
