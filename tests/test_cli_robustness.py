"""The CLI under hostile input: one stderr line, the right exit code, never a traceback.

Issue 12, item 11: a --data-dir that is a file or /proc/1, a directory or binary file where a
file is expected, read commands that created a data dir, an empty appcheck scan, an out-of-range
port and multi-line usage boxes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mingyue.core.config import Settings
from mingyue.testing import CliResult

Cli = Callable[..., CliResult]
BINARY = bytes(range(256)) * 4  # not UTF-8, holds NUL bytes


def _one_line(r: CliResult, code: int) -> str:
    assert r.exit_code == code, (r.exit_code, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert "╭" not in r.stderr  # no rich box
    return lines[0]


@pytest.fixture
def binary_file(tmp_path: Path) -> Path:
    p = tmp_path / "blob.json"
    p.write_bytes(BINARY)
    return p


@pytest.mark.parametrize("bad", ["/etc/passwd", "/proc/1"])
@pytest.mark.parametrize("command", [["audit", "verify"], ["db", "upgrade"], ["user", "list"]])
def test_data_dir_that_is_a_file_or_proc(cli: Cli, bad: str, command: list[str]) -> None:
    if not Path(bad).exists():
        pytest.skip(f"{bad} is absent here")
    line = _one_line(cli(*command, "--data-dir", bad), 2)
    assert line.startswith("error:") and bad in line
    assert not Path(bad, "keys").exists()


def test_data_dir_below_a_file(cli: Cli) -> None:
    line = _one_line(cli("db", "upgrade", "--data-dir", "/etc/passwd/sub"), 2)
    assert "cannot create data dir" in line


@pytest.mark.parametrize(
    "command",
    [
        ["audit", "verify"],
        ["audit", "list"],
        ["audit", "prove", "1"],
        ["audit", "public-key"],
        ["user", "list"],
        ["db", "current"],
        ["credential", "list", "--as", "nobody"],
        ["jobs", "list", "--as", "nobody"],
        ["billing", "usage", "list"],
        ["cases", "list", "--as", "nobody"],
    ],
)
@pytest.mark.parametrize("where", ["tmp", "/nonexistent"])
def test_read_command_never_creates_a_data_dir(
    cli: Cli, tmp_path: Path, command: list[str], where: str
) -> None:
    missing = tmp_path / "nonexistent" if where == "tmp" else Path(where)
    if missing.exists():
        pytest.skip(f"{missing} exists here")
    r = cli(*command, "--data-dir", str(missing))
    if r.exit_code == 2 and "No such command" in r.stderr:
        pytest.skip(f"{command[0]} is not installed")
    line = _one_line(r, 2)
    assert "does not exist" in line and str(missing) in line
    assert not missing.exists()


def test_read_command_refuses_an_empty_dir(cli: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    line = _one_line(cli("audit", "verify", "--data-dir", str(empty)), 2)
    assert "not a mingyue data dir" in line
    assert list(empty.iterdir()) == []  # no key, no secret, no database


def test_read_command_refuses_a_data_dir_without_database(
    cli: Cli, tmp_path: Path, settings: Settings
) -> None:
    if not settings.is_sqlite:
        pytest.skip("the database is a server, not a file of the data dir")
    dd = tmp_path / "dd"
    (dd / "keys").mkdir(parents=True)
    line = _one_line(cli("audit", "list", "--data-dir", str(dd)), 2)
    assert "no database" in line
    assert not (dd / "mingyue.sqlite3").exists()


def test_read_command_still_reads_a_real_data_dir(cli: Cli, settings: Settings) -> None:
    r = cli("audit", "verify", "--data-dir", str(settings.data_dir))
    assert r.exit_code == 0, r.stderr
    assert "ledger OK" in r.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["credential", "verify"],
        ["audit", "check-proof"],
        ["compute", "submit", "--as", "nobody"],
    ],
)
@pytest.mark.parametrize("kind", ["directory", "binary", "missing"])
def test_file_argument_that_is_not_a_text_file(
    cli: Cli, tmp_path: Path, binary_file: Path, command: list[str], kind: str
) -> None:
    target = {
        "directory": tmp_path,
        "binary": binary_file,
        "missing": tmp_path / "missing.json",
    }[kind]
    args = [*command[:2], str(target), *command[2:]]
    r = cli(*args)
    if r.exit_code == 2 and "No such command" in r.stderr:
        pytest.skip(f"{command[0]} is not installed")
    line = _one_line(r, 2)
    assert line.startswith("error:")


def test_proof_that_is_not_an_object(cli: Cli, tmp_path: Path) -> None:
    p = tmp_path / "proof.json"
    p.write_text("[1, 2]", encoding="utf-8")
    line = _one_line(cli("audit", "check-proof", str(p)), 2)
    assert "not a JSON object" in line


def test_appcheck_scan_of_an_empty_directory(cli: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "apks"
    empty.mkdir()
    r = cli("appcheck", "scan", str(empty), "--json")
    if r.exit_code == 2 and "No such command" in r.stderr:
        pytest.skip("appcheck is not installed")
    line = _one_line(r, 2)
    assert "no .apk" in line and r.stdout == ""
    (empty / "notes.txt").write_text("not a package", encoding="utf-8")
    line = _one_line(cli("appcheck", "scan", str(empty)), 2)
    assert "no .apk" in line


@pytest.mark.parametrize("port", ["99999", "0", "-1"])
def test_serve_port_out_of_range(cli: Cli, port: str) -> None:
    line = _one_line(cli("serve", "--port", port), 2)
    assert "--port" in line


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["audit", "verify", "--bogus"], "No such option: --bogus"),
        (["--bogus"], "No such option: --bogus"),
        (["nosuch"], "No such command"),
        (["audit", "prove"], "Missing argument"),
        (["audit", "prove", "abc"], "Invalid value"),
        (["user", "list", "--json", "extra"], "unexpected extra argument"),
    ],
)
def test_usage_error_is_one_line(cli: Cli, args: list[str], needle: str) -> None:
    line = _one_line(cli(*args), 2)
    assert line.startswith("error: ") and needle in line


def test_help_is_unchanged(cli: Cli) -> None:
    r = cli("audit", "--help")
    assert r.exit_code == 0 and "verify" in r.stdout and "Usage" in r.stdout
    r = cli("audit")
    assert "Usage" in r.stdout + r.stderr and "Traceback" not in r.stderr
