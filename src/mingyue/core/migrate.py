"""Alembic wiring: the core's tree plus one branch per enabler (``<package>/migrations/versions``).

To add a migration for an enabler: 1. change its models; 2. run
``mingyue dev makemigration <key> -m "what changed"``; 3. review the file and commit it.
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from mingyue.core import plugins
from mingyue.core.config import Settings, ensure_data_dir
from mingyue.core.db import get_engine

_HERE = Path(__file__).parent / "migrations"
_done: set[str] = set()
_lock = threading.Lock()


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


def upgrade(settings: Settings) -> None:
    """Upgrade the database to the newest revision of every branch."""
    if settings.is_sqlite:
        ensure_data_dir(settings)
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
