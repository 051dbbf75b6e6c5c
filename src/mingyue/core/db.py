"""Database: engine, sessions, the declarative Base, and structural tenant scoping.

To add a tenant-owned table: 1. inherit ``TenantMixin`` and ``Base``; 2. name it ``<key>_<thing>``;
3. add it to your enabler's Alembic branch. Every ORM query on it is then filtered to the
organizations in ``session.info["scope"]`` and raises ``UnscopedQuery`` when no scope is set.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    TypeDecorator,
    create_engine,
    event,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    sessionmaker,
    with_loader_criteria,
)
from sqlalchemy.sql import util as sql_util

from mingyue.core import clock
from mingyue.core.config import Settings, ensure_data_dir
from mingyue.core.errors import Forbidden, UnscopedQuery

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Return the current time, timezone-aware UTC (the platform clock, frozen in tests)."""
    return clock.now()


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored timezone-aware; SQLite's naive values are read back as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: use timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table of mingyue (core and enablers)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute once
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
        int: Integer(),
    }


class TenantMixin:
    """Columns and scoping of a tenant-owned table: every row belongs to one organization."""

    @declared_attr
    def organization_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("core_organization.id"), index=True, nullable=False)


@dataclass(frozen=True)
class Scope:
    """Which organizations' rows a session may see: ``org_ids`` or every one (``all_orgs``)."""

    org_ids: frozenset[int] = frozenset()
    all_orgs: bool = False
    reason: str = ""

    @classmethod
    def everything(cls, reason: str) -> Scope:
        """Return a scope over all organizations (operators, regulators, billing runs)."""
        return cls(all_orgs=True, reason=reason)

    @classmethod
    def of(cls, *org_ids: int) -> Scope:
        """Return a scope over the given organizations."""
        return cls(org_ids=frozenset(org_ids))

    def allows(self, org_id: int | None) -> bool:
        """Tell whether a row of this organization is inside the scope."""
        return self.all_orgs or (org_id is not None and org_id in self.org_ids)


class MingyueSession(Session):
    """Session that enforces tenant scoping (see the module docstring)."""


def _tenant_tables_in(statement: Any) -> tuple[list[str], list[str]]:
    """The tenant-owned tables in a statement's FROM clause: (as mapped classes, as bare Tables)."""
    tenant = _tenant_tables()
    mapped: set[str] = set()
    bare: set[str] = set()
    for from_ in statement.get_final_froms():
        for t in sql_util.find_tables(from_, include_joins=False, include_aliases=True):
            if t.name in tenant:
                parent = "parententity" in getattr(t, "_annotations", {})
                (mapped if parent else bare).add(t.name)
    return sorted(mapped), sorted(bare)


def _tenant_tables() -> frozenset[str]:
    global _TENANT_TABLES
    n = len(Base.registry.mappers)
    if _TENANT_TABLES is None or _TENANT_TABLES[0] != n:
        names = frozenset(
            m.local_table.name  # type: ignore[attr-defined]
            for m in Base.registry.mappers
            if issubclass(m.class_, TenantMixin)
        )
        _TENANT_TABLES = (n, names)
    return _TENANT_TABLES[1]


_TENANT_TABLES: tuple[int, frozenset[str]] | None = None


@event.listens_for(MingyueSession, "do_orm_execute")
def _apply_tenant_scope(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        # The parent query was scoped; lazy loads follow the criteria via propagate_to_loaders.
        return
    names = sorted(
        m.class_.__name__ for m in state.all_mappers if issubclass(m.class_, TenantMixin)
    )
    bare: list[str] = []
    if not names and state.is_select:
        # ``select(func.count()).select_from(Model)`` (or a join) names its entities only in the
        # FROM clause, where ``all_mappers`` does not look: the criteria below still apply to
        # them, so they are found there (a count across tenants went unfiltered before).
        names, bare = _tenant_tables_in(state.statement)
    if not names and not bare:
        return
    scope: Scope | None = state.session.info.get("scope")
    if scope is None:
        raise UnscopedQuery(
            f"tenant-owned table queried with no scope in context: {', '.join(names + bare)}"
        )
    if scope.all_orgs:
        return
    if bare:  # a bare Table (``Model.__table__``) takes no loader criteria: refused
        raise UnscopedQuery(
            f"tenant-owned table queried as a bare Table: {', '.join(bare)}; use its mapped class"
        )
    ids = tuple(sorted(scope.org_ids))
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantMixin,
            lambda cls: cls.organization_id.in_(ids),
            include_aliases=True,
        )
    )


@event.listens_for(MingyueSession, "before_flush")
def _check_tenant_writes(session: Session, flush_context: Any, instances: Any) -> None:
    scope: Scope | None = session.info.get("scope")
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if not isinstance(obj, TenantMixin):
            continue
        if scope is None:
            raise UnscopedQuery(f"write to {type(obj).__name__} with no scope in context")
        if not scope.allows(obj.organization_id):
            raise Forbidden("core.forbidden", "write outside the organizations in scope")


_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # BEGIN IMMEDIATE: a unit of work that reads then writes (the ledger's chain head) must not
    # lose the race to another writer half-way (SQLite would answer SQLITE_BUSY).
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def get_engine(settings: Settings) -> Engine:
    """Return the (cached) engine for these settings."""
    url = settings.sqlalchemy_url
    with _lock:
        eng = _engines.get(url)
        if eng is not None:
            return eng
        if url.startswith("sqlite"):
            ensure_data_dir(settings)
            # Pooled connections: opening SQLite and setting its pragmas on every request cost
            # several milliseconds; a connection is used by one thread at a time (the pool).
            eng = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": 30},
                pool_size=8,
                max_overflow=16,
                pool_pre_ping=False,
            )
            event.listen(eng, "connect", _sqlite_pragmas)
            event.listen(eng, "begin", _sqlite_begin)
        else:
            # A database host that silently drops packets must fail a connect (and /api/ready)
            # within seconds, not hang a worker: libpq's connect_timeout.
            args = {"connect_timeout": 10} if url.startswith("postgresql") else {}
            eng = create_engine(
                url, pool_size=10, max_overflow=20, pool_pre_ping=True, connect_args=args
            )
        _engines[url] = eng
        return eng


# SQLSTATEs after which the same work, sent again, may succeed: the server is shutting down or
# starting (57P01-57P03), too many connections (53300), a lost serialization or deadlock race
# (40001, 40P01); class 08 (connection exception) is matched by prefix.
_TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300", "40001", "40P01"})


def is_transient(exc: BaseException) -> bool:
    """Tell whether a database error may pass if the same work is sent again (503, retry).

    True for a lost, refused or invalidated connection (a PostgreSQL restart), a server that is
    shutting down or starting, an exhausted pool, a deadlock or serialization failure, and a
    locked SQLite database; false for errors of the work itself (constraints, bad SQL).
    """
    if isinstance(exc, sa_exc.TimeoutError):  # the pool had no connection to lend in time
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code:
        return str(code).startswith("08") or code in _TRANSIENT_SQLSTATES
    driver = type(orig).__module__.split(".", 1)[0]
    if isinstance(exc, sa_exc.InterfaceError):
        return driver == "psycopg"  # "the connection is closed"
    if isinstance(exc, sa_exc.OperationalError):
        if driver == "sqlite3":
            return "locked" in str(orig).lower()
        # libpq's own failures carry no SQLSTATE: connection refused, server closed the
        # connection unexpectedly, consuming input failed.
        return driver == "psycopg"
    return False


def unavailable_reason(exc: BaseException) -> str | None:
    """The first line of a transient database error (``is_transient``), else ``None``.

    Background loops (job runners, the scheduler, the ledger's head signing, enablers' services)
    log a database restart as one warning line with this reason, and keep tracebacks for errors
    of their own work.
    """
    if not is_transient(exc):
        return None
    first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
    return first[:200] or type(exc).__name__


def dispose_engines() -> None:
    """Close every cached engine (tests, forks)."""
    with _lock:
        for eng in _engines.values():
            eng.dispose()
        _engines.clear()
        _factories.clear()


# One factory per engine: each ``sessionmaker`` makes a new Session subclass whose event
# dispatch SQLAlchemy builds on its first query (docs/performance.md), so a factory per request
# cost that on every request.
_factories: dict[str, tuple[Engine, sessionmaker[MingyueSession]]] = {}


def session_factory(settings: Settings) -> sessionmaker[MingyueSession]:
    """Return the session factory bound to the settings' database."""
    engine = get_engine(settings)
    hit = _factories.get(settings.sqlalchemy_url)
    if hit is None or hit[0] is not engine:
        hit = (engine, sessionmaker(bind=engine, class_=MingyueSession, expire_on_commit=False))
        _factories[settings.sqlalchemy_url] = hit
    return hit[1]


@contextmanager
def system_session(settings: Settings, reason: str) -> Iterator[MingyueSession]:
    """Open a session over all organizations for platform-internal work (auth lookups, migrations)."""
    session = session_factory(settings)()
    session.info["scope"] = Scope.everything(reason)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
