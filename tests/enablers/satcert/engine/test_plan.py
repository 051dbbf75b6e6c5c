"""Plans as data: validation, verdict rules, and the runner over the simulated module (virtual clock)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from mingyue.enablers.satcert.engine.link import parse_log
from mingyue.enablers.satcert.engine.plan import Limit, judge, load_plan, run_plan
from mingyue.enablers.satcert.engine.sim import SimConfig, SimModule, VirtualClock, VirtualLink
from mingyue.enablers.satcert.plans import PLANS_DIR
from mingyue.sdk.errors import InvalidInput

SHIPPED = PLANS_DIR / "ntn-terminal-basic.yaml"


def shipped() -> dict[str, Any]:
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def run(plan_doc: dict[str, Any] | None = None, **config: Any) -> Any:
    plan = load_plan(yaml.safe_dump(plan_doc or shipped(), allow_unicode=True))
    clock = VirtualClock(10.0)
    link = VirtualLink(SimModule(SimConfig(**config)), clock)
    return run_plan(plan, link, clock=clock)


def test_shipped_plan_loads_with_clauses_and_hash() -> None:
    plan = load_plan(SHIPPED.read_bytes())
    assert plan.plan == "ntn-terminal-basic" and plan.version == "1.0.0"
    assert len(plan.sha256) == 64
    ids = [c.id for c in plan.cases]
    assert {
        "ID-CGSN",
        "REG-CEREG-NTN",
        "SIG-CSQ",
        "PDP-CONTEXT",
        "NMEA-CONF",
        "TTFF-COLD",
        "TTFF-HOT",
    } <= set(ids)
    assert all(c.clause for c in plan.cases)


def test_titles_in_chinese_are_optional() -> None:
    plan = load_plan(SHIPPED.read_bytes())
    assert plan.title_zh and all(c.title_zh for c in plan.cases)
    nmea = next(c for c in plan.cases if c.id == "NMEA-CONF")
    assert nmea.titles() == {"zh": nmea.title_zh, "en": nmea.title}
    assert "NMEA" in nmea.titles()["zh"] and "合格" in nmea.titles()["zh"]
    # a lab's plan without Chinese titles still loads; its cases read by their own title
    doc = shipped()
    doc.pop("title_zh")
    for case in doc["cases"]:
        case.pop("title_zh")
    bare = load_plan(yaml.safe_dump(doc, allow_unicode=True))
    assert bare.title_zh is None
    assert bare.cases[0].titles() == {"zh": bare.cases[0].title, "en": bare.cases[0].title}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("version"), "version"),
        (lambda d: d["cases"][0].update(title_zh=""), "title_zh"),
        (lambda d: d.update(schema="satcert-plan/9"), "schema"),
        (lambda d: d["cases"].append(dict(d["cases"][0])), "duplicate case ids"),
        (lambda d: d["cases"][0]["steps"].append({"send": "AT", "wait": 1}), "exactly one"),
        (lambda d: d["cases"][0]["steps"].append({"send": "rm -rf /"}), "AT command"),
        (lambda d: d["cases"][0].update(verdict="lenient"), "verdict"),
        (lambda d: d["cases"][0].update(extra=1), "extra"),
    ],
)
def test_bad_plans_are_refused_in_one_line(mutate: Any, message: str) -> None:
    doc = shipped()
    mutate(doc)
    with pytest.raises(InvalidInput, match=message) as err:
        load_plan(yaml.safe_dump(doc))
    assert err.value.key == "satcert.bad_plan" and "\n" not in str(err.value.message)


@pytest.mark.parametrize("text", [b"cases: [", b"- just a list", "plan: \u00e9".encode("latin-1")])
def test_unreadable_plans(text: bytes) -> None:
    with pytest.raises(InvalidInput, match="plan"):
        load_plan(text)


def test_judge_simple_and_guard_band() -> None:
    lim = Limit(min=-105, tolerance=2)
    assert judge(-104, lim, "simple") == "pass"
    assert judge(-106, lim, "simple") == "pass"  # within the tolerance
    assert judge(-108, lim, "simple") == "fail"
    assert judge(-102, lim, "guard_band") == "pass"
    assert judge(-104, lim, "guard_band") == "inconclusive"
    assert judge(-108, lim, "guard_band") == "fail"
    assert judge(None, Limit(max=1), "simple") == "fail"
    assert judge(True, Limit(equals=True), "simple") == "pass"
    assert judge(7, Limit.model_validate({"in": [14, 15, 16]}), "simple") == "fail"
    assert judge(["GGA", "RMC"], Limit(contains=["GGA", "GSV"]), "simple") == "fail"
    assert judge(True, Limit(min=0), "simple") == "fail"  # a boolean is not a number


def test_shipped_plan_passes_on_the_simulated_module() -> None:
    result, blob = run()
    doc = result.to_dict()
    assert doc["verdict"] == "pass", [
        (c["id"], c["reasons"]) for c in doc["cases"] if c["verdict"] != "pass"
    ]
    assert doc["dut"] == {
        "manufacturer": "Mingyue Lab",
        "model": "NTN-SIM-1",
        "revision": "NTNSIM_1.0.3",
        "imei": "861234051234568",
    }
    reg = next(c for c in doc["cases"] if c["id"] == "REG-CEREG-NTN")
    assert reg["measures"]["act"] == 14 and reg["measures"]["ntn"] is True
    ttff = next(c for c in doc["cases"] if c["id"] == "TTFF-COLD")
    assert ttff["measures"]["ttff_n"] == 5 and ttff["measures"]["ttff_p95_s"] <= 2.5
    # the log is what the hash says, and holds both directions
    import hashlib

    assert hashlib.sha256(blob).hexdigest() == doc["log_sha256"] == result.log_sha256
    dirs = {d for _, d, _ in parse_log(blob)}
    assert dirs == {"tx", "rx", "ev"}
    assert any(t["command"] == "AT+CGSN" for t in doc["timings"])


@pytest.mark.parametrize(
    ("fault", "case", "verdict", "reason"),
    [
        ("bad_imei", "ID-CGSN", "fail", "Luhn"),
        ("terrestrial", "REG-CEREG-NTN", "fail", "ntn=False"),
        ("bad_checksum", "NMEA-CONF", "fail", "nmea_passed=False"),
        ("no_fix", "TTFF-COLD", "fail", "ttff_timeouts=5"),
    ],
)
def test_faults_fail_the_case_they_break(fault: str, case: str, verdict: str, reason: str) -> None:
    result, _ = run(fault=fault)
    by_id = {c.id: c for c in result.cases}
    assert by_id[case].verdict == verdict
    assert any(reason in r for r in by_id[case].reasons)
    assert result.verdict == "fail"
    if fault in ("bad_imei", "terrestrial"):
        assert [c.id for c in result.cases if c.verdict != "pass"] == [case]


def test_silent_module_fails_required_case_and_blocks_the_rest() -> None:
    result, _ = run(fault="silent")
    first, *rest = result.cases
    assert first.verdict == "fail" and "timeout" in first.reasons[0]
    assert {c.verdict for c in rest} == {"inconclusive"}
    assert result.verdict == "fail"


def test_dropped_connection_gives_error_verdicts() -> None:
    result, _ = run(fault="drop", drop_after=6)
    verdicts = [c.verdict for c in result.cases]
    assert verdicts[:2] == ["pass", "pass"] and set(verdicts[2:]) == {"error"}
    assert result.verdict == "error"
    assert result.dut["manufacturer"] == "Mingyue Lab" and result.dut["imei"] is None


def test_missing_measure_is_a_plan_error() -> None:
    doc = shipped()
    doc["cases"][1]["limits"] = {"rsrp_dbm": {"min": -120}}
    result, _ = run(doc)
    assert result.cases[1].verdict == "error" and "no measure" in result.cases[1].reasons[0]


def test_log_cap_stops_the_run_with_error() -> None:
    plan = load_plan(SHIPPED.read_bytes())
    clock = VirtualClock(10.0)
    result, blob = run_plan(
        plan, VirtualLink(SimModule(SimConfig()), clock), clock=clock, max_log_bytes=4096
    )
    verdicts = [c.verdict for c in result.cases]
    assert "error" in verdicts and result.verdict == "error"
    assert any("log_too_large" in r for c in result.cases for r in c.reasons)
    assert b"log cap 4096 bytes reached" in blob
