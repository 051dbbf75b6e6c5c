"""Migrations: upgrading an empty database gives exactly the models (core and every enabler)."""

from __future__ import annotations

import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from mingyue.core import config, migrate
from mingyue.core.db import Base, dispose_engines, get_engine
from mingyue.core.models import import_all_models
from mingyue.testing import PG_ADMIN_URL


def _diff(settings) -> list:
    import_all_models()
    with get_engine(settings).connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, Base.metadata)


def _triggers_refuse_update(settings) -> None:
    from sqlalchemy.exc import DatabaseError

    from mingyue.core.tenancy.access import SYSTEM
    from mingyue.core.uow import unit_of_work

    with unit_of_work(SYSTEM, settings) as uow:
        uow.audit("core.org.updated", "x", {})
    with pytest.raises(DatabaseError), get_engine(settings).begin() as c:
        c.execute(text("UPDATE core_audit_entry SET actor='m'"))


def test_upgrade_from_empty_sqlite_matches_models(tmp_path) -> None:
    config.reset()
    s = config.configure(data_dir=tmp_path / "d", env="test")
    try:
        migrate.upgrade(s)
        assert migrate.up_to_date(s)
        assert _diff(s) == []
        _triggers_refuse_update(s)
    finally:
        dispose_engines()
        config.reset()


@pytest.mark.pg
def test_upgrade_from_empty_postgres_matches_models(tmp_path) -> None:
    name = f"mingyue_mig_{os.getpid()}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is required for this test: {exc}")
    config.reset()
    s = config.configure(
        data_dir=tmp_path / "d",
        env="test",
        database_url=PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}",
    )
    try:
        migrate.upgrade(s)
        assert migrate.up_to_date(s)
        assert _diff(s) == []
        _triggers_refuse_update(s)
    finally:
        dispose_engines()
        config.reset()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
