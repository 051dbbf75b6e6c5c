"""Alembic wiring: the core's tree plus one branch per enabler (``<package>/migrations/versions``).

To add a migration for an enabler: 1. change its models; 2. run
``mingyue dev makemigration <key> -m "what changed"``; 3. review the file and commit it.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool as _NullPool

from mingyue.core import plugins
from mingyue.core.config import Settings, ensure_data_dir
from mingyue.core.db import get_engine

log = logging.getLogger(__name__)

_HERE = Path(__file__).parent / "migrations"
_done: set[str] = set()
_lock = threading.Lock()
# pg_advisory_lock key of `db upgrade` (the scheduler's set-up uses 7216_3001)
UPGRADE_LOCK_KEY = 7216_3002
LOCK_SUFFIX = ".migrate-lock"  # beside the SQLite file: mingyue.sqlite3.migrate-lock


def version_locations() -> dict[str, Path]:
    """Return key -> versions folder for the core and every enabler that has migrations."""
    locs = {"core": _HERE / "versions"}
    for en in plugins.registry().ordered():
        if not en.core and en.package_dir and (en.package_dir / "migrations" / "versions").is_dir():
            locs[en.key] = en.package_dir / "migrations" / "versions"
    return locs


def alembic_config(settings: Settings) -> Config:
    """Build the Alembic config for these settings."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    cfg.set_main_option("version_locations", " ".join(str(p) for p in version_locations().values()))
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["settings"] = settings
    return cfg


def heads(settings: Settings) -> set[str]:
    """Return the head revisions of every branch."""
    return set(ScriptDirectory.from_config(alembic_config(settings)).get_heads())


def current(settings: Settings) -> set[str]:
    """Return the revisions the database is at."""
    with get_engine(settings).connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def up_to_date(settings: Settings) -> bool:
    """Tell whether every branch head is applied (a head may be implied by a dependent revision)."""
    script = ScriptDirectory.from_config(alembic_config(settings))
    applied: set[str] = set()
    todo = list(current(settings))
    while todo:
        rev_id = todo.pop()
        if rev_id in applied:
            continue
        applied.add(rev_id)
        rev = script.get_revision(rev_id)
        if rev is None:
            continue
        downs = getattr(rev, "_all_down_revisions", None)
        if downs is None:
            downs = (
                tuple(rev.down_revision or ())
                if not isinstance(rev.down_revision, str)
                else (rev.down_revision,)
            )
        todo.extend(d for d in downs if d)
    return set(script.get_heads()) <= applied


@contextmanager
def upgrade_lock(settings: Settings) -> Iterator[None]:
    """Hold the database's migration lock: one upgrade at a time across processes and hosts.

    PostgreSQL: a session-level ``pg_advisory_lock`` on a connection of its own, released when
    the upgrade ends (or by the server when the process dies). SQLite: ``flock`` on a file
    beside the database file (released by the kernel when the process dies).
    """
    url = make_url(settings.sqlalchemy_url)
    if url.get_backend_name() == "postgresql":
        # Not the shared pool: the lock lives as long as this connection, and nothing else may
        # borrow it meanwhile.
        engine = create_engine(url, poolclass=_NullPool, connect_args={"connect_timeout": 10})
        try:
            with engine.connect() as conn:
                got = conn.execute(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": UPGRADE_LOCK_KEY}
                ).scalar()
                if not got:
                    log.warning("another process is upgrading the database: waiting for it")
                    conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": UPGRADE_LOCK_KEY})
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": UPGRADE_LOCK_KEY})
                    conn.commit()
        finally:
            engine.dispose()
        return
    database = url.database if url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield  # nothing on disk to share (an in-memory database is this process's own)
        return
    lock_path = Path(database + LOCK_SUFFIX)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("another process is upgrading the database: waiting for it")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def upgrade(settings: Settings) -> None:
    """Upgrade the database to the newest revision of every branch (under ``upgrade_lock``).

    A second process that waited for the lock finds the database at the heads and does nothing.
    """
    if settings.is_sqlite:
        ensure_data_dir(settings)
    with upgrade_lock(settings):
        command.upgrade(alembic_config(settings), "heads")


def ensure_schema(settings: Settings) -> None:
    """Upgrade the database once per process when it is behind."""
    url = settings.sqlalchemy_url
    with _lock:
        if url in _done:
            return
        if not up_to_date(settings):
            upgrade(settings)
        _done.add(url)


def forget() -> None:
    """Forget which databases were checked (tests)."""
    with _lock:
        _done.clear()


def make_migration(settings: Settings, key: str, message: str) -> None:
    """Autogenerate a revision on the branch of ``key`` (the core or one enabler)."""
    cfg = alembic_config(settings)
    locs = version_locations()
    script = ScriptDirectory.from_config(cfg)
    branch_exists = any(key in (r.branch_labels or ()) for r in script.walk_revisions())
    if key not in locs:
        en = plugins.registry().enablers.get(key)
        if en is None or en.package_dir is None:
            raise ValueError(f"unknown enabler {key!r}")
        path = en.package_dir / "migrations" / "versions"
        path.mkdir(parents=True, exist_ok=True)
        locs[key] = path
        cfg.set_main_option("version_locations", " ".join(str(p) for p in locs.values()))
    upgrade(settings)
    cfg.attributes["table_prefix"] = "core_" if key == "core" else f"{key}_"
    kwargs: dict[str, object] = {
        "message": message,
        "autogenerate": True,
        "version_path": str(locs[key]),
    }
    if branch_exists:
        kwargs["head"] = f"{key}@head"
    else:
        kwargs["head"] = "base"
        kwargs["branch_label"] = key
        if key != "core":
            kwargs["depends_on"] = "core@head"
    command.revision(cfg, **kwargs)  # type: ignore[arg-type]
