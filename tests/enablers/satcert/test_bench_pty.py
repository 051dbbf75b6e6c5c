"""The bench over real ports: the simulated module behind socat/openpty pairs and a loopback socket."""

from __future__ import annotations

import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from mingyue.enablers.satcert.adapters.simport import SimPort
from mingyue.enablers.satcert.adapters.transport import PortRefused, check_port, open_transport
from mingyue.enablers.satcert.engine.at import AtEngine
from mingyue.enablers.satcert.engine.plan import RunResult, load_plan, run_plan
from mingyue.enablers.satcert.engine.sim import SimConfig
from mingyue.enablers.satcert.plans import PLANS_DIR

SHIPPED = PLANS_DIR / "ntn-terminal-basic.yaml"
HAVE_SOCAT = shutil.which("socat") is not None
PTY_MODES = ["socat", "openpty"] if HAVE_SOCAT else ["openpty"]


def quick_plan(timeout_s: float | None = None) -> Any:
    """The shipped plan without its TTFF campaigns (they have their own test below)."""
    doc = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    doc["cases"] = [c for c in doc["cases"] if not c["id"].startswith("TTFF")]
    if timeout_s is not None:
        doc["timeout_s"] = timeout_s
    return load_plan(yaml.safe_dump(doc, allow_unicode=True))


def run_sim(plan: Any, mode: str = "auto", **config: Any) -> tuple[RunResult, float]:
    t0 = time.monotonic()
    with SimPort(SimConfig(**config), mode=mode) as port:  # type: ignore[arg-type]
        result, _ = run_plan(plan, open_transport(port.url))
    return result, time.monotonic() - t0


def verdicts(result: RunResult) -> dict[str, str]:
    return {c.id: c.verdict for c in result.cases}


def test_socat_is_installed_for_ci() -> None:
    if not HAVE_SOCAT:
        pytest.skip(
            "socat not installed (scripts/satcert-setup.sh installs it); openpty is used instead"
        )
    with SimPort(SimConfig()) as port:
        assert port.mode == "socat" and Path(port.url).is_symlink()


@pytest.mark.slow
def test_shipped_plan_passes_over_a_pty_pair() -> None:
    result, took = run_sim(load_plan(SHIPPED.read_bytes()))
    assert result.verdict == "pass", [
        (c.id, c.reasons) for c in result.cases if c.verdict != "pass"
    ]
    assert result.dut["imei"] == "861234051234568"
    assert len(result.log_sha256) == 64
    assert took < 60


@pytest.mark.parametrize("mode", [*PTY_MODES, "tcp"])
def test_quick_plan_passes_over_each_transport(mode: str) -> None:
    result, _ = run_sim(quick_plan(), mode)
    assert result.verdict == "pass", [
        (c.id, c.reasons) for c in result.cases if c.verdict != "pass"
    ]


def test_wrong_checksum_fails_the_nmea_case() -> None:
    result, _ = run_sim(quick_plan(), fault="bad_checksum")
    v = verdicts(result)
    assert v["NMEA-CONF"] == "fail"
    assert {k for k, x in v.items() if x != "pass"} == {"NMEA-CONF"}
    nmea = next(c for c in result.cases if c.id == "NMEA-CONF")
    assert nmea.measures["nmea_rejected"].get("bad_checksum", 0) >= 10


@pytest.mark.parametrize("mode", [*PTY_MODES, "tcp"])
def test_dropped_connection_gives_error_verdicts_without_hanging(mode: str) -> None:
    result, took = run_sim(quick_plan(), mode, fault="drop", drop_after=6)
    v = list(verdicts(result).values())
    assert v[:2] == ["pass", "pass"] and set(v[2:]) == {"error"}
    assert result.verdict == "error"
    assert took < 5  # a hang-up is seen at once, not after a timeout


def test_urc_flood_is_bounded_and_the_plan_still_runs() -> None:
    result, _ = run_sim(quick_plan(), fault="urc_flood")
    assert result.verdict == "pass", [
        (c.id, c.reasons) for c in result.cases if c.verdict != "pass"
    ]
    assert result.urc_count > 1000
    assert result.urcs_dropped == result.urc_count - 1000  # the buffer kept 1000, counted all


def test_never_answering_module_times_out() -> None:
    result, took = run_sim(quick_plan(timeout_s=1.0), fault="silent")
    first = result.cases[0]
    assert first.verdict == "fail" and "timeout" in first.reasons[0]
    assert {c.verdict for c in result.cases[1:]} == {"inconclusive"}
    assert 1.0 <= took < 5


def test_slow_module_past_the_timeout_fails() -> None:
    result, _ = run_sim(quick_plan(timeout_s=0.2), fault="slow", slow_s=0.5)
    assert result.cases[0].verdict == "fail" and "timeout" in result.cases[0].reasons[0]


@pytest.mark.parametrize(
    "port",
    [
        "socket://192.0.2.10:5000",
        "socket://10.0.0.1:23",
        "socket://lab.example.com:5000",
        "socket://[2001:db8::1]:5000",
        "rfc2217://127.0.0.1:2217",
        "spy:///dev/ttyS0",
        "loop://",
        "ttyUSB0",
        "socket://127.0.0.1",
        "socket://127.0.0.1:99999",
    ],
)
def test_ports_refused(port: str) -> None:
    with pytest.raises(PortRefused) as err:
        check_port(port, ("lab-bench-1",))
    assert (
        port.split("://")[-1].split(":")[0].strip("[]/") in err.value.message
        or port in err.value.message
    )
    assert err.value.exit_code == 2


def test_ports_allowed() -> None:
    assert check_port("socket://127.0.0.1:5000").kind == "socket"
    assert check_port("socket://localhost:5000").host == "localhost"
    assert check_port("socket://[::1]:5000").host == "::1"
    assert check_port("socket://lab-bench-1:5000", ("lab-bench-1",)).host == "lab-bench-1"
    assert check_port("socket://10.20.0.7:5000", ("10.20.0.0/24",)).port == 5000
    with pytest.raises(PortRefused):
        check_port("socket://10.20.1.7:5000", ("10.20.0.0/24",))


def test_a_regular_file_is_not_a_serial_port(tmp_path: Path) -> None:
    f = tmp_path / "ttyFAKE"
    f.write_text("x")
    with pytest.raises(PortRefused, match="not a serial device"):
        check_port(str(f))
    with pytest.raises(PortRefused, match="No such file"):
        check_port(str(tmp_path / "absent"))


@pytest.mark.parametrize("mode", PTY_MODES)
def test_round_trip_timings(mode: str) -> None:
    """Measure AT round trips (the figures in docs/satcert.md); loose bound for a busy CI box."""
    with SimPort(SimConfig(), mode=mode) as port:  # type: ignore[arg-type]
        eng = AtEngine(open_transport(port.url))
        assert eng.command("ATE0").ok
        samples = []
        for _ in range(50):
            for cmd in ("AT", "AT+CGMI", "AT+CSQ", "AT+CEREG?"):
                r = eng.command(cmd)
                assert r.ok
                samples.append(r.elapsed_s)
        eng.link.close()
    median_ms = statistics.median(samples) * 1000
    print(f"{mode}: median {median_ms:.3f} ms over {len(samples)} commands")
    assert median_ms < 50
