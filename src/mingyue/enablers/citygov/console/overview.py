"""The landing page (each role to its page) and 一屏通览, the city at a glance: open cases on
the map by stage with the devices, the funnel, the unit ranking, tiles refreshed live."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from mingyue.enablers.citygov.cases import CITY_CASE
from mingyue.enablers.citygov.service import kpi, telemetry, views
from mingyue.i18n import t
from mingyue.sdk import Actor, can, now, unit_of_work
from mingyue.web.console import ConsoleActor, lang_of, locale_of, see_other, settings_of

from .common import is_unit, page, role_of

router = APIRouter(include_in_schema=False)


# -- the landing page, by role -------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def index(request: Request, actor: ConsoleActor) -> Response:
    """Send each role to its page: the centre to the overview, a unit to its tasks, citizens to
    the report page."""
    if role_of(actor) != "other":
        return see_other("/citygov/overview")
    if is_unit(request, actor):
        return see_other("/citygov/tasks")
    return see_other("/citygov/report")


# -- 一屏通览 --------------------------------------------------------------------------------------


def _overview_figures(request: Request, actor: Actor) -> dict[str, Any]:
    with unit_of_work(actor, settings_of(request)) as uow:
        counts = views.stage_counts(uow)
        overdue = views.overdue_tasks(uow)
        today = (
            now()
            .astimezone(ZoneInfo(uow.settings.timezone))
            .replace(hour=0, minute=0, second=0, microsecond=0)
        )
        opened_today = views.opened_since(uow, today)
        return {
            "stage_counts": counts,
            "open_total": sum(counts[s] for s in views.OPEN_STAGES),
            "overdue": overdue,
            "opened_today": opened_today,
            "since": today,
        }


@router.get("/overview", response_class=HTMLResponse)
def overview(request: Request, actor: ConsoleActor) -> Response:
    """The city at a glance: open cases on the map by stage, the funnel, the unit ranking."""
    fig = _overview_figures(request, actor)
    period = now().astimezone(ZoneInfo(settings_of(request).timezone)).strftime("%Y-%m")
    ranking = None
    with unit_of_work(actor, settings_of(request)) as uow:
        if can(actor, "citygov.kpi.read"):
            ranking = kpi.unit_kpis(uow=uow, actor=actor, period=period)
        panel = telemetry.alarm_panel(uow=uow, actor=actor)
    return page(
        request,
        "citygov/overview.html",
        {**fig, **panel, "ranking": ranking, "period": period},
    )


@router.get("/overview/live", response_class=HTMLResponse)
def overview_live(request: Request, actor: ConsoleActor) -> Response:
    """The overview's figures (htmx fragment, refreshed every 15 s)."""
    return page(request, "citygov/_tiles.html", _overview_figures(request, actor))


@router.get("/overview/data")
def overview_data(request: Request, actor: ConsoleActor) -> Response:
    """The map's points, the funnel and the ranking as data for the page's charts."""
    locale = locale_of(request)
    lang = lang_of(locale)
    states = CITY_CASE.states
    with unit_of_work(actor, settings_of(request)) as uow:
        points = views.map_points(uow)
        since = now() - timedelta(days=30)
        funnel = views.funnel(uow, since)
        devices = telemetry.device_layer(uow=uow, actor=actor)
    series: dict[str, list[Any]] = {}
    for f in devices["features"]:
        lon, lat = f["geometry"]["coordinates"]
        alarm = f["properties"].get("alarm")
        name = t("citygov.console.devices_alarm" if alarm else "citygov.console.devices", locale)
        label = f"{f['properties'].get('name') or f['id']}"
        series.setdefault(name, []).append([lon, lat, label, None])
    for p in points:
        name = states[p["stage"]].title.get(lang, p["stage"])
        label = f"{p['code']} {views.category_name(p['category'], lang)}"
        series.setdefault(name, []).append([p["lon"], p["lat"], label, p["id"]])
    return JSONResponse(
        {
            "series": series,
            "funnel": [{"name": states[s].title.get(lang, s), "value": n} for s, n in funnel],
        }
    )
