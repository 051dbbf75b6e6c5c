"""Alarm rules and the lifecycle create → update → acknowledge → clear, explicitly: an uncleared
alarm is updated, never duplicated; a cleared one re-opens as a new alarm pointing to it; a
critical one opens a city case once; silent devices; rate of change; tenants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from citygov_tele_support import register

from mingyue.enablers.citygov.engine.alarms import (
    AlarmRule,
    Level,
    Signal,
    decide,
    evaluate,
    parse_rule,
    silent_signal,
)
from mingyue.enablers.citygov.service import alarms
from mingyue.sdk import SYSTEM, unit_of_work
from mingyue.sdk.errors import InvalidInput

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
CH4 = AlarmRule(
    type="ch4_high",
    condition="above",
    levels=(Level(25, "major"), Level(50, "critical")),
    measure="ch4",
    clear_at=20,
)


def test_thresholds_levels_and_hysteresis() -> None:
    assert evaluate(CH4, value=30, at=T0) == Signal("ch4_high", True, "major", 30.0, 25.0)
    assert evaluate(CH4, value=55, at=T0).severity == "critical"
    assert evaluate(CH4, value=22, at=T0) is None  # between clear_at and the threshold
    assert evaluate(CH4, value=20, at=T0).raised is False
    assert evaluate(CH4, value=True, at=T0) is None
    low = AlarmRule("battery_low", "below", (Level(20, "warning"),), "battery", clear_at=25)
    assert evaluate(low, value=10, at=T0).raised is True
    assert evaluate(low, value=22, at=T0) is None
    assert evaluate(low, value=30, at=T0).raised is False


def test_rate_of_change() -> None:
    rule = AlarmRule("tilt_rate", "rate", (Level(1, "major"), Level(3, "critical")), "tilt")
    assert evaluate(rule, value=2.0, at=T0) is None  # no previous reading
    sig = evaluate(rule, value=3.5, at=T0 + timedelta(minutes=30), previous=(1.0, T0))
    assert sig is not None and sig.raised and sig.severity == "critical" and sig.value == 5.0
    calm = evaluate(rule, value=1.2, at=T0 + timedelta(hours=2), previous=(1.0, T0))
    assert calm is not None and not calm.raised


def test_silent_and_decisions() -> None:
    rule = AlarmRule("silent", "silent", (Level(60, "minor"),), minutes=60)
    assert silent_signal(rule, last_seen=T0, now=T0 + timedelta(minutes=59)) is None
    assert silent_signal(rule, last_seen=T0, now=T0 + timedelta(minutes=61)).raised
    up = Signal("x", True, "critical", 1, 1)
    down = Signal("x", False, "major", 1, 1)
    assert decide(None, None, up).action == "create"
    assert decide("active", "major", up).action == "update"
    assert decide("active", "major", up).escalated
    assert decide("acknowledged", "critical", up).action == "update"
    assert decide("cleared", "major", up).action == "reopen"
    assert decide("acknowledged", "major", down).action == "clear"
    assert decide(None, None, down).action == "none"
    assert decide("cleared", "major", down).action == "none"


@pytest.mark.parametrize(
    "doc",
    [
        {"type": "x", "condition": "above", "measure": "nope", "levels": [], "title": {}},
        {"type": "x", "condition": "sideways", "measure": "ch4"},
        {
            "type": "x",
            "condition": "above",
            "measure": "ch4",
            "title": {"zh": "a", "en": "a"},
            "levels": [
                {"threshold": 5, "severity": "critical"},
                {"threshold": 9, "severity": "minor"},
            ],
        },
        {
            "type": "x",
            "condition": "above",
            "measure": "ch4",
            "clear_at": 9,
            "title": {"zh": "a", "en": "a"},
            "levels": [{"threshold": 5, "severity": "minor"}],
        },
    ],
)
def test_bad_rules_are_refused(doc) -> None:
    with pytest.raises(InvalidInput):
        parse_rule(doc, where="t", measures=["ch4"])


def test_shipped_rules_load() -> None:
    kinds = alarms.device_kinds()
    assert {"septic_tank", "ancient_tree", "bridge_weigh"} <= set(kinds)
    for kind in kinds.values():
        for rule in kind.rules:
            assert rule.source, f"{kind.key}.{rule.type} names no source"


def _post(client, token: str, ts: datetime, **values) -> None:
    r = client.post(
        "/telemetry/v1/septic_tank/st-0001",
        json={"ts": ts.isoformat(), **values},
        headers={"X-Device-Token": token},
    )
    assert r.status_code == 202, r.text


def _alarms(client, headers, status="all"):
    return client.get(f"/api/citygov/alarms?status={status}", headers=headers).json()


def test_lifecycle_create_update_ack_clear_reopen(client, tenants, settings) -> None:
    dev = register(client, tenants.a.headers(admin=True), name="化粪池1号")
    tok, h = dev["token"], tenants.a.headers()
    t = datetime.now(UTC) - timedelta(hours=1)
    _post(client, tok, t, ch4=30)  # create (major)
    first = _alarms(client, h)
    assert len(first) == 1 and first[0]["status"] == "active" and first[0]["severity"] == "major"
    alarm_id = first[0]["id"]
    _post(client, tok, t + timedelta(minutes=1), ch4=35)  # update, not a second alarm
    again = _alarms(client, h)
    assert len(again) == 1 and again[0]["count"] == 2 and again[0]["value"] == 35
    # acknowledge (the owner's member); a second acknowledgement is refused
    r = client.post(f"/api/citygov/alarms/{alarm_id}/ack", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    assert client.post(f"/api/citygov/alarms/{alarm_id}/ack", headers=h).status_code == 409
    _post(client, tok, t + timedelta(minutes=2), ch4=33)  # still the same, still acknowledged
    _post(client, tok, t + timedelta(minutes=3), ch4=22)  # inside the hysteresis band: no change
    one = _alarms(client, h)
    assert len(one) == 1 and one[0]["status"] == "acknowledged" and one[0]["count"] == 3
    _post(client, tok, t + timedelta(minutes=4), ch4=10)  # clears
    cleared = _alarms(client, h)
    assert [a["status"] for a in cleared] == ["cleared"] and cleared[0]["cleared_by"] == "auto"
    assert _alarms(client, h, "open") == []
    assert client.post(f"/api/citygov/alarms/{alarm_id}/ack", headers=h).status_code == 409
    # raised again: a new alarm that points to the cleared one
    _post(client, tok, t + timedelta(minutes=5), ch4=28)
    now_open = _alarms(client, h, "open")
    assert len(now_open) == 1 and now_open[0]["id"] != alarm_id
    assert now_open[0]["previous_id"] == alarm_id and now_open[0]["count"] == 1
    # cleared by hand
    r = client.post(f"/api/citygov/alarms/{now_open[0]['id']}/clear", headers=h)
    assert r.status_code == 200 and r.json()["cleared_by"] == f"user:{tenants.a.member.username}"
    assert (
        client.post(f"/api/citygov/alarms/{now_open[0]['id']}/clear", headers=h).status_code == 409
    )


def test_alarms_stay_with_their_organization(client, tenants) -> None:
    dev = register(client, tenants.a.headers(admin=True))
    _post(client, dev["token"], datetime.now(UTC) - timedelta(minutes=5), ch4=30)
    alarm_id = _alarms(client, tenants.a.headers())[0]["id"]
    assert _alarms(client, tenants.b.headers()) == []
    assert (
        client.post(f"/api/citygov/alarms/{alarm_id}/ack", headers=tenants.b.headers()).status_code
        == 404
    )
    # oversight sees it; the regulator may not act on it, the centre's reviewer may
    assert len(_alarms(client, tenants.regulator.headers())) == 1
    assert (
        client.post(
            f"/api/citygov/alarms/{alarm_id}/ack", headers=tenants.regulator.headers()
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/api/citygov/alarms/{alarm_id}/ack", headers=tenants.operator.headers()
        ).status_code
        == 200
    )


def test_critical_alarm_opens_one_case(client, tenants) -> None:
    dev = register(client, tenants.a.headers(admin=True), name="化粪池1号")
    t = datetime.now(UTC) - timedelta(minutes=30)
    _post(client, dev["token"], t, ch4=30)  # major: no case
    assert _alarms(client, tenants.a.headers())[0]["case_id"] is None
    _post(client, dev["token"], t + timedelta(minutes=1), ch4=60)  # escalated to critical: a case
    a = _alarms(client, tenants.a.headers())[0]
    assert a["severity"] == "critical" and a["case_id"] is not None
    _post(client, dev["token"], t + timedelta(minutes=2), ch4=70)
    b = _alarms(client, tenants.a.headers())
    assert len(b) == 1 and b[0]["case_id"] == a["case_id"]
    case = client.get(f"/api/citygov/cases/{a['case_id']}", headers=tenants.operator.headers())
    assert case.status_code == 200, case.text


def test_silent_device_and_its_return(client, tenants, settings) -> None:
    dev = register(client, tenants.a.headers(admin=True))
    with unit_of_work(SYSTEM, settings) as uow:
        assert alarms.check_silent(uow=uow) == {"raised": 0}
    later = datetime.now(UTC) + timedelta(minutes=61)
    with unit_of_work(SYSTEM, settings) as uow:
        assert alarms.check_silent(uow=uow, at=later) == {"raised": 1}
    with unit_of_work(SYSTEM, settings) as uow:
        assert alarms.check_silent(uow=uow, at=later) == {"raised": 0}  # not duplicated
    silent = _alarms(client, tenants.a.headers(), "open")
    assert [(a["type"], a["severity"]) for a in silent] == [("silent", "minor")]
    _post(client, dev["token"], datetime.now(UTC), battery=80)
    assert _alarms(client, tenants.a.headers(), "open") == []


def test_rate_of_change_from_stored_readings(client, tenants) -> None:
    dev = register(client, tenants.a.headers(admin=True), device_id="tree-7", kind="ancient_tree")
    h = {"X-Device-Token": dev["token"]}
    t = datetime.now(UTC) - timedelta(hours=2)
    url = "/telemetry/v1/ancient_tree/tree-7"
    assert client.post(url, json={"ts": t.isoformat(), "tilt": 1.0}, headers=h).status_code == 202
    assert (
        client.post(
            url, json={"ts": t.isoformat().replace("+00:00", "Z"), "soilMoisture": 40}, headers=h
        ).status_code
        == 409
    )
    t2 = t + timedelta(minutes=30)
    assert client.post(url, json={"ts": t2.isoformat(), "tilt": 2.6}, headers=h).status_code == 202
    got = {a["type"]: a["severity"] for a in _alarms(client, tenants.a.headers(), "open")}
    assert got == {"tilt_rate": "critical"}  # 3.2°/h; the tilt itself (2.6°) is under 3°
