"""`mingyue db upgrade` takes a lock: two migrators at once (two `migrate` containers, a deploy
script run twice) leave one schema at the heads and both succeed.

PostgreSQL: a session-level advisory lock; SQLite: flock on a file beside the database. Each
test works on a database of its own (a private PostgreSQL database, created and dropped here).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from mingyue.core import config, migrate
from mingyue.core.config import Settings
from mingyue.core.db import dispose_engines
from mingyue.testing import PG_ADMIN_URL

UPGRADE = [sys.executable, "-m", "mingyue.cli", "db", "upgrade"]


def _env(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINGYUE_")}
    env.update(MINGYUE_DATA_DIR=str(data_dir), MINGYUE_ENV="test")
    if database_url:
        env["MINGYUE_DATABASE_URL"] = database_url
    return env


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:
        return subprocess.Popen(UPGRADE, env=env, stdout=subprocess.DEVNULL, stderr=err)


def _both_at_once(env: dict[str, str], tmp_path: Path) -> None:
    logs = [tmp_path / f"upgrade-{i}.log" for i in (1, 2)]
    procs = [_start(env, log) for log in logs]
    codes = [p.wait(300) for p in procs]
    out = "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in logs)
    assert codes == [0, 0], out
    assert all("database is up to date" in log.read_text() for log in logs), out


def _at_heads(s: Settings) -> None:
    migrate.forget()
    assert migrate.up_to_date(s)  # every branch head applied (some implied by a dependent one)


def _waits_for_the_lock(s: Settings, env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "waiting.log"
    with migrate.upgrade_lock(s):
        proc = _start(env, log)
        try:
            deadline = time.monotonic() + 60
            while "waiting for it" not in log.read_text() and time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()[-3000:]
                time.sleep(0.1)
            assert "another process is upgrading the database: waiting for it" in log.read_text()
            time.sleep(1.0)
            assert proc.poll() is None  # still held: it waits, it does not migrate meanwhile
        except BaseException:
            proc.kill()
            raise
    assert proc.wait(300) == 0, log.read_text()[-3000:]


@pytest.fixture
def fresh_pg(tmp_path: Path) -> Iterator[Settings]:
    """Settings over an empty, private PostgreSQL database (dropped afterwards)."""
    name = f"mingyue_miglock_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is required for this test: {exc}")
    data_dir = tmp_path / "pgdata"
    data_dir.mkdir()
    config.reset()
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield config.configure(data_dir=data_dir, env="test", database_url=url)
    finally:
        dispose_engines()
        config.reset()
        migrate.forget()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def fresh_sqlite(tmp_path: Path) -> Iterator[Settings]:
    """Settings over a data dir with no database yet."""
    config.reset()
    try:
        yield config.configure(data_dir=tmp_path / "data", env="test", database_url=None)
    finally:
        dispose_engines()
        config.reset()
        migrate.forget()


@pytest.mark.pg
@pytest.mark.slow
def test_two_upgrades_at_once_on_a_fresh_postgres_database(
    fresh_pg: Settings, tmp_path: Path
) -> None:
    eng = create_engine(fresh_pg.sqlalchemy_url)
    with eng.connect() as c:
        assert inspect(c).get_table_names() == []
    eng.dispose()
    _both_at_once(_env(fresh_pg.data_dir, fresh_pg.sqlalchemy_url), tmp_path)
    _at_heads(fresh_pg)


@pytest.mark.pg
@pytest.mark.slow
def test_an_upgrade_waits_for_the_postgres_advisory_lock(
    fresh_pg: Settings, tmp_path: Path
) -> None:
    _waits_for_the_lock(fresh_pg, _env(fresh_pg.data_dir, fresh_pg.sqlalchemy_url), tmp_path)
    _at_heads(fresh_pg)
    eng = create_engine(fresh_pg.sqlalchemy_url)
    with eng.connect() as c:  # the lock was let go
        key = {"k": migrate.UPGRADE_LOCK_KEY}
        assert c.execute(text("SELECT pg_try_advisory_lock(:k)"), key).scalar() is True
        c.execute(text("SELECT pg_advisory_unlock(:k)"), key)
    eng.dispose()


@pytest.mark.slow
def test_two_upgrades_at_once_on_a_fresh_sqlite_data_dir(
    fresh_sqlite: Settings, tmp_path: Path
) -> None:
    _both_at_once(_env(fresh_sqlite.data_dir, None), tmp_path)
    _at_heads(fresh_sqlite)
    assert (fresh_sqlite.data_dir / ("mingyue.sqlite3" + migrate.LOCK_SUFFIX)).is_file()


@pytest.mark.slow
def test_an_upgrade_waits_for_the_sqlite_lock_file(fresh_sqlite: Settings, tmp_path: Path) -> None:
    _waits_for_the_lock(fresh_sqlite, _env(fresh_sqlite.data_dir, None), tmp_path)
    _at_heads(fresh_sqlite)
