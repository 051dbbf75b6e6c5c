"""REST API of citygov telemetry (included by ``api.py`` under /api/citygov): the device
registry, HTTP ingest, readings, alarms (list, acknowledge, clear), the MQTT status and the
finder (GeoJSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from mingyue.enablers.citygov.service import alarms, finder, telemetry
from mingyue.enablers.citygov.service.alarms import AlarmOut
from mingyue.enablers.citygov.service.telemetry import (
    DeviceCreated,
    DeviceIn,
    DeviceOut,
    ReadingOut,
)
from mingyue.enablers.citygov.settings import options
from mingyue.sdk import Actor, Settings
from mingyue.web.deps import IdPath, UoW, get_settings_dep, require

router = APIRouter(tags=["citygov"])
# Mounted at /telemetry/v1: a device authenticates with its own token, not a platform login.
device_router = APIRouter(tags=["citygov"])

Reader = Annotated[Actor, Depends(require("citygov.read"))]
Handler = Annotated[Actor, Depends(require("citygov.alarm.handle"))]
Manager = Annotated[Actor, Depends(require("citygov.device.manage"))]
DeviceId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]
AppSettings = Annotated[Settings, Depends(get_settings_dep)]


async def raw_body(request: Request) -> bytes:
    """Read the body up to one byte past the telemetry cap (a longer one is refused as such)."""
    cap = options(request.app.state.settings).telemetry_max_bytes
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            break
    return bytes(body[: cap + 1])


@router.post("/devices", operation_id="citygov-register_device", status_code=201)
def register_device(body: DeviceIn, uow: UoW, actor: Manager) -> DeviceCreated:
    """Register a device of your organization; the answer carries its HTTP token, once."""
    return telemetry.register_device(uow=uow, actor=actor, body=body)


@router.get("/devices", operation_id="citygov-list_devices")
def list_devices(
    uow: UoW,
    actor: Reader,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[DeviceOut]:
    """Devices you may see, with their last values and rejection counts."""
    return telemetry.list_devices(uow=uow, actor=actor, kind=kind, limit=limit)


@router.get("/devices/{device_id}", operation_id="citygov-get_device")
def get_device(device_id: DeviceId, uow: UoW, actor: Reader) -> DeviceOut:
    """One device."""
    return telemetry.get_device(uow=uow, actor=actor, device_id=device_id)


@router.post("/devices/{device_id}/token", operation_id="citygov-rotate_device_token")
def rotate_token(device_id: DeviceId, uow: UoW, actor: Manager) -> DeviceCreated:
    """Give a device a new HTTP token; the old one stops working."""
    return telemetry.rotate_token(uow=uow, actor=actor, device_id=device_id)


@router.get("/devices/{device_id}/readings", operation_id="citygov-list_readings")
def list_readings(
    device_id: DeviceId,
    uow: UoW,
    actor: Reader,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=telemetry.MAX_READINGS)] = 200,
) -> list[ReadingOut]:
    """A device's readings, newest first."""
    return telemetry.list_readings(
        uow=uow, actor=actor, device_id=device_id, since=since, until=until, limit=limit
    )


@router.post("/telemetry/{kind}/{device_id}", operation_id="citygov-ingest", status_code=202)
def ingest(
    kind: Annotated[str, Path(max_length=40)],
    device_id: Annotated[str, Path(max_length=200)],
    actor: Annotated[Actor, Depends(require("citygov.telemetry.ingest"))],
    payload: Annotated[bytes, Depends(raw_body)],
    settings: AppSettings,
) -> dict[str, Any]:
    """Store one JSON object of measures of a device of your organization, as an MQTT message
    on city/<kind>/<deviceId> would be (413/422/409/429 say why not). A device itself posts to
    /telemetry/v1/<kind>/<deviceId> with its own token."""
    out = telemetry.ingest_http(
        settings=settings,
        actor=actor,
        device_token=None,
        kind=kind,
        device_id=device_id,
        payload=payload,
    )
    return {"stored": out.stored, "observed_at": out.observed_at}


@router.get("/telemetry/status", operation_id="citygov-mqtt_status")
def mqtt_status(actor: Reader, settings: AppSettings) -> dict[str, Any]:
    """The MQTT subscriber: connected, connecting, down (no broker answers) or off."""
    return telemetry.mqtt_status(settings)


@router.get("/alarms", operation_id="citygov-list_alarms")
def list_alarms(
    uow: UoW,
    actor: Reader,
    status: Literal["open", "active", "acknowledged", "cleared", "all"] = "open",
    device_id: Annotated[str | None, Query(max_length=64)] = None,
    severity: Literal["warning", "minor", "major", "critical"] | None = None,
    limit: Annotated[int, Query(ge=1, le=alarms.MAX_LIST)] = 100,
) -> list[AlarmOut]:
    """Alarms you may see, most recent first (``open``: active or acknowledged)."""
    return alarms.list_alarms(
        uow=uow, actor=actor, status=status, device_id=device_id, severity=severity, limit=limit
    )


@router.post("/alarms/{alarm_id}/ack", operation_id="citygov-acknowledge_alarm")
def acknowledge_alarm(alarm_id: IdPath, uow: UoW, actor: Handler) -> AlarmOut:
    """Acknowledge an active alarm (409 when it is not active)."""
    return alarms.acknowledge(uow=uow, actor=actor, alarm_id=alarm_id)


@router.post("/alarms/{alarm_id}/clear", operation_id="citygov-clear_alarm")
def clear_alarm(alarm_id: IdPath, uow: UoW, actor: Handler) -> AlarmOut:
    """Clear an open alarm by hand (409 when it is already cleared)."""
    return alarms.clear(uow=uow, actor=actor, alarm_id=alarm_id)


@router.get("/finder/{category}", operation_id="citygov-find_places")
def find_places(
    category: Literal["toilet", "parking", "park"],
    uow: UoW,
    actor: Reader,
    lon: Annotated[float, Query(ge=-180, le=180, description="WGS84 longitude (GeoJSON order)")],
    lat: Annotated[float, Query(ge=-90, le=90, description="WGS84 latitude")],
    k: Annotated[int | None, Query(ge=1, le=1000)] = None,
    radius: Annotated[float | None, Query(gt=0, le=100_000, description="metres")] = None,
) -> JSONResponse:
    """The nearest public toilets, car parks (free spaces) or parks as GeoJSON, nearest first
    (``k`` nearest, within ``radius`` metres, or both; ``k`` defaults to 5)."""
    fc = finder.find(
        uow=uow,
        actor=actor,
        category=category,
        lon=lon,
        lat=lat,
        k=k if k is not None or radius is not None else 5,
        radius_m=radius,
    )
    return JSONResponse(fc, media_type="application/geo+json")


@device_router.post("/{kind}/{device_id}", operation_id="citygov-device_ingest", status_code=202)
def device_ingest(
    kind: Annotated[str, Path(max_length=40)],
    device_id: Annotated[str, Path(max_length=200)],
    payload: Annotated[bytes, Depends(raw_body)],
    settings: AppSettings,
    token: Annotated[str | None, Header(alias="X-Device-Token", max_length=200)] = None,
) -> dict[str, Any]:
    """Store one JSON object of measures posted by the device itself (its token from the
    registration, in ``X-Device-Token``; 401 for an unknown one)."""
    out = telemetry.ingest_http(
        settings=settings,
        actor=None,
        device_token=token or "",
        kind=kind,
        device_id=device_id,
        payload=payload,
    )
    return {"stored": out.stored, "observed_at": out.observed_at}
