"""Every command group and command of ``mingyue`` (core and enablers) has help in Chinese, first.

The tree is walked twice: through Click's own objects (each group's and command's full help),
and through what a person reads — ``mingyue --help`` and every group's ``--help``, where each
listed command's one-line summary must show Chinese (the zh text comes before the English).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from mingyue import cli

CJK = re.compile(r"[\u3400-\u9fff]")
# "中文 / English" (or "中文 · English"): the Chinese text first, then the English.
BILINGUAL = re.compile(r"^(?P<zh>[^/·]*[\u3400-\u9fff][^/·]*?) [/·] (?P<en>.*[A-Za-z]{3,}.*)$")
# A listed entry of a --help screen: "│ name   summary …" (rich) or "  name  summary" (plain).
ROW = re.compile(r"^[│|]?\s{1,3}([a-z][a-z0-9_-]*)\s{2,}(\S.*?)\s*[│|]?$")


def _tree() -> Any:
    cli._mount_plugins_once()
    return typer.main.get_command(cli.app)


def _walk(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, cmd
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        if not sub.hidden:
            yield from _walk(sub, (*path, name))


def _groups() -> list[tuple[str, ...]]:
    return [p for p, c in _walk(_tree()) if getattr(c, "commands", None)]


def test_every_group_and_command_has_chinese_help() -> None:
    """The first line of each group's and command's help reads "中文 / English"."""
    missing = []
    for path, cmd in _walk(_tree()):
        text = (cmd.help or cmd.short_help or "").strip()
        first = text.splitlines()[0] if text else ""
        if not BILINGUAL.match(first):
            missing.append(f"mingyue {' '.join(path)}: {first[:70]!r}")
    assert not missing, f"{len(missing)} without zh / en help:\n" + "\n".join(missing)


@pytest.mark.parametrize("group", [pytest.param(g, id=" ".join(g) or "mingyue") for g in _groups()])
def test_help_screen_lists_every_entry_in_chinese(group: tuple[str, ...]) -> None:
    """``mingyue [GROUP] --help`` lists each of its commands with a Chinese summary."""
    tree = _tree()
    r = CliRunner().invoke(cli.app, [*group, "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    cmd = tree
    for name in group:
        cmd = cmd.commands[name]
    expected = {n for n, c in cmd.commands.items() if not c.hidden}
    listed: dict[str, str] = {}
    for line in r.output.splitlines():
        m = ROW.match(line)
        if m and m.group(1) in expected:
            listed.setdefault(m.group(1), m.group(2))
    assert set(listed) == expected, (sorted(expected - set(listed)), r.output)
    bad = {n: s for n, s in listed.items() if not CJK.search(s)}
    assert not bad, f"mingyue {' '.join(group)} --help: entries without Chinese: {bad}"
