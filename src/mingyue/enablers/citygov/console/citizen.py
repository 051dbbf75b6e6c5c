"""Citizens (随手拍): report a problem with a photo and a place, follow one's reports and
rewards."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from mingyue.enablers.citygov.service import reports
from mingyue.enablers.citygov.service.common import catalogue
from mingyue.sdk import Actor, UnitOfWork, can, unit_of_work
from mingyue.sdk.errors import InvalidInput, MingyueError
from mingyue.web.console import ConsoleActor, csrf_protect, new_form_key, run_once, settings_of

from .common import Key, page, parse_float

router = APIRouter(include_in_schema=False)


def _report_page(
    request: Request,
    actor: Actor,
    exc: MingyueError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    with unit_of_work(actor, settings_of(request)) as uow:
        mine = reports.list_reports(uow=uow, actor=actor)
        total = reports.reward_total(uow=uow, actor=actor)
    return page(
        request,
        "citygov/report.html",
        {
            "mine": mine,
            "total": total,
            "categories": [c for c in catalogue().categories.values() if c.public],
            "can_report": can(actor, "citygov.report.submit"),
            "form_key": new_form_key(),
            "v": values or {},
        },
        exc,
    )


@router.get("/report", response_class=HTMLResponse)
def report_page(request: Request, actor: ConsoleActor) -> Response:
    """Report a problem (随手拍) and follow one's reports and rewards."""
    return _report_page(request, actor)


@router.post("/report", dependencies=[Depends(csrf_protect)])
def report(
    request: Request,
    actor: ConsoleActor,
    form_key: Key = "",
    category: Annotated[str, Form(max_length=40)] = "",
    lon: Annotated[str, Form(max_length=40)] = "",
    lat: Annotated[str, Form(max_length=40)] = "",
    address: Annotated[str, Form(max_length=300)] = "",
    description: Annotated[str, Form(max_length=2000)] = "",
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Send a report; the page then shows it with its case number."""
    values = {
        "category": category,
        "lon": lon,
        "lat": lat,
        "address": address,
        "description": description,
    }

    def again(exc: MingyueError) -> Response:
        return _report_page(request, actor, exc, values)

    try:
        x, y = parse_float(lon, "lon"), parse_float(lat, "lat")
        if x is None or y is None:
            raise InvalidInput("citygov.location_required", "give lon and lat", field="lon")
    except MingyueError as exc:
        return again(exc)

    def work(uow: UnitOfWork) -> str:
        out = reports.submit_report(
            uow=uow,
            actor=actor,
            category_code=category,
            description=description,
            lon=x,
            lat=y,
            address=address,
            photo=photo if photo is not None and photo.filename else None,
            channel="console",
        )
        return f"/citygov/report#report-{out.id}"

    return run_once(request, actor, form_key, work, on_error=again)
