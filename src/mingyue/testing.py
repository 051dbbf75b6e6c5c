"""Pytest plugin of mingyue: per-test database, actors, an in-process client, the CLI.

Loaded by ``tests/conftest.py`` (``pytest_plugins = ["mingyue.testing"]``). Each test gets a
fresh database: a copy of a template SQLite file, or (``MINGYUE_TEST_DB=pg``) a private
PostgreSQL database per test session whose tables are emptied between tests.
"""

from __future__ import annotations

import itertools
import os
import random
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from mingyue import cli as cli_mod
from mingyue.core import config, jobs, migrate
from mingyue.core.config import Settings
from mingyue.core.db import Base, dispose_engines, get_engine, system_session
from mingyue.core.models import import_all_models
from mingyue.core.tenancy import accounts
from mingyue.core.tenancy.access import SYSTEM, Actor
from mingyue.core.tenancy.identity import (
    USCC_ALPHABET,
    Organization,
    User,
    actor_for,
    hash_password,
    uscc_check_char,
)
from mingyue.core.uow import unit_of_work
from mingyue.web.app import create_app
from mingyue.web.auth import actor_cache

PG_ADMIN_URL = os.environ.get(
    "MINGYUE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
_counter = itertools.count(1)
_PASSWORD_HASH: dict[str, str] = {}


def make_uscc(rng: random.Random | None = None) -> str:
    """Return a random, valid unified social credit code (GB 32100-2015)."""
    rng = rng or random.Random()
    body = "91" + "500000" + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    return body + uscc_check_char(body)


def _use_pg() -> bool:
    return os.environ.get("MINGYUE_TEST_DB", "sqlite").lower() in ("pg", "postgres", "postgresql")


@pytest.fixture(scope="session")
def _db_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import_all_models()
    if _use_pg():
        name = f"mingyue_test_{os.getpid()}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                c.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:
            pytest.exit(f"MINGYUE_TEST_DB=pg but PostgreSQL is unreachable: {exc}", returncode=3)
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        eng = create_engine(url)
        Base.metadata.create_all(eng)
        eng.dispose()
        yield {"kind": "pg", "url": url}
        dispose_engines()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        tdir = tmp_path_factory.mktemp("dbtemplate")
        path = tdir / "mingyue.sqlite3"
        eng = create_engine(f"sqlite:///{path}")
        Base.metadata.create_all(eng)
        with eng.connect() as c:
            c.exec_driver_sql("PRAGMA journal_mode=DELETE")
        eng.dispose()
        yield {"kind": "sqlite", "path": path}


def _empty_pg_tables(eng: Any) -> None:
    """Empty every table and restart the sequences, as ``TRUNCATE … RESTART IDENTITY`` would.

    ``DELETE`` children-first in one round trip costs tens of milliseconds on a test's few rows;
    ``TRUNCATE`` of ~100 tables gives each table and index new files, 1–3 s per test (measured),
    which was most of the PostgreSQL stage. A foreign-key order ``DELETE`` cannot satisfy falls
    back to ``TRUNCATE``.
    """
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]  # our metadata, not input
    sql = "".join(f'DELETE FROM "{name}";' for name in tables) + (  # noqa: S608
        "SELECT setval(c.oid::regclass, 1, false) FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind = 'S' AND n.nspname = current_schema();"
    )
    try:
        with eng.begin() as c:
            c.exec_driver_sql(sql)
    except DBAPIError:
        names = ", ".join(f'"{name}"' for name in tables)
        with eng.begin() as c:
            c.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def settings(tmp_path: Path, _db_template: dict[str, Any]) -> Iterator[Settings]:
    """Return settings over a fresh data dir and an empty, migrated database."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    dispose_engines()
    if _db_template["kind"] == "sqlite":
        shutil.copy(_db_template["path"], data_dir / "mingyue.sqlite3")
        config._override.clear()
        # explicit None beats a MINGYUE_DATABASE_URL in the environment
        config._override.update(data_dir=data_dir, env="test", database_url=None, redis_url=None)
        config.get_settings.cache_clear()
        s = config.get_settings()
    else:
        s = config.configure(data_dir=data_dir, env="test", database_url=_db_template["url"])
        _empty_pg_tables(get_engine(s))
    migrate._done.add(s.sqlalchemy_url)
    actor_cache.clear()
    yield s
    dispose_engines()
    migrate.forget()
    config.reset()


@pytest.fixture
def make_org(settings: Settings) -> Callable[..., Organization]:
    """Return a factory of organizations: ``make_org(kind="enterprise", sme=False, name=None)``."""

    def _make(
        kind: str = "enterprise",
        sme: bool = False,
        name: str | None = None,
        uscc: str | None = None,
        enabled_enablers: list[str] | None = None,
    ) -> Organization:
        n = next(_counter)
        with system_session(settings, "test factory") as s:
            org = Organization(
                name=name or f"{kind}-{n}",
                kind=kind,
                uscc=uscc or (make_uscc(random.Random(n)) if kind == "enterprise" else None),
                is_sme=sme,
                enabled_enablers=enabled_enablers,
                settings={},
            )
            s.add(org)
            s.flush()
            s.expunge(org)
        return org

    return _make


@pytest.fixture
def make_user(settings: Settings) -> Callable[..., User]:
    """Return a factory of users: ``make_user(org, roles=("member",), username=None)``."""

    def _make(
        org: Organization,
        roles: tuple[str, ...] | list[str] = ("member",),
        username: str | None = None,
        password: str = "password123",
    ) -> User:
        if password not in _PASSWORD_HASH:
            _PASSWORD_HASH[password] = hash_password(password)
        with system_session(settings, "test factory") as s:
            user = User(
                username=username or f"user{next(_counter)}",
                password_hash=_PASSWORD_HASH[password],
                organization_id=org.id,
                roles=list(roles),
                display_name="",
            )
            s.add(user)
            s.flush()
            s.refresh(user)
            _ = user.organization
            s.expunge_all()
        return user

    return _make


@pytest.fixture
def actor_of(settings: Settings) -> Callable[[User], Actor]:
    """Return the Actor of a user."""

    def _actor(user: User) -> Actor:
        with system_session(settings, "test actor") as s:
            return actor_for(s.get(User, user.id))  # type: ignore[arg-type]

    return _actor


@pytest.fixture
def uow_as(settings: Settings) -> Callable[[Actor], AbstractContextManager[Any]]:
    """Return ``uow_as(actor)``: a unit of work that commits on exit."""

    def _uow(actor: Actor) -> AbstractContextManager[Any]:
        return unit_of_work(actor, settings)

    return _uow


@pytest.fixture
def app(settings: Settings) -> Any:
    """Return the ASGI app over the test settings (no background job threads)."""

    return create_app(settings, start_workers=False)


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    """Return an in-process HTTP client of the app."""
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def token_for(settings: Settings) -> Callable[[User], str]:
    """Return ``token_for(user)``: a fresh bearer token of the user."""

    def _token(user: User) -> str:
        with unit_of_work(SYSTEM, settings) as uow:
            out = accounts.issue_token(uow=uow, actor=SYSTEM, user_id=user.id, name="test")
        assert out.token
        return out.token

    return _token


@dataclass
class Tenant:
    """One test organization with an admin and a member, and their tokens."""

    org: Organization
    admin: User
    member: User
    admin_token: str
    member_token: str

    def headers(self, admin: bool = False) -> dict[str, str]:
        """Return bearer headers of the member (or the admin)."""
        return {"Authorization": f"Bearer {self.admin_token if admin else self.member_token}"}


@dataclass
class Tenants:
    """Two enterprises, an operator with a platform admin and a reviewer, and a regulator."""

    a: Tenant
    b: Tenant
    operator: Tenant  # admin: platform_admin; member: reviewer
    regulator: Tenant  # admin: org_admin+regulator; member: regulator


@pytest.fixture
def tenants(make_org: Any, make_user: Any, token_for: Any) -> Tenants:
    """Return two enterprise tenants plus operator and regulator organizations."""

    def tenant(
        kind: str, admin_roles: tuple[str, ...], member_roles: tuple[str, ...], sme: bool = False
    ) -> Tenant:
        org = make_org(kind=kind, sme=sme)
        admin = make_user(org, roles=admin_roles)
        member = make_user(org, roles=member_roles)
        return Tenant(org, admin, member, token_for(admin), token_for(member))

    return Tenants(
        a=tenant("enterprise", ("org_admin",), ("member",), sme=True),
        b=tenant("enterprise", ("org_admin",), ("member",)),
        operator=tenant("operator", ("platform_admin", "org_admin"), ("reviewer",)),
        regulator=tenant("regulator", ("org_admin", "regulator"), ("regulator",)),
    )


@pytest.fixture
def run_jobs(settings: Settings) -> Callable[[], Any]:
    """Return ``run_jobs()``: run every queued job synchronously."""

    def _run() -> Any:
        return jobs.run_pending(settings)

    return _run


@dataclass
class CliResult:
    """What a CLI invocation produced."""

    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """Parse stdout as JSON."""
        import json

        return json.loads(self.stdout)


@pytest.fixture
def cli(settings: Settings) -> Callable[..., CliResult]:
    """Return ``cli("appcheck", "scan", ...)``: run ``mingyue`` in-process with the test data dir."""
    from typer.testing import CliRunner

    cli_mod._mount_plugins_once()
    runner = CliRunner()

    def _run(*args: str, input: str | None = None) -> CliResult:
        env = {"MINGYUE_DATA_DIR": str(settings.data_dir)}
        res = runner.invoke(cli_mod.app, list(args), input=input, env=env, catch_exceptions=False)
        return CliResult(res.exit_code, res.stdout, res.stderr)

    return _run
