"""The released noise scale equals what OpenDP's own Context API uses for the same query."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mingyue.enablers.datasandbox.adapters.duckdb_local import DuckDBSandbox
from mingyue.enablers.datasandbox.engine import dp as dpmod
from mingyue.enablers.datasandbox.engine.datasets import DatasetSpec, ingest
from mingyue.enablers.datasandbox.engine.ledger import InMemoryLedger
from mingyue.enablers.datasandbox.engine.policy import Consumer, UsagePolicy
from mingyue.enablers.datasandbox.engine.query import QueryRequest, run_query
from mingyue.enablers.datasandbox.engine.sqlcheck import plan


def _write(path: Path, k: int) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["pid", "g", "x"])
        for i in range(3000):
            for j in range(k):
                w.writerow([f"p{i}", "abc"[(i + j) % 3], (i * 7 + j) % 100])


def _context_summary(path: Path, k: int, epsilon: float, mean: bool) -> tuple[dict, int]:
    import opendp.prelude as dp
    import polars as pl

    dp.enable_features("contrib")
    lf = pl.scan_csv(path).select(pl.col("g"), pl.col("x").cast(pl.Int64))
    ctx = dp.Context.compositor(
        data=lf,
        privacy_unit=dp.unit_of(contributions=k),
        privacy_loss=dp.loss_of(epsilon=epsilon, delta=1e-7),
        split_evenly_over=1,
        margins=[dp.polars.Margin(max_length=100_000)],
    )
    agg = (
        pl.col("x").fill_null(0).dp.mean((0, 50))
        if mean
        else pl.col("x").fill_null(0).dp.sum((0, 50))
    )
    summary = ctx.query().group_by("g").agg(pl.len().dp.noise(), agg).summarize(alpha=0.05)
    scales = {(r["column"], r["aggregate"]): r["scale"] for r in summary.iter_rows(named=True)}
    threshold = int(summary["threshold"].drop_nulls()[0])
    return scales, threshold


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("mean", [False, True])
def test_noise_scale_and_threshold_match_opendp_context(tmp_path: Path, k: int, mean: bool) -> None:
    src = tmp_path / "t.csv"
    _write(src, k)
    ds = ingest(src, DatasetSpec("t", identifiers=["pid"], bounds={"x": (0, 50)}), tmp_path / "s")
    assert ds.max_contributions == k
    agg = "avg(x)" if mean else "sum(x)"
    p = plan(f"SELECT g, count(*) AS n, {agg} AS v FROM t GROUP BY g", {"t": ds}, dp=True)
    ours = dpmod.noise_plan(p, 1.0, 1e-7)
    theirs, threshold = _context_summary(src, k, 1.0, mean)
    by_role = {(q.output, q.role): q.scale for q in ours.quantities}
    assert by_role[(1, "count")] == pytest.approx(theirs[("len", "Frame Length")])
    assert by_role[(2, "sum")] == pytest.approx(theirs[("x", "Sum")])
    if mean:
        assert by_role[(2, "count")] == pytest.approx(theirs[("x", "Length")])
    assert ours.threshold == threshold
    # Every quantity is integer: OpenDP's Integer Laplace, as in the Context API.
    assert all(q.integer for q in ours.quantities)


def test_release_noise_is_calibrated(tmp_path: Path, sandbox: DuckDBSandbox) -> None:
    """Empirical spread of released sums over many runs matches the planned Laplace scale."""
    src = tmp_path / "t.csv"
    _write(src, 1)
    ds = ingest(src, DatasetSpec("t", identifiers=["pid"], bounds={"x": (0, 50)}), tmp_path / "s")
    p = plan("SELECT count(*) AS n, sum(x) AS s FROM t", {"t": ds}, dp=True)
    noise = dpmod.noise_plan(p, 1.0)
    res = sandbox.run(p.sql, [], {"t": ds.path}, max_rows=10)
    true_s = res.rows[0][1]
    draws = [
        dpmod.apply(p, noise, res.columns, res.rows, 1)[0][0]["s"] - true_s for _ in range(400)
    ]
    mad = sum(abs(d) for d in draws) / len(draws)  # E|Laplace(b)| = b
    assert noise.quantities[1].scale == pytest.approx(100.0)
    assert 80 < mad < 120


def test_every_release_charges_exactly_epsilon(tmp_path: Path, sandbox: DuckDBSandbox) -> None:
    src = tmp_path / "t.csv"
    _write(src, 2)
    ds = ingest(src, DatasetSpec("t", identifiers=["pid"]), tmp_path / "s")
    p = plan("SELECT g, count(*) AS n, avg(x) AS v FROM t GROUP BY g", {"t": ds}, dp=True)
    noise = dpmod.noise_plan(p, 0.7)
    res = sandbox.run(p.sql, [], {"t": ds.path}, max_rows=10)
    rows, spent = dpmod.apply(p, noise, res.columns, res.rows, 1)
    assert spent == pytest.approx(0.7, rel=1e-6)
    assert {r["g"] for r in rows} == {"a", "b", "c"}
    assert all(0 <= r["v"] <= 100 for r in rows)
    pol = {"t": UsagePolicy("t", assignees=["*"], epsilon_per_period=1.0)}
    led = InMemoryLedger()
    out = run_query(
        QueryRequest("SELECT g, count(*) AS n FROM t GROUP BY g", Consumer("c"), epsilon=0.7),
        {"t": ds},
        pol,
        sandbox,
        led,
    )
    assert out.epsilon_left == pytest.approx(0.3)
