"""The cases part's engines: working-hour clocks, the category table, places, KPIs, photos."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from mingyue.enablers.citygov.engine.categories import load_catalogue, parse_limit
from mingyue.enablers.citygov.engine.kpi import TaskFacts, parse_weights, rank_units
from mingyue.enablers.citygov.engine.photo import strip_metadata
from mingyue.enablers.citygov.engine.places import check_point, distance_m, parse_box
from mingyue.enablers.citygov.engine.workhours import WorkCalendar, parse_windows
from mingyue.sdk import is_working_day
from mingyue.sdk.errors import InvalidInput
from tests.enablers.citygov.citygov_cases_support import jpeg_with_gps

CQ = ZoneInfo("Asia/Shanghai")
RULES = Path(__file__).resolve().parents[3] / "src/mingyue/enablers/citygov/rules"


def _cal() -> WorkCalendar:
    return WorkCalendar(parse_windows("09:00-12:00,14:00-18:00"), CQ, is_working_day)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=CQ)


def test_work_hours_skip_lunch_nights_weekends_and_holidays() -> None:
    cal = _cal()
    assert cal.hours_per_day == 7
    # Friday 17:00 + 4 working hours → Monday 12:00 (the weekend does not count)
    assert cal.add(local(2026, 12, 4, 17), 4, "wh") == local(2026, 12, 7, 12).astimezone(UTC)
    # Monday 11:00 + 2 wh: 1 h before lunch, 1 h after → 15:00
    assert cal.add(local(2026, 12, 7, 11), 2, "wh") == local(2026, 12, 7, 15).astimezone(UTC)
    # starting at night counts from the next morning
    assert cal.add(local(2026, 12, 7, 22), 1, "wh") == local(2026, 12, 8, 10).astimezone(UTC)
    # 1 working day = 7 working hours; clock hours run day and night
    assert cal.add(local(2026, 12, 7, 10), 1, "wd") == local(2026, 12, 8, 10).astimezone(UTC)
    assert cal.add(local(2026, 12, 7, 23), 2, "h") == local(2026, 12, 8, 1).astimezone(UTC)
    assert cal.between(local(2026, 12, 4, 17), local(2026, 12, 7, 12)) == pytest.approx(4)
    assert cal.between(local(2026, 12, 7, 12), local(2026, 12, 7, 11)) == 0


def test_statutory_holiday_is_not_a_working_day() -> None:
    cal = _cal()
    # National Day 2025 (1-8 Oct off; Sat 11 Oct worked in exchange)
    assert not is_working_day(date(2025, 10, 3)) and is_working_day(date(2025, 10, 11))
    assert cal.add(local(2025, 9, 30, 17), 2, "wh") == local(2025, 10, 9, 10).astimezone(UTC)


def test_bad_work_hours() -> None:
    for text in ("", "9-12", "12:00-09:00", "09:00-12:00,11:00-13:00", "25:00-26:00"):
        with pytest.raises(InvalidInput):
            parse_windows(text)


def test_shipped_category_table() -> None:
    cats = load_catalogue((RULES / "categories.yaml").read_text(encoding="utf-8"))
    assert cats.get("E0102").limit == parse_limit("1wd", where="x")
    assert cats.get("septic_tank").code == "C0302" and cats.get("e0404").code == "E0404"
    assert cats.get("overload").department == "transport" and not cats.get("overload").public
    assert cats.class_name(cats.get("C0101"), "zh") == "公用设施类"
    assert {c.source for c in cats.categories.values()} <= set(cats.sources)
    with pytest.raises(InvalidInput):
        cats.get("X0101")


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ("code: E0102", "code: E9902"),
        ('limit: "1wd"', 'limit: "soon"'),
        ('department: sanitation, limit: "1wd"', 'department: nowhere, limit: "1wd"'),
        ("source: jiyuan}", "source: rumour}"),
    ],
)
def test_category_table_errors(patch: str, key: str) -> None:
    text = (RULES / "categories.yaml").read_text(encoding="utf-8")
    assert patch in text
    with pytest.raises(InvalidInput):
        load_catalogue(text.replace(patch, key, 1))
    with pytest.raises(InvalidInput):
        load_catalogue("- just a list")


def test_places() -> None:
    box = parse_box("105.28,28.16,110.19,32.20")
    assert check_point(106.577, 29.557, box) == (106.577, 29.557)
    for lon, lat, key in (
        (29.557, 106.577, "citygov.swapped_location"),
        (116.4, 39.9, "citygov.outside_area"),
        (float("nan"), 29.5, "citygov.bad_location"),
        (181, 29.5, "citygov.bad_location"),
    ):
        with pytest.raises(InvalidInput) as err:
            check_point(lon, lat, box)
        assert err.value.key == key
    # 0.001° of longitude at 29.557° N is about 96.8 m
    assert distance_m(106.577, 29.557, 106.578, 29.557) == pytest.approx(96.8, abs=0.5)


def _fact(org: int, **kw: object) -> TaskFacts:
    base = dict(
        unit_org_id=org,
        dispatched_at=datetime(2026, 12, 1, tzinfo=UTC),
        due_at=datetime(2026, 12, 2, tzinfo=UTC),
        closed_at=None,
        fed_back_at=None,
        on_time=None,
        verified_on_time=None,
        feedback_count=0,
        rework_count=0,
        handle_hours=None,
    )
    base.update(kw)
    return TaskFacts(**base)  # type: ignore[arg-type]


def test_kpi_ranking() -> None:
    closed = datetime(2026, 12, 1, 12, tzinfo=UTC)
    fed = datetime(2026, 12, 1, 10, tzinfo=UTC)
    as_of = datetime(2026, 12, 31, tzinfo=UTC)
    facts = [
        # unit 1: two cases, both closed on time, one reworked
        _fact(
            1,
            closed_at=closed,
            fed_back_at=fed,
            on_time=True,
            verified_on_time=True,
            feedback_count=1,
            handle_hours=3.0,
        ),
        _fact(
            1,
            closed_at=closed,
            fed_back_at=fed,
            on_time=True,
            verified_on_time=False,
            feedback_count=2,
            rework_count=1,
            handle_hours=5.0,
        ),
        # unit 2: one closed late, one still open past its deadline
        _fact(
            2,
            closed_at=closed,
            fed_back_at=datetime(2026, 12, 3, tzinfo=UTC),
            on_time=False,
            verified_on_time=True,
            feedback_count=1,
            handle_hours=8.0,
        ),
        _fact(2),
    ]
    weights = parse_weights(
        "closed_on_time_rate:0.3,close_rate:0.2,rework_rate:0.15,"
        "overdue:0.15,avg_handle_hours:0.1,verify_on_time_rate:0.1"
    )
    u1, u2 = rank_units(facts, as_of=as_of, weights=weights)
    assert (u1.org_id, u1.rank, u2.org_id, u2.rank) == (1, 1, 2, 2)
    assert (u1.registered, u1.closed, u1.closed_on_time_rate, u1.rework_rate) == (2, 2, 1.0, 0.5)
    assert (u1.overdue, u1.avg_handle_hours, u1.verify_on_time_rate) == (0, 4.0, 0.5)
    assert (u2.closed_on_time_rate, u2.close_rate, u2.overdue, u2.avg_handle_hours) == (
        0.0,
        0.5,
        2,
        8.0,
    )
    # score: 100 * (0.3*1 + 0.2*1 + 0.15*0.5 + 0.15*1 + 0.1*1 + 0.1*0.5) = 87.5
    assert u1.score == 87.5
    # u2: 0 + 0.2*0.5 + 0.15*1 + 0.15*0 + 0.1*(4/8) + 0.1*1 = 0.4 → 40
    assert u2.score == 40.0
    # equal scores share a rank
    twins = rank_units([_fact(5), _fact(6)], as_of=as_of, weights=weights)
    assert [t.rank for t in twins] == [1, 1]
    for bad in ("speed:1", "close_rate:-1", "close_rate:0", "close_rate:x"):
        with pytest.raises(InvalidInput):
            parse_weights(bad)


def test_photo_metadata_is_stripped() -> None:
    raw = jpeg_with_gps(80, 60)
    assert Image.open(io.BytesIO(raw)).getexif().get(0x8825)
    clean = strip_metadata(raw, max_pixels=10_000)
    img = Image.open(io.BytesIO(clean.data))
    assert clean.mime == "image/jpeg" and img.size == (80, 60)
    assert not img.getexif() and "exif" not in img.info
    with pytest.raises(InvalidInput) as err:
        strip_metadata(raw, max_pixels=100)
    assert err.value.key == "citygov.photo.too_many_pixels"
    with pytest.raises(InvalidInput):
        strip_metadata(b"GIF89a" + b"\0" * 100, max_pixels=10_000)
    with pytest.raises(InvalidInput):
        strip_metadata(b"<svg onload=alert(1)>", max_pixels=10_000)
    png = io.BytesIO()
    Image.new("RGBA", (4, 4)).save(png, "PNG", pnginfo=None)
    assert strip_metadata(png.getvalue(), max_pixels=100).mime == "image/png"
