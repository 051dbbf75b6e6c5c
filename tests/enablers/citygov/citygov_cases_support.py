"""Shared set-up of the citygov cases tests: a command centre, units, an inspector, citizens.

Import the fixture into a test module: ``from tests.enablers.citygov.citygov_cases_support
import city_fixture  # noqa: F401`` (the fixture is named ``city``).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest
from PIL import Image

from mingyue.core import clock
from mingyue.enablers.citygov.service.supervise import supervise_overdue
from mingyue.sdk import SYSTEM, unit_of_work

# Monday 7 December 2026, 10:00 in Chongqing (a working day; working hours 09-12, 14-18).
MONDAY_10 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
# Places in Chongqing (lon, lat): Jiefangbei, and 30 m east of it; Guanyinqiao.
JIEFANGBEI = (106.5770, 29.5570)
NEAR_JIEFANGBEI = (106.5773, 29.5570)
GUANYINQIAO = (106.5300, 29.5760)


def bearer(token: str) -> dict[str, str]:
    """Return the Authorization header of a token."""
    return {"Authorization": f"Bearer {token}"}


def jpeg_with_gps(width: int = 64, height: int = 48) -> bytes:
    """Return a JPEG whose EXIF carries a GPS position, a camera maker and a date."""
    img = Image.new("RGB", (width, height), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0132] = "2026:12:07 10:00:00"  # DateTime
    gps = {1: "N", 2: (29.0, 33.0, 25.0), 3: "E", 4: (106.0, 34.0, 37.0)}
    exif[0x8825] = gps  # GPSInfo
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


@dataclass
class City:
    """The organizations and people of a city: the centre, two units, a citizen org."""

    tenants: Any
    centre_org_id: int
    seat: dict[str, str]  # 指挥中心坐席 (reviewer of the operator)
    inspector: dict[str, str]  # 监督员 (member of the operator)
    sanitation_org_id: int  # 环卫 unit (tenants.a)
    sanitation_admin: dict[str, str]
    sanitation_member: dict[str, str]
    municipal_org_id: int  # 市政 unit (tenants.b)
    municipal_member: dict[str, str]
    citizen: dict[str, str]
    citizen2: dict[str, str]
    citizen_user_id: int
    citizen_username: str
    public_org_id: int


@pytest.fixture(name="city")
def city_fixture(
    tenants: Any, make_org: Any, make_user: Any, token_for: Any, client: Any
) -> Iterator[City]:
    """A city at Monday 10:00 (clock frozen): units registered by the centre's seat."""
    inspector = make_user(tenants.operator.org, roles=("member",))
    public = make_org(kind="enterprise", name="市民服务（公众）")
    c1 = make_user(public, roles=("member",))
    c2 = make_user(public, roles=("member",))
    with clock.frozen(MONDAY_10):
        seat = tenants.operator.headers()
        for org, dept in ((tenants.a.org, "sanitation"), (tenants.b.org, "municipal")):
            r = client.post(
                "/api/citygov/units",
                json={"org_id": org.id, "department": dept, "district": "渝中区"},
                headers=seat,
            )
            assert r.status_code == 200, r.text
        yield City(
            tenants=tenants,
            centre_org_id=tenants.operator.org.id,
            seat=seat,
            inspector=bearer(token_for(inspector)),
            sanitation_org_id=tenants.a.org.id,
            sanitation_admin=tenants.a.headers(admin=True),
            sanitation_member=tenants.a.headers(),
            municipal_org_id=tenants.b.org.id,
            municipal_member=tenants.b.headers(),
            citizen=bearer(token_for(c1)),
            citizen2=bearer(token_for(c2)),
            citizen_user_id=c1.id,
            citizen_username=c1.username,
            public_org_id=public.id,
        )


def collect(
    client: Any,
    city: City,
    *,
    category: str = "E0102",
    where: tuple[float, float] = JIEFANGBEI,
    **extra: Any,
) -> dict[str, Any]:
    """Collect a case as the inspector; return it."""
    body = {
        "category": category,
        "lon": where[0],
        "lat": where[1],
        "description": "路边暴露垃圾",
        "address": "渝中区解放碑",
        **extra,
    }
    r = client.post("/api/citygov/cases", json=body, headers=city.inspector)
    assert r.status_code == 201, r.text
    return r.json()


def to_dispatched(
    client: Any, city: City, case: dict[str, Any], unit_org_id: int
) -> dict[str, Any]:
    """Register and dispatch a collected case; return the unit's task."""
    r = client.post(f"/api/citygov/cases/{case['id']}/register", json={}, headers=city.seat)
    assert r.status_code == 200, r.text
    r = client.post(
        f"/api/citygov/cases/{case['id']}/dispatch",
        json={"unit_org_id": unit_org_id, "instruction": "请尽快清运"},
        headers=city.seat,
    )
    assert r.status_code == 200, r.text
    assert r.json()["stage"] == "dispatched"
    return task_of(client, city, case["id"])


def task_of(client: Any, city: City, city_case_id: int) -> dict[str, Any]:
    """Return the newest task of a case (as the seat sees every task)."""
    tasks = [
        t
        for t in client.get("/api/citygov/tasks", headers=city.seat).json()
        if t["city_case_id"] == city_case_id
    ]
    assert tasks, "no task"
    return max(tasks, key=lambda t: t["id"])


def run_overdue_check(settings: Any) -> dict[str, int]:
    """Run the scheduled overdue check now, as the platform."""
    with unit_of_work(SYSTEM, settings) as uow:
        return supervise_overdue(uow)


# -- console helpers ----------------------------------------------------------------------------

HTML = {"accept": "text/html"}


class _Visible(HTMLParser):
    """The text a person reads: no scripts, styles, code, technical details."""

    SKIP = frozenset({"script", "style", "template", "code", "samp", "pre", "textarea"})
    VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "wbr", "source"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        if self._skip:
            self._skip += 1
        elif tag in self.SKIP or (tag == "details" and ("class", "tech") in attrs):
            self._skip = 1

    def handle_endtag(self, tag: str) -> None:
        if self._skip and tag not in self.VOID:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def visible(html: str) -> str:
    """Return the visible text of a page."""
    p = _Visible()
    p.feed(html)
    return "\n".join(p.parts)


_KEYLIKE = re.compile(r"\b[a-z][a-z0-9]*(?:[._][a-z0-9]+)+\b")
_ENUMS = re.compile(
    r"\b(collected|registered|dispatched|handling|fed_back|closed|evaluated|invalid|pending|"
    r"credited|capped|duplicate|returned|inspector|citizen|sensor|video|higher|sanitation|"
    r"municipal|inbox|webhook|delivered|dead|true|false|True|False|None|null)\b"
)


def assert_readable(html: str) -> None:
    """Fail on raw JSON, untranslated keys and English enum values in a zh-CN page's text."""
    text = visible(html)
    assert '{"' not in text and "\\u" not in text, text
    cleaned = re.sub(r"\buser\d+\b", "", text)
    assert not _KEYLIKE.findall(cleaned), _KEYLIKE.findall(cleaned)
    assert not _ENUMS.findall(cleaned), _ENUMS.findall(cleaned)


def login(client: Any, username: str) -> str:
    """Log in through the console form; return the session's CSRF token."""
    client.cookies.clear()
    r = client.post(
        "/login",
        data={"username": username, "password": "password123", "next": "/citygov"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get("/citygov/report?lang=zh_CN", headers=HTML)
    assert page.status_code == 200, page.text
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert m
    return m.group(1)


def key_of(html: str, form_id: str | None = None) -> str:
    """Return the one-time form key on a page (of one form when named)."""
    if form_id is not None:
        html = html[html.index(f'id="{form_id}"') :]
    m = re.search(r'name="form_key" value="([^"]+)"', html)
    assert m, "no one-time key on the page"
    return m.group(1)


def post(client: Any, url: str, data: dict[str, Any], files: Any = None) -> Any:
    """Post a console form without following the redirect."""
    return client.post(url, data=data, files=files, follow_redirects=False, headers=HTML)
