"""`mingyue satcert run PLAN.yaml`: run a test plan against a terminal or the simulated module.

Exit codes: 0 the run passed; 1 it did not (fail, error or inconclusive — the result is printed
all the same) or the bench could not open the port; 2 invalid input (a bad plan, both or neither
of --port/--sim, an unknown fault, a port that is not a device, loopback or an allow-listed lab
host from ``MINGYUE_SATCERT__LAB_HOSTS``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from mingyue.cli_support import JsonOut, emit, fail, read_text_file, run_cli
from mingyue.enablers.satcert.adapters.simport import SimPort, SimPortError
from mingyue.enablers.satcert.adapters.transport import check_port, open_transport
from mingyue.enablers.satcert.engine.link import LinkClosed
from mingyue.enablers.satcert.engine.plan import RunResult, load_plan, run_plan
from mingyue.enablers.satcert.engine.sim import FAULTS, SimConfig
from mingyue.enablers.satcert.settings import SatcertSettings
from mingyue.sdk.errors import InvalidInput

_ENV = "MINGYUE_SATCERT__"
_BENCH_OPTIONS = ("lab_hosts", "max_log_bytes", "ttff_resets")


def register(app: typer.Typer) -> None:
    """Add the `run` command to the satcert CLI."""
    app.command("run")(run_command)


def bench_options() -> SatcertSettings:
    """Read the bench's options (``MINGYUE_SATCERT__LAB_HOSTS`` …) through the enabler's settings.

    Read from the environment directly: a bench run needs no data dir and creates nothing.
    Unset, ``lab_hosts`` is empty and only loopback sockets are allowed.
    """
    raw = {
        k: os.environ[_ENV + k.upper()] for k in _BENCH_OPTIONS if _ENV + k.upper() in os.environ
    }
    try:
        return SatcertSettings.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        opt = _ENV + str(err["loc"][0]).upper() if err["loc"] else _ENV
        raise InvalidInput("satcert.settings", f"{opt}: {err['msg']}", field=opt) from None


def run_command(
    plan_file: Annotated[
        Path, typer.Argument(help="Test plan (YAML, schema satcert-plan/1)", show_default=False)
    ],
    port: Annotated[
        str | None,
        typer.Option(
            "--port", help="DUT port: /dev/ttyX or socket://host:port (loopback or a lab host)"
        ),
    ] = None,
    sim: Annotated[
        bool, typer.Option("--sim", help="Run against the simulated module on a pty pair")
    ] = False,
    sim_fault: Annotated[
        str, typer.Option("--sim-fault", help=f"Fault of the simulated module: {', '.join(FAULTS)}")
    ] = "none",
    sim_mode: Annotated[
        str, typer.Option("--sim-mode", help="auto (socat if installed), socat, openpty or tcp")
    ] = "auto",
    log: Annotated[
        Path | None,
        typer.Option("--log", help="Write the raw log (JSON Lines) here", show_default=False),
    ] = None,
    json_out: JsonOut = False,
) -> None:
    """运行测试计划 / Run a test plan and print per-case verdicts, the DUT identity and the raw log's sha256."""
    with run_cli():
        if (port is None) == (not sim):
            raise fail("error: give exactly one of --port PORT or --sim", 2)
        if sim_fault not in FAULTS:
            raise fail(f"error: unknown --sim-fault {sim_fault!r}; one of {', '.join(FAULTS)}", 2)
        if sim_fault != "none" and not sim:
            raise fail("error: --sim-fault needs --sim", 2)
        if sim_mode not in ("auto", "socat", "openpty", "tcp"):
            raise fail(
                f"error: unknown --sim-mode {sim_mode!r}; one of auto, socat, openpty, tcp", 2
            )
        plan = load_plan(read_text_file(plan_file, what="plan"))
        opts = bench_options()
        if log is not None and log.is_dir():
            raise fail(f"error: --log {log} is a directory", 2)
        where: dict[str, Any]
        if port is not None:
            spec = check_port(port, opts.lab_hosts)
            where = {"kind": spec.kind, "port": port}
            try:
                link = open_transport(port, lab_hosts=opts.lab_hosts)
            except LinkClosed as exc:
                raise fail(f"error: {exc}", 1) from None
            result, blob = run_plan(
                plan, link, max_log_bytes=opts.max_log_bytes, ttff_n=opts.ttff_resets
            )
        else:
            try:
                with SimPort(SimConfig(fault=sim_fault), mode=sim_mode) as simport:  # type: ignore[arg-type]
                    where = {"kind": "sim", "mode": simport.mode, "fault": sim_fault}
                    link = open_transport(simport.url)
                    result, blob = run_plan(
                        plan, link, max_log_bytes=opts.max_log_bytes, ttff_n=opts.ttff_resets
                    )
            except (SimPortError, LinkClosed) as exc:
                raise fail(f"error: simulated module: {exc}", 1) from None
        if log is not None:
            log.write_bytes(blob)
    _print(result, where, json_out)
    if result.verdict != "pass":
        raise typer.Exit(1)


def _print(result: RunResult, where: dict[str, Any], json_out: bool) -> None:
    doc = {"port": where, **result.to_dict()}
    if json_out:
        emit(doc, True)
        return
    dut = result.dut
    sys.stdout.write(
        f"{result.plan} {result.plan_version}: {result.verdict.upper()} — "
        f"{dut.get('manufacturer') or '?'} {dut.get('model') or '?'} IMEI {dut.get('imei') or '?'} "
        f"firmware {dut.get('revision') or '?'}\n"
    )
    for case in result.cases:
        why = f" — {case.reasons[0]}" if case.reasons else ""
        sys.stdout.write(f"  {case.verdict:<12} {case.id:<16} {case.clause}{why}\n")
    sys.stdout.write(f"raw log sha256 {result.log_sha256} ({result.log_bytes} bytes)\n")
