"""Apache Spark engine: the same approved plan, transpiled by sqlglot, on a Spark session.

``local[*]`` by default; a ``spark://`` master by configuration. The SQL wall, the noise and the
ledger are the engine's, unchanged: Spark only computes the clamped aggregates. Spark has no
equivalent of DuckDB's ``enable_external_access=false``; here the parser is the wall that keeps
``parquet.`/path``` and friends out (they parse as qualified tables and are refused).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from mingyue.enablers.datasandbox.engine.errors import ExecutionFailed, Refusal

from .base import ExecResult


def to_spark_sql(sql: str, params: list[Any] | dict[str, Any]) -> tuple[str, Any]:
    """Transpile DuckDB SQL to Spark SQL; placeholders become Spark's named parameter markers."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    args: dict[str, Any] = {}
    pos = 0
    for ph in list(tree.find_all(exp.Placeholder)):
        if isinstance(params, dict):
            name = ph.name
            args[f"p_{name}"] = params[name]
        else:
            name = str(pos)
            args[f"p_{name}"] = params[pos]
            pos += 1
        ph.replace(exp.Placeholder(this=f"p_{name}", kind="named"))
    text = tree.sql(dialect="spark")
    return text, args


def _jvm_cpu_seconds(spark: Any) -> float:
    try:
        pid = spark.sparkContext._gateway.proc.pid
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks
    except (AttributeError, OSError, IndexError, ValueError):
        return 0.0


class SparkEngine:
    """Runs approved plans on a Spark session (created lazily, stopped by ``close``)."""

    name = "spark"

    def __init__(
        self,
        master: str = "local[2]",
        *,
        timeout_s: float = 120.0,
        conf: dict[str, str] | None = None,
    ) -> None:
        self.master = master
        self.timeout_s = timeout_s
        self.conf = conf or {}
        self._spark: Any = None

    def _session(self) -> Any:
        if self._spark is None:
            # Python workers must run the same interpreter (the venv), or imports fail.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
            from pyspark.sql import SparkSession  # lazy: spark extra (Java), only when configured

            b = (
                SparkSession.builder.master(self.master)
                .appName("mingyue-datasandbox")
                .config("spark.ui.enabled", "false")
                .config("spark.sql.shuffle.partitions", "4")
                .config("spark.sql.ansi.enabled", "false")
            )
            for k, v in self.conf.items():
                b = b.config(k, v)
            self._spark = b.getOrCreate()
            self._spark.sparkContext.setLogLevel("ERROR")
        return self._spark

    def run(
        self,
        sql: str,
        params: list[Any] | dict[str, Any],
        tables: dict[str, Path],
        *,
        max_rows: int,
        timeout_s: float | None = None,
    ) -> ExecResult:
        """Run the plan's SQL on Spark with the request's Parquet files as temporary views."""
        import pyarrow.parquet as pq  # lazy: datasandbox extra, heavy

        spark = self._session()
        t0, c0 = time.perf_counter(), _jvm_cpu_seconds(spark)
        scanned = 0
        views = []
        for name, path in tables.items():
            view = spark.read.parquet(str(path))
            view.createOrReplaceTempView(name)
            views.append(name)
            scanned += pq.ParquetFile(str(path)).metadata.num_rows
        text, args = to_spark_sql(sql, params or [])
        group = f"datasandbox-{uuid.uuid4().hex}"
        sc = spark.sparkContext
        sc.setJobGroup(group, "datasandbox query", interruptOnCancel=True)
        limit = self.timeout_s if timeout_s is None else timeout_s
        timer = threading.Timer(limit, sc.cancelJobGroup, args=(group,))
        timer.start()
        try:
            df = spark.sql(text, args=args or None)
            columns = list(df.columns)
            rows = df.limit(max_rows + 1).collect()
        except Exception as exc:
            if not timer.is_alive():
                raise ExecutionFailed(
                    "exec.timeout", f"the computation ran past {limit:g} s", seconds=limit
                ) from exc
            raise ExecutionFailed(
                "exec.engine_error", f"{type(exc).__name__}: {str(exc)[:300]}"
            ) from exc
        finally:
            timer.cancel()
            for v in views:
                spark.catalog.dropTempView(v)
        if len(rows) > max_rows:
            raise Refusal(
                "gate.oversized_result", f"the result has more than {max_rows} rows", limit=max_rows
            )
        return ExecResult(
            columns,
            [tuple(r) for r in rows],
            scanned,
            max(_jvm_cpu_seconds(spark) - c0, 0.0),
            time.perf_counter() - t0,
        )

    def close(self) -> None:
        """Stop the Spark session."""
        if self._spark is not None:
            self._spark.stop()
            self._spark = None
