"""Open311 GeoReport v2 façade against a live server, read with the PyPI client ``georeport``
(JSON and XML) and written with form-encoded POSTs as Open311 apps send them."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from georeport import GeoReport

from tests.enablers.citygov.citygov_cases_support import (
    JIEFANGBEI,
    NEAR_JIEFANGBEI,
    City,
    city_fixture,  # noqa: F401 - the shared fixture
    collect,
)
from tests.web.browser_support import live_server  # noqa: F401 - the shared fixture


@pytest.fixture
def o311(live_server: str) -> str:  # noqa: F811 - the shared fixture
    return f"{live_server}/open311/v2"


def _post(base: str, data: dict[str, Any], **kw: Any) -> requests.Response:
    return requests.post(f"{base}/requests.json", data=data, timeout=10, **kw)


def test_services_and_definition(o311: str, city: City) -> None:
    client = GeoReport(o311)
    services = client.get_service_list()
    codes = {s["service_code"]: s for s in services}
    assert "E0102" in codes and "E0404" not in codes  # 车辆超载 is not for citizens
    s = codes["E0102"]
    assert s["service_name"] == "暴露垃圾" and s["type"] == "realtime" and s["metadata"] is False
    assert s["group"] == "市容环境类" and set(s) >= {"description", "keywords"}
    english = requests.get(f"{o311}/services.json", headers={"Accept-Language": "en"}, timeout=10)
    assert any(x["service_name"] == "Exposed rubbish" for x in english.json())
    assert client.get_service_definition("E0102") == {"service_code": "E0102", "attributes": []}
    r = requests.get(f"{o311}/services/E0404.json", timeout=10)
    assert r.status_code == 404 and r.json()[0]["code"] == 404
    xml = GeoReport(o311, output_format="xml").get_service_list()
    assert any(x["service_code"] == "E0102" for x in xml)


def test_post_and_read_requests(o311: str, city: City) -> None:
    token = city.citizen["Authorization"].split()[1]
    form = {
        "api_key": token,
        "service_code": "E0102",
        "lat": str(JIEFANGBEI[1]),
        "long": str(JIEFANGBEI[0]),
        "description": "垃圾<script>alert(1)</script>",
        "address_string": "解放碑步行街",
        "email": "citizen@example.com",
    }
    r = _post(o311, form)
    assert r.status_code == 200, r.text
    first = r.json()[0]
    assert set(first) == {"service_request_id", "service_notice", "account_id"}
    # the same problem 30 m away, from an app with a bearer header: joins the same request
    form2 = {k: v for k, v in form.items() if k != "api_key"}
    form2.update(
        lat=str(NEAR_JIEFANGBEI[1]), long=str(NEAR_JIEFANGBEI[0]), email="other@example.com"
    )
    r = _post(o311, form2, headers=city.citizen2)
    assert r.status_code == 200, r.text
    assert r.json()[0]["service_request_id"] == first["service_request_id"]
    client = GeoReport(o311)
    one = client.get_service_request(first["service_request_id"])
    assert one["status"] == "open" and one["service_code"] == "E0102"
    assert one["lat"] == pytest.approx(JIEFANGBEI[1]) and one["long"] == pytest.approx(
        JIEFANGBEI[0]
    )
    assert one["agency_responsible"] == "环境卫生" and one["requested_datetime"].endswith("+08:00")
    assert "citizen@example.com" not in str(one) and one["description"].startswith("垃圾<script>")
    listed = client.get_service_requests(service_code="E0102", status="open")
    assert [x["service_request_id"] for x in listed] == [first["service_request_id"]]
    assert client.get_service_requests(status="closed") == []
    several = client.get_service_requests(
        service_request_id=f"{first['service_request_id']},999999"
    )
    assert len(several) == 1
    xml = GeoReport(o311, output_format="xml").get_service_request(first["service_request_id"])
    assert xml["service_code"] == "E0102"


def test_errors_in_the_spec_format(o311: str, city: City) -> None:
    token = city.citizen["Authorization"].split()[1]
    base = {"service_code": "E0102", "lat": "29.557", "long": "106.577"}
    r = _post(o311, base)  # no api_key
    assert r.status_code == 401 and r.json()[0]["code"] == 401
    r = _post(o311, {**base, "api_key": "myt_not-a-token"})
    assert r.status_code == 401 and set(r.json()[0]) == {"code", "description"}
    r = _post(o311, {**base, "api_key": token, "lat": "106.577", "long": "29.557"})
    assert r.status_code == 422 and "swapped" in r.json()[0]["description"]
    r = _post(o311, {"api_key": token, "service_code": "E0102", "address_string": "somewhere"})
    assert r.status_code == 422 and "lat and long" in r.json()[0]["description"]
    r = _post(o311, {**base, "api_key": token, "service_code": "NOPE"})
    assert r.status_code == 404
    r = _post(o311, {**base, "api_key": token, "media_url": "file:///etc/passwd"})
    assert r.status_code == 422
    r = requests.get(
        f"{o311}/requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-12-01T00:00:00Z",
        timeout=10,
    )
    assert r.status_code == 422 and r.json()[0]["code"] == 422
    r = requests.get(f"{o311}/requests.json?start_date=yesterday", timeout=10)
    assert r.status_code == 422
    r = requests.get(f"{o311}/requests/abc.json", timeout=10)
    assert r.status_code == 404 and r.json() == [
        {"code": 404, "description": "no such service request"}
    ]
    r = requests.get(f"{o311}/services.csv", timeout=10)
    assert r.status_code == 404
    r = requests.get(f"{o311}/requests/1.xml", timeout=10)
    assert (
        r.status_code == 404 and r.text.startswith("<?xml") and "<errors><error><code>404" in r.text
    )


def test_sensor_and_inspector_cases_are_listed_unless_not_public(
    client: Any, o311: str, city: City
) -> None:
    case = collect(client, city)
    listed = GeoReport(o311).get_service_requests()
    assert [x["service_request_id"] for x in listed] == [str(case["id"])]
    hidden = collect(client, city, category="E0404")  # 车辆超载: the police's, not public
    assert requests.get(f"{o311}/requests/{hidden['id']}.json", timeout=10).status_code == 404
