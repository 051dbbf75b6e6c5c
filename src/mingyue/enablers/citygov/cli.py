"""`mingyue citygov …` commands (a stable contract: outside checks call ``kpi``)."""

from __future__ import annotations

from typing import Annotated

import typer

from mingyue.cli_support import AsUser, DataDir, JsonOut, cli_uow, emit, run_cli
from mingyue.sdk import check

from .schemas import CaseIn, UnitIn
from .service import intake, kpi, registry, supervise, workflow
from .service.common import catalogue, platform_scope

app = typer.Typer(
    help="城市运行管理 / City operations: cases of the digital city-management loop, units, KPIs.",
    no_args_is_help=True,
)

Period = Annotated[
    str, typer.Option("--period", help="月份 YYYY-MM / The month, YYYY-MM", show_default=False)
]
CaseId = Annotated[int, typer.Argument(min=1, max=2**31 - 1, help="案卷编号 / Case id")]


@app.command("kpi")
def kpi_command(
    period: Period,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """单位考核排名 / Unit KPIs of a month and the composite ranking (综合评价).

    JSON keys: period, units[unit, org_id, registered, closed, closed_on_time_rate, close_rate,
    rework_rate, overdue, avg_handle_hours, verify_on_time_rate, score, rank].
    """
    with run_cli(), cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
        out = kpi.unit_kpis(uow=uow, actor=uow.actor, period=period)
        if json_out:
            emit(out, True)
        else:
            emit(
                [
                    {
                        "名次 rank": u.rank,
                        "单位 unit": u.unit,
                        "立案 registered": u.registered,
                        "结案 closed": u.closed,
                        "按期结案率 on time": f"{u.closed_on_time_rate:.1%}",
                        "结案率 closed": f"{u.close_rate:.1%}",
                        "返工率 rework": f"{u.rework_rate:.1%}",
                        "超期 overdue": u.overdue,
                        "平均处置(工作时) hours": "—"
                        if u.avg_handle_hours is None
                        else u.avg_handle_hours,
                        "核查及时率 verify": "—"
                        if u.verify_on_time_rate is None
                        else f"{u.verify_on_time_rate:.1%}",
                        "得分 score": u.score,
                    }
                    for u in out.units
                ],
                False,
                title=f"{out.period}",
            )


@app.command()
def categories(json_out: JsonOut = False) -> None:
    """案件分类 / The category table: codes, department, time limit, reward."""
    with run_cli():
        cats = catalogue()
        emit(
            [
                {
                    "code": c.code,
                    "name": c.name("zh"),
                    "class": cats.class_name(c, "zh"),
                    "department": c.department,
                    "limit": str(c.limit),
                    "reward_cny": str(c.reward_cny),
                    "source": c.source,
                }
                for c in cats.categories.values()
            ],
            json_out,
        )


@app.command()
def cases(
    stage: Annotated[
        str | None, typer.Option(help="阶段 / Stage (collected, registered …)")
    ] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """案件列表 / Cases of the centre's file, newest first."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
        rows = workflow.list_city_cases(uow=uow, actor=uow.actor, stage=stage)
        if json_out:
            emit(rows, True)
        else:
            emit(
                [
                    {
                        "id": r.id,
                        "code": r.code,
                        "category": f"{r.category} {r.category_name}",
                        "stage": r.stage,
                        "unit": r.unit_name,
                        "created": r.created_at,
                    }
                    for r in rows
                ],
                False,
            )


@app.command()
def collect(
    category: Annotated[str, typer.Option(help="分类代码 / Category code or alias")],
    lon: Annotated[float, typer.Option(help="经度 / Longitude (WGS84)")],
    lat: Annotated[float, typer.Option(help="纬度 / Latitude (WGS84)")],
    description: Annotated[str, typer.Option(help="描述 / Description")] = "",
    address: Annotated[str, typer.Option(help="地址 / Address")] = "",
    source: Annotated[str, typer.Option(help="来源 inspector|video|higher / Source")] = "inspector",
    source_ref: Annotated[str | None, typer.Option(help="来源编号 / Source reference")] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """信息采集 / Collect a problem into the centre's file (inspector, video point, higher)."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        body = CaseIn.model_validate(
            {
                "category": category,
                "lon": lon,
                "lat": lat,
                "description": description,
                "address": address,
                "source": source,
                "source_ref": source_ref,
            }
        )
        emit(intake.collect(uow=uow, actor=uow.actor, body=body), json_out)


@app.command()
def register(
    case_id: CaseId, data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False
) -> None:
    """立案 / Register a collected case."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        emit(workflow.register(uow=uow, actor=uow.actor, city_case_id=case_id), json_out)


@app.command()
def dispatch(
    case_id: CaseId,
    unit: Annotated[
        int, typer.Option("--unit", min=1, help="单位组织编号 / Unit's organization id")
    ],
    instruction: Annotated[str, typer.Option(help="派遣意见 / Instruction")] = "",
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """派遣 / Dispatch a registered case to a unit."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        emit(
            workflow.dispatch(
                uow=uow,
                actor=uow.actor,
                city_case_id=case_id,
                unit_org_id=unit,
                instruction=instruction,
            ),
            json_out,
        )


@app.command()
def verify(
    case_id: CaseId,
    passed: Annotated[bool, typer.Option("--pass/--fail", help="核查结果 / Verification outcome")],
    comment: Annotated[str | None, typer.Option(help="意见 / Comment (required to fail)")] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """核查 / Verify a handled case: pass closes it, fail sends it back (返工)."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        emit(
            workflow.verify(
                uow=uow, actor=uow.actor, city_case_id=case_id, passed=passed, comment=comment
            ),
            json_out,
        )


@app.command()
def units(data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False) -> None:
    """责任单位 / Units that receive dispatched cases."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
        emit(registry.list_units(uow=uow, actor=uow.actor), json_out)


@app.command("unit-save")
def unit_save(
    org_id: Annotated[int, typer.Option(min=1, help="组织编号 / Organization id")],
    department: Annotated[str, typer.Option(help="部门类别 / Department kind (sanitation …)")],
    name: Annotated[str | None, typer.Option(help="名称 / Name")] = None,
    district: Annotated[str, typer.Option(help="区县 / District")] = "",
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """登记责任单位 / Register an organization as a unit of a department kind."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        body = UnitIn(org_id=org_id, department=department, name=name, district=district)
        emit(registry.save_unit(uow=uow, actor=uow.actor, body=body), json_out)


@app.command("check-overdue")
def check_overdue(data_dir: DataDir = None, json_out: JsonOut = False) -> None:
    """超期督办检查 / Run the overdue check now (督办, escalation) as the scheduler does."""
    with run_cli(), cli_uow(data_dir, None) as uow:
        emit(supervise.supervise_overdue(uow), json_out)


@app.command()
def evaluate(
    period: Period, data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False
) -> None:
    """月度综合评价 / Keep a month's ranking and move its closed cases to 综合评价."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        check(uow.actor, "citygov.case.manage")
        with platform_scope(uow, "evaluate the month's units", record=False):
            emit(kpi.evaluate_period(uow, period), json_out)
