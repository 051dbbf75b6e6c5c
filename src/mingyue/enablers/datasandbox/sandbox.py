"""The sandbox engine chosen by ``MINGYUE_DATASANDBOX__ENGINE``, opened for one computation.

Each computation opens its engine and closes it afterwards: no engine outlives the job or request
that asked for it, so no process-wide cache holds DuckDB workers or Spark sessions across
settings, tests or tenants. Model-training templates are Python functions and run in the DuckDB
worker whatever the SQL engine is (Spark runs SQL only).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mingyue.sdk import Settings

from .adapters.base import SqlEngine, WorkerEngine
from .adapters.duckdb_local import DuckDBSandbox
from .adapters.spark import SparkEngine
from .settings import options


def sql_engine(settings: Settings) -> SqlEngine:
    """Return a new, not yet started engine of the kind the settings choose (close it after)."""
    opts = options(settings)
    if opts.engine == "spark":
        return SparkEngine(opts.spark_master, timeout_s=opts.spark_timeout_s)
    return DuckDBSandbox(memory_mb=opts.memory_mb, timeout_s=opts.timeout_s)


@contextmanager
def open_engine(settings: Settings) -> Iterator[SqlEngine]:
    """Open the configured SQL engine for one computation and close it afterwards."""
    engine = sql_engine(settings)
    try:
        yield engine
    finally:
        engine.close()


@contextmanager
def open_worker(settings: Settings) -> Iterator[WorkerEngine]:
    """Open a DuckDB worker (memory and time limits of the settings) for a training template."""
    opts = options(settings)
    worker = DuckDBSandbox(memory_mb=opts.memory_mb, timeout_s=opts.timeout_s)
    try:
        yield worker
    finally:
        worker.close()
