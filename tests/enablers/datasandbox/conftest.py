"""Fixtures shared by the datasandbox tests: demo datasets ingested once, one sandbox worker."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mingyue.core import clock
from mingyue.enablers.datasandbox.adapters.duckdb_local import DuckDBSandbox
from mingyue.enablers.datasandbox.engine import datasets, demo
from mingyue.enablers.datasandbox.engine.datasets import Dataset


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> demo.DemoFiles:
    return demo.generate(tmp_path_factory.mktemp("demo-in"), n_enterprises=400, seed=11)


@pytest.fixture(scope="session")
def demo_datasets(
    demo_files: demo.DemoFiles, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Dataset]:
    store = tmp_path_factory.mktemp("demo-store")
    paths = {
        "enterprises": demo_files.enterprises,
        "tax_credit": demo_files.tax_credit,
        "patients": demo_files.patients,
    }
    return {n: datasets.ingest(p, demo_files.specs[n], store) for n, p in paths.items()}


@pytest.fixture(scope="session")
def sandbox() -> Iterator[DuckDBSandbox]:
    # The time limit guards against a hung worker; its own tests use a private sandbox. The first
    # call imports the ML stack in the worker, which took over 30 s on a loaded 2-core CI machine.
    eng = DuckDBSandbox(memory_mb=2048, timeout_s=180)
    yield eng
    eng.close()


@pytest.fixture()
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture(autouse=True)
def _pg_sources_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Allow the local test server as a PostgreSQL source host (off by default)."""
    monkeypatch.setenv("MINGYUE_DATASANDBOX__PG_ALLOWED_HOSTS", "127.0.0.1,::1")


@pytest.fixture()
def midday(settings: Any) -> Iterator[None]:
    """Freeze the platform clock at noon today in the platform's zone: a test of the daily
    verification limit must not straddle midnight (one run did, and its last call got a new day)."""
    zone = ZoneInfo(settings.timezone)
    noon = datetime.now(zone).replace(hour=12, minute=0, second=0, microsecond=0)
    with clock.frozen(noon):
        yield
