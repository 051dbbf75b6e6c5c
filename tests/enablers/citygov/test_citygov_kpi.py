"""Unit KPIs and the composite ranking (综合评价): API, the stable CLI contract
``mingyue citygov kpi --period YYYY-MM --as USER --json``, and the month-end evaluation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mingyue.core import clock
from tests.enablers.citygov.citygov_cases_support import (
    GUANYINQIAO,
    City,
    city_fixture,  # noqa: F401 - the shared fixture
    collect,
    to_dispatched,
)

KEYS = {
    "unit",
    "org_id",
    "registered",
    "closed",
    "closed_on_time_rate",
    "close_rate",
    "rework_rate",
    "overdue",
    "avg_handle_hours",
    "verify_on_time_rate",
    "score",
    "rank",
}


def _handle(
    client: Any, city: City, task: dict[str, Any], unit: dict[str, str], *, hours: float
) -> None:
    client.post(f"/api/citygov/tasks/{task['id']}/accept", headers=unit)
    clock.advance(timedelta(hours=hours))
    r = client.post(
        f"/api/citygov/tasks/{task['id']}/feedback", data={"text": "已处置"}, headers=unit
    )
    assert r.status_code == 200, r.text


def _month(client: Any, city: City) -> None:
    seat, san, mun = city.seat, city.sanitation_member, city.municipal_member
    # sanitation: two cases (E0102, 1 working day), both closed on time, one after a rework
    a = collect(client, city)
    ta = to_dispatched(client, city, a, city.sanitation_org_id)
    _handle(client, city, ta, san, hours=1)  # 1 working hour
    client.post(f"/api/citygov/cases/{a['id']}/verify", json={"passed": True}, headers=seat)
    b = collect(client, city, where=GUANYINQIAO)
    tb = to_dispatched(client, city, b, city.sanitation_org_id)
    _handle(client, city, tb, san, hours=1)
    client.post(
        f"/api/citygov/cases/{b['id']}/verify",
        json={"passed": False, "comment": "未清理干净"},
        headers=seat,
    )
    r = client.post(f"/api/citygov/tasks/{tb['id']}/feedback", data={"text": "已清理"}, headers=san)
    assert r.status_code == 200, r.text
    client.post(f"/api/citygov/cases/{b['id']}/verify", json={"passed": True}, headers=seat)
    # municipal: a bridge (1 working day) handled late, and a second one still open
    c = collect(client, city, category="C0203", where=(106.54, 29.58))
    tc = to_dispatched(client, city, c, city.municipal_org_id)
    _handle(client, city, tc, mun, hours=48)  # Wednesday: past Tuesday's deadline
    client.post(f"/api/citygov/cases/{c['id']}/verify", json={"passed": True}, headers=seat)
    d = collect(client, city, category="C0203", where=(106.55, 29.59))
    to_dispatched(client, city, d, city.municipal_org_id)


def test_kpi_api_and_cli(client: Any, city: City, cli: Any) -> None:
    _month(client, city)
    r = client.get("/api/citygov/kpi?period=2026-12", headers=city.seat)
    assert r.status_code == 200, r.text
    units = r.json()["units"]
    assert [u["org_id"] for u in units] == [city.sanitation_org_id, city.municipal_org_id]
    san, mun = units
    assert set(san) == KEYS and san["rank"] == 1 and mun["rank"] == 2
    assert (san["registered"], san["closed"], san["closed_on_time_rate"], san["close_rate"]) == (
        2,
        2,
        1.0,
        1.0,
    )
    assert san["rework_rate"] == 0.5 and san["overdue"] == 0 and san["avg_handle_hours"] > 0
    assert (mun["registered"], mun["closed"], mun["closed_on_time_rate"], mun["close_rate"]) == (
        2,
        1,
        0.0,
        0.5,
    )
    assert mun["overdue"] == 1 and san["score"] > mun["score"]  # the open one is not late yet
    assert san["unit"] == city.tenants.a.org.name
    clock.advance(timedelta(days=3))  # now the open bridge case is past its deadline too
    later = client.get("/api/citygov/kpi?period=2026-12", headers=city.seat).json()["units"]
    assert later[1]["overdue"] == 2
    units = later
    seat_user = city.tenants.operator.member.username
    res = cli("citygov", "kpi", "--period", "2026-12", "--as", seat_user, "--json")
    assert res.exit_code == 0, res.stderr
    out = res.json()
    assert out["period"] == "2026-12" and out["units"] == units
    table = cli("citygov", "kpi", "--period", "2026-12", "--as", seat_user)
    assert table.exit_code == 0 and "按期结案率" in table.stdout
    # a unit's admin sees its own unit's figures only; a citizen none
    own = client.get("/api/citygov/kpi?period=2026-12", headers=city.sanitation_admin).json()
    assert [u["org_id"] for u in own["units"]] == [city.sanitation_org_id]
    assert client.get("/api/citygov/kpi?period=2026-12", headers=city.citizen).status_code == 403
    # bad input: one line on stderr, exit 2
    bad = cli("citygov", "kpi", "--period", "2026-13", "--as", seat_user, "--json")
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1 and "YYYY-MM" in bad.stderr
    nobody = cli("citygov", "kpi", "--period", "2026-12", "--json")
    assert nobody.exit_code == 2 and "--as" in nobody.stderr
    assert client.get("/api/citygov/kpi?period=2026-1", headers=city.seat).status_code == 422
    empty = client.get("/api/citygov/kpi?period=2026-11", headers=city.seat).json()
    assert empty == {"period": "2026-11", "units": []}


def test_month_end_evaluation(client: Any, city: City, cli: Any, run_jobs: Any) -> None:
    _month(client, city)
    seat_user = city.tenants.operator.member.username
    r = cli("citygov", "evaluate", "--period", "2026-12", "--as", seat_user, "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["cases_evaluated"] == 3 and r.json()["already"] is False
    again = cli("citygov", "evaluate", "--period", "2026-12", "--as", seat_user, "--json")
    assert again.json()["already"] is True
    stages = {c["stage"] for c in client.get("/api/citygov/cases", headers=city.seat).json()}
    assert stages == {"evaluated", "dispatched"}
    # a unit's admin may not evaluate
    unit_admin = city.tenants.a.admin.username
    assert cli("citygov", "evaluate", "--period", "2026-12", "--as", unit_admin).exit_code != 0
