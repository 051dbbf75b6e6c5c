"""Console pages of citygov, in zh-CN, as each role: the inspector collects, the seat registers
and dispatches, the unit's handler accepts and reports back with a photo, the seat verifies;
the citizen reports; PRG with one-time keys (a reload takes no step twice), live fragments."""

from __future__ import annotations

import re
from typing import Any

from tests.enablers.citygov.citygov_cases_support import (
    HTML,
    City,
    assert_readable,
    city_fixture,  # noqa: F401 - the shared fixture
    jpeg_with_gps,
    key_of,
    login,
    post,
)


def test_loop_through_the_console(client: Any, city: City) -> None:
    t = city.tenants
    # the inspector (a member of the centre) collects; a reload of the POST opens nothing new
    csrf = login(client, t.operator.admin.username)  # the centre's platform admin
    page = client.get("/citygov/desk", headers=HTML)
    assert page.status_code == 200 and 'id="collect-form"' in page.text
    assert_readable(page.text)
    form = {
        "csrf_token": csrf,
        "form_key": key_of(page.text, "collect-form"),
        "category": "E0102",
        "source": "inspector",
        "lon": "106.5770",
        "lat": "29.5570",
        "address": "解放碑",
        "description": "垃圾<script>alert(1)</script>",
    }
    r = post(
        client, "/citygov/cases", form, files=[("photo", ("a.jpg", jpeg_with_gps(), "image/jpeg"))]
    )
    assert r.status_code == 303, r.text
    case_url = r.headers["location"]
    assert re.fullmatch(r"/citygov/cases/\d+", case_url)
    assert post(client, "/citygov/cases", form).headers["location"] == case_url
    assert len(client.get("/api/citygov/cases", headers=city.seat).json()) == 1
    page = client.get(case_url, headers=HTML).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert_readable(page)
    # swapped coordinates are refused with a clear message, the form keeps what was typed
    bad = dict(
        form,
        form_key=key_of(client.get("/citygov/desk", headers=HTML).text, "collect-form"),
        lon="29.557",
        lat="106.577",
    )
    r = post(client, "/citygov/cases", bad)
    assert r.status_code == 422 and "填反" in r.text and 'value="29.557"' in r.text
    # the seat registers and dispatches from the case page
    csrf = login(client, t.operator.member.username)
    case_id = case_url.rsplit("/", 1)[1]
    page = client.get(case_url, headers=HTML).text
    r = post(
        client,
        f"{case_url}/step",
        {"csrf_token": csrf, "form_key": key_of(page), "action": "register"},
    )
    assert r.status_code == 303
    page = client.get(case_url, headers=HTML).text
    assert 'id="dispatch-form"' in page and "建议" in page
    step = {
        "csrf_token": csrf,
        "form_key": key_of(page, "dispatch-form"),
        "action": "dispatch",
        "unit_org_id": str(city.sanitation_org_id),
        "comment": "请今日清运",
    }
    assert post(client, f"{case_url}/step", step).status_code == 303
    assert post(client, f"{case_url}/step", step).status_code == 303  # a reload: nothing twice
    c = client.get(f"/api/citygov/cases/{case_id}", headers=city.seat).json()
    assert c["stage"] == "dispatched" and c["dispatch_count"] == 1
    # the unit's handler: the landing page is the task list; accept, report back with a photo
    csrf = login(client, t.a.member.username)
    r = client.get("/citygov", headers=HTML, follow_redirects=False)
    assert r.headers["location"] == "/citygov/tasks"
    tasks = client.get("/citygov/tasks", headers=HTML).text
    assert_readable(tasks)
    task_url = re.search(r'href="(/citygov/tasks/\d+)"', tasks).group(1)
    page = client.get(task_url, headers=HTML).text
    assert "解放碑" in page and "请今日清运" in page
    photo_url = re.search(r'src="(/citygov/photos/task/\d+/\d+)"', page).group(1)
    assert client.get(photo_url).headers["content-type"] == "image/jpeg"
    assert (
        post(
            client,
            f"{task_url}/step",
            {"csrf_token": csrf, "form_key": key_of(page), "action": "accept"},
        ).status_code
        == 303
    )
    page = client.get(task_url, headers=HTML).text
    fb = {
        "csrf_token": csrf,
        "form_key": key_of(page, "feedback-form"),
        "action": "feedback",
        "text": "已清运完毕",
    }
    r = post(
        client, f"{task_url}/step", fb, files=[("photo", ("b.jpg", jpeg_with_gps(), "image/jpeg"))]
    )
    assert r.status_code == 303, r.text
    assert_readable(client.get(task_url, headers=HTML).text)
    # the case file stays the centre's: the unit cannot open it
    assert client.get(case_url, headers=HTML).status_code == 404
    # another unit sees neither the task nor its photo
    login(client, t.b.member.username)
    assert client.get(task_url, headers=HTML).status_code == 404
    assert client.get(photo_url).status_code == 404
    # the seat verifies and closes
    csrf = login(client, t.operator.member.username)
    page = client.get(case_url, headers=HTML).text
    assert "已清运完毕" in page
    r = post(
        client,
        f"{case_url}/step",
        {"csrf_token": csrf, "form_key": key_of(page), "action": "verify_pass"},
    )
    assert r.status_code == 303
    page = client.get(case_url, headers=HTML).text
    assert "核查结案" in page
    assert_readable(page)
    for url in (
        "/citygov/overview",
        "/citygov/desk",
        "/citygov/kpi",
        "/citygov/shares",
        "/citygov/overview/live",
        "/citygov/desk/rows",
        "/citygov/alarms/panel",
    ):
        r = client.get(url, headers=HTML)
        assert r.status_code == 200, (url, r.text[:300])
        assert_readable(r.text)
    data = client.get("/citygov/overview/data").json()
    assert sum(len(v) for v in data["series"].values()) == 1
    assert [f["value"] for f in data["funnel"]] == [1, 1, 1, 1, 1, 1, 0]


def test_citizen_report_page(client: Any, city: City) -> None:
    # citizens are the public organization's members: their landing page is the report page
    csrf = login(client, city.citizen_username)
    r = client.get("/citygov", headers=HTML, follow_redirects=False)
    assert r.headers["location"] == "/citygov/report"
    page = client.get("/citygov/report", headers=HTML).text
    assert_readable(page)
    form = {
        "csrf_token": csrf,
        "form_key": key_of(page, "report-form"),
        "category": "E0102",
        "lon": "106.5770",
        "lat": "29.5570",
        "description": "路口有垃圾",
    }
    r = post(
        client, "/citygov/report", form, files=[("photo", ("c.jpg", jpeg_with_gps(), "image/jpeg"))]
    )
    assert r.status_code == 303, r.text
    assert post(client, "/citygov/report", form).status_code == 303
    page = client.get("/citygov/report", headers=HTML).text
    assert len(re.findall(r'id="report-\d+"', page)) == 1  # a reload made no second report
    assert "已受理" in page and "待核查结案后发放" in page
    assert_readable(page)
    bad = dict(form, form_key=key_of(page, "report-form"), lon="200")
    r = post(client, "/citygov/report", bad)
    assert r.status_code == 422 and 'value="200"' in r.text
