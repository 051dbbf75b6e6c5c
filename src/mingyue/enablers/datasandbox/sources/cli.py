"""`mingyue datasandbox dataset add --pg-…`, `dataset refresh`, `dataset source`.

The enabler's CLI imports this module and adds these commands to its ``dataset`` group
(``add_commands``); nothing here imports the enabler's CLI back.

The password never needs to sit on the command line (and in shell history): give it through
``--pg-password-env VAR`` (the variable's value) or ``--pg-password-stdin`` (first line of stdin).
A password inside ``--pg-dsn`` works too but is discouraged. Output shows the connection redacted.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from mingyue.cli_support import AsUser, DataDir, JsonOut, cli_uow, emit, run_cli
from mingyue.enablers.datasandbox.schemas import DatasetOut
from mingyue.sdk import InvalidInput

from . import service as sources


@dataclass
class PgArgs:
    """The ``--pg-*`` options of ``dataset add``."""

    dsn: str | None = None
    host: str | None = None
    port: int | None = None
    dbname: str | None = None
    user: str | None = None
    password_env: str | None = None
    password_stdin: bool = False
    table: str | None = None
    columns: list[str] | None = None

    @property
    def given(self) -> bool:
        return any(
            (
                self.dsn,
                self.host,
                self.dbname,
                self.user,
                self.table,
                self.password_env,
                self.password_stdin,
                self.columns,
            )
        )

    def password(self) -> str | None:
        """Read the password from the named environment variable or from stdin."""
        if self.password_env and self.password_stdin:
            raise InvalidInput(
                "datasandbox.pg.password_twice",
                "give --pg-password-env or --pg-password-stdin, not both",
                field="--pg-password-env",
            )
        if self.password_env:
            value = os.environ.get(self.password_env)
            if value is None:
                raise InvalidInput(
                    "datasandbox.pg.password_env",
                    f"environment variable {self.password_env} is not set",
                    field="--pg-password-env",
                )
            return value
        if self.password_stdin:
            line = sys.stdin.readline().rstrip("\r\n")
            if not line:
                raise InvalidInput(
                    "datasandbox.pg.password_stdin",
                    "no password on stdin",
                    field="--pg-password-stdin",
                )
            return line
        return None


def add_pg(
    *, pg: PgArgs, file: Path | None, data_dir: Path | None, as_user: str | None, **register: Any
) -> DatasetOut:
    """Register a PostgreSQL table (``dataset add --pg-table …``); return the catalogue entry."""
    if file is not None:
        raise InvalidInput(
            "datasandbox.pg.file_and_table",
            "give a FILE or --pg-table, not both",
            field="--pg-table",
        )
    if not pg.table:
        raise InvalidInput(
            "datasandbox.pg.table_name",
            "--pg-table schema.table is required with --pg-* options",
            field="--pg-table",
        )
    password = pg.password()
    with cli_uow(data_dir, as_user, require_user=True) as uow:
        return sources.register_pg_dataset(
            uow=uow,
            actor=uow.actor,
            table=pg.table,
            dsn=pg.dsn,
            host=pg.host,
            port=pg.port,
            dbname=pg.dbname,
            user=pg.user,
            password=password,
            columns=pg.columns,
            **register,
        )


def dataset_refresh(
    name: str, data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False
) -> None:
    """刷新数据集快照 / Snapshot a PostgreSQL-sourced dataset again (a new version; the owner only)."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        emit(sources.refresh_dataset(uow=uow, actor=uow.actor, name=name), json_out)


def dataset_source(
    name: str, data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False
) -> None:
    """查看数据集来源 / Show where your dataset is snapshotted from (redacted) and its versions."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        emit(sources.get_source(uow=uow, actor=uow.actor, name=name), json_out)


def add_commands(dataset_app: typer.Typer) -> None:
    """Add ``dataset refresh`` and ``dataset source`` to the enabler's ``dataset`` group."""
    dataset_app.command("refresh")(dataset_refresh)
    dataset_app.command("source")(dataset_source)
