"""The registries the centre keeps: units (责任单位) and video points (视频点位, metadata only)."""

from __future__ import annotations

from sqlalchemy import select

from mingyue.enablers.citygov.engine.places import check_point
from mingyue.enablers.citygov.models_cases import CitygovUnit, CitygovVideoPoint
from mingyue.enablers.citygov.schemas import UnitIn, UnitOut, VideoPointIn, VideoPointOut
from mingyue.sdk import Actor, UnitOfWork, check, now, organization
from mingyue.sdk.errors import InvalidInput, NotFound

from .common import catalogue, centre_org, clean_text, platform_scope, service_box

STREAM_SCHEMES = ("rtsp://", "rtmp://", "http://", "https://", "gb28181:", "onvif:")


def save_unit(*, uow: UnitOfWork, actor: Actor, body: UnitIn) -> UnitOut:
    """Register an organization as a unit of a department kind, or change it."""
    check(actor, "citygov.registry.manage")
    if body.department not in catalogue().departments:
        raise InvalidInput(
            "citygov.unknown_department",
            f"unknown department {body.department!r}",
            field="department",
        )
    org = organization(uow=uow, organization_id=body.org_id)
    if org is None:
        raise NotFound(
            "core.org.not_found", f"organization {body.org_id} not found", field="org_id"
        )
    name = clean_text(body.name or org.name, field="name", max_len=200, required=True)
    row = uow.session.scalars(select(CitygovUnit).where(CitygovUnit.org_id == org.id)).first()
    if row is None:
        row = CitygovUnit(org_id=org.id, created_by=actor.label(), created_at=now())
        uow.session.add(row)
    row.name, row.department = name, body.department
    row.district = clean_text(body.district, field="district", max_len=60)
    row.active = body.active
    uow.flush()
    uow.audit(
        "citygov.unit.saved",
        f"citygov_unit:{row.id}",
        {"org_id": org.id, "department": row.department, "active": row.active},
        organization_id=org.id,
    )
    return UnitOut.model_validate(row)


def list_units(*, uow: UnitOfWork, actor: Actor, active_only: bool = False) -> list[UnitOut]:
    """Return the units (reference data: names are public)."""
    check(actor, "citygov.read")
    q = select(CitygovUnit).order_by(CitygovUnit.department, CitygovUnit.name)
    if active_only:
        q = q.where(CitygovUnit.active.is_(True))
    return [UnitOut.model_validate(u) for u in uow.session.scalars(q)]


def unit_names(uow: UnitOfWork) -> dict[int, str]:
    """Return every unit's name by organization id."""
    return {u.org_id: u.name for u in uow.session.scalars(select(CitygovUnit))}


def save_video_point(*, uow: UnitOfWork, actor: Actor, body: VideoPointIn) -> VideoPointOut:
    """Register a video point's metadata (or change it); the stream is never opened here."""
    check(actor, "citygov.registry.manage")
    lon, lat = check_point(body.lon, body.lat, service_box(uow.settings))
    ref = clean_text(body.stream_ref, field="stream_ref", max_len=500)
    if ref and not ref.lower().startswith(STREAM_SCHEMES):
        raise InvalidInput(
            "citygov.bad_stream_ref",
            "a stream reference is an rtsp/rtmp/http(s) URL or a GB/T 28181 or ONVIF id",
            field="stream_ref",
        )
    owner = centre_org(uow).id if body.owner_org_id is None else body.owner_org_id
    if organization(uow=uow, organization_id=owner) is None:
        raise NotFound(
            "core.org.not_found", f"organization {owner} not found", field="owner_org_id"
        )
    with platform_scope(uow, "keep the video point registry unique", record=False):
        row = uow.session.scalars(
            select(CitygovVideoPoint).where(CitygovVideoPoint.code == body.code)
        ).first()
    if row is None:
        row = CitygovVideoPoint(code=body.code, created_by=actor.label(), created_at=now())
        uow.session.add(row)
    row.organization_id = owner
    row.name = clean_text(body.name, field="name", max_len=200, required=True)
    row.lon, row.lat, row.stream_ref = lon, lat, ref
    row.district = clean_text(body.district, field="district", max_len=60)
    uow.flush()
    uow.audit(
        "citygov.video_point.saved",
        f"citygov_video_point:{row.id}",
        {"code": row.code, "lon": lon, "lat": lat},
        organization_id=owner,
    )
    return VideoPointOut.model_validate(row)


def list_video_points(*, uow: UnitOfWork, actor: Actor) -> list[VideoPointOut]:
    """Return the video points the caller may read (the centre's)."""
    check(actor, "citygov.case.read")
    rows = uow.session.scalars(select(CitygovVideoPoint).order_by(CitygovVideoPoint.code))
    return [VideoPointOut.model_validate(r) for r in rows]
