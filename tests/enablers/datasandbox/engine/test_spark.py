"""The same approved plan on Apache Spark (local mode) gives the same gated release."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from mingyue.enablers.datasandbox.adapters.duckdb_local import DuckDBSandbox
from mingyue.enablers.datasandbox.engine.datasets import Dataset
from mingyue.enablers.datasandbox.engine.errors import Refusal
from mingyue.enablers.datasandbox.engine.ledger import InMemoryLedger
from mingyue.enablers.datasandbox.engine.policy import Consumer, UsagePolicy
from mingyue.enablers.datasandbox.engine.query import QueryRequest, run_query

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        pytest.skip("pyspark is not installed (pip install -e .[spark])")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime on PATH; Spark needs Java 17")
    from mingyue.enablers.datasandbox.adapters.spark import SparkEngine

    eng = SparkEngine("local[2]", timeout_s=300)
    yield eng
    eng.close()


SQL = (
    "SELECT e.district, t.credit_rating, count(*) AS n, sum(t.tax_paid) AS s, "
    "avg(e.employees) AS e FROM enterprises e JOIN tax_credit t ON e.uscc = t.uscc "
    "WHERE t.year = ? GROUP BY 1, 2"
)


def test_spark_matches_duckdb_exact(
    spark: object, demo_datasets: dict[str, Dataset], sandbox: DuckDBSandbox
) -> None:
    pol = {
        n: UsagePolicy(n, assignees=["*"], epsilon_per_period=None, min_group_size=5)
        for n in demo_datasets
    }
    req = QueryRequest(SQL, Consumer("bank"), params=[2025])
    a = run_query(req, demo_datasets, pol, spark, InMemoryLedger())
    b = run_query(req, demo_datasets, pol, sandbox, InMemoryLedger())
    assert len(a.rows) == len(b.rows) > 0 and a.suppressed_groups == b.suppressed_groups
    for x, y in zip(a.rows, b.rows, strict=True):
        assert (x["district"], x["credit_rating"], x["n"]) == (
            y["district"],
            y["credit_rating"],
            y["n"],
        )
        assert x["s"] == pytest.approx(y["s"]) and x["e"] == pytest.approx(y["e"])
    assert a.rows_scanned == b.rows_scanned


def test_spark_dp_same_gates_and_ledger(spark: object, demo_datasets: dict[str, Dataset]) -> None:
    pol = {n: UsagePolicy(n, assignees=["*"], epsilon_per_period=1.0) for n in demo_datasets}
    led = InMemoryLedger()
    r = run_query(
        QueryRequest(
            "SELECT industry, count(*) AS n FROM enterprises GROUP BY industry",
            Consumer("bank"),
            epsilon=0.6,
        ),
        demo_datasets,
        pol,
        spark,
        led,
    )
    assert r.dp and r.threshold and r.epsilon_left == pytest.approx(0.4)
    with pytest.raises(Refusal) as info:
        run_query(
            QueryRequest("SELECT count(*) FROM enterprises", Consumer("bank"), epsilon=0.6),
            demo_datasets,
            pol,
            spark,
            led,
        )
    assert info.value.rule == "budget.exhausted"
