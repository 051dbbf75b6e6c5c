"""Background loops log a database that is down as one warning line, other errors with a traceback.

The PostgreSQL restart fault test counts tracebacks in the server log: a restart under load is an
expected event (clients get 503 and retry), not an error of the platform's own work.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc

from mingyue.core.db import unavailable_reason
from mingyue.core.ledger import audit


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def test_a_refused_connection_is_a_reason_and_a_bad_statement_is_not() -> None:
    refused = sa_exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))
    assert unavailable_reason(refused) is None  # not a psycopg/sqlite driver error: not transient
    locked = sa_exc.OperationalError("SELECT 1", {}, _sqlite_error("database is locked"))
    assert unavailable_reason(locked) == "database is locked"
    missing = sa_exc.OperationalError("SELECT 1", {}, _sqlite_error("no such table: core_job"))
    assert unavailable_reason(missing) is None
    assert unavailable_reason(ValueError("x")) is None


def _sqlite_error(msg: str) -> Exception:
    import sqlite3

    return sqlite3.OperationalError(msg)


def test_signing_a_head_with_the_database_down_logs_one_line(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("psycopg")
    down = settings.model_copy(
        update={"database_url": f"postgresql+psycopg://mingyue@127.0.0.1:{_closed_port()}/gone"}
    )
    with caplog.at_level(logging.WARNING, logger="mingyue.core.ledger.audit"):
        assert audit.seal_head(down, force=True) is None
    [rec] = [r for r in caplog.records if r.name == "mingyue.core.ledger.audit"]
    assert rec.levelno == logging.WARNING and "database unavailable" in rec.getMessage()
    assert rec.exc_info is None


def test_signing_a_head_on_a_broken_schema_keeps_the_traceback(
    settings: Any, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    empty = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'empty.db'}"})
    with caplog.at_level(logging.WARNING, logger="mingyue.core.ledger.audit"):
        assert audit.seal_head(empty, force=True) is None
    [rec] = [r for r in caplog.records if r.name == "mingyue.core.ledger.audit"]
    assert rec.levelno == logging.ERROR and rec.exc_info is not None
