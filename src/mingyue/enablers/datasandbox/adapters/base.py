"""The one interface every SQL engine of the sandbox implements."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class ExecResult:
    """Rows of an approved query, before any gate; never leaves the engine as is."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    rows_scanned: int
    cpu_seconds: float
    wall_seconds: float


class SqlEngine(Protocol):
    """Runs checked SQL over named Parquet tables and returns the raw aggregate rows."""

    name: str

    def run(
        self,
        sql: str,
        params: list[Any] | dict[str, Any],
        tables: dict[str, Path],
        *,
        max_rows: int,
    ) -> ExecResult:
        """Run ``sql`` with ``params`` bound; refuse results longer than ``max_rows``."""
        ...

    def close(self) -> None:
        """Release the engine's worker process or session."""
        ...


class WorkerEngine(SqlEngine, Protocol):
    """An engine that also runs a module-level Python function in its worker (training)."""

    def call(self, fn: Any, kwargs: dict[str, Any], *, timeout_s: float | None = None) -> Any:
        """Run ``fn(**kwargs)`` inside the worker under the engine's limits."""
        ...
