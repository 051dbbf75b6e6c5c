"""Aggregate SQL end to end: hardened execution, gates, budget, and the attacks of issue 5."""

from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path

import pytest

from mingyue.enablers.datasandbox.adapters.duckdb_local import DuckDBSandbox, run_in_connection
from mingyue.enablers.datasandbox.engine.datasets import Dataset
from mingyue.enablers.datasandbox.engine.errors import ExecutionFailed, Refusal
from mingyue.enablers.datasandbox.engine.ledger import InMemoryLedger
from mingyue.enablers.datasandbox.engine.policy import Consumer, UsagePolicy
from mingyue.enablers.datasandbox.engine.query import QueryRequest, prepare, run_query

BANK = Consumer("bank-1", "enterprise", "credit")


def policies(ds: dict[str, Dataset], **kw: object) -> dict[str, UsagePolicy]:
    return {n: UsagePolicy(n, assignees=["*"], **kw) for n in ds}  # type: ignore[arg-type]


def test_exact_release_with_group_suppression(
    demo_datasets: dict[str, Dataset], sandbox: DuckDBSandbox
) -> None:
    pol = policies(demo_datasets, epsilon_per_period=None, min_group_size=10)
    r = run_query(
        QueryRequest("SELECT district, count(*) AS n FROM enterprises GROUP BY district", BANK),
        demo_datasets,
        pol,
        sandbox,
        InMemoryLedger(),
    )
    assert r.status == "released" and not r.dp and r.epsilon_spent == 0
    assert sum(row["n"] for row in r.rows) == demo_datasets["enterprises"].rows
    assert r.rows_scanned == demo_datasets["enterprises"].rows
    # GROUP BY a quasi-identifier: every group has one record, so every group is suppressed.
    r = run_query(
        QueryRequest("SELECT name, count(*) AS n FROM enterprises GROUP BY name", BANK),
        demo_datasets,
        pol,
        sandbox,
        InMemoryLedger(),
    )
    assert r.rows == [] and r.suppressed_groups >= demo_datasets["enterprises"].rows - 5


def test_tiny_group_refused(
    demo_datasets: dict[str, Dataset], sandbox: DuckDBSandbox, demo_files: object
) -> None:
    with open(demo_files.enterprises, encoding="utf-8") as f:  # type: ignore[attr-defined]
        target = next(csv.DictReader(f))
    pol = policies(demo_datasets, epsilon_per_period=None)
    with pytest.raises(Refusal) as info:
        run_query(
            QueryRequest(
                "SELECT sum(employees) FROM enterprises WHERE name = ?",
                BANK,
                params=[target["name"]],
            ),
            demo_datasets,
            pol,
            sandbox,
            InMemoryLedger(),
        )
    assert info.value.rule == "gate.small_group"


def test_injection_through_parameters_is_a_value(
    demo_datasets: dict[str, Dataset], sandbox: DuckDBSandbox
) -> None:
    pol = policies(demo_datasets, epsilon_per_period=None, min_group_size=1)
    sql = "SELECT count(*) AS n FROM enterprises WHERE district = ?"
    ok = run_query(
        QueryRequest(sql, BANK, params=["渝北区"]), demo_datasets, pol, sandbox, InMemoryLedger()
    )
    assert 0 < ok.rows[0]["n"] < demo_datasets["enterprises"].rows
    # Interpolated, the OR would match every row; bound, it matches the literal string: none,
    # and an empty result is below any minimum group size.
    with pytest.raises(Refusal) as info:
        run_query(
            QueryRequest(sql, BANK, params=["渝北区' OR '1'='1"]),
            demo_datasets,
            pol,
            sandbox,
            InMemoryLedger(),
        )
    assert info.value.rule == "gate.small_group"


def test_oversized_result_refused(
    demo_datasets: dict[str, Dataset], sandbox: DuckDBSandbox
) -> None:
    pol = policies(demo_datasets, epsilon_per_period=None, min_group_size=1, max_result_rows=5)
    with pytest.raises(Refusal) as info:
        run_query(
            QueryRequest("SELECT founded, count(*) FROM enterprises GROUP BY founded", BANK),
            demo_datasets,
            pol,
            sandbox,
            InMemoryLedger(),
        )
    assert info.value.rule == "gate.oversized_result"


def test_policy_refusals(demo_datasets: dict[str, Dataset], sandbox: DuckDBSandbox) -> None:
    sql = "SELECT count(*) FROM enterprises"
    now = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    cases = [
        (UsagePolicy("enterprises", assignees=["gov-1"]), "policy.assignee"),
        (UsagePolicy("enterprises", assignees=["*"], purposes=["statistics"]), "policy.purpose"),
        (
            UsagePolicy("enterprises", assignees=["*"], operations=["verification"]),
            "policy.operation",
        ),
        (
            UsagePolicy("enterprises", assignees=["*"], expires=now - dt.timedelta(days=1)),
            "policy.expired",
        ),
    ]
    for pol, rule in cases:
        with pytest.raises(Refusal) as info:
            run_query(
                QueryRequest(sql, BANK),
                demo_datasets,
                {"enterprises": pol},
                sandbox,
                InMemoryLedger(),
                now=now,
            )
        assert info.value.rule == rule
    ok = UsagePolicy("enterprises", assignee_kinds=["enterprise"], purposes=["credit"])
    assert run_query(
        QueryRequest(sql, BANK),
        demo_datasets,
        {"enterprises": ok},
        sandbox,
        InMemoryLedger(),
        now=now,
    ).dp


def test_budget_preview_charge_exhaustion(
    demo_datasets: dict[str, Dataset], sandbox: DuckDBSandbox
) -> None:
    pol = policies(demo_datasets, epsilon_per_period=1.0)
    ledger = InMemoryLedger()
    sql = "SELECT industry, count(*) AS n, avg(employees) AS e FROM enterprises GROUP BY industry"
    prep = prepare(QueryRequest(sql, BANK, epsilon=0.4), demo_datasets, pol, ledger)
    preview = prep.preview()
    assert preview["epsilon_left"] == 1.0 and ledger.entries == []  # preview spends nothing
    assert [o["scale"] for o in preview["outputs"]] == pytest.approx([7.5, 15000.0, 7.5])
    r = run_query(QueryRequest(sql, BANK, epsilon=0.4), demo_datasets, pol, sandbox, ledger)
    assert r.epsilon_spent == 0.4 and r.epsilon_left == pytest.approx(0.6)
    assert all(set(row) == {"industry", "n", "e"} for row in r.rows)
    # A refused query (SQL wall) charges nothing.
    with pytest.raises(Refusal):
        run_query(
            QueryRequest("SELECT * FROM enterprises", BANK, epsilon=0.4),
            demo_datasets,
            pol,
            sandbox,
            ledger,
        )
    assert ledger.spent("bank-1", "enterprises", prep.period["enterprises"]) == pytest.approx(0.4)
    run_query(QueryRequest(sql, BANK, epsilon=0.4), demo_datasets, pol, sandbox, ledger)
    with pytest.raises(Refusal) as info:
        run_query(QueryRequest(sql, BANK, epsilon=0.4), demo_datasets, pol, sandbox, ledger)
    assert info.value.rule == "budget.exhausted"
    assert ledger.spent("bank-1", "enterprises", prep.period["enterprises"]) == pytest.approx(0.8)
    # Another consumer has its own budget.
    other = run_query(
        QueryRequest(sql, Consumer("bank-2"), epsilon=0.4), demo_datasets, pol, sandbox, ledger
    )
    assert other.epsilon_left == pytest.approx(0.6)


def test_fusion_join_is_charged_on_every_dataset(
    demo_datasets: dict[str, Dataset], sandbox: DuckDBSandbox
) -> None:
    pol = policies(demo_datasets, epsilon_per_period=2.0)
    ledger = InMemoryLedger()
    r = run_query(
        QueryRequest(
            "SELECT t.credit_rating, count(*) AS n, sum(e.employees) AS emp FROM enterprises e "
            "JOIN tax_credit t ON e.uscc = t.uscc GROUP BY t.credit_rating",
            BANK,
            epsilon=0.5,
        ),
        demo_datasets,
        pol,
        sandbox,
        ledger,
    )
    assert {c.dataset for c in ledger.entries} == {"enterprises", "tax_credit"}
    assert r.rows and r.threshold is not None
    assert {row["credit_rating"] for row in r.rows} <= {"A", "B", "M", "C", "D"}


def test_differencing_attack_is_bounded(
    demo_datasets: dict[str, Dataset], sandbox: DuckDBSandbox, demo_files: object
) -> None:
    """Two queries whose difference isolates one enterprise; DP noise and the budget bound it.

    Q1 sums employees over all enterprises, Q2 over all but the target (``name <> target``).
    Each release is Laplace(b) with b = k·M·m/ε (k=1 row per unit, M=2000 the public bound,
    m=2 noisy quantities, ε=0.5), so b = 8000. The difference Q1-Q2 = v + (Z1 - Z2) has
    standard deviation 2b; averaging p pairs gives 2b/√p. The budget of 2.0 allows 4 queries,
    p = 2 pairs: σ ≈ 11 314, more than five times the whole range [0, 2000] of v. And the
    likelihood ratio between any two values v, v' of the target, given everything released, is
    at most exp(Σ ε) = e^2: the attacker's odds move by at most that factor.
    """
    with open(demo_files.enterprises, encoding="utf-8") as f:  # type: ignore[attr-defined]
        target = next(csv.DictReader(f))
    pol = policies(demo_datasets, epsilon_per_period=2.0)
    ledger = InMemoryLedger()
    q1 = "SELECT count(*) AS n, sum(employees) AS s FROM enterprises"
    q2 = "SELECT count(*) AS n, sum(employees) AS s FROM enterprises WHERE name <> ?"
    diffs = []
    scales = []
    for _ in range(2):
        r1 = run_query(QueryRequest(q1, BANK, epsilon=0.5), demo_datasets, pol, sandbox, ledger)
        r2 = run_query(
            QueryRequest(q2, BANK, epsilon=0.5, params=[target["name"]]),
            demo_datasets,
            pol,
            sandbox,
            ledger,
        )
        diffs.append(r1.rows[0]["s"] - r2.rows[0]["s"])
        scales.append(next(o["scale"] for o in r1.noise if o["output"] == "s"))
    with pytest.raises(Refusal) as info:  # the budget caps repetition
        run_query(QueryRequest(q1, BANK, epsilon=0.5), demo_datasets, pol, sandbox, ledger)
    assert info.value.rule == "budget.exhausted"
    b, big_m = scales[0], 2000.0
    assert b == pytest.approx(1 * big_m * 2 / 0.5)
    sigma = 2 * b / math.sqrt(len(diffs))
    assert sigma > 5 * big_m
    total_eps = sum(c.epsilon for c in ledger.entries)
    assert total_eps == pytest.approx(2.0)
    # Sum-part privacy loss of the four releases: 4 · M/b ≤ total ε (the counts used the rest).
    assert 4 * big_m / b <= total_eps


def test_dp_grouped_by_quasi_identifier_releases_nothing(
    demo_datasets: dict[str, Dataset], sandbox: DuckDBSandbox
) -> None:
    pol = policies(demo_datasets, epsilon_per_period=3.0)
    r = run_query(
        QueryRequest("SELECT name, count(*) FROM enterprises GROUP BY name", BANK, epsilon=1.0),
        demo_datasets,
        pol,
        sandbox,
        InMemoryLedger(),
    )
    assert r.rows == [] and r.threshold is not None and r.threshold > 10


def test_hardened_connection_is_a_second_wall(demo_datasets: dict[str, Dataset]) -> None:
    tables = {"enterprises": demo_datasets["enterprises"].path}
    for sql in [
        "SELECT count(*) FROM read_csv('/etc/passwd')",
        "SELECT count(*) FROM read_text('/etc/hostname')",
        "COPY (SELECT 1) TO '/tmp/datasandbox-escape.csv'",
        "ATTACH '/tmp/datasandbox-escape.db'",
        "INSTALL httpfs",
        "SET enable_external_access = true",
        "SET allowed_paths = ['/etc/passwd']",
    ]:
        with pytest.raises(Exception) as info:
            run_in_connection(sql, [], tables, max_rows=10, memory_mb=512, threads=1)
        assert type(info.value).__name__ in ("PermissionException", "InvalidInputException"), sql
    assert not Path("/tmp/datasandbox-escape.csv").exists()


def test_time_limit_kills_the_worker(tmp_path: Path) -> None:
    with DuckDBSandbox(memory_mb=1024, timeout_s=1.0, threads=1) as eng:
        with pytest.raises(ExecutionFailed) as info:
            eng.run(
                "SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3",
                [],
                {},
                max_rows=10,
            )
        assert info.value.rule == "exec.timeout"
        # The next query gets a fresh worker.
        assert eng.run("SELECT 42", [], {}, max_rows=1).rows == [(42,)]


def test_memory_limit(tmp_path: Path) -> None:
    with DuckDBSandbox(memory_mb=700, timeout_s=60, threads=1) as eng:
        with pytest.raises(ExecutionFailed) as info:
            eng.run(
                "SELECT list(range || 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx') FROM range(60000000)",
                [],
                {},
                max_rows=10,
            )
        assert info.value.rule in ("exec.memory_limit", "exec.engine_error")
        assert "memory" in info.value.message.lower() or info.value.rule == "exec.memory_limit"


def test_concurrent_callers_share_one_worker(
    demo_datasets: dict[str, Dataset], sandbox: DuckDBSandbox
) -> None:
    import threading

    pol = policies(demo_datasets, epsilon_per_period=None, min_group_size=1)
    results: list[int] = []

    def one() -> None:
        r = run_query(
            QueryRequest("SELECT count(*) AS n FROM enterprises", BANK),
            demo_datasets,
            pol,
            sandbox,
            InMemoryLedger(),
        )
        results.append(r.rows[0]["n"])

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results == [demo_datasets["enterprises"].rows] * 6
