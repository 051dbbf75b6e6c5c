"""The SQL wall: each attack of issue 5 is refused with its rule id, before anything runs."""

from __future__ import annotations

import pytest

from mingyue.enablers.datasandbox.engine.datasets import Dataset
from mingyue.enablers.datasandbox.engine.errors import Refusal
from mingyue.enablers.datasandbox.engine.sqlcheck import check_predicate, plan

REFUSED = [
    ("SELECT * FROM enterprises", "sql.select_star"),
    ("SELECT uscc FROM enterprises", "sql.identifier_output"),
    ("SELECT uscc, count(*) FROM enterprises GROUP BY uscc", "sql.group_by_identifier"),
    ("SELECT name, count(*) FROM enterprises GROUP BY 1", None),  # quasi: allowed, gated later
    ("SELECT count(*) FROM enterprises LIMIT 1", "sql.limit"),
    ("SELECT sum(employees) FROM enterprises OFFSET 3", "sql.limit"),
    ("SELECT district FROM enterprises", "sql.non_aggregate_output"),
    ("SELECT min(employees) FROM enterprises", "sql.row_revealing_aggregate"),
    ("SELECT max(registered_capital) FROM enterprises", "sql.row_revealing_aggregate"),
    ("SELECT string_agg(name, ',') FROM enterprises", "sql.row_revealing_aggregate"),
    ("SELECT list(name) FROM enterprises", "sql.row_revealing_aggregate"),
    ("SELECT count(*) FROM read_csv('/etc/passwd')", "sql.function_not_allowed"),
    ("SELECT count(*) FROM read_text('/etc/passwd')", "sql.function_not_allowed"),
    ("SELECT count(*) FROM read_blob('/etc/passwd')", "sql.function_not_allowed"),
    ("SELECT count(*) FROM glob('/*')", "sql.function_not_allowed"),
    ("SELECT count(*) FROM query('SELECT 1')", "sql.function_not_allowed"),
    ("SELECT count(*) FROM query_table('enterprises')", "sql.function_not_allowed"),
    ("SELECT count(*) FROM sniff_csv('/etc/passwd')", "sql.function_not_allowed"),
    ("SELECT count(*) FROM parquet_scan('/tmp/x.parquet')", "sql.function_not_allowed"),
    ("SELECT count(*) FROM '/etc/passwd'", "sql.unknown_dataset"),
    ("SELECT count(*) FROM main.enterprises", "sql.table_function"),
    ("SELECT my_udf(employees), count(*) FROM enterprises GROUP BY 1", "sql.function_not_allowed"),
    ("SELECT count(*) FROM enterprises WHERE getenv('HOME') = 'x'", "sql.function_not_allowed"),
    ("COPY enterprises TO '/tmp/out.csv'", "sql.statement_not_allowed"),
    ("ATTACH '/tmp/x.db' AS x", "sql.statement_not_allowed"),
    ("INSTALL httpfs", "sql.statement_not_allowed"),
    ("LOAD httpfs", "sql.statement_not_allowed"),
    ("PRAGMA database_list", "sql.statement_not_allowed"),
    ("SET enable_external_access = true", "sql.statement_not_allowed"),
    ("CREATE MACRO f(x) AS x", "sql.statement_not_allowed"),
    ("DROP TABLE enterprises", "sql.statement_not_allowed"),
    ("SELECT count(*) FROM enterprises; DROP TABLE enterprises", "sql.multiple_statements"),
    ("SELECT count(*) FROM (SELECT * FROM enterprises)", "sql.subquery"),
    ("WITH x AS (SELECT * FROM enterprises) SELECT count(*) FROM x", "sql.subquery"),
    (
        "SELECT count(*) FROM enterprises WHERE employees IN (SELECT employees FROM enterprises)",
        "sql.subquery",
    ),
    (
        "SELECT count(*) FROM enterprises UNION SELECT count(*) FROM enterprises",
        "sql.statement_not_allowed",
    ),
    ("SELECT sum(employees) OVER () FROM enterprises", "sql.window"),
    (
        "SELECT count(*) FROM enterprises WHERE uscc = '91500000MA5U36DJ6W'",
        "sql.identifier_in_filter",
    ),
    (
        "SELECT count(*) FROM enterprises e JOIN tax_credit t ON e.district = t.credit_rating",
        "sql.join_key",
    ),
    ("SELECT count(*) FROM enterprises, tax_credit", "sql.join_shape"),
    ("SELECT count(*) FROM secret_table", "sql.unknown_dataset"),
    ("SELECT sum(uscc) FROM enterprises", "sql.identifier_output"),
    ("SELECT DISTINCT district FROM enterprises", "sql.select_distinct"),
    ("", "sql.empty"),
    ("SELEC count(*) FROM enterprises", "sql.syntax"),
]


@pytest.mark.parametrize(("sql", "rule"), REFUSED)
def test_exact_mode_wall(sql: str, rule: str | None, demo_datasets: dict[str, Dataset]) -> None:
    if rule is None:
        plan(sql, demo_datasets, dp=False)
        return
    with pytest.raises(Refusal) as info:
        plan(sql, demo_datasets, dp=False)
    assert info.value.rule == rule, info.value
    assert info.value.key == f"datasandbox.{rule}"
    assert info.value.message


DP_REFUSED = [
    ("SELECT median(employees) FROM enterprises", "dp.unsupported_aggregate"),
    ("SELECT count(DISTINCT district) FROM enterprises", "dp.unsupported_aggregate"),
    ("SELECT sum(employees * 2) FROM enterprises", "dp.aggregate_argument"),
    (
        "SELECT district, count(*) FROM enterprises GROUP BY district HAVING count(*) > 3",
        "dp.having",
    ),
]


@pytest.mark.parametrize(("sql", "rule"), DP_REFUSED)
def test_dp_mode_wall(sql: str, rule: str, demo_datasets: dict[str, Dataset]) -> None:
    with pytest.raises(Refusal) as info:
        plan(sql, demo_datasets, dp=True)
    assert info.value.rule == rule


def test_plan_clamps_sums_and_counts_contributions(demo_datasets: dict[str, Dataset]) -> None:
    p = plan(
        "SELECT e.industry, count(*) AS n, avg(t.tax_paid) AS t FROM enterprises e "
        "JOIN tax_credit t ON e.uscc = t.uscc GROUP BY e.industry",
        demo_datasets,
        dp=True,
    )
    assert p.contributions == 2  # two tax years per enterprise
    assert "LEAST(GREATEST(T.TAX_PAID, 0.0), 1000.0)" in p.sql.upper()
    assert [o.kind for o in p.outputs] == ["key", "count", "avg"]
    assert not p.hidden_count


def test_join_fanout_bounds_contributions(demo_datasets: dict[str, Dataset]) -> None:
    pat, ent = demo_datasets["patients"], demo_datasets["enterprises"]
    per_employer = pat.multiplicity("employer_uscc")
    assert per_employer is not None and per_employer > 1
    p = plan(
        "SELECT e.industry, count(*) AS n, avg(p.progression) AS prog FROM patients p "
        "JOIN enterprises e ON p.employer_uscc = e.uscc GROUP BY e.industry",
        demo_datasets,
        dp=True,
    )
    # A patient meets one enterprise row; an enterprise meets up to per_employer patient rows.
    assert p.contributions == max(
        pat.max_contributions * ent.multiplicity("uscc"), ent.max_contributions * per_employer
    )


def test_parameters_are_bound_not_interpolated(demo_datasets: dict[str, Dataset]) -> None:
    evil = "渝北区' OR '1'='1"
    p = plan(
        "SELECT count(*) FROM enterprises WHERE district = ?",
        demo_datasets,
        dp=False,
        params=[evil],
    )
    assert evil not in p.sql and "?" in p.sql
    assert p.params == [evil]
    with pytest.raises(Refusal) as info:
        plan(
            "SELECT count(*) FROM enterprises WHERE district = ?",
            demo_datasets,
            dp=False,
            params=[{"sql": "x"}],
        )
    assert info.value.rule == "sql.parameter_type"
    with pytest.raises(Refusal) as info:
        plan("SELECT count(*) FROM enterprises WHERE district = ?", demo_datasets, dp=False)
    assert info.value.rule == "sql.parameter_missing"


def test_predicate_check(demo_datasets: dict[str, Dataset]) -> None:
    ds = demo_datasets["tax_credit"]
    assert check_predicate("credit_rating = 'A' AND year = 2025", ds)
    for bad, rule in [
        ("uscc = 'x'", "sql.identifier_in_filter"),
        ("read_text('/etc/passwd') IS NOT NULL", "sql.function_not_allowed"),
        ("year IN (SELECT 1)", "sql.subquery"),
        ("1=1; DROP TABLE x", "sql.multiple_statements"),
    ]:
        with pytest.raises(Refusal) as info:
            check_predicate(bad, ds)
        assert info.value.rule == rule, bad
