"""Digital-economy indicators: defensive uploads, formulas, target paths, ranking, supervision."""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from mingyue.enablers.policy.engine.indicators import (
    assess,
    load_catalogue,
    parse_period,
    parse_rows,
    parse_value,
    path_value,
    rank,
    read_csv,
)
from mingyue.enablers.policy.models_service import PolicyIndicatorAlert
from mingyue.enablers.policy.service import indicators
from mingyue.sdk import SYSTEM, enqueue, get_case, run_job_now, unit_of_work
from mingyue.sdk.errors import Forbidden, InvalidInput, PayloadTooLarge
from tests.enablers.policy.policy_service_support import DATA

CAT = load_catalogue(
    Path(__file__).resolve().parents[3]
    / "src"
    / "mingyue"
    / "enablers"
    / "policy"
    / "rules"
    / "indicators.yaml"
)
TOL = Decimal("0.05")


@pytest.mark.parametrize(
    ("cell", "text"),
    [
        ("2023", "2023"),
        ("2023年", "2023"),
        (2023, "2023"),
        (2023.0, "2023"),
        ("2023Q2", "2023Q2"),
        ("2023-q3", "2023Q3"),
        ("2023年第二季度", "2023Q2"),
        ("2023年4季度", "2023Q4"),
        ("2023-05", "2023-05"),
        ("2023年5月", "2023-05"),
        ("２０２３年５月", "2023-05"),  # full-width digits
    ],
)
def test_periods_as_people_write_them(cell: object, text: str) -> None:
    assert parse_period(cell).text == text


@pytest.mark.parametrize("cell", ["23", "2023Q5", "2023-13", "last year", "1800", ""])
def test_bad_periods(cell: str) -> None:
    with pytest.raises(ValueError):
        parse_period(cell)


def test_values_and_units() -> None:
    assert parse_value("1,234.5") == Decimal("1234.5")
    assert parse_value("４０％") == Decimal("40")
    for bad in ("NaN", "1e400", "12亿", True, "--1"):
        with pytest.raises(ValueError):
            parse_value(bad)


def test_the_catalogue_carries_the_published_targets() -> None:
    assert CAT.get("de_scale").targets["重庆市"] == {2022: Decimal(10000)}  # type: ignore[union-attr]
    assert CAT.get("de_gdp_share").targets["重庆市"] == {2022: Decimal(40)}  # type: ignore[union-attr]
    for key, n in (("leading_firms", 100), ("high_growth_firms", 500), ("srdi_smes", 5000)):
        assert CAT.get(key).targets["重庆市"][2022] == n  # type: ignore[union-attr]
    assert CAT.get("highlands").targets["重庆市"][2022] == 10  # type: ignore[union-attr]
    assert len(CAT.highlands) == 10 and all(h["responsible"]["zh"] for h in CAT.highlands)


def test_bad_rows_are_reported_by_line_and_the_rest_is_read() -> None:
    text = (
        "指标,地区,期间,数值,单位\n"
        "数字经济核心产业增加值,两江新区,2023,705,亿元\n"
        "不存在的指标,两江新区,2023,1,\n"
        "地区生产总值,两江新区,2023年,3850,亿元\n"
        ",,,,\n"
        "数字经济核心产业增加值,两江新区,2023-05,60,亿元\n"
        "数字经济核心产业增加值,两江新区,2023,700,亿元\n"
        "地区生产总值,,2023,1,亿元\n"
        "专精特新中小企业和创新团队,两江新区,2024Q1,1090,家\n"
        "地区生产总值,渝北区,2023,-5,亿元\n"
        "地区生产总值,渝北区,2022,2300,万元\n"
        "地区生产总值,渝北区,2021,23,家\n"
    )
    parsed = parse_rows(read_csv(text.encode("gb18030"), max_rows=100), CAT)
    got = [(e.line, e.key) for e in parsed.errors]
    assert got == [
        (3, "policy.indicator.unknown"),
        (6, "policy.indicator.too_fine"),
        (7, "policy.indicator.duplicate"),
        (8, "policy.indicator.bad_district"),
        (10, "policy.indicator.negative"),
        (12, "policy.indicator.bad_value"),
    ]
    assert parsed.rows == 10 and len(parsed.observations) == 4
    yubei = next(o for o in parsed.observations if o.district == "渝北区")
    assert yubei.value == Decimal("0.23")  # 2300 万元 in 亿元


def test_paths_gaps_and_ranking() -> None:
    de = CAT.get("de_scale")
    srdi = CAT.get("srdi_smes")
    assert de is not None and srdi is not None
    assert path_value(de, "两江新区", parse_period("2023")) == Decimal(1600)
    assert path_value(de, "两江新区", parse_period("2021")) is None  # before the first target
    assert path_value(de, "两江新区", parse_period("2030")) == Decimal(2000)  # the last holds
    assert path_value(de, "两江新区", parse_period("2024Q2")) is None  # a flow: yearly only
    # a stock interpolates within the year: halfway from 1050 (2023) to 1200 (2024)
    assert path_value(srdi, "两江新区", parse_period("2024Q2")) == Decimal(1125)
    a = assess(srdi, "沙坪坝区", parse_period("2024Q2"), Decimal(455), TOL)
    assert a.path == Decimal(505) and a.lagging and a.gap == Decimal(-50)
    assert not assess(srdi, "两江新区", parse_period("2024Q2"), Decimal(1100), TOL).lagging
    ranked = rank(
        de,
        parse_period("2024"),
        {"两江新区": Decimal(1820), "九龙坡区": Decimal(750), "无目标区": Decimal(9999)},
        TOL,
    )
    assert [(r.rank, r.district, r.assessment.lagging) for r in ranked] == [
        (1, "两江新区", False),
        (2, "九龙坡区", True),
        (3, "无目标区", False),
    ]


def _desk(tenants: Any, actor_of: Any) -> Any:
    return actor_of(tenants.operator.member)


def _upload(settings: Any, actor: Any, data: bytes, name: str, **kw: Any) -> Any:
    with unit_of_work(actor, settings) as uow:
        return indicators.upload_statistics(uow=uow, actor=actor, upload=data, filename=name, **kw)


def test_an_upload_derives_formulas_and_opens_cases_for_laggards(
    settings: Any, tenants: Any, actor_of: Any
) -> None:
    desk = _desk(tenants, actor_of)
    out = _upload(settings, desk, (DATA / "demo_statistics.csv").read_bytes(), "stats.csv")
    assert out.status == "accepted" and out.rows == out.accepted == 60 and out.errors == []
    assert out.derived == 24  # de_scale and its GDP share for 4 districts x 3 years
    assert out.alerts == 4  # the latest period of each pair only: 2022's gaps are history
    with unit_of_work(desk, settings) as uow:
        alerts = indicators.list_alerts(uow=uow, actor=desk)
        got = sorted((a.indicator, a.district, a.period) for a in alerts)
        assert got == [
            ("core_value_added", "九龙坡区", "2024"),
            ("de_gdp_share", "九龙坡区", "2024"),
            ("de_scale", "九龙坡区", "2024"),
            ("srdi_smes", "沙坪坝区", "2024Q2"),
        ]
        case = get_case(uow=uow, case_id=alerts[0].case_id, actor=desk)
        assert case.kind == "policy.indicator_lag" and case.state == "open"
        assert case.organization_id == tenants.operator.org.id
        assert case.data["responsible"] and "落后目标路径" in case.title
        series = indicators.series(uow=uow, actor=desk, indicator="de_scale", district="九龙坡区")
        p2024 = next(p for p in series.points if p.period == "2024")
        assert p2024.actual == Decimal(750) and p2024.derived and p2024.lagging
        assert [p.period for p in series.points] == ["2022", "2023", "2024", "2025"]
        r = indicators.ranking(uow=uow, actor=desk, indicator="de_scale")
        assert r.period == "2024" and r.rows[-1].district == "九龙坡区"
    # the same file again: values replaced, no second case for the same period
    again = _upload(settings, desk, (DATA / "demo_statistics.csv").read_bytes(), "stats.csv")
    assert again.alerts == 0
    # the daily check finds nothing new either
    with unit_of_work(desk, settings) as uow:
        job = enqueue(uow=uow, kind="policy.indicator_check", params={})
    done = run_job_now(settings, job.id)
    assert done.status == "succeeded" and done.result["opened"] == []
    with unit_of_work(SYSTEM, settings) as uow:
        assert uow.session.query(PolicyIndicatorAlert).count() == 4


def test_a_workbook_is_read_like_a_csv(settings: Any, tenants: Any, actor_of: Any) -> None:
    wb = Workbook()
    ws = wb.active
    ws.append(["指标", "地区", "期间", "数值", "单位"])
    ws.append(["专精特新企业数", "沙坪坝区", "2024年第二季度", 455, "家"])
    ws.append(["专精特新企业数", "沙坪坝区", "2024年第三季度", "many", "家"])
    buf = io.BytesIO()
    wb.save(buf)
    out = _upload(settings, _desk(tenants, actor_of), buf.getvalue(), "stats.xlsx")
    assert out.status == "partial" and out.accepted == 1 and out.alerts == 1
    assert [(e.line, e.key) for e in out.errors] == [(3, "policy.indicator.bad_value")]


def test_uploads_are_refused_whole_when_they_must_be(
    settings: Any, tenants: Any, actor_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = _desk(tenants, actor_of)
    with pytest.raises(InvalidInput) as exc:
        _upload(settings, desk, "地区,数值\n两江新区,1\n".encode(), "s.csv")
    assert exc.value.key == "policy.indicator.header"
    with pytest.raises(InvalidInput) as exc:
        _upload(settings, desk, b"", "s.csv")
    assert exc.value.key == "policy.indicator.empty"
    with pytest.raises(InvalidInput) as exc:
        _upload(settings, desk, b"%PDF-1.4\n%%EOF\n", "s.pdf")
    assert exc.value.key == "policy.indicator.bad_file"
    bad = "指标,地区,期间,数值\n地区生产总值,两江新区,2023,x\n".encode()
    with pytest.raises(InvalidInput) as exc:
        _upload(settings, desk, bad, "s.csv", strict=True)
    assert exc.value.key == "policy.indicator.bad_rows" and exc.value.params["line"] == 2
    # a zip that is not a workbook
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a.txt", "x")
    with pytest.raises(InvalidInput):
        _upload(settings, desk, z.getvalue(), "s.xlsx")
    monkeypatch.setitem(settings.policy, "indicator_max_rows", 10)
    rows = "指标,地区,期间,数值\n" + "".join(f"地区生产总值,区{i},2023,1\n" for i in range(11))
    with pytest.raises(PayloadTooLarge):
        _upload(settings, desk, rows.encode(), "s.csv")
    monkeypatch.setitem(settings.policy, "indicator_max_bytes", 1024)
    with pytest.raises(PayloadTooLarge):
        _upload(settings, desk, b"x" * 2048, "s.csv")


def test_only_officials_upload_and_check(settings: Any, tenants: Any, actor_of: Any) -> None:
    ent = actor_of(tenants.a.admin)
    with pytest.raises(Forbidden):
        _upload(settings, ent, "指标,地区,期间,数值\n".encode(), "s.csv")
    with pytest.raises(Forbidden), unit_of_work(ent, settings) as uow:
        indicators.check_lags(uow=uow, actor=ent)
    with unit_of_work(ent, settings) as uow:  # the dashboard is public to every user
        assert indicators.ranking(uow=uow, actor=ent, indicator="de_scale").rows == []


def test_the_upload_api_reports_rows(client: Any, tenants: Any) -> None:
    h = tenants.operator.headers()
    r = client.post(
        "/api/policy/indicators/uploads",
        files={"file": ("s.csv", "指标,地区,期间,数值\n地区生产总值,两江新区,2023,x\n".encode())},
        headers=h,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "rejected" and body["errors"][0]["line"] == 2
    assert client.get(f"/api/policy/indicators/uploads/{body['id']}", headers=h).status_code == 200
    hb = tenants.b.headers()
    assert client.get(f"/api/policy/indicators/uploads/{body['id']}", headers=hb).status_code == 403
    r = client.post(
        "/api/policy/indicators/uploads",
        files={"file": ("s.csv", "地区,数值\n".encode())},
        headers=h,
    )
    assert r.status_code == 422 and r.json()["field"] == "file"
    series = client.get(
        "/api/policy/indicators/de_scale/series?district=两江新区", headers=hb
    ).json()
    assert [p["period"] for p in series["points"]] == ["2022", "2023", "2024", "2025"]
    assert (
        client.get("/api/policy/indicators/nope/series?district=x", headers=hb).status_code == 404
    )
    assert (
        client.get("/api/policy/indicators/de_scale/ranking?period=soon", headers=hb).status_code
        == 422
    )
