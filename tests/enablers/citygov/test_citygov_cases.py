"""The 数字城管 closed loop through the API: collect → register → dispatch → accept → feedback →
verify (rework, then close) → evaluate, with the centre, a unit and an inspector in their roles."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from mingyue.core import clock
from mingyue.enablers.citygov.service.closed_loop import open_from_alarm
from mingyue.sdk import SYSTEM, get_case, list_findings, unit_of_work
from mingyue.sdk.errors import InvalidInput
from tests.enablers.citygov.citygov_cases_support import (
    GUANYINQIAO,
    City,
    city_fixture,  # noqa: F401 - the shared fixture
    collect,
    jpeg_with_gps,
    run_overdue_check,
    task_of,
    to_dispatched,
)


def test_closed_loop_with_rework(client: Any, city: City, settings: Any) -> None:
    case = collect(client, city)
    assert case["stage"] == "collected" and case["code"].startswith("CG20261207")
    assert case["department"] == "sanitation" and case["source"] == "inspector"
    task = to_dispatched(client, city, case, city.sanitation_org_id)
    assert task["status"] == "dispatched" and task["limit_unit"] == "wd"
    # E0102 暴露垃圾: 1 working day from Monday 10:00 → Tuesday 10:00 local (02:00 UTC)
    assert task["due_at"].startswith("2026-12-08T02:00:00")
    assert task["snapshot"]["address"] == "渝中区解放碑"
    # the unit sees its task, not the centre's file; another unit sees neither
    unit = city.sanitation_member
    assert client.get(f"/api/citygov/tasks/{task['id']}", headers=unit).status_code == 200
    assert client.get(f"/api/citygov/cases/{case['id']}", headers=unit).status_code == 404
    assert (
        client.get(f"/api/citygov/tasks/{task['id']}", headers=city.municipal_member).status_code
        == 404
    )
    assert (
        client.post(
            f"/api/citygov/tasks/{task['id']}/accept", headers=city.municipal_member
        ).status_code
        == 404
    )
    r = client.post(f"/api/citygov/tasks/{task['id']}/accept", headers=unit)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "handling"
    clock.advance(timedelta(hours=2))
    r = client.post(
        f"/api/citygov/tasks/{task['id']}/feedback",
        data={"text": "已清运"},
        files=[("photos", ("after.jpg", jpeg_with_gps(), "image/jpeg"))],
        headers=unit,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "fed_back" and len(r.json()["feedback_photo_ids"]) == 1
    # verification fails: back to the unit (返工), a reason is required
    r = client.post(
        f"/api/citygov/cases/{case['id']}/verify", json={"passed": False}, headers=city.seat
    )
    assert r.status_code == 422
    r = client.post(
        f"/api/citygov/cases/{case['id']}/verify",
        json={"passed": False, "comment": "现场仍有垃圾"},
        headers=city.seat,
    )
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "handling" and r.json()["rework_count"] == 1
    r = client.post(
        f"/api/citygov/tasks/{task['id']}/feedback", data={"text": "已彻底清理"}, headers=unit
    )
    assert r.status_code == 200, r.text
    r = client.post(
        f"/api/citygov/cases/{case['id']}/verify", json={"passed": True}, headers=city.seat
    )
    assert r.status_code == 200, r.text
    closed = r.json()
    assert closed["stage"] == "closed" and closed["closed_at"]
    done = client.get(f"/api/citygov/tasks/{task['id']}", headers=unit).json()
    assert done["status"] == "closed" and done["on_time"] is True and done["rework_count"] == 1
    # the core case went through the seven stages, with the history of each step
    with unit_of_work(SYSTEM, settings) as uow:
        core = get_case(uow=uow, case_id=case["case_id"])
        moves = [e.name for e in core.events if e.kind == "transition"]
        assert core.state == "closed" and core.assignee_org_id == city.sanitation_org_id
    assert moves == [
        "register",
        "dispatch",
        "accept",
        "feedback",
        "rework",
        "feedback",
        "verify_pass",
    ]
    # month end: 综合评价
    r = client.post("/api/citygov/evaluations?period=2026-12", headers=city.seat)
    assert r.status_code == 202, r.text


def test_send_back_and_redispatch(client: Any, city: City) -> None:
    case = collect(client, city, category="C0203", where=GUANYINQIAO)  # a bridge: municipal
    task = to_dispatched(client, city, case, city.sanitation_org_id)  # wrong unit
    r = client.post(
        f"/api/citygov/tasks/{task['id']}/send-back", json={}, headers=city.sanitation_member
    )
    assert r.status_code == 422  # a reason is required
    r = client.post(
        f"/api/citygov/tasks/{task['id']}/send-back",
        json={"comment": "桥梁不属环卫"},
        headers=city.sanitation_member,
    )
    assert r.status_code == 200 and r.json()["status"] == "returned"
    again = client.get(f"/api/citygov/cases/{case['id']}", headers=city.seat).json()
    assert again["stage"] == "registered" and again["unit_org_id"] is None
    r = client.post(
        f"/api/citygov/cases/{case['id']}/dispatch",
        json={"unit_org_id": city.municipal_org_id},
        headers=city.seat,
    )
    assert r.status_code == 200 and r.json()["dispatch_count"] == 2
    assert task_of(client, city, case["id"])["organization_id"] == city.municipal_org_id


def test_overdue_supervision_escalation_and_finding(client: Any, city: City, settings: Any) -> None:
    case = collect(client, city, category="E0104")  # 道路不洁: 5 working hours
    task = to_dispatched(client, city, case, city.sanitation_org_id)
    # Monday 10:00 + 5 working hours (10-12, 14-17) → Monday 17:00
    assert task["due_at"].startswith("2026-12-07T09:00:00")
    assert run_overdue_check(settings) == {"supervised": 0, "escalated": 0}
    clock.advance(timedelta(hours=7, minutes=30))  # Monday 17:30
    assert run_overdue_check(settings) == {"supervised": 1, "escalated": 0}
    assert run_overdue_check(settings) == {"supervised": 0, "escalated": 0}  # not twice
    clock.advance(timedelta(hours=16))  # Tuesday 09:30: 1 working hour later, not yet 4
    assert run_overdue_check(settings)["supervised"] == 0
    clock.advance(timedelta(hours=4))  # Tuesday 13:30: 3.5 working hours since
    assert run_overdue_check(settings)["supervised"] == 0
    clock.advance(timedelta(hours=1))  # Tuesday 14:30: 4 working hours since
    assert run_overdue_check(settings) == {"supervised": 1, "escalated": 1}
    notes = client.get("/api/citygov/supervisions", headers=city.sanitation_admin).json()
    assert [n["level"] for n in notes] == [2, 1, 1]
    assert notes[0]["to_org_id"] == city.centre_org_id
    assert client.get("/api/citygov/supervisions", headers=city.municipal_member).json() == []
    with unit_of_work(SYSTEM, settings) as uow:
        found = list_findings(uow=uow, actor=SYSTEM, organization_id=city.sanitation_org_id)
        assert [f.rule for f in found] == ["citygov.case_escalated"]
        assert found[0].status == "open"
    # handled late and closed: the finding is settled (fixed), the task counted late
    client.post(f"/api/citygov/tasks/{task['id']}/accept", headers=city.sanitation_member)
    client.post(
        f"/api/citygov/tasks/{task['id']}/feedback",
        data={"text": "已清扫"},
        headers=city.sanitation_member,
    )
    r = client.post(
        f"/api/citygov/cases/{case['id']}/verify", json={"passed": True}, headers=city.seat
    )
    assert r.status_code == 200, r.text
    with unit_of_work(SYSTEM, settings) as uow:
        found = list_findings(uow=uow, actor=SYSTEM, organization_id=city.sanitation_org_id)
        assert found[0].status == "fixed"
    assert (
        client.get(f"/api/citygov/tasks/{task['id']}", headers=city.seat).json()["on_time"] is False
    )


def test_roles_and_tenants(client: Any, city: City) -> None:
    case = collect(client, city)
    # a unit cannot register or dispatch, a citizen cannot collect, a unit cannot read the file
    assert (
        client.post(
            f"/api/citygov/cases/{case['id']}/register", json={}, headers=city.sanitation_admin
        ).status_code
        == 403
    )
    body = {"category": "E0102", "lon": 106.577, "lat": 29.557}
    assert client.post("/api/citygov/cases", json=body, headers=city.citizen).status_code == 404
    assert client.get("/api/citygov/cases", headers=city.sanitation_admin).json() == []
    # the regulator reads, cannot act
    reg = city.tenants.regulator.headers()
    assert client.get(f"/api/citygov/cases/{case['id']}", headers=reg).status_code == 200
    assert (
        client.post(f"/api/citygov/cases/{case['id']}/register", json={}, headers=reg).status_code
        == 403
    )
    # dispatching to an organization that is not a unit is refused
    client.post(f"/api/citygov/cases/{case['id']}/register", json={}, headers=city.seat)
    r = client.post(
        f"/api/citygov/cases/{case['id']}/dispatch",
        json={"unit_org_id": city.public_org_id},
        headers=city.seat,
    )
    assert r.status_code == 422 and "not_a_unit" in r.text


def test_bad_input(client: Any, city: City) -> None:
    seat = city.seat

    def post(body: dict[str, Any]) -> Any:
        return client.post(
            "/api/citygov/cases", json={"category": "E0102", **body}, headers=city.inspector
        )

    assert post({"lon": 29.557, "lat": 106.577}).json()["key"] == "citygov.swapped_location"
    assert post({"lon": 116.4, "lat": 39.9}).json()["key"] == "citygov.outside_area"
    assert post({"lon": 200, "lat": 29.5}).status_code == 422
    assert (
        post({"lon": 106.577, "lat": 29.557, "category": "X9999"}).json()["key"]
        == "citygov.unknown_category"
    )
    assert post({"lon": 106.577, "lat": 29.557, "description": "a\x00b"}).status_code == 422
    r = client.post("/api/citygov/cases/99999999/register", json={}, headers=seat)
    assert r.status_code == 404
    r = client.post(
        "/api/citygov/cases/1/register",
        content=b"{",
        headers={**seat, "content-type": "application/json"},
    )
    assert r.status_code == 422


def test_idempotent_collect_and_step(client: Any, city: City) -> None:
    hdr = {**city.inspector, "Idempotency-Key": "collect-0001"}
    body = {"category": "E0102", "lon": 106.577, "lat": 29.557}
    a = client.post("/api/citygov/cases", json=body, headers=hdr).json()
    b = client.post("/api/citygov/cases", json=body, headers=hdr).json()
    assert a["id"] == b["id"]
    step = {**city.seat, "Idempotency-Key": "register-0001"}
    assert (
        client.post(f"/api/citygov/cases/{a['id']}/register", json={}, headers=step).status_code
        == 200
    )
    assert (
        client.post(f"/api/citygov/cases/{a['id']}/register", json={}, headers=step).status_code
        == 200
    )


def test_open_from_alarm_once_per_alarm(
    client: Any, city: City, settings: Any, actor_of: Any
) -> None:
    device_owner = actor_of(city.tenants.b.member)  # the alarm arrives in its owner's work
    with unit_of_work(device_owner, settings) as uow:
        first = open_from_alarm(
            uow,
            org_id=city.municipal_org_id,
            alarm_id=7,
            category="septic_tank",
            title="化粪池沼气浓度超限",
            lon=106.577,
            lat=29.557,
            source="mqtt",
        )
        again = open_from_alarm(
            uow,
            org_id=city.municipal_org_id,
            alarm_id=7,
            category="C0302",
            title="化粪池沼气浓度超限",
            lon=106.577,
            lat=29.557,
            source="mqtt",
        )
    assert first == again
    case = client.get(f"/api/citygov/cases/{first}", headers=city.seat).json()
    assert (case["source"], case["source_ref"], case["category"]) == ("sensor", "alarm:7", "C0302")
    assert case["stage"] == "collected" and case["title"] == "化粪池沼气浓度超限"
    with unit_of_work(device_owner, settings) as uow:
        other = open_from_alarm(
            uow,
            org_id=city.municipal_org_id,
            alarm_id=8,
            category="overload",
            title="桥梁超载",
            lon=106.53,
            lat=29.576,
            source="http",
        )
    assert other != first
    with unit_of_work(device_owner, settings) as uow, pytest.raises(InvalidInput):
        open_from_alarm(
            uow,
            org_id=city.municipal_org_id,
            alarm_id=9,
            category="tree_tilt",
            title="古树倾斜",
            lon=29.5,
            lat=106.5,
            source="mqtt",
        )
