"""The city desk's demo: cases go to the city's own unit organizations, ranked by the KPIs."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from mingyue.enablers.citygov import demo
from mingyue.enablers.citygov.models_cases import CitygovCase, CitygovTask
from mingyue.enablers.citygov.service import kpi, registry, workflow
from mingyue.enablers.citygov.service.common import category
from mingyue.sdk import SYSTEM, actor_of_user, find_organizations, now, unit_of_work


def test_every_demo_category_goes_to_the_unit_of_its_department() -> None:
    departments = {dept for dept, _name, _district in demo.UNITS}
    for code, *_rest in demo.CASES:
        dept = category(code).department
        assert demo.unit_for(code) == (dept if dept in departments else demo.FALLBACK), code
    # both units get cases, and a department without a unit falls back to the municipal one
    assert {demo.unit_for(code) for code, *_rest in demo.CASES} == {"sanitation", "municipal"}
    assert demo.unit_for("C0108") == "municipal"  # 路灯: lighting has no demo unit


@pytest.mark.slow
def test_the_demo_seeds_the_units_as_organizations_and_ranks_them(cli, settings) -> None:
    out = cli("demo", "--json")
    assert out.exit_code == 0, out.stderr
    names = {name for _dept, name, _district in demo.UNITS}
    with unit_of_work(SYSTEM, settings) as uow:
        seat = actor_of_user(uow=uow, username="op_member")
        orgs = {name: find_organizations(uow=uow, name=name) for name in names}
        dispatchers = {
            dept: actor_of_user(uow=uow, username=demo.dispatcher_of(dept))
            for dept, _name, _district in demo.UNITS
        }
    assert seat is not None
    # each unit is an organization of its own (a government unit), with its dispatcher
    unit_org = {}
    for dept, name, _district in demo.UNITS:
        assert len(orgs[name]) == 1 and orgs[name][0].kind == "regulator", orgs[name]
        unit_org[dept] = orgs[name][0].id
        d = dispatchers[dept]
        assert d is not None and d.organization_id == unit_org[dept]
        assert {"org_admin", "member"} <= d.roles
    with unit_of_work(seat, settings) as uow:
        units = registry.list_units(uow=uow, actor=seat)
        assert {(u.name, u.department, u.org_id) for u in units} == {
            (name, dept, unit_org[dept]) for dept, name, _district in demo.UNITS
        }
        period = now().astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m")
        ranking = kpi.unit_kpis(uow=uow, actor=seat, period=period)
        assert {u.unit for u in ranking.units} == names
        assert {u.org_id for u in ranking.units} == set(unit_org.values())
        assert sorted(u.rank for u in ranking.units) == [1, 2]
        assert sum(u.registered for u in ranking.units) >= 6
        rows = uow.session.scalars(
            select(CitygovCase).where(CitygovCase.unit_org_id.is_not(None))
        ).all()
        shown = {c.unit_name for c in workflow.list_city_cases(uow=uow, actor=seat)}
    assert rows
    assert shown - {""} == names
    # every dispatched case went to the unit organization of its category's department
    for row in rows:
        assert row.unit_org_id == unit_org[demo.unit_for(row.category)], row.category
    # each dispatcher sees its own unit's tasks (tenant-scoped), and only those
    for dept, d in dispatchers.items():
        assert d is not None
        with unit_of_work(d, settings) as uow:
            tasks = workflow.list_tasks(uow=uow, actor=d)
            owners = set(uow.session.scalars(select(CitygovTask.organization_id)).all())
        assert tasks and owners == {unit_org[dept]}, dept
    # a second run creates no second unit organization
    again = cli("demo", "--json")
    assert again.exit_code == 0, again.stderr
    with unit_of_work(SYSTEM, settings) as uow:
        for name in names:
            assert len(find_organizations(uow=uow, name=name)) == 1
