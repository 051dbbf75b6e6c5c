"""The digital-economy dashboard: series against the target path, ranking, uploads, laggards."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from mingyue.enablers.policy.service import indicators
from mingyue.enablers.policy.service.common import INDICATOR_MANAGE, READ, catalogue
from mingyue.sdk import Actor, UnitOfWork, can, check, unit_of_work
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

from .common import Id, Key, page, pick

router = APIRouter(include_in_schema=False)


def _title(key: str) -> dict[str, str] | None:
    ind = catalogue().get(key)
    return ind.title if ind else None


Name = Annotated[str | None, Query(max_length=40)]


def _dashboard(
    request: Request,
    actor: Actor,
    indicator: str | None,
    district: str | None,
    exc: MingyueError | None = None,
) -> Response:
    check(actor, READ)
    cat = catalogue()
    key = indicator if indicator and cat.get(indicator) else cat.indicators[0].key
    ind = cat.get(key) or cat.indicators[0]
    manage = can(actor, INDICATOR_MANAGE)
    with unit_of_work(actor, settings_of(request)) as uow:
        names = indicators.districts(uow=uow, actor=actor, indicator=key)
        chosen = district if district in names else (names[0] if names else None)
        series = (
            indicators.series(uow=uow, actor=actor, indicator=key, district=chosen)
            if chosen
            else None
        )
        ranking = indicators.ranking(uow=uow, actor=actor, indicator=key)
        alerts = indicators.list_alerts(uow=uow, actor=actor)
        uploads = indicators.list_uploads(uow=uow, actor=actor) if manage else []
    lang = lang_of(locale_of(request))
    chart = {
        "periods": [p.period for p in series.points] if series else [],
        "actual": [float(p.actual) if p.actual is not None else None for p in series.points]
        if series
        else [],
        "path": [float(p.path) if p.path is not None else None for p in series.points]
        if series
        else [],
        "rank_districts": [r.district for r in ranking.rows],
        "rank_completion": [
            round(float(r.completion) * 100, 1) if r.completion is not None else None
            for r in ranking.rows
        ],
    }
    return page(
        request,
        "policy/indicators.html",
        {
            "cat": cat,
            "ind": ind,
            "key": key,
            "district": chosen,
            "names": names,
            "series": series,
            "ranking": ranking,
            "alerts": alerts,
            "uploads": uploads,
            "manage": manage,
            "chart": chart,
            "highlands": cat.highlands,
            "title_of": lambda k: pick(_title(k), lang) or k,
            "form_key": new_form_key(),
        },
        exc,
    )


@router.get("/indicators", response_class=HTMLResponse)
def dashboard(
    request: Request,
    actor: ConsoleActor,
    indicator: Name = None,
    district: Name = None,
) -> Response:
    """One indicator: a district's series against its path, the ranking, laggards, uploads."""
    return _dashboard(request, actor, indicator, district)


@router.post("/indicators/uploads", dependencies=[Depends(csrf_protect)])
def upload(
    request: Request,
    actor: ConsoleActor,
    file: Annotated[UploadFile | None, File()] = None,
    form_key: Key = "",
) -> Response:
    """Read a statistics file; show what was accepted and each refused row."""
    if file is None or not file.filename:
        missing = InvalidInput("policy.indicator.no_file", "choose a file", field="file")
        return _dashboard(request, actor, None, None, missing)
    chosen = file

    def work(uow: UnitOfWork) -> str:
        out = indicators.upload_statistics(uow=uow, actor=actor, upload=chosen)
        return f"/policy/indicators/uploads/{out.id}"

    return run_once(
        request,
        actor,
        form_key,
        work,
        on_error=lambda exc: _dashboard(request, actor, None, None, exc),
    )


@router.get("/indicators/uploads/{upload_id}", response_class=HTMLResponse)
def upload_result(upload_id: Id, request: Request, actor: ConsoleActor) -> Response:
    """An upload: rows read, accepted, derived, refused with their line and reason."""
    with unit_of_work(actor, settings_of(request)) as uow:
        out = indicators.get_upload(uow=uow, actor=actor, upload_id=upload_id)
    return page(request, "policy/upload.html", {"u": out})


@router.post("/indicators/check", dependencies=[Depends(csrf_protect)])
def run_check(request: Request, actor: ConsoleActor, form_key: Key = "") -> Response:
    """Compare every indicator with its path now; open cases for new laggards."""

    def work(uow: UnitOfWork) -> str:
        indicators.check_lags(uow=uow, actor=actor)
        return "/policy/indicators#alerts"

    return run_once(request, actor, form_key, work)
