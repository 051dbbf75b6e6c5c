"""DuckDB in a separate, memory- and time-limited process with a hardened connection.

The parser is not the only wall: the worker opens a fresh in-memory DuckDB per query, registers the
request's Parquet files as views, allows exactly those paths, then sets
``enable_external_access=false`` and ``lock_configuration=true`` so file readers, COPY, ATTACH,
INSTALL and LOAD raise even if a query got past the SQL check. The worker lives in its own process
with RLIMIT_AS, and the parent kills it when a query runs past its time limit.
"""

# ruff: noqa: S608  (view names are checked dataset names; paths are quoted)
from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Self

from mingyue.enablers.datasandbox.engine.errors import ExecutionFailed, Refusal

from .base import ExecResult

STARTUP_TIMEOUT_S = 120.0


def _quote_path(p: Path) -> str:
    return "'" + str(p).replace("'", "''") + "'"


def _connect(memory_mb: int, threads: int) -> Any:
    import duckdb  # lazy: datasandbox extra, heavy

    return duckdb.connect(
        config={
            "memory_limit": f"{max(memory_mb // 2, 64)}MB",
            "threads": str(threads),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
    )


def run_in_connection(
    sql: str,
    params: Any,
    tables: dict[str, Path],
    *,
    max_rows: int,
    memory_mb: int,
    threads: int,
    con: Any = None,
) -> ExecResult:
    """Run one query in a fresh hardened DuckDB connection (called inside the worker).

    ``con`` may be a fresh, never-used connection opened ahead of time (opening one costs
    50-100 ms); it is hardened here and closed after this one query either way.
    """
    t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    con = con if con is not None else _connect(memory_mb, threads)
    try:
        for name, path in tables.items():
            con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet({_quote_path(path)})')
        paths = ", ".join(_quote_path(p) for p in tables.values())
        con.execute(f"SET allowed_paths=[{paths}]")
        con.execute("SET enable_external_access=false")
        con.execute("SET lock_configuration=true")
        cur = con.execute(sql, params or None) if params else con.execute(sql)
        columns = [d[0] for d in cur.description]
        rows = cur.fetchmany(max_rows + 1)
        if len(rows) > max_rows:
            raise Refusal(
                "gate.oversized_result", f"the result has more than {max_rows} rows", limit=max_rows
            )
    finally:
        con.close()
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    # rows_scanned is filled by the caller from the datasets' registered row counts.
    return ExecResult(columns, [tuple(r) for r in rows], 0, cpu, time.perf_counter() - t0)


def _worker(conn: Connection, out: Connection, memory_mb: int) -> None:
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    spare: Any = None
    import duckdb  # noqa: F401  # lazy: loaded before "ready", not at query time

    out.send(("ready", None))
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        kind, payload = job
        try:
            if kind == "sql":
                con, spare = spare, None
                if con is None:
                    con = _connect(memory_mb, payload["threads"])
                result: Any = run_in_connection(memory_mb=memory_mb, con=con, **payload)
            elif kind == "call":
                fn, kwargs = payload
                result = fn(**kwargs)
            else:
                raise ValueError(kind)
            out.send(("ok", result))
        except Refusal as exc:
            out.send(("refusal", (exc.rule, exc.message, exc.params)))
        except MemoryError:
            out.send(("error", ("exec.memory_limit", "the query ran out of its memory limit")))
        except BaseException as exc:
            name = type(exc).__name__
            rule = "exec.memory_limit" if "memory" in str(exc).lower() else "exec.engine_error"
            out.send(("error", (rule, f"{name}: {str(exc)[:300]}")))
        if spare is None and kind == "sql":
            # Open the next query's connection while idle: it is never used before hardening.
            try:
                spare = _connect(memory_mb, payload["threads"])
            except Exception:
                spare = None


class DuckDBSandbox:
    """A DuckDB worker process with memory and time limits; reused across queries."""

    name = "duckdb"

    def __init__(self, *, memory_mb: int = 3072, timeout_s: float = 60.0, threads: int = 2) -> None:
        self.memory_mb = memory_mb
        self.timeout_s = timeout_s
        self.threads = threads
        self._proc: Any = None
        self._conn: Connection | None = None
        self._send: Connection | None = None
        # One worker answers one job at a time: callers on several threads take turns.
        self._lock = threading.Lock()

    def _ensure(self) -> Connection:
        if self._proc is None or self._proc.poll() is not None:
            # A fresh interpreter (not multiprocessing's spawn, which re-imports the caller's
            # __main__): two pipes carry pickled jobs and results.
            job_r, job_w = os.pipe()
            res_r, res_w = os.pipe()
            self._proc = subprocess.Popen(
                [sys.executable, "-m", __name__, str(job_r), str(res_w), str(self.memory_mb)],
                pass_fds=(job_r, res_w),
                stdin=subprocess.DEVNULL,
                close_fds=True,
                env=self._worker_env(),
            )
            os.close(job_r)
            os.close(res_w)
            self._send = Connection(job_w, readable=False)
            self._conn = Connection(res_r, writable=False)
            # Start-up (interpreter, imports) does not count against a query's time limit.
            if not self._conn.poll(STARTUP_TIMEOUT_S) or self._conn.recv()[0] != "ready":
                self._kill()
                raise ExecutionFailed("exec.engine_error", "the sandbox process did not start")
        if self._conn is None:  # pragma: no cover - set together with the process above
            raise ExecutionFailed("exec.engine_error", "the sandbox worker did not start")
        return self._conn

    def _worker_env(self) -> dict[str, str]:
        """The worker's environment: RLIMIT_AS counts address space, not memory in use, so keep
        what threads reserve small. Every thread may get a 64 MB glibc malloc arena and each BLAS
        or OpenMP pool a buffer per core: after some DuckDB queries, importing numpy, scikit-learn
        and OpenDP reached 1.8 GB of a 2 GB limit (measured), and a failed thread start hung
        the training call until its time limit."""
        env = dict(os.environ)
        env["MALLOC_ARENA_MAX"] = "2"
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(max(1, self.threads))
        return env

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(5)
        for c in (self._conn, self._send):
            if c is not None:
                c.close()
        self._proc, self._conn, self._send = None, None, None

    def _submit(self, job: tuple[str, Any], timeout_s: float | None) -> Any:
        with self._lock:
            return self._submit_locked(job, timeout_s)

    def _submit_locked(self, job: tuple[str, Any], timeout_s: float | None) -> Any:
        conn = self._ensure()
        if self._send is None:  # pragma: no cover - _ensure sets it
            raise ExecutionFailed("exec.engine_error", "the sandbox worker did not start")
        self._send.send(job)
        limit = self.timeout_s if timeout_s is None else timeout_s
        if not conn.poll(limit):
            self._kill()
            raise ExecutionFailed(
                "exec.timeout", f"the computation ran past {limit:g} s", seconds=limit
            )
        try:
            status, value = conn.recv()
        except EOFError as exc:  # the worker died: RLIMIT_AS abort, segfault
            self._kill()
            raise ExecutionFailed(
                "exec.memory_limit", "the sandbox process died (memory limit)"
            ) from exc
        if status == "ok":
            return value
        if status == "refusal":
            rule, message, params = value
            raise Refusal(rule, message, **params)
        rule, message = value
        if rule == "exec.memory_limit":
            self._kill()
        raise ExecutionFailed(rule, message)

    def run(
        self,
        sql: str,
        params: list[Any] | dict[str, Any],
        tables: dict[str, Path],
        *,
        max_rows: int,
        timeout_s: float | None = None,
    ) -> ExecResult:
        """Run ``sql`` in the worker; raise ExecutionFailed on time or memory limits."""
        payload = {
            "sql": sql,
            "params": params,
            "tables": {k: Path(v) for k, v in tables.items()},
            "max_rows": max_rows,
            "threads": self.threads,
        }
        result: ExecResult = self._submit(("sql", payload), timeout_s)
        return result

    def call(self, fn: Any, kwargs: dict[str, Any], *, timeout_s: float | None = None) -> Any:
        """Run a module-level function in the worker (model training templates)."""
        return self._submit(("call", (fn, kwargs)), timeout_s)

    def close(self) -> None:
        """Stop the worker process."""
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._send is not None and self._proc is not None and self._proc.poll() is None:
            try:
                self._send.send(None)
                self._proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._kill()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    os.dup2(2, 1)  # stray prints of libraries must not reach the result pipe
    _worker(
        Connection(int(sys.argv[1]), writable=False),
        Connection(int(sys.argv[2]), readable=False),
        int(sys.argv[3]),
    )
