"""REST API of citygov's cases part (mounted at /api/citygov): collect, register, dispatch,
handle, verify and supervise cases; units and video points; citizen reports; sharing; KPIs.

The telemetry part's routes (devices, HTTP ingest, alarms, finder) live in ``api_telemetry.py``
and are included at the end.
"""

from __future__ import annotations

from typing import Annotated, Literal, Protocol

from fastapi import APIRouter, Depends, File, Form, Header, Query, UploadFile

from mingyue.enablers.citygov.api_telemetry import router as telemetry_router
from mingyue.sdk import Actor, JobOut, UnitOfWork, enqueue
from mingyue.web.deps import IdPath, UoW, require

from .schemas import (
    CaseIn,
    CategoryOut,
    CityCaseOut,
    DeliveryOut,
    DispatchIn,
    KpiOut,
    ReportOut,
    StepIn,
    SubscriptionIn,
    SubscriptionOut,
    SupervisionOut,
    TaskOut,
    UnitIn,
    UnitOut,
    VerifyIn,
    VideoPointIn,
    VideoPointOut,
)
from .service import intake, kpi, registry, reports, sharing, supervise, workflow
from .service.common import catalogue

router = APIRouter(tags=["citygov"])

Reader = Annotated[Actor, Depends(require("citygov.read"))]
CaseReader = Annotated[Actor, Depends(require("citygov.case.read"))]
Centre = Annotated[Actor, Depends(require("citygov.case.manage"))]
TaskReader = Annotated[Actor, Depends(require("citygov.task.read"))]
IdemKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=128,
        description="Repeat a request safely: the same key answers the step already taken",
    ),
]
Stage = Literal[
    "collected",
    "registered",
    "dispatched",
    "handling",
    "fed_back",
    "closed",
    "evaluated",
    "invalid",
]
TaskStatus = Literal["dispatched", "handling", "fed_back", "closed", "returned"]
Text = Annotated[str, Form(max_length=4000)]


@router.get("/categories", operation_id="citygov-list_categories")
def list_categories(actor: Reader) -> list[CategoryOut]:
    """The category table: 部件/事件 codes, owning department, time limit, reward, source."""
    cats = catalogue()
    return [
        CategoryOut(
            code=c.code,
            kind=c.kind,
            name=dict(c.title),
            class_name={"zh": cats.class_name(c, "zh"), "en": cats.class_name(c, "en")},
            department=c.department,
            limit=str(c.limit),
            priority=c.priority,
            reward_cny=c.reward_cny,
            public=c.public,
            source=cats.sources.get(c.source, c.source),
        )
        for c in cats.categories.values()
    ]


# -- cases -------------------------------------------------------------------------------------


@router.post("/cases", operation_id="citygov-collect", status_code=201)
def collect(
    body: CaseIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("citygov.case.collect"))],
    idempotency_key: IdemKey = None,
) -> CityCaseOut:
    """信息采集 by an inspector or a seat (video point, higher-level assignment)."""
    return intake.collect(uow=uow, actor=actor, body=body, idempotency_key=idempotency_key)


@router.get("/cases", operation_id="citygov-list_cases")
def list_cases(
    uow: UoW,
    actor: CaseReader,
    stage: Stage | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[CityCaseOut]:
    """Cases of the centre's file, newest first."""
    return workflow.list_city_cases(uow=uow, actor=actor, stage=stage, limit=limit, offset=offset)


@router.get("/cases/{case_id}", operation_id="citygov-get_case")
def get_case(case_id: IdPath, uow: UoW, actor: CaseReader) -> CityCaseOut:
    """One case of the centre's file."""
    return workflow.get_city_case(uow=uow, actor=actor, city_case_id=case_id)


@router.post("/cases/{case_id}/photos", operation_id="citygov-add_case_photo", status_code=201)
def add_case_photo(
    case_id: IdPath,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("citygov.case.collect"))],
    photo: Annotated[UploadFile, File(description="JPEG, PNG or WebP; metadata is stripped")],
) -> CityCaseOut:
    """Attach a photo to a case (EXIF and every other metadata block removed)."""
    return intake.add_case_photo(uow=uow, actor=actor, city_case_id=case_id, upload=photo)


class _CommentStep(Protocol):
    def __call__(
        self,
        *,
        uow: UnitOfWork,
        actor: Actor,
        city_case_id: int,
        comment: str | None,
        idempotency_key: str | None = None,
    ) -> CityCaseOut: ...


def _comment_step(name: str, step: _CommentStep, summary: str) -> None:
    """Route ``POST /cases/{case_id}/<name>``: a centre's step that carries only a comment."""

    def route(
        case_id: IdPath, body: StepIn, uow: UoW, actor: Centre, idempotency_key: IdemKey = None
    ) -> CityCaseOut:
        return step(
            uow=uow,
            actor=actor,
            city_case_id=case_id,
            comment=body.comment,
            idempotency_key=idempotency_key,
        )

    route.__name__ = route.__qualname__ = name
    route.__doc__ = summary
    router.post(f"/cases/{{case_id}}/{name}", operation_id=f"citygov-{name}")(route)


_comment_step("register", workflow.register, "立案.")
_comment_step("reject", workflow.reject, "不予立案 (comment required).")


@router.post("/cases/{case_id}/dispatch", operation_id="citygov-dispatch")
def dispatch(
    case_id: IdPath, body: DispatchIn, uow: UoW, actor: Centre, idempotency_key: IdemKey = None
) -> CityCaseOut:
    """派遣 to a unit with the category's time limit."""
    return workflow.dispatch(
        uow=uow,
        actor=actor,
        city_case_id=case_id,
        unit_org_id=body.unit_org_id,
        instruction=body.instruction,
        idempotency_key=idempotency_key,
    )


@router.post("/cases/{case_id}/verify", operation_id="citygov-verify")
def verify(
    case_id: IdPath, body: VerifyIn, uow: UoW, actor: Centre, idempotency_key: IdemKey = None
) -> CityCaseOut:
    """核查: passed closes the case (结案); failed sends it back to the unit (返工)."""
    return workflow.verify(
        uow=uow,
        actor=actor,
        city_case_id=case_id,
        passed=body.passed,
        comment=body.comment,
        idempotency_key=idempotency_key,
    )


@router.post("/cases/{case_id}/supervise", operation_id="citygov-supervise", status_code=201)
def supervise_case(case_id: IdPath, body: StepIn, uow: UoW, actor: Centre) -> SupervisionOut:
    """督办 the unit handling the case now."""
    return supervise.supervise(uow=uow, actor=actor, city_case_id=case_id, note=body.comment or "")


@router.get("/supervisions", operation_id="citygov-list_supervisions")
def list_supervisions(
    uow: UoW,
    actor: TaskReader,
    case_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> list[SupervisionOut]:
    """督办 notices and escalations the caller may read (a unit its own)."""
    return supervise.list_supervisions(uow=uow, actor=actor, city_case_id=case_id)


# -- tasks (a unit's view) -----------------------------------------------------------------------


@router.get("/tasks", operation_id="citygov-list_tasks")
def list_tasks(uow: UoW, actor: TaskReader, status: TaskStatus | None = None) -> list[TaskOut]:
    """Tasks dispatched to the caller's unit (the centre and oversight roles: all)."""
    return workflow.list_tasks(uow=uow, actor=actor, status=status)


@router.get("/tasks/{task_id}", operation_id="citygov-get_task")
def get_task(task_id: IdPath, uow: UoW, actor: TaskReader) -> TaskOut:
    """One task."""
    return workflow.get_task(uow=uow, actor=actor, task_id=task_id)


@router.post("/tasks/{task_id}/accept", operation_id="citygov-accept_task")
def accept_task(
    task_id: IdPath, uow: UoW, actor: TaskReader, idempotency_key: IdemKey = None
) -> TaskOut:
    """接单."""
    return workflow.accept_task(
        uow=uow, actor=actor, task_id=task_id, idempotency_key=idempotency_key
    )


@router.post("/tasks/{task_id}/send-back", operation_id="citygov-send_back_task")
def send_back_task(
    task_id: IdPath, body: StepIn, uow: UoW, actor: TaskReader, idempotency_key: IdemKey = None
) -> TaskOut:
    """回退: not this unit's task (comment required)."""
    return workflow.send_back_task(
        uow=uow,
        actor=actor,
        task_id=task_id,
        comment=body.comment,
        idempotency_key=idempotency_key,
    )


@router.post("/tasks/{task_id}/feedback", operation_id="citygov-feedback_task")
def feedback_task(
    task_id: IdPath,
    uow: UoW,
    actor: TaskReader,
    text: Text,
    photos: Annotated[list[UploadFile] | None, File(description="Photos of the result")] = None,
    idempotency_key: IdemKey = None,
) -> TaskOut:
    """处理反馈 with photos of the result (metadata stripped)."""
    return workflow.feedback_task(
        uow=uow,
        actor=actor,
        task_id=task_id,
        text=text,
        photos=photos or [],
        idempotency_key=idempotency_key,
    )


# -- registries ----------------------------------------------------------------------------------


@router.get("/units", operation_id="citygov-list_units")
def list_units(uow: UoW, actor: Reader) -> list[UnitOut]:
    """Units that receive dispatched cases."""
    return registry.list_units(uow=uow, actor=actor)


@router.post("/units", operation_id="citygov-save_unit")
def save_unit(
    body: UnitIn, uow: UoW, actor: Annotated[Actor, Depends(require("citygov.registry.manage"))]
) -> UnitOut:
    """Register an organization as a unit (or change it)."""
    return registry.save_unit(uow=uow, actor=actor, body=body)


@router.get("/video-points", operation_id="citygov-list_video_points")
def list_video_points(uow: UoW, actor: CaseReader) -> list[VideoPointOut]:
    """Video points (metadata only)."""
    return registry.list_video_points(uow=uow, actor=actor)


@router.post("/video-points", operation_id="citygov-save_video_point")
def save_video_point(
    body: VideoPointIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("citygov.registry.manage"))],
) -> VideoPointOut:
    """Register a video point's metadata (or change it); its stream is never opened here."""
    return registry.save_video_point(uow=uow, actor=actor, body=body)


# -- citizen reports -----------------------------------------------------------------------------


@router.post("/reports", operation_id="citygov-submit_report", status_code=201)
def submit_report(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("citygov.report.submit"))],
    category: Annotated[str, Form(max_length=40)],
    lon: Annotated[float, Form(description="WGS84 longitude (lon first, as GeoJSON)")],
    lat: Annotated[float, Form(description="WGS84 latitude")],
    description: Annotated[str, Form(max_length=2000)] = "",
    address: Annotated[str, Form(max_length=300)] = "",
    photo: Annotated[UploadFile | None, File(description="JPEG, PNG or WebP")] = None,
) -> ReportOut:
    """Report a problem with a photo (metadata stripped) and a place (lon, lat)."""
    return reports.submit_report(
        uow=uow,
        actor=actor,
        category_code=category,
        description=description,
        lon=lon,
        lat=lat,
        address=address,
        photo=photo,
        channel="api",
    )


@router.get("/reports", operation_id="citygov-list_reports")
def list_reports(
    uow: UoW, actor: Annotated[Actor, Depends(require("citygov.report.read"))]
) -> list[ReportOut]:
    """The caller's reports with their status and reward."""
    return reports.list_reports(uow=uow, actor=actor)


@router.get("/reports/{report_id}", operation_id="citygov-get_report")
def get_report(
    report_id: IdPath, uow: UoW, actor: Annotated[Actor, Depends(require("citygov.report.read"))]
) -> ReportOut:
    """One of the caller's reports."""
    return reports.get_report(uow=uow, actor=actor, report_id=report_id)


# -- sharing -------------------------------------------------------------------------------------


@router.post("/shares", operation_id="citygov-subscribe", status_code=201)
def subscribe(
    body: SubscriptionIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("citygov.share.manage"))],
) -> SubscriptionOut:
    """Subscribe the caller's unit to cases of some categories (inbox or allow-listed webhook)."""
    return sharing.subscribe(uow=uow, actor=actor, body=body)


@router.get("/shares", operation_id="citygov-list_subscriptions")
def list_subscriptions(
    uow: UoW, actor: Annotated[Actor, Depends(require("citygov.share.read"))]
) -> list[SubscriptionOut]:
    """The caller's unit's subscriptions."""
    return sharing.list_subscriptions(uow=uow, actor=actor)


@router.post("/shares/{subscription_id}/end", operation_id="citygov-unsubscribe")
def unsubscribe(
    subscription_id: IdPath,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("citygov.share.manage"))],
) -> SubscriptionOut:
    """End a subscription (its delivery log stays)."""
    return sharing.unsubscribe(uow=uow, actor=actor, subscription_id=subscription_id)


@router.get("/shares/deliveries", operation_id="citygov-list_deliveries")
def list_deliveries(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("citygov.share.read"))],
    subscription_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> list[DeliveryOut]:
    """The delivery log: every shared event, its attempts and outcome."""
    return sharing.list_deliveries(uow=uow, actor=actor, subscription_id=subscription_id)


# -- KPIs ----------------------------------------------------------------------------------------

Period = Annotated[str, Query(pattern=r"^20\d\d-(0[1-9]|1[0-2])$", description="YYYY-MM")]


@router.get("/kpi", operation_id="citygov-kpi")
def unit_kpi(
    period: Period, uow: UoW, actor: Annotated[Actor, Depends(require("citygov.kpi.read"))]
) -> KpiOut:
    """Unit KPIs of a month and the composite ranking (综合评价)."""
    return kpi.unit_kpis(uow=uow, actor=actor, period=period)


@router.post("/evaluations", operation_id="citygov-evaluate", status_code=202)
def evaluate(period: Period, uow: UoW, actor: Centre) -> JobOut:
    """Keep a month's ranking and move its closed cases to 综合评价 (a job; once per month)."""
    kpi.bounds(period, uow)
    return enqueue(uow=uow, kind="citygov.evaluate", params={"period": period})


# telemetry, alarms and the finder (api_telemetry.py)
router.include_router(telemetry_router)
