"""Demo data for `mingyue demo`: a city desk with cases in every stage of the closed loop.

The operator is the command centre (op_member is a seat and an inspector). The city's own units
(``UNITS``) are organizations of their own (kind ``regulator``: government units), created with
``ensure_organization``, each with a dispatcher login (``<department>_dispatcher``, org admin and
member, created with ``ensure_user``; `mingyue demo` gives it a demo password like the core's
logins): 两江新区环卫所 (sanitation) and 市政设施管理所 (municipal facilities, subscribed to
突发事件 by inbox). They receive the dispatched cases and are what the KPI ranking ranks. Places
are real Chongqing spots; every case, report and name is made up. One task is set as dispatched
two working days ago, so the overdue check shows a 督办 and an escalation.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from mingyue.enablers.citygov.models_cases import CitygovCase, CitygovTask
from mingyue.enablers.citygov.schemas import CaseIn, SubscriptionIn, UnitIn, VideoPointIn
from mingyue.enablers.citygov.service import (
    intake,
    registry,
    reports,
    sharing,
    supervise,
    workflow,
)
from mingyue.enablers.citygov.service.common import calendar, category
from mingyue.sdk import (
    SYSTEM,
    Actor,
    Settings,
    UnitOfWork,
    actor_of_user,
    ensure_organization,
    ensure_user,
    now,
    unit_of_work,
)

# (category, lon, lat, address, description, how far the loop goes)
CASES = [
    ("E0102", 106.5770, 29.5570, "渝中区解放碑步行街", "步行街东侧垃圾堆放未清运", "closed"),
    ("C0108", 106.5512, 29.5634, "渝中区大坪正街", "路灯夜间不亮（演示）", "closed"),
    ("E0104", 106.5301, 29.5760, "江北区观音桥步行街", "地面油污成片", "rework"),
    ("C0203", 106.5436, 29.5856, "嘉陵江大桥北桥头", "桥面护栏松动", "fed_back"),
    ("C0101", 106.4823, 29.6190, "两江新区金开大道", "上水井盖破损", "handling"),
    ("E0402", 106.5049, 29.6102, "两江新区黄山大道中段", "路面局部塌陷", "dispatched"),
    ("E0201", 106.5681, 29.5523, "渝中区较场口", "电线杆张贴小广告", "registered"),
    ("C0301", 106.5590, 29.5711, "江北区北滨路公厕", "公厕冲水故障", "collected"),
    ("E0106", 106.4598, 29.5612, "沙坪坝区三峡广场", "夜间乱倒建筑垃圾", "overdue"),
]


# The city's units: (department kind, unit organization, district). A case goes to the unit of
# its category's department, else to the municipal unit (FALLBACK). Each unit's dispatcher logs
# in as ``<department>_dispatcher``.
UNITS = [
    ("sanitation", "两江新区环卫所", "两江新区"),
    ("municipal", "市政设施管理所", ""),
]
FALLBACK = "municipal"
UNIT_KIND = "regulator"  # a government unit: the core's organization kinds are operator,
# enterprise and regulator, and a city department is neither of the first two


def dispatcher_of(department: str) -> str:
    """Return the username of a demo unit's dispatcher."""
    return f"{department}_dispatcher"


def unit_for(code: str) -> str:
    """Return the department of the demo unit a case category is dispatched to."""
    by_dept = {dept for dept, _name, _district in UNITS}
    dept = category(code).department
    return dept if dept in by_dept else FALLBACK


def ensure_units(settings: Settings) -> dict[str, tuple[int, Actor]]:
    """Create the units' organizations and dispatchers (idempotent); by department."""
    out: dict[str, tuple[int, Actor]] = {}
    with unit_of_work(SYSTEM, settings) as uow:
        for dept, name, _district in UNITS:
            org = ensure_organization(uow=uow, actor=SYSTEM, name=name, kind=UNIT_KIND)
            dispatcher = ensure_user(
                uow=uow,
                actor=SYSTEM,
                organization_id=org.id,
                username=dispatcher_of(dept),
                roles=["org_admin", "member"],
                display_name=f"{name} 派遣员",
            )
            out[dept] = (org.id, dispatcher)
    return out


def _actor(settings: Settings, username: str) -> Actor | None:
    with unit_of_work(SYSTEM, settings) as uow:
        return actor_of_user(uow=uow, username=username)


def seed(settings: Settings, org_ids: dict[str, int]) -> None:
    """Create the city desk's demo once (idempotent)."""
    with unit_of_work(SYSTEM, settings) as uow:
        if uow.session.scalars(select(CitygovCase.id).limit(1)).first() is not None:
            return
    seat = _actor(settings, "op_member")
    citizen, neighbour = _actor(settings, "ent1_admin"), _actor(settings, "ent2_member")
    if seat is None or citizen is None or neighbour is None:
        return
    units = ensure_units(settings)
    with unit_of_work(seat, settings) as uow:
        for dept, name, district in UNITS:
            registry.save_unit(
                uow=uow,
                actor=seat,
                body=UnitIn(org_id=units[dept][0], department=dept, name=name, district=district),
            )
        registry.save_video_point(
            uow=uow,
            actor=seat,
            body=VideoPointIn(
                code="CQ-YZ-0001",
                name="解放碑路口球机",
                lon=106.5776,
                lat=29.5573,
                stream_ref="gb28181:50010300001320000001",
                district="渝中区",
            ),
        )
    mun_dispatcher = units["municipal"][1]
    with unit_of_work(mun_dispatcher, settings) as uow:
        sharing.subscribe(
            uow=uow,
            actor=mun_dispatcher,
            body=SubscriptionIn(
                name="突发事件（道路塌陷、积水）",
                categories=["E04"],
                events=["registered", "closed"],
            ),
        )
    for code, lon, lat, address, text, upto in CASES:
        unit, handler = units[unit_for(code)]
        with unit_of_work(seat, settings) as uow:
            case = intake.collect(
                uow=uow,
                actor=seat,
                body=CaseIn(
                    category=code,
                    lon=lon,
                    lat=lat,
                    address=address,
                    description=text,
                    source="video" if code == "E0106" else "inspector",
                    source_ref="CQ-YZ-0001" if code == "E0106" else None,
                ),
            )
            if upto == "collected":
                continue
            workflow.register(uow=uow, actor=seat, city_case_id=case.id)
            if upto == "registered":
                continue
            workflow.dispatch(
                uow=uow,
                actor=seat,
                city_case_id=case.id,
                unit_org_id=unit,
                instruction="请按时限处置并反馈现场照片",
            )
        if upto in ("dispatched",):
            continue
        with unit_of_work(handler, settings) as uow:
            task = next(
                t for t in workflow.list_tasks(uow=uow, actor=handler) if t.city_case_id == case.id
            )
            if upto == "overdue":
                _set_back(uow, task.id, settings)
                continue
            workflow.accept_task(uow=uow, actor=handler, task_id=task.id)
            if upto == "handling":
                continue
            workflow.feedback_task(uow=uow, actor=handler, task_id=task.id, text="已到场处置完毕")
        if upto == "fed_back":
            continue
        with unit_of_work(seat, settings) as uow:
            workflow.verify(
                uow=uow,
                actor=seat,
                city_case_id=case.id,
                passed=upto == "closed",
                comment=None if upto == "closed" else "复查仍有油污，请返工",
            )
    with unit_of_work(SYSTEM, settings) as uow:
        supervise.supervise_overdue(uow)
        supervise.supervise_overdue(uow)  # the same moment: no second notice
    # citizens: one report opens a case, a second one 20 m away joins it (no second reward)
    with unit_of_work(citizen, settings) as uow:
        reports.submit_report(
            uow=uow,
            actor=citizen,
            category_code="E0102",
            lon=106.5560,
            lat=29.5660,
            address="渝中区鹅岭公园门口",
            description="门口垃圾桶满溢",
            channel="console",
        )
    with unit_of_work(neighbour, settings) as uow:
        reports.submit_report(
            uow=uow,
            actor=neighbour,
            category_code="E0102",
            lon=106.5562,
            lat=29.5661,
            address="鹅岭公园",
            description="垃圾满了",
            channel="console",
        )


def _set_back(uow: UnitOfWork, task_id: int, settings: Settings) -> None:
    """Set a demo task as dispatched ten days ago, supervised once a week ago (now past due)."""
    with uow.unscoped(reason="citygov demo: a task dispatched earlier", record=False):
        task = uow.session.get(CitygovTask, task_id)
        row = uow.session.get(CitygovCase, task.city_case_id) if task else None
        if task is None or row is None:
            return
        start = now() - timedelta(days=10)
        task.dispatched_at = row.dispatched_at = start
        task.due_at = calendar(settings).add(start, task.handle_limit_hours, task.limit_unit)
        row.stage_due_at = task.due_at
        task.supervise_count = 1
        task.last_supervised_at = now() - timedelta(days=7)
        uow.flush()
