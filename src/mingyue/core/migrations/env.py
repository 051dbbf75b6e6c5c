"""Alembic environment of mingyue (invoked through mingyue.core.migrate)."""

from __future__ import annotations

from alembic import context

from mingyue.core.db import Base, get_engine
from mingyue.core.models import import_all_models

config = context.config
settings = config.attributes["settings"]
import_all_models()
target_metadata = Base.metadata


def _include(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    prefix = config.attributes.get("table_prefix")
    if not prefix:
        return True
    table = obj if type_ == "table" else getattr(obj, "table", None)
    tname = getattr(table, "name", name) or ""
    return str(tname).startswith(prefix)


def run() -> None:
    """Run migrations online against the settings' database."""
    engine = get_engine(settings)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_object=_include,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run()
