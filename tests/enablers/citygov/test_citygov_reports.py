"""Citizen reports (一端服务): photo without metadata, status as the case moves, rewards only
after 核查结案, de-duplication of the same problem, per-person daily caps, refusals."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

from PIL import Image

from mingyue.core import clock
from mingyue.sdk import SYSTEM, stored_path, unit_of_work
from tests.enablers.citygov.citygov_cases_support import (
    GUANYINQIAO,
    JIEFANGBEI,
    NEAR_JIEFANGBEI,
    City,
    city_fixture,  # noqa: F401 - the shared fixture
    jpeg_with_gps,
    task_of,
)


def report(
    client: Any,
    headers: dict[str, str],
    where: tuple[float, float] = JIEFANGBEI,
    category: str = "E0102",
    photo: bytes | None = None,
    **extra: Any,
) -> Any:
    files = [("photo", ("p.jpg", photo, "image/jpeg"))] if photo is not None else None
    data = {
        "category": category,
        "lon": str(where[0]),
        "lat": str(where[1]),
        "description": "有垃圾",
        **extra,
    }
    return client.post("/api/citygov/reports", data=data, files=files, headers=headers)


def close_case(client: Any, city: City, case_id: int, unit_org: int, unit: dict[str, str]) -> None:
    seat = city.seat
    assert (
        client.post(f"/api/citygov/cases/{case_id}/register", json={}, headers=seat).status_code
        == 200
    )
    r = client.post(
        f"/api/citygov/cases/{case_id}/dispatch", json={"unit_org_id": unit_org}, headers=seat
    )
    assert r.status_code == 200, r.text
    task = task_of(client, city, case_id)
    assert client.post(f"/api/citygov/tasks/{task['id']}/accept", headers=unit).status_code == 200
    r = client.post(
        f"/api/citygov/tasks/{task['id']}/feedback", data={"text": "已处理"}, headers=unit
    )
    assert r.status_code == 200, r.text
    r = client.post(f"/api/citygov/cases/{case_id}/verify", json={"passed": True}, headers=seat)
    assert r.status_code == 200, r.text


def test_report_to_reward(client: Any, city: City, settings: Any) -> None:
    r = report(client, city.citizen, photo=jpeg_with_gps(), address="解放碑")
    assert r.status_code == 201, r.text
    mine = r.json()
    assert mine["status"] == "received" and mine["reward_status"] == "pending"
    assert mine["case_code"].startswith("CG") and mine["photo_file_id"]
    with unit_of_work(SYSTEM, settings) as uow:
        stored = stored_path(uow=uow, file_id=mine["photo_file_id"]).read_bytes()
    img = Image.open(io.BytesIO(stored))
    assert not img.getexif() and b"PhoneMaker" not in stored and b"GPS" not in stored
    # the case is the centre's; the citizen sees only their report's status
    case_id = mine["city_case_id"]
    case = client.get(f"/api/citygov/cases/{case_id}", headers=city.seat).json()
    assert case["source"] == "citizen" and case["photo_file_ids"] == [mine["photo_file_id"]]
    assert client.get(f"/api/citygov/cases/{case_id}", headers=city.citizen).status_code == 404
    # a second citizen reports the same problem 30 m away: joins the case, no reward
    dup = report(client, city.citizen2, where=NEAR_JIEFANGBEI).json()
    assert (
        dup["city_case_id"] == case_id and dup["duplicate"] and dup["reward_status"] == "duplicate"
    )
    # another category at the same place, or the same one far away, is another problem
    other = report(client, city.citizen2, category="E0201").json()
    far = report(client, city.citizen2, where=GUANYINQIAO).json()
    assert len({case_id, other["city_case_id"], far["city_case_id"]}) == 3
    # the report follows its case; the reward waits for 核查结案
    client.post(f"/api/citygov/cases/{case_id}/register", json={}, headers=city.seat)
    got = client.get(f"/api/citygov/reports/{mine['id']}", headers=city.citizen).json()
    assert got["status"] == "processing" and got["reward_cny"] is None
    client.post(
        f"/api/citygov/cases/{case_id}/dispatch",
        json={"unit_org_id": city.sanitation_org_id},
        headers=city.seat,
    )
    task = task_of(client, city, case_id)
    client.post(f"/api/citygov/tasks/{task['id']}/accept", headers=city.sanitation_member)
    client.post(
        f"/api/citygov/tasks/{task['id']}/feedback",
        data={"text": "已清运"},
        headers=city.sanitation_member,
    )
    got = client.get(f"/api/citygov/reports/{mine['id']}", headers=city.citizen).json()
    assert got["status"] == "processing" and got["reward_status"] == "pending"
    client.post(f"/api/citygov/cases/{case_id}/verify", json={"passed": True}, headers=city.seat)
    got = client.get(f"/api/citygov/reports/{mine['id']}", headers=city.citizen).json()
    assert got["status"] == "closed" and got["reward_status"] == "credited"
    assert got["reward_cny"] == "5.00"
    dup = client.get(f"/api/citygov/reports/{dup['id']}", headers=city.citizen2).json()
    assert (
        dup["status"] == "closed"
        and dup["reward_status"] == "duplicate"
        and dup["reward_cny"] is None
    )
    # reporters see their own reports only
    assert (
        client.get(f"/api/citygov/reports/{mine['id']}", headers=city.citizen2).status_code == 404
    )
    assert (
        client.get(f"/api/citygov/reports/{mine['id']}", headers=city.sanitation_member).status_code
        == 404
    )
    assert [x["id"] for x in client.get("/api/citygov/reports", headers=city.citizen).json()] == [
        mine["id"]
    ]


def test_daily_cap_and_rejected_reports(client: Any, city: City, settings: Any) -> None:
    settings.citygov["reward_daily_cap"] = 1
    a = report(client, city.citizen).json()
    b = report(client, city.citizen, where=GUANYINQIAO).json()
    c = report(client, city.citizen, where=(106.55, 29.56)).json()
    close_case(client, city, a["city_case_id"], city.sanitation_org_id, city.sanitation_member)
    close_case(client, city, b["city_case_id"], city.sanitation_org_id, city.sanitation_member)
    got = {x["id"]: x for x in client.get("/api/citygov/reports", headers=city.citizen).json()}
    assert got[a["id"]]["reward_status"] == "credited" and got[b["id"]]["reward_status"] == "capped"
    # not registered (不予立案): no reward, the reporter reads why in the status
    r = client.post(
        f"/api/citygov/cases/{c['city_case_id']}/reject",
        json={"comment": "现场无此问题"},
        headers=city.seat,
    )
    assert r.status_code == 200, r.text
    got = client.get(f"/api/citygov/reports/{c['id']}", headers=city.citizen).json()
    assert got["status"] == "rejected" and got["reward_status"] == "none"
    # the next day the cap starts again
    clock.advance(timedelta(days=1))
    d = report(client, city.citizen, where=(106.56, 29.57)).json()
    close_case(client, city, d["city_case_id"], city.sanitation_org_id, city.sanitation_member)
    assert (
        client.get(f"/api/citygov/reports/{d['id']}", headers=city.citizen).json()["reward_status"]
        == "credited"
    )


def test_refusals(client: Any, city: City, settings: Any) -> None:
    assert (
        report(client, city.citizen, where=(29.557, 106.577)).json()["key"]
        == "citygov.swapped_location"
    )
    assert (
        report(client, city.citizen, where=(121.47, 31.23)).json()["key"] == "citygov.outside_area"
    )
    assert (
        report(client, city.citizen, category="E0404").json()["key"]
        == "citygov.category_not_public"
    )
    assert report(client, city.citizen, photo=b"MZ\x90\x00 not an image").status_code == 422
    settings.citygov["max_photo_bytes"] = 2048
    big = report(client, city.citizen, photo=jpeg_with_gps(400, 400) + b"\0" * 4096)
    assert big.status_code == 413 and big.json()["key"] == "citygov.photo.too_large"
    assert report(client, city.citizen, description="x\x07y").status_code == 422
    # a unit, the centre's seat or a regulator do not report as citizens through this route
    assert report(client, city.seat).status_code == 403
    assert report(client, city.tenants.regulator.headers()).status_code == 403
    assert (
        client.post(
            "/api/citygov/reports",
            data={"category": "E0102", "lon": "x", "lat": "1"},
            headers=city.citizen,
        ).status_code
        == 422
    )
