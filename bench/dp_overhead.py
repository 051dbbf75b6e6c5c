"""Claim: a grouped DP aggregate through mingyue costs ≤ 1.3× the same SQL in plain DuckDB.

On N generated rows (default 10 M; one row per person, 16 groups, integer values), times:
  1. mingyue: parse + policy + noise plan + sandbox run (DuckDB worker process, hardened) + OpenDP
     noise + key threshold + gates — the engine's whole query path, worker warm;
  2. plain DuckDB: the same SQL (no clamping) in-process on the same Parquet file;
  3. OpenDP's Polars Context API, the same query, on N_CTX rows (default 1 M) and scaled to N;
and prints the ratios, the noise scales (mingyue vs Context API) and the mean relative error of
the released counts and sums at ε = 1.
Usage: .venv/bin/python bench/dp_overhead.py [--rows 10000000] [--ctx-rows 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--ctx-rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--epsilon", type=float, default=1.0)
    args = ap.parse_args()

    import duckdb

    from mingyue.enablers.datasandbox.adapters.duckdb_local import DuckDBSandbox
    from mingyue.enablers.datasandbox.engine.datasets import Column, ColumnClass, Dataset
    from mingyue.enablers.datasandbox.engine.ledger import InMemoryLedger
    from mingyue.enablers.datasandbox.engine.policy import Consumer, UsagePolicy
    from mingyue.enablers.datasandbox.engine.query import QueryRequest, run_query

    tmp = Path(tempfile.mkdtemp(prefix="dp-bench-"))
    path = tmp / "big.parquet"
    t0 = time.perf_counter()
    gen = duckdb.connect()
    gen.sql(
        f"COPY (SELECT range AS pid, 'g' || lpad(CAST(hash(range) % 16 AS VARCHAR), 2, '0') AS g,"
        f" CAST(hash(range * 7) % 1001 AS BIGINT) AS v FROM range({args.rows})) "
        f"TO '{path}' (FORMAT parquet)"
    )
    gen.close()
    print(f"generated {args.rows:,} rows in {time.perf_counter() - t0:.1f} s")
    # Registered as the owner would: one row per person (pid), public bounds [0, 1000].
    ds = Dataset(
        name="big",
        path=path,
        rows=args.rows,
        max_contributions=1,
        sha256="-",
        unit="pid",
        columns=(
            Column("pid", "BIGINT", ColumnClass.IDENTIFIER),
            Column("g", "VARCHAR", ColumnClass.ORDINARY),
            Column("v", "BIGINT", ColumnClass.SENSITIVE, (0.0, 1000.0)),
        ),
    )
    sql = "SELECT g, count(*) AS n, sum(v) AS s FROM big GROUP BY g"
    policy = {"big": UsagePolicy("big", assignees=["*"], epsilon_per_period=1e6, min_group_size=10)}

    con = duckdb.connect(config={"threads": "2"})
    con.sql(f"CREATE VIEW big AS SELECT * FROM read_parquet('{path}')")
    truth = {g: (n, s) for g, n, s in con.sql(sql).fetchall()}

    def plain() -> None:
        con.sql(sql).fetchall()

    eng = DuckDBSandbox(memory_mb=4096, timeout_s=600, threads=2)
    ledger = InMemoryLedger()
    released: list[list[dict]] = []

    def ours() -> None:
        r = run_query(
            QueryRequest(sql, Consumer("bench"), epsilon=args.epsilon),
            {"big": ds},
            policy,
            eng,
            ledger,
        )
        released.append(r.rows)

    t0 = time.perf_counter()
    ours()  # cold: starts the worker process
    cold = time.perf_counter() - t0
    plain()  # warm the OS page cache for both
    t_plain, t_ours = [], []
    for _ in range(args.repeat):
        for fn, acc in ((plain, t_plain), (ours, t_ours)):
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    eng.close()
    m_plain, m_ours = statistics.median(t_plain), statistics.median(t_ours)

    rel = []
    for rows in released:
        for row in rows:
            n, s = truth[row["g"]]
            rel.append(abs(row["n"] - n) / n)
            rel.append(abs(row["s"] - s) / s)
    mre = statistics.mean(rel)

    # OpenDP Context API on fewer rows, the same query and the same bounds.
    import opendp.prelude as dp
    import polars as pl

    dp.enable_features("contrib")
    lf = pl.scan_parquet(str(path)).head(args.ctx_rows).collect().lazy()
    ctx_times = []
    scales = {}
    ctx_rel = []
    small_truth = {
        g: (n, s)
        for g, n, s in duckdb.sql(
            f"SELECT g, count(*), sum(v) FROM (SELECT * FROM read_parquet('{path}') LIMIT "
            f"{args.ctx_rows}) GROUP BY g"
        ).fetchall()
    }
    for _ in range(max(1, min(args.repeat, 3))):
        ctx = dp.Context.compositor(
            data=lf,
            privacy_unit=dp.unit_of(contributions=1),
            privacy_loss=dp.loss_of(epsilon=args.epsilon, delta=1e-7),
            split_evenly_over=1,
            margins=[dp.polars.Margin(max_length=args.rows)],
        )
        qry = (
            ctx.query()
            .group_by("g")
            .agg(pl.len().dp.noise(), pl.col("v").fill_null(0).dp.sum((0, 1000)))
        )
        t0 = time.perf_counter()
        out = qry.release().collect()
        ctx_times.append(time.perf_counter() - t0)
        for row in out.iter_rows(named=True):
            n, s = small_truth[row["g"]]
            ctx_rel += [abs(row["len"] - n) / n, abs(row["v"] - s) / s]
        summ = qry.summarize(alpha=0.05)
        scales = {r["aggregate"]: r["scale"] for r in summ.iter_rows(named=True)}
    m_ctx = statistics.median(ctx_times)
    m_ctx_scaled = m_ctx * args.rows / args.ctx_rows

    from mingyue.enablers.datasandbox.engine import dp as dpmod
    from mingyue.enablers.datasandbox.engine.sqlcheck import plan

    ours_scales = {
        q.role: q.scale
        for q in dpmod.noise_plan(plan(sql, {"big": ds}, dp=True), args.epsilon).quantities
    }
    print(f"rows: {args.rows:,}   epsilon: {args.epsilon}   repeats: {args.repeat} (median)")
    print(f"plain DuckDB (in-process)         {m_plain * 1000:9.1f} ms")
    print(
        f"mingyue (parse+policy+DP+gates)   {m_ours * 1000:9.1f} ms   "
        f"ratio {m_ours / m_plain:5.2f}x   (cold, first call: {cold * 1000:.0f} ms)"
    )
    print(
        f"OpenDP Context API, {args.ctx_rows:,} rows   {m_ctx * 1000:9.1f} ms   "
        f"scaled to {args.rows:,}: {m_ctx_scaled * 1000:.0f} ms = "
        f"{m_ctx_scaled / m_plain:.0f}x plain DuckDB"
    )
    print(
        f"noise scale count: mingyue {ours_scales['count']} vs Context API "
        f"{scales.get('Frame Length')}; sum: mingyue {ours_scales['sum']} vs Context API "
        f"{scales.get('Sum')}"
    )
    print(
        f"mean relative error at eps={args.epsilon}: mingyue {mre:.2e} on {args.rows:,} rows; "
        f"Context API {statistics.mean(ctx_rel):.2e} on {args.ctx_rows:,} rows"
    )
    goal = m_ours / m_plain <= 1.3
    print(f"goal (≤ 1.3x plain DuckDB): {'met' if goal else 'NOT met'}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
