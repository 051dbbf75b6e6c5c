"""CLI contract: `mingyue supervision decide FILE.json [--json]` (outside checks call it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from mingyue.enablers.supervision.cli import app

FACTS = {
    "prohibited": False,
    "first_offence": True,
    "harm": "minor",
    "corrected": "in_time",
    "no_fault_evidence": False,
    "on_exemption_list": False,
}
MINGYUE = Path(sys.executable).with_name("mingyue")

root = typer.Typer()
root.add_typer(app, name="supervision")  # mounted as `mingyue supervision`, as the core does


@root.callback()
def _root() -> None:
    """Stand in for the `mingyue` root group."""


def run(*args: str) -> Any:
    return CliRunner().invoke(root, ["supervision", *args], catch_exceptions=False)


def write(tmp_path: Path, data: Any, name: str = "facts.json") -> Path:
    f = tmp_path / name
    f.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return f


@pytest.mark.parametrize(
    ("overrides", "decision", "basis"),
    [
        ({}, "discretionary", ["行政处罚法 Art. 33(1)", "优化营商环境条例 Art. 55"]),
        (
            {"on_exemption_list": True},
            "no_penalty",
            ["行政处罚法 Art. 33(1)", "合规免责清单 Art. 2"],
        ),
        ({"no_fault_evidence": True, "prohibited": True}, "no_penalty", ["行政处罚法 Art. 33(2)"]),
        (
            {"prohibited": True},
            "penalty_procedure",
            ["行政处罚法 Art. 28(1)", "行政处罚法 Art. 54"],
        ),
        (
            {"corrected": "not_yet"},
            "rectification_ordered",
            ["行政处罚法 Art. 28(1)", "优化营商环境条例 Art. 55"],
        ),
    ],
)
def test_decide_json(
    tmp_path: Path, overrides: dict[str, Any], decision: str, basis: list[str]
) -> None:
    r = run("decide", str(write(tmp_path, {**FACTS, **overrides})), "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["decision"] == decision and out["basis"] == basis
    assert set(out["reason"]) == {"zh", "en", "rule", "inputs"}
    assert out["reason"]["inputs"] == {**FACTS, **overrides}
    assert len(out["basis_zh"]) == len(basis) and out["basis_zh"][0].startswith("行政处罚法第")
    assert r.stdout.count("\n") == 1


def test_decide_text_is_bilingual(tmp_path: Path) -> None:
    r = run("decide", str(write(tmp_path, {**FACTS, "harm": "none"})))
    assert r.exit_code == 0, r.stderr
    assert "不予行政处罚" in r.stdout and "No penalty" in r.stdout
    assert "行政处罚法第三十三条第一款 / 行政处罚法 Art. 33(1)" in r.stdout
    assert "理由:" in r.stdout and "Reason:" in r.stdout and "{" not in r.stdout


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ("{not json", "(file)"),
        ("[1, 2]", "(root)"),
        ({k: v for k, v in FACTS.items() if k != "corrected"}, "corrected"),
        ({**FACTS, "severity": "low"}, "severity"),
        ({**FACTS, "prohibited": "no"}, "prohibited"),
        ({**FACTS, "harm": "grave"}, "harm"),
    ],
)
def test_invalid_input_exits_2_with_one_line(tmp_path: Path, data: Any, field: str) -> None:
    r = run("decide", str(write(tmp_path, data)), "--json")
    assert r.exit_code == 2
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}: ")
    assert r.stdout == ""


def test_missing_file_and_directory_exit_2(tmp_path: Path) -> None:
    for path in (tmp_path / "absent.json", tmp_path):
        r = run("decide", str(path))
        assert r.exit_code == 2
        assert len(r.stderr.strip().splitlines()) == 1 and "(file)" in r.stderr


def test_real_subprocess(tmp_path: Path) -> None:
    if "supervision" not in {e.name for e in entry_points(group="mingyue.enablers")}:
        pytest.skip(
            "the supervision enabler's entry point is not registered yet (pip install -e .)"
        )
    if not MINGYUE.exists():
        pytest.skip(f"no console script at {MINGYUE}")
    env = {**os.environ, "MINGYUE_DATA_DIR": str(tmp_path / "data")}
    f = write(tmp_path, {**FACTS, "on_exemption_list": True})
    p = subprocess.run(
        [str(MINGYUE), "supervision", "decide", str(f), "--json"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["decision"] == "no_penalty"
    assert out["basis"] == ["行政处罚法 Art. 33(1)", "合规免责清单 Art. 2"]
    bad = write(tmp_path, {**FACTS, "extra": 1}, "bad.json")
    p = subprocess.run(
        [str(MINGYUE), "supervision", "decide", str(bad), "--json"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip().splitlines() == ["error: extra: unknown field; expected prohibited, "
                                             "first_offence, harm, corrected, no_fault_evidence, "
                                             "on_exemption_list"]  # fmt: skip
    assert not (tmp_path / "data").exists()  # a pure engine command creates no data dir
