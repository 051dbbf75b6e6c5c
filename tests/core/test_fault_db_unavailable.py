"""An unreachable database answers 503 with Retry-After (retryable), never a 500 traceback."""

from __future__ import annotations

import socket
import sqlite3
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import exc as sa_exc

from mingyue.core.config import Settings
from mingyue.core.db import dispose_engines, is_transient
from mingyue.web.app import create_app


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: connects are refused


def test_refused_connection_is_503_retry_after(
    settings: Settings, tenants: Any, caplog: pytest.LogCaptureFixture
) -> None:
    token = tenants.a.member_token
    down = settings.model_copy(
        update={"database_url": f"postgresql+psycopg://mingyue@127.0.0.1:{_closed_port()}/gone"}
    )
    # No lifespan (no `with`): the app's shutdown would try to seal the ledger on that database.
    client = TestClient(create_app(down, start_workers=False), raise_server_exceptions=False)
    try:
        for path in ("/api/cases", "/api/cases/1"):
            r = client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 503, r.text
            assert r.headers["Retry-After"] == "1"
            assert r.headers["content-type"].startswith("application/problem+json")
            body = r.json()
            assert body["key"] == "core.db_unavailable" and body["retryable"] is True
            assert "Traceback" not in r.text and "psycopg" not in r.text
        r = client.post(
            "/api/cases/1/transitions",
            json={"name": "withdraw"},
            headers={
                "Authorization": f"Bearer {token}",
                "Idempotency-Key": "retry-me-0001",
                "Accept-Language": "zh-CN",
            },
        )
        assert r.status_code == 503 and r.json()["detail"] == "数据库暂时不可用，请稍后重试"
    finally:
        dispose_engines()
    # Logged as one warning line, not an unhandled-exception traceback.
    assert not [rec for rec in caplog.records if rec.levelname in ("ERROR", "CRITICAL")]
    assert any("database unavailable" in rec.getMessage() for rec in caplog.records)


def _wrap(cls: type[sa_exc.DBAPIError], orig: BaseException, **kw: Any) -> sa_exc.DBAPIError:
    return cls("SELECT 1", {}, orig, **kw)


@pytest.mark.parametrize(
    ("err", "transient"),
    [
        (_wrap(sa_exc.OperationalError, psycopg.errors.AdminShutdown("terminating")), True),
        (_wrap(sa_exc.OperationalError, psycopg.errors.CannotConnectNow("starting up")), True),
        (_wrap(sa_exc.OperationalError, psycopg.errors.DeadlockDetected("deadlock")), True),
        (_wrap(sa_exc.OperationalError, psycopg.errors.SerializationFailure("race")), True),
        (_wrap(sa_exc.OperationalError, psycopg.OperationalError("server closed")), True),
        (_wrap(sa_exc.InterfaceError, psycopg.InterfaceError("the connection is closed")), True),
        (
            _wrap(sa_exc.DBAPIError, psycopg.DatabaseError("x"), connection_invalidated=True),
            True,
        ),
        (_wrap(sa_exc.OperationalError, sqlite3.OperationalError("database is locked")), True),
        (_wrap(sa_exc.OperationalError, sqlite3.OperationalError("no such table: x")), False),
        (_wrap(sa_exc.IntegrityError, psycopg.errors.UniqueViolation("dup")), False),
        (_wrap(sa_exc.ProgrammingError, psycopg.errors.UndefinedTable("x")), False),
        (
            _wrap(sa_exc.OperationalError, psycopg.errors.InvalidPassword("bad password")),
            False,
        ),
        (sa_exc.TimeoutError("QueuePool limit reached"), True),
        (ValueError("not a database error"), False),
    ],
)
def test_is_transient(err: BaseException, transient: bool) -> None:
    assert is_transient(err) is transient
