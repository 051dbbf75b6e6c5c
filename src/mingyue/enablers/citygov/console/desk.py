"""The command centre's dispatch desk and case pages: open cases with their clocks (refreshed
live), 信息采集 from the desk, a case's page with its next steps (立案, 不予立案, 派遣, 核查, 督办),
and the photos of a case, task or report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, Response

from mingyue.enablers.citygov.cases import CITY_CASE
from mingyue.enablers.citygov.schemas import CaseIn
from mingyue.enablers.citygov.service import intake, photos, supervise, views, workflow
from mingyue.enablers.citygov.service.common import catalogue, org_name
from mingyue.sdk import Actor, UnitOfWork, can, get_case, unit_of_work
from mingyue.sdk.errors import InvalidInput, MingyueError
from mingyue.web.console import (
    ConsoleActor,
    csrf_protect,
    lang_of,
    locale_of,
    new_form_key,
    run_once,
    settings_of,
)

from .common import Id, Key, Text, page, parse_float

router = APIRouter(include_in_schema=False)


# -- the dispatch desk ----------------------------------------------------------------------------


def _desk(
    request: Request,
    actor: Actor,
    *,
    stage: str | None = None,
    exc: MingyueError | None = None,
    values: dict[str, str] | None = None,
    fragment: bool = False,
) -> Response:
    with unit_of_work(actor, settings_of(request)) as uow:
        rows = views.desk(uow, stage=stage)
        counts = views.stage_counts(uow)
    ctx = {
        "rows": rows,
        "counts": counts,
        "stage": stage or "",
        "open_stages": views.OPEN_STAGES,
    }
    if fragment:
        return page(request, "citygov/_desk_rows.html", ctx)
    cats = [c for c in catalogue().categories.values()]
    return page(
        request,
        "citygov/desk.html",
        {
            **ctx,
            "categories": cats,
            "can_collect": can(actor, "citygov.case.collect"),
            "form_key": new_form_key(),
            "v": values or {},
        },
        exc,
    )


StageQ = Annotated[str | None, Query(max_length=20)]


@router.get("/desk", response_class=HTMLResponse)
def desk(request: Request, actor: ConsoleActor, stage: StageQ = None) -> Response:
    """派遣台: open cases, most urgent first, with their clocks; collect a new one."""
    return _desk(request, actor, stage=stage if stage in views.OPEN_STAGES else None)


@router.get("/desk/rows", response_class=HTMLResponse)
def desk_rows(request: Request, actor: ConsoleActor, stage: StageQ = None) -> Response:
    """The desk's table (htmx fragment, refreshed every 15 s)."""
    return _desk(request, actor, stage=stage if stage in views.OPEN_STAGES else None, fragment=True)


@router.post("/cases", dependencies=[Depends(csrf_protect)])
def collect(
    request: Request,
    actor: ConsoleActor,
    form_key: Key = "",
    category: Annotated[str, Form(max_length=40)] = "",
    source: Annotated[str, Form(max_length=20)] = "inspector",
    source_ref: Annotated[str, Form(max_length=120)] = "",
    lon: Annotated[str, Form(max_length=40)] = "",
    lat: Annotated[str, Form(max_length=40)] = "",
    address: Annotated[str, Form(max_length=300)] = "",
    description: Text = "",
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """信息采集 from the desk (an inspector's find, a video point, a higher assignment)."""
    values = {
        "category": category,
        "source": source,
        "source_ref": source_ref,
        "lon": lon,
        "lat": lat,
        "address": address,
        "description": description,
    }

    def again(exc: MingyueError) -> Response:
        return _desk(request, actor, exc=exc, values=values)

    try:
        body = CaseIn(
            category=category,
            source=source if source in ("inspector", "video", "higher") else "inspector",
            source_ref=source_ref.strip() or None,
            lon=parse_float(lon, "lon"),
            lat=parse_float(lat, "lat"),
            address=address,
            description=description,
        )
    except MingyueError as exc:
        return again(exc)

    def work(uow: UnitOfWork) -> str:
        out = intake.collect(uow=uow, actor=actor, body=body)
        if photo is not None and photo.filename:
            intake.add_case_photo(uow=uow, actor=actor, city_case_id=out.id, upload=photo)
        return f"/citygov/cases/{out.id}"

    return run_once(request, actor, form_key, work, on_error=again)


# -- a case ---------------------------------------------------------------------------------------


def _case(
    request: Request,
    actor: Actor,
    case_id: int,
    exc: MingyueError | None = None,
) -> Response:
    with unit_of_work(actor, settings_of(request)) as uow:
        case = workflow.get_city_case(uow=uow, actor=actor, city_case_id=case_id)
        core = get_case(uow=uow, case_id=case.case_id)
        tasks = workflow.tasks_of_case(uow=uow, actor=actor, city_case_id=case.id)
        notes = supervise.list_supervisions(uow=uow, actor=actor, city_case_id=case.id)
        row = workflow.case_by_code(uow, case.code)
        units = workflow.suggested_units(uow, row)
        clock = views.sla_clock(
            uow,
            case.stage_due_at,
            tasks[0].limit_unit if tasks and case.stage in ("dispatched", "handling") else "wh",
        )
        unit_names = {u.org_id: u.name for u in units}
        names = {n.to_org_id: org_name(uow, n.to_org_id) for n in notes if n.to_org_id}
    steps = {tr.name for tr in core.transitions}
    return page(
        request,
        "citygov/case.html",
        {
            "c": case,
            "core": core,
            "tasks": tasks,
            "notes": notes,
            "units": units,
            "unit_names": unit_names,
            "org_names": names,
            "clock": clock,
            "steps": steps,
            "centre": can(actor, "citygov.case.manage"),
            "transition_title": lambda n: next(
                (
                    tr.title.get(lang_of(locale_of(request)), n)
                    for tr in CITY_CASE.transitions
                    if tr.name == n
                ),
                n,
            ),
            "form_key": new_form_key(),
        },
        exc,
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case(case_id: Id, request: Request, actor: ConsoleActor) -> Response:
    """A case: where and what, its photos, its task and clocks, its history, the next steps."""
    return _case(request, actor, case_id)


STEPS = ("register", "reject", "dispatch", "verify_pass", "rework", "supervise")


@router.post("/cases/{case_id}/step", dependencies=[Depends(csrf_protect)])
def step(
    case_id: Id,
    request: Request,
    actor: ConsoleActor,
    form_key: Key = "",
    action: Annotated[str, Form(max_length=20)] = "",
    comment: Text = "",
    unit_org_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """Take the centre's step on a case: 立案, 不予立案, 派遣, 核查 (pass or rework), 督办."""
    text = comment.strip() or None
    if action not in STEPS:
        refused = InvalidInput("citygov.console.bad_step", "unknown step", field="action")
        return _case(request, actor, case_id, refused)

    def work(uow: UnitOfWork) -> str:
        if action == "register":
            workflow.register(uow=uow, actor=actor, city_case_id=case_id, comment=text)
        elif action == "reject":
            workflow.reject(uow=uow, actor=actor, city_case_id=case_id, comment=text)
        elif action == "dispatch":
            if not unit_org_id.isdigit() or not 0 < int(unit_org_id) < 2**31:
                raise InvalidInput(
                    "citygov.console.choose_unit", "choose a unit", field="unit_org_id"
                )
            workflow.dispatch(
                uow=uow,
                actor=actor,
                city_case_id=case_id,
                unit_org_id=int(unit_org_id),
                instruction=comment,
            )
        elif action in ("verify_pass", "rework"):
            workflow.verify(
                uow=uow,
                actor=actor,
                city_case_id=case_id,
                passed=action == "verify_pass",
                comment=text,
            )
        else:
            supervise.supervise(uow=uow, actor=actor, city_case_id=case_id, note=comment)
        return f"/citygov/cases/{case_id}"

    return run_once(
        request, actor, form_key, work, on_error=lambda exc: _case(request, actor, case_id, exc)
    )


Owner = Annotated[str, Path(pattern=r"^(case|task|report)$")]


@router.get("/photos/{owner}/{owner_id}/{file_id}")
def photo(
    owner: Owner,
    owner_id: Id,
    file_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    request: Request,
    actor: ConsoleActor,
) -> Response:
    """A photo of a case, task or report the reader may see (metadata already stripped)."""
    with unit_of_work(actor, settings_of(request)) as uow:
        path, mime = photos.photo_path(uow, owner=owner, owner_id=owner_id, file_id=file_id)
    return FileResponse(path, media_type=mime, headers={"Cache-Control": "private, max-age=3600"})
