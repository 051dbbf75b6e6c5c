"""Device alarms on the overview: the live panel (open alarms, the MQTT subscriber's state),
acknowledge and clear."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from mingyue.enablers.citygov.service import alarms, telemetry
from mingyue.sdk import Actor, unit_of_work
from mingyue.sdk.errors import MingyueError
from mingyue.web.console import ConsoleActor, csrf_protect, see_other, settings_of

from .common import Id, page

router = APIRouter(include_in_schema=False)


def _panel(request: Request, actor: Actor) -> Response:
    with unit_of_work(actor, settings_of(request)) as uow:
        ctx = telemetry.alarm_panel(uow=uow, actor=actor)
    return page(request, "citygov/_alarms.html", {**ctx, "poll": 5})


@router.get("/alarms/panel", response_class=HTMLResponse)
def alarm_panel(request: Request, actor: ConsoleActor) -> Response:
    """Open device alarms and the MQTT subscriber's state (htmx fragment, every 5 s)."""
    return _panel(request, actor)


def _alarm_step(request: Request, actor: Actor, alarm_id: int, ack: bool) -> Response:
    try:
        with unit_of_work(actor, settings_of(request)) as uow:
            if ack:
                alarms.acknowledge(uow=uow, actor=actor, alarm_id=alarm_id)
            else:
                alarms.clear(uow=uow, actor=actor, alarm_id=alarm_id)
    except MingyueError:
        # Another seat acted first, or the alarm cleared by itself: the panel shows what is.
        pass
    if request.headers.get("hx-request"):
        return _panel(request, actor)
    return see_other("/citygov/overview")


@router.post("/alarms/{alarm_id}/ack", dependencies=[Depends(csrf_protect)])
def alarm_ack(alarm_id: Id, request: Request, actor: ConsoleActor) -> Response:
    """Acknowledge a device alarm (someone is on it)."""
    return _alarm_step(request, actor, alarm_id, ack=True)


@router.post("/alarms/{alarm_id}/clear", dependencies=[Depends(csrf_protect)])
def alarm_clear(alarm_id: Id, request: Request, actor: ConsoleActor) -> Response:
    """Clear a device alarm by hand (dealt with on site)."""
    return _alarm_step(request, actor, alarm_id, ack=False)
