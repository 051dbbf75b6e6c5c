"""`mingyue satcert run`: CliRunner on a Typer app with run.register, and once as the installed CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from mingyue.enablers.satcert.cli import run as run_cli
from mingyue.enablers.satcert.engine.link import parse_log
from mingyue.enablers.satcert.plans import PLANS_DIR

SHIPPED = PLANS_DIR / "ntn-terminal-basic.yaml"
MINGYUE = Path(sys.executable).parent / "mingyue"


def make_app() -> typer.Typer:
    app = typer.Typer()
    run_cli.register(app)

    @app.callback()
    def _root() -> None:
        """A group, so that `run` is a sub-command as under `mingyue satcert`."""

    return app


@pytest.fixture
def quick_plan(tmp_path: Path) -> Path:
    doc = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    doc["cases"] = [c for c in doc["cases"] if not c["id"].startswith("TTFF")]
    path = tmp_path / "quick.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    res = CliRunner().invoke(make_app(), ["run", *args], env=env)
    return res.exit_code, res.stdout, res.stderr


def test_sim_run_prints_the_result_and_writes_the_log(quick_plan: Path, tmp_path: Path) -> None:
    log = tmp_path / "raw.jsonl"
    code, out, err = invoke(str(quick_plan), "--sim", "--json", "--log", str(log))
    assert code == 0, err
    doc = json.loads(out)
    assert (
        doc["verdict"] == "pass"
        and doc["plan"] == "ntn-terminal-basic"
        and doc["plan_version"] == "1.0.0"
    )
    assert doc["dut"]["imei"] == "861234051234568" and doc["dut"]["revision"] == "NTNSIM_1.0.3"
    assert doc["port"]["kind"] == "sim"
    assert {c["id"]: c["verdict"] for c in doc["cases"]}["REG-CEREG-NTN"] == "pass"
    import hashlib

    blob = log.read_bytes()
    assert hashlib.sha256(blob).hexdigest() == doc["log_sha256"]
    assert parse_log(blob)


def test_failing_run_exits_1_with_the_result(quick_plan: Path) -> None:
    code, out, _ = invoke(str(quick_plan), "--sim", "--sim-fault", "bad_checksum", "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["verdict"] == "fail" and doc["port"]["fault"] == "bad_checksum"
    assert {c["id"]: c["verdict"] for c in doc["cases"]}["NMEA-CONF"] == "fail"


def test_human_output(quick_plan: Path) -> None:
    code, out, _ = invoke(str(quick_plan), "--sim", "--sim-mode", "tcp")
    assert code == 0
    assert out.startswith("ntn-terminal-basic 1.0.0: PASS")
    assert "raw log sha256" in out and "{" not in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--sim", "--port", "/dev/ttyS0"], "exactly one of --port"),
        ([], "exactly one of --port"),
        (["--sim", "--sim-fault", "gremlins"], "unknown --sim-fault 'gremlins'"),
        (["--port", "/dev/null", "--sim-fault", "drop"], "--sim-fault needs --sim"),
        (["--sim", "--sim-mode", "carrier-pigeon"], "unknown --sim-mode"),
        (["--port", "socket://192.0.2.10:5000"], "socket://192.0.2.10:5000"),
        (["--port", "rfc2217://127.0.0.1:2217"], "rfc2217://127.0.0.1:2217"),
        (["--port", "/dev/null"], "not a serial device"),
    ],
)
def test_invalid_input_exits_2_in_one_line(quick_plan: Path, args: list[str], needle: str) -> None:
    code, out, err = invoke(str(quick_plan), *args)
    assert code == 2, (out, err)
    assert needle in err and err.count("\n") == 1 and out == ""


def test_bad_plan_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema: satcert-plan/1\nplan: x\nversion: one\n", encoding="utf-8")
    code, _, err = invoke(str(bad), "--sim")
    assert code == 2 and "satcert.bad_plan" in err and err.count("\n") == 1
    code, _, err = invoke(str(tmp_path / "absent.yaml"), "--sim")
    assert code == 2 and err.count("\n") == 1


def test_lab_hosts_come_from_the_enabler_settings(
    quick_plan: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MINGYUE_SATCERT__LAB_HOSTS", "lab-bench-1, 10.20.0.0/24")
    assert run_cli.bench_options().lab_hosts == ("lab-bench-1", "10.20.0.0/24")
    monkeypatch.delenv("MINGYUE_SATCERT__LAB_HOSTS")
    assert run_cli.bench_options().lab_hosts == ()
    code, _, err = invoke(str(quick_plan), "--sim", env={"MINGYUE_SATCERT__MAX_LOG_BYTES": "12"})
    assert code == 2 and "MINGYUE_SATCERT__MAX_LOG_BYTES" in err


def test_installed_cli(quick_plan: Path) -> None:
    probe = subprocess.run(
        [str(MINGYUE), "satcert", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if probe.returncode != 0:
        reason = f"`mingyue satcert run` is not mounted yet (exit {probe.returncode}): {probe.stderr.strip()[:200]}"
        print(reason)
        pytest.skip(reason)
    proc = subprocess.run(
        [str(MINGYUE), "satcert", "run", str(quick_plan), "--sim", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["verdict"] == "pass"
    bad = subprocess.run(
        [str(MINGYUE), "satcert", "run", str(quick_plan), "--port", "socket://203.0.113.5:4000"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2 and "socket://203.0.113.5:4000" in bad.stderr
