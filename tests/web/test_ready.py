"""/api/ready: 200 with every check, or 503 naming what failed; nothing secret in the answer."""

from __future__ import annotations

import os

from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import text

from mingyue.core import config, migrate
from mingyue.core.db import get_engine
from mingyue.core.ledger import keys
from mingyue.web.app import create_app


def _ready_deployment(settings) -> None:
    command.stamp(migrate.alembic_config(settings), "heads")
    keys.signing_key(settings)


def test_ready_when_everything_answers(client, settings) -> None:
    _ready_deployment(settings)
    r = client.get("/api/ready")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["migrations"] == {"ok": True}
    assert body["checks"]["signing_key"] == {"ok": True}
    assert body["checks"]["redis"] == {"ok": None, "detail": "not configured"}
    # liveness stays as it was
    assert client.get("/api/health").json()["status"] == "ok"


def test_not_ready_names_what_failed(client, settings) -> None:
    # The database is not stamped (on PostgreSQL the test database outlives one test: unstamp it)
    # and there is no signing key yet.
    with get_engine(settings).begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    r = client.get("/api/ready")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "not ready"
    assert body["failed"] == ["migrations", "signing_key"]
    assert body["checks"]["signing_key"]["detail"] == "missing"
    assert str(settings.data_dir) not in r.text


def test_behind_migrations_and_a_broken_key(client, settings) -> None:
    _ready_deployment(settings)
    assert client.get("/api/ready").status_code == 200
    with get_engine(settings).begin() as c:
        c.execute(
            text(
                "DELETE FROM alembic_version WHERE version_num IN "
                "(SELECT version_num FROM alembic_version LIMIT 1)"
            )
        )
    path = keys.key_path(settings)
    path.write_text("not a key")
    r = client.get("/api/ready")
    assert r.status_code == 503
    assert set(r.json()["failed"]) == {"migrations", "signing_key"}
    assert r.json()["checks"]["signing_key"]["detail"] == "not a PEM private key"
    os.chmod(path, 0o000)
    if os.geteuid() != 0:  # root reads anything
        assert client.get("/api/ready").json()["checks"]["signing_key"]["detail"] == "unreadable"


def test_unreachable_redis_fails_without_naming_it(settings) -> None:
    _ready_deployment(settings)
    s = config.configure(redis_url="redis://:hunter2-secret@127.0.0.1:1/0")
    with TestClient(create_app(s, start_workers=False)) as c:
        r = c.get("/api/ready")
    assert r.status_code == 503
    assert r.json()["failed"] == ["redis"]
    assert r.json()["checks"]["redis"] == {"ok": False, "detail": "unreachable"}
    assert "hunter2" not in r.text and "127.0.0.1" not in r.text


def test_ready_needs_no_credentials_and_is_not_in_the_api_schema(client) -> None:
    assert client.get("/api/ready").status_code in (200, 503)
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/ready" not in paths and "/metrics" not in paths
