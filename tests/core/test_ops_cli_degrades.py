"""The `mingyue` CLI in a real deployment: an enabler's extra missing, a PostgreSQL data dir.

- An installed enabler whose CLI needs a module of an extra that is not installed takes neither
  `mingyue --help` nor the other commands down; `mingyue <that enabler> …` prints one line with
  the missing module and the `pip install` that fixes it, and exits 1 (like the web app).
- With PostgreSQL the database is the data: read-only commands accept a data dir without
  `keys/`; with SQLite such a data dir is still refused (a read command creates nothing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic import command

from mingyue import cli
from mingyue.cli_support import settings_for
from mingyue.core import config, migrate
from mingyue.core.config import Settings
from mingyue.core.plugins import registry
from mingyue.devcheck.extras import extra_modules

# A child `mingyue` where the named top-level modules cannot be imported, as if their
# distributions were not installed (the same finder as `mingyue dev check`'s extras probe).
_CHILD = """
import importlib.abc, json, sys
blocked = frozenset(json.loads(sys.argv[1]))
class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _NotInstalled())
from mingyue.cli import main
sys.argv = ["mingyue", *sys.argv[2:]]
main()
"""


def _mingyue_without(
    blocked: frozenset[str], *args: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(sorted(blocked)), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **env},
        timeout=300,
        check=False,
    )


def _migrated(settings: Settings) -> None:
    # The test database is built by create_all; mark it migrated so a child `mingyue` leaves it.
    command.stamp(migrate.alembic_config(settings), "heads")


def _child_env(settings: Settings) -> dict[str, str]:
    env = {"MINGYUE_DATA_DIR": str(settings.data_dir), "MINGYUE_ENV": "test"}
    if not settings.is_sqlite:
        env["MINGYUE_DATABASE_URL"] = settings.sqlalchemy_url
    return env


def _enablers_with_extras_and_cli() -> list[Any]:
    return [en for en in registry().ordered() if en.cli and en.extras and extra_modules(en.extras)]


@pytest.mark.slow
def test_cli_runs_without_an_enablers_extra(settings: Settings, tenants: Any) -> None:
    candidates = [en for en in _enablers_with_extras_and_cli() if en.key == "satcert"]
    if not candidates:
        pytest.skip("satcert is not installed with its extra here: nothing to take away")
    en = candidates[0]
    blocked = extra_modules(en.extras)
    env = _child_env(settings)
    _migrated(settings)

    # the help lists every group, the unavailable one with its reason
    help_ = _mingyue_without(blocked, "--help", env=env)
    assert help_.returncode == 0, help_.stderr[-2000:]
    assert "supervision" in help_.stdout
    row = next(line for line in help_.stdout.splitlines() if f" {en.key} " in line)
    assert "unavailable" in row and "不可用" in row

    # the unavailable group: one line, the module and the fix, exit 1 (whatever follows it)
    for args in ((en.key,), (en.key, "--help"), (en.key, "verify", "x.json", "--json")):
        r = _mingyue_without(blocked, *args, env=env)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        assert f"pip install 'mingyue[{','.join(en.extras)}]'" in lines[0]
        assert "module '" in lines[0] and "Traceback" not in r.stderr
        assert r.stdout == ""

    # another enabler's command and a core command work in the same installation
    user = tenants.a.member.username
    r = _mingyue_without(blocked, "supervision", "findings", "--as", user, "--json", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout) == []
    r = _mingyue_without(blocked, "user", "list", "--as", user, "--json", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert user in {u["username"] for u in json.loads(r.stdout)}


def test_an_unavailable_group_is_listed_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stand-in group's help is bilingual (zh first) and any call is refused with exit 1."""
    from typer.testing import CliRunner

    stand_in = cli.unavailable_cli("ghostcli", "ghost_engine", "ghostcli")
    app = cli.typer.Typer(cls=cli.OneLineErrors)
    app.add_typer(stand_in, name="ghostcli")
    app.command("other")(lambda: None)
    runner = CliRunner()
    listing = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert listing.exit_code == 0
    assert (
        "不可用：缺少模块 ghost_engine / unavailable: needs module ghost_engine" in listing.stdout
    )
    r = runner.invoke(app, ["ghostcli", "anything", "--flag"])
    assert r.exit_code == 1
    assert r.stderr.strip() == (
        "error: `mingyue ghostcli` is unavailable: it needs the module 'ghost_engine'; "
        "pip install 'mingyue[ghostcli]'"
    )


def test_a_missing_platform_module_is_not_taken_for_an_extra() -> None:
    exc = ModuleNotFoundError("No module named 'mingyue.core.ghost'", name="mingyue.core.ghost")
    assert cli._missing_module(exc, "mingyue.enablers.x.cli:app") is None
    exc = ModuleNotFoundError("No module named 'serial'", name="serial")
    assert cli._missing_module(exc, "mingyue.enablers.x.cli:app") == "serial"


# ---- read-only commands and a PostgreSQL deployment ------------------------------------------


def _bare_dir(tmp_path: Path) -> Path:
    where = tmp_path / "pg-data"
    where.mkdir()
    return where


def test_read_only_accepts_a_pg_data_dir_without_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = _bare_dir(tmp_path)
    config.reset()
    monkeypatch.setenv("MINGYUE_DATABASE_URL", "postgresql://mingyue@db.invalid/mingyue")
    monkeypatch.setenv("MINGYUE_ENV", "prod")
    monkeypatch.setenv("MINGYUE_SECRET_KEY", "q8R2v-7KfTz1LmN0pXw4YbC6sDe9GhJk3UaZoVi5")
    try:
        s = settings_for(where, read_only=True)
        assert not s.is_sqlite and s.data_dir == where
        assert list(where.iterdir()) == []  # nothing was created
    finally:
        config.reset()


def test_read_only_still_refuses_a_sqlite_data_dir_without_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    where = _bare_dir(tmp_path)
    config.reset()
    monkeypatch.delenv("MINGYUE_DATABASE_URL", raising=False)
    try:
        with pytest.raises(cli.typer.Exit) as exc:
            settings_for(where, read_only=True)
        assert exc.value.exit_code == 2
        assert "is not a mingyue data dir" in capsys.readouterr().err
        assert list(where.iterdir()) == []
    finally:
        config.reset()


@pytest.mark.skipif(
    os.environ.get("MINGYUE_TEST_DB", "sqlite") != "pg",
    reason="needs the PostgreSQL test database (MINGYUE_TEST_DB=pg)",
)
def test_read_only_commands_answer_on_pg_with_a_data_dir_without_keys(
    settings: Settings, tmp_path: Path, tenants: Any
) -> None:
    # A real PostgreSQL deployment whose key lives elsewhere (MINGYUE_SIGNING_KEY_FILE): the
    # data dir is an empty volume, and `user list` / `db current` read the database.
    _migrated(settings)
    where = _bare_dir(tmp_path)
    key = tmp_path / "elsewhere" / "platform_ed25519.pem"
    env = {
        **os.environ,
        "MINGYUE_DATA_DIR": str(where),
        "MINGYUE_DATABASE_URL": settings.sqlalchemy_url,
        "MINGYUE_ENV": "prod",
        "MINGYUE_SECRET_KEY": "q8R2v-7KfTz1LmN0pXw4YbC6sDe9GhJk3UaZoVi5",
        "MINGYUE_SIGNING_KEY_FILE": str(key),
    }
    exe = [sys.executable, "-m", "mingyue.cli"]
    user = tenants.a.member.username
    r = subprocess.run(
        [*exe, "user", "list", "--as", user, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert user in {u["username"] for u in json.loads(r.stdout)}
    assert not (where / "keys").exists()
