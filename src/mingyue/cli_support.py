"""Shared CLI plumbing: --data-dir / --as / --json options, the unit of work, output, errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table

from mingyue.core.config import Settings, configure, get_settings
from mingyue.core.db import system_session
from mingyue.core.errors import InvalidInput, MingyueError, NotAuthenticated
from mingyue.core.migrate import ensure_schema
from mingyue.core.tenancy.access import SYSTEM, Actor
from mingyue.core.tenancy.identity import actor_for, find_user
from mingyue.core.uow import unit_of_work

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", envvar="MINGYUE_DATA_DIR", help="Data directory (SQLite, keys, files)."
    ),
]
AsUser = Annotated[
    str | None,
    typer.Option("--as", envvar="MINGYUE_USER", help="Act as this user (same checks as the API)."),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

err_console = Console(stderr=True)
out_console = Console()


def settings_for(data_dir: Path | None) -> Settings:
    """Apply --data-dir and return the settings."""
    if data_dir is not None:
        return configure(data_dir=data_dir)
    return get_settings()


def resolve_actor(settings: Settings, as_user: str | None, *, required: bool = False) -> Actor:
    """Return the actor named by --as (or $MINGYUE_USER); ``system`` when none and allowed."""

    if not as_user:
        if required:
            raise InvalidInput("core.cli.as_required", "--as USERNAME is required", field="--as")
        return SYSTEM
    with system_session(settings, "resolve --as") as s:
        user = find_user(s, as_user)
        if user is None or not user.is_active:
            raise NotAuthenticated("core.user.not_found", f"no active user {as_user!r}")
        return actor_for(user)


@contextmanager
def cli_uow(
    data_dir: Path | None, as_user: str | None, *, require_user: bool = False
) -> Iterator[Any]:
    """Open a unit of work for a command, acting as --as."""

    settings = settings_for(data_dir)
    ensure_database(settings)
    actor = resolve_actor(settings, as_user, required=require_user)
    with unit_of_work(actor, settings) as uow:
        yield uow


def ensure_database(settings: Settings) -> None:
    """Create the schema of an empty embedded database (upgrading to the newest migrations)."""

    ensure_schema(settings)


def to_plain(obj: Any) -> Any:
    """Convert pydantic models, dataclasses, Decimals and datetimes to JSON-ready data."""
    if isinstance(obj, BaseModel):
        return to_plain(obj.model_dump(mode="json"))
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict

        return to_plain(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def emit(obj: Any, json_out: bool, *, title: str | None = None) -> None:
    """Print a result: JSON with --json, else a table (lists of dicts) or key/value lines."""
    data = to_plain(obj)
    if json_out:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=None) + "\n")
        return
    if isinstance(data, list) and data and isinstance(data[0], dict):
        table = Table(title=title)
        cols = list(data[0].keys())
        for c in cols:
            table.add_column(c)
        for row in data:
            table.add_row(*[_cell(row.get(c)) for c in cols])
        out_console.print(table)
    elif isinstance(data, dict):
        for k, v in data.items():
            out_console.print(f"[bold]{k}[/bold]: {_cell(v)}")
    elif isinstance(data, list) and not data:
        out_console.print("(none)")
    else:
        out_console.print(str(data))


def _cell(v: Any) -> str:
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)[:200]
    return "" if v is None else str(v)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one line to stderr and return the Exit to raise."""
    sys.stderr.write(message.replace("\n", " ") + "\n")
    return typer.Exit(code)


@contextmanager
def run_cli() -> Iterator[None]:
    """Turn errors into one stderr line and the right exit code."""
    try:
        yield
    except MingyueError as exc:
        field = f" [{exc.field}]" if exc.field else ""
        raise fail(f"error: {exc.message}{field} ({exc.key})", exc.exit_code) from None
    except ValidationError as exc:
        errors = exc.errors()
        where: tuple[int | str, ...] = errors[0]["loc"] if errors else ()
        msg = errors[0]["msg"] if errors else "invalid"
        loc = ".".join(str(p) for p in where) or "input"
        raise fail(f"error: {loc}: {msg}", 2) from None
    except FileNotFoundError as exc:
        raise fail(f"error: file not found: {exc.filename}", 2) from None
    except json.JSONDecodeError as exc:
        raise fail(f"error: invalid JSON: {exc.msg} at line {exc.lineno}", 2) from None
