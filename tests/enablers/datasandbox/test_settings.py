"""The engine and its limits come from the typed Settings (MINGYUE_DATASANDBOX__*)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from mingyue.core.config import Settings
from mingyue.core.errors import InvalidInput
from mingyue.enablers.datasandbox import sandbox, service
from mingyue.enablers.datasandbox.settings import options


def test_engine_chosen_by_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mingyue.enablers.datasandbox.adapters.duckdb_local import DuckDBSandbox
    from mingyue.enablers.datasandbox.adapters.spark import SparkEngine

    default = options(Settings(data_dir=tmp_path))
    assert (default.engine, default.memory_mb, default.timeout_s) == ("duckdb", 3072, 60.0)
    monkeypatch.setenv("MINGYUE_DATASANDBOX__ENGINE", "spark")
    monkeypatch.setenv("MINGYUE_DATASANDBOX__SPARK_MASTER", "local[1]")
    monkeypatch.setenv("MINGYUE_DATASANDBOX__MEMORY_MB", "1024")
    from_env = Settings(data_dir=tmp_path)
    eng = sandbox.sql_engine(from_env)  # the Spark session starts lazily, on the first query
    assert isinstance(eng, SparkEngine) and eng.master == "local[1]"
    assert options(from_env).memory_mb == 1024
    monkeypatch.delenv("MINGYUE_DATASANDBOX__ENGINE")
    duck = sandbox.sql_engine(
        Settings(data_dir=tmp_path, datasandbox={"memory_mb": "1536", "timeout_s": "5"})
    )
    assert isinstance(duck, DuckDBSandbox) and (duck.memory_mb, duck.timeout_s) == (1536, 5.0)


@pytest.mark.parametrize("opts", [{"engine": "presto"}, {"memory_mb": "lots"}, {"enigne": "spark"}])
def test_bad_option_names_itself(tmp_path: Path, opts: dict[str, str]) -> None:
    with pytest.raises(InvalidInput) as err:
        options(Settings(data_dir=tmp_path, datasandbox=opts))
    assert err.value.field == f"MINGYUE_DATASANDBOX__{next(iter(opts)).upper()}"


@pytest.fixture()
def spark_env(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -e .[spark])")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime on PATH; Spark needs Java 17")
    monkeypatch.setenv("MINGYUE_DATASANDBOX__ENGINE", "spark")
    monkeypatch.setenv("MINGYUE_DATASANDBOX__SPARK_MASTER", "local[2]")


@pytest.mark.slow
def test_service_runs_on_spark_when_configured(
    spark_env: None,
    settings: Any,
    tenants: Any,
    actor_of: Any,
    uow_as: Any,
    run_jobs: Any,
    demo_files: Any,
) -> None:
    from sqlalchemy import select

    from mingyue.core.db import system_session
    from mingyue.core.ledger.audit import AuditEntry

    owner = actor_of(tenants.a.admin)
    with uow_as(owner) as uow:
        service.register_dataset(
            uow=uow,
            actor=owner,
            source=demo_files.enterprises,
            name="enterprises",
            identifiers=["uscc"],
            min_group=5,
            epsilon_per_period=None,
        )
        out = service.submit_query(
            uow=uow,
            actor=owner,
            sql="SELECT industry, count(*) AS n FROM enterprises GROUP BY industry",
        )
    run_jobs()
    with uow_as(owner) as uow:
        done = service.get_request(uow=uow, actor=owner, request_id=out.id)
    assert done.status == "released", done.reason
    assert sum(r["n"] for r in done.rows or []) <= 400
    with system_session(settings, "test audit") as s:
        executed = [
            e.payload
            for e in s.scalars(select(AuditEntry)).all()
            if e.action == "datasandbox.request.executed"
        ]
    assert executed and executed[-1]["engine"] == "spark"
