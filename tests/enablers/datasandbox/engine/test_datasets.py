"""Ingestion, classification, USCC codes, policies and the mock preview."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest

from mingyue.enablers.datasandbox.engine import mock, uscc
from mingyue.enablers.datasandbox.engine.datasets import ColumnClass, Dataset, DatasetSpec, ingest
from mingyue.enablers.datasandbox.engine.errors import InvalidSpec
from mingyue.enablers.datasandbox.engine.policy import UsagePolicy


def test_uscc_check_character() -> None:
    # Published codes of listed companies (business licences).
    for code in ["9144030071526726XG", "91330100716105852F", "914403001922038216"]:
        assert uscc.is_valid(code)
    assert not uscc.is_valid("9144030071526726XA")
    assert not uscc.is_valid("9144030071526726I")  # I is not in the alphabet, and too short
    rng = random.Random(3)
    codes = [uscc.generate(rng) for _ in range(200)]
    assert all(uscc.is_valid(c) for c in codes)


def test_demo_data_uses_valid_codes_and_real_dataset(
    demo_files: object, demo_datasets: dict[str, Dataset]
) -> None:
    import duckdb

    ent = demo_datasets["enterprises"]
    codes = [r[0] for r in duckdb.sql(f"SELECT uscc FROM read_parquet('{ent.path}')").fetchall()]
    assert len(codes) == 400 and all(uscc.is_valid(c) for c in codes)
    pat = demo_datasets["patients"]
    assert pat.rows == 442  # sklearn's diabetes study, shipped inside scikit-learn
    # Fused on keys: every patient's employer is in the register.
    missing = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{pat.path}') p ANTI JOIN "
        f"read_parquet('{ent.path}') e ON p.employer_uscc = e.uscc"
    ).fetchall()
    assert missing == [(0,)]


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_ingest_formats(tmp_path: Path, fmt: str) -> None:
    import duckdb

    src = tmp_path / f"in.{fmt}"
    duckdb.sql(
        "SELECT 'p' || (range % 50) AS pid, range % 3 AS g, range * 1.5 AS v FROM range(200)"
    ).write_csv(str(src)) if fmt == "csv" else None
    if fmt == "json":
        src.write_text(
            "\n".join(
                json.dumps({"pid": f"p{i % 50}", "g": i % 3, "v": i * 1.5}) for i in range(200)
            )
        )
    if fmt == "parquet":
        duckdb.sql(
            "SELECT 'p' || (range % 50) AS pid, range % 3 AS g, range * 1.5 AS v FROM range(200)"
        ).write_parquet(str(src))
    ds = ingest(src, DatasetSpec("t", identifiers=["pid"], sensitive=["v"]), tmp_path / "s")
    assert ds.rows == 200 and ds.max_contributions == 4 and ds.unit == "pid"
    assert ds.column("v").cls is ColumnClass.SENSITIVE  # type: ignore[union-attr]
    assert ds.column("v").bounds == (0.0, 300.0)  # type: ignore[union-attr]
    assert ds.path.is_file() and ds.path.suffix == ".parquet"
    assert Dataset.from_dict(ds.to_dict()) == ds


def test_contribution_bound_truncates(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("pid,v\n" + "".join(f"p{i % 10},{i}\n" for i in range(100)))
    ds = ingest(src, DatasetSpec("t", identifiers=["pid"], max_contributions=2), tmp_path / "s")
    assert ds.max_contributions == 2 and ds.rows == 20


@pytest.mark.parametrize(
    ("spec", "rule"),
    [
        (DatasetSpec("t", identifiers=["nope"]), "dataset.unknown_column"),
        (DatasetSpec("Bad Name"), "dataset.name"),
        (DatasetSpec("t", identifiers=["pid"], quasi=["pid"]), "dataset.double_class"),
        (DatasetSpec("t", bounds={"v": (5, 1)}), "dataset.bounds"),
    ],
)
def test_bad_specs_write_nothing(tmp_path: Path, spec: DatasetSpec, rule: str) -> None:
    src = tmp_path / "in.csv"
    src.write_text("pid,v\na,1\nb,2\n")
    with pytest.raises(InvalidSpec) as info:
        ingest(src, spec, tmp_path / "s")
    assert info.value.rule == rule
    assert not list((tmp_path / "s").glob("*")) if (tmp_path / "s").exists() else True


def test_unreadable_and_unsupported(tmp_path: Path) -> None:
    bad = tmp_path / "x.xlsx"
    bad.write_bytes(b"PK\x03\x04")
    with pytest.raises(InvalidSpec) as info:
        ingest(bad, DatasetSpec("t"), tmp_path / "s")
    assert info.value.rule == "dataset.format"
    nul = tmp_path / "n.csv"
    nul.write_text("pid,v\n,1\nb,2\n")
    with pytest.raises(InvalidSpec) as info:
        ingest(nul, DatasetSpec("t", identifiers=["pid"]), tmp_path / "s")
    assert info.value.rule == "dataset.null_identifier"


def test_rows_rounded(demo_datasets: dict[str, Dataset]) -> None:
    assert demo_datasets["patients"].rows_rounded() == 440
    assert demo_datasets["tax_credit"].rows_rounded() == 800


def test_policy_as_odrl_round_trip() -> None:
    pol = UsagePolicy(
        "tax_credit",
        assignee_kinds=["enterprise"],
        purposes=["credit"],
        operations=["aggregate_sql", "verification"],
        release_review=True,
        expires=dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
    )
    odrl = pol.to_odrl()
    assert odrl["@type"] == "Offer" and odrl["permission"][0]["duty"]
    assert {"mingyue:verification", "mingyue:aggregate_sql"} == set(odrl["permission"][0]["action"])
    assert UsagePolicy.from_dict(json.loads(json.dumps(pol.to_dict()))) == pol
    with pytest.raises(InvalidSpec):
        UsagePolicy("x", operations=["download"])


def test_mock_preview_copies_no_values(demo_datasets: dict[str, Dataset]) -> None:
    import duckdb

    ent = demo_datasets["enterprises"]
    real = duckdb.sql(f"SELECT * FROM read_parquet('{ent.path}')").fetchall()
    cols = [c.name for c in ent.columns]
    real_by_col = {c: {r[i] for r in real} for i, c in enumerate(cols)}
    rows = mock.preview(ent, n=50, min_group=10, seed=5)
    assert len(rows) == 50 and set(rows[0]) == set(cols)
    for r in rows:
        assert uscc.is_valid(r["uscc"])
        assert r["uscc"] not in real_by_col["uscc"]
        assert r["name"] not in real_by_col["name"]
        lo, hi = ent.column("employees").bounds  # type: ignore[union-attr, misc]
        assert lo <= r["employees"] <= hi
    # Categories are those a gated GROUP BY would release anyway (≥ min_group records).
    assert {r["district"] for r in rows} <= real_by_col["district"]
    pat = mock.preview(demo_datasets["patients"], n=5, seed=1)
    assert all(len(r["person_hash"]) == 32 for r in pat)
