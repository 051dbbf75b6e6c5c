"""Shared CLI plumbing: --data-dir / --as / --json options, the unit of work, output, errors."""

from __future__ import annotations

import json
import os
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
from typer import _click as click  # Typer vendors Click: its errors are these
from typer.core import TyperGroup

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
InputFile = Annotated[
    Path,
    typer.Argument(
        exists=True, dir_okay=False, readable=True, help="Input file (JSON).", show_default=False
    ),
]

SQLITE_FILE = "mingyue.sqlite3"  # the embedded database inside a data dir

err_console = Console(stderr=True)
out_console = Console()
# Width of tables and lines written to a pipe or a file: wide enough that no column is cut or
# wrapped (rich would fall back to 80 columns), so `mingyue … | grep` sees whole rows.
PIPE_WIDTH = 10_000


def stdout_console() -> Console:
    """Return the console for results: the terminal's width, or ``PIPE_WIDTH`` when piped."""
    if out_console.is_terminal:
        return out_console
    return Console(width=PIPE_WIDTH, soft_wrap=False)


def settings_for(data_dir: Path | None, *, read_only: bool = False) -> Settings:
    """Check and apply --data-dir; return the settings.

    ``read_only`` (every command that only reads: verify, list, show …) refuses a data dir or a
    database that does not exist instead of creating them (issue 12, item 11). With a database
    server (PostgreSQL) the database is the data: an existing data dir without ``keys/`` is
    accepted (the signing key may live elsewhere, MINGYUE_SIGNING_KEY_FILE).
    """
    where = planned_data_dir(data_dir)
    check_data_dir(where, read_only=read_only)
    if read_only and not (holds_data(where) or uses_database_server()):
        raise fail(
            f"error: {where} is not a mingyue data dir (no database, no keys); "
            "a read command creates nothing",
            2,
        )
    settings = _configure(data_dir)
    if read_only and settings.is_sqlite and not (settings.data_dir / SQLITE_FILE).is_file():
        raise fail(
            f"error: no database in data dir {settings.data_dir} (a read command creates "
            "nothing; run `mingyue db upgrade` or `mingyue demo` first)",
            2,
        )
    return settings


def optional_settings(data_dir: Path | None) -> Settings | None:
    """Return the settings of a data dir holding mingyue data, else None (offline verifiers).

    A --data-dir that was named must exist and be readable; the default one may be absent.
    Nothing is created either way.
    """
    where = planned_data_dir(data_dir)
    if data_dir is None and not _exists(where):
        return None
    check_data_dir(where, read_only=True)
    return _configure(data_dir) if holds_data(where) or uses_database_server() else None


def planned_data_dir(data_dir: Path | None) -> Path:
    """Return the data dir a command will use, without building the settings (no side effects)."""
    if data_dir is not None:
        return data_dir
    if get_settings.cache_info().currsize:  # already built (tests, a second command): free
        return get_settings().data_dir
    env = os.environ.get("MINGYUE_DATA_DIR")
    default = Settings.model_fields["data_dir"].default
    return Path(env) if env else Path(default)


def planned_database_url() -> str | None:
    """Return the database URL a command will use (None: SQLite in the data dir), no side effects."""
    if get_settings.cache_info().currsize:  # already built (tests, a second command): free
        return get_settings().database_url
    return os.environ.get("MINGYUE_DATABASE_URL") or None


def uses_database_server() -> bool:
    """Tell whether the database is a server (PostgreSQL), not SQLite in the data dir."""
    url = planned_database_url()
    return bool(url) and not str(url).startswith("sqlite")


def holds_data(path: Path) -> bool:
    """Tell whether a directory holds mingyue data (its SQLite database or its keys)."""
    try:
        return (path / SQLITE_FILE).exists() or (path / "keys").is_dir()
    except OSError:
        return False


def check_data_dir(path: Path, *, read_only: bool = False) -> Path:
    """Refuse, with one line and exit 2, a data dir that cannot serve; return it.

    It must be a readable directory (and writable unless ``read_only``); a missing one is refused
    when ``read_only`` and must be creatable otherwise.
    """
    try:
        if path.exists():
            if not path.is_dir():
                raise fail(f"error: data dir {path} is not a directory", 2)
            mode = os.R_OK | os.X_OK | (0 if read_only else os.W_OK)
            if not os.access(path, mode):
                need = "readable" if read_only else "readable and writable"
                raise fail(f"error: data dir {path} is not {need}", 2)
            return path
        if read_only:
            raise fail(
                f"error: data dir {path} does not exist (a read command creates nothing; "
                "run `mingyue db upgrade` or `mingyue demo` first)",
                2,
            )
        parent = path.absolute().parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise fail(
                f"error: cannot create data dir {path}: {parent} is not a writable directory", 2
            )
    except OSError as exc:
        raise fail(f"error: data dir {path}: {exc.strerror or exc}", 2) from None
    return path


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return True  # let check_data_dir name the problem


def _configure(data_dir: Path | None) -> Settings:
    try:
        return configure(data_dir=data_dir) if data_dir is not None else get_settings()
    except OSError as exc:
        where = exc.filename or planned_data_dir(data_dir)
        raise fail(f"error: cannot use data dir: {where}: {exc.strerror or exc}", 2) from None
    except ValidationError as exc:
        errors = exc.errors()
        msg = errors[0]["msg"] if errors else str(exc)
        raise fail(f"error: settings: {msg}", 2) from None
    except ValueError as exc:
        raise fail(f"error: settings: {exc}", 2) from None


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
    data_dir: Path | None,
    as_user: str | None,
    *,
    require_user: bool = False,
    read_only: bool = False,
) -> Iterator[Any]:
    """Open a unit of work for a command, acting as --as (``read_only``: see settings_for)."""

    settings = settings_for(data_dir, read_only=read_only)
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
    console = stdout_console()
    if isinstance(data, list) and data and isinstance(data[0], dict):
        table = Table(title=title)
        cols = list(data[0].keys())
        for c in cols:
            table.add_column(c)
        for row in data:
            table.add_row(*[_cell(row.get(c)) for c in cols])
        console.print(table)
    elif isinstance(data, dict):
        for k, v in data.items():
            console.print(f"[bold]{k}[/bold]: {_cell(v)}")
    elif isinstance(data, list) and not data:
        console.print("(none)")
    else:
        console.print(str(data))


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
    except IsADirectoryError as exc:
        raise fail(f"error: {exc.filename} is a directory, not a file", 2) from None
    except OSError as exc:
        # A path the user named (unreadable, not a directory …) is bad input; anything else
        # (a refused connection, a full disk) is a failure of the run.
        named = f": {exc.filename}" if exc.filename else ""
        raise fail(f"error: {exc.strerror or exc}{named}", 2 if exc.filename else 1) from None
    except json.JSONDecodeError as exc:
        raise fail(f"error: invalid JSON: {exc.msg} at line {exc.lineno}", 2) from None
    except UnicodeDecodeError as exc:
        raise fail(f"error: not UTF-8 text (a binary file?): byte {exc.start}", 2) from None


def read_text_file(path: Path, *, what: str = "file") -> str:
    """Read a UTF-8 text file; refuse a directory, a missing or binary file with InvalidInput."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise InvalidInput("core.cli.not_a_file", f"{what} {path} is a directory") from None
    except OSError as exc:
        raise InvalidInput(
            "core.cli.unreadable", f"cannot read {what} {path}: {exc.strerror or exc}"
        ) from None
    try:
        if b"\0" in data:
            raise UnicodeDecodeError("utf-8", data, data.index(b"\0"), len(data), "NUL byte")
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(
            "core.cli.binary_file", f"{what} {path} is not UTF-8 text (a binary file?)"
        ) from None


def read_json_file(path: Path, *, what: str = "file") -> Any:
    """Read a JSON file; refuse a directory, a binary file or bad JSON with InvalidInput."""
    try:
        return json.loads(read_text_file(path, what=what))
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            "core.cli.bad_json", f"{what} {path} is not JSON: {exc.msg} at line {exc.lineno}"
        ) from None


class OneLineErrors(TyperGroup):
    """Root group: a usage error is one stderr line ``error: …`` and exit 2, not a box.

    ``--help`` and a group called without arguments still print the help.
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """Parse the root's own options, turning a usage error into one line."""
        with _one_line_usage():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the sub-command, turning its usage errors into one line."""
        with _one_line_usage():
            return super().invoke(ctx)


@contextmanager
def _one_line_usage() -> Iterator[None]:
    try:
        yield
    except click.exceptions.NoArgsIsHelpError:
        raise
    except click.ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        hint = f" (try '{ctx.command_path} --help')" if isinstance(ctx, click.Context) else ""
        raise fail(f"error: {exc.format_message()}{hint}", exc.exit_code) from None
