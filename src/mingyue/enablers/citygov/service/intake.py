"""信息采集: open a city case from any source — an inspector, a video point, a higher-level
assignment, a sensor alarm or a citizen's report — in the command centre's file.

The case belongs to the centre. A seat or an inspector of the centre opens it as themselves; a
sensor alarm or a citizen's report arrives through the platform, which opens it (the core case
names ``system``; the ledger entry names whoever sent it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mingyue.enablers.citygov.engine.places import check_point
from mingyue.enablers.citygov.models_cases import CitygovCase, CitygovVideoPoint
from mingyue.enablers.citygov.schemas import CaseIn, CityCaseOut
from mingyue.sdk import SYSTEM, Actor, UnitOfWork, check, now, open_case
from mingyue.sdk.errors import InvalidInput, NotFound

from .common import (
    calendar,
    catalogue,
    category,
    centre_org,
    clean_text,
    is_centre,
    local_day,
    platform_scope,
    require_centre_member,
    service_box,
)
from .photos import store_photo
from .views import case_out

SOURCES = ("sensor", "video", "inspector", "citizen", "higher")
# How a source reads in the ledger's reason (zh first, the auditor's console is zh-CN first).
SOURCE_ZH = {
    "sensor": "传感器",
    "video": "视频点位",
    "inspector": "监督员",
    "citizen": "市民",
    "higher": "上级交办",
}
MAX_CASE_PHOTOS = 12


def open_city_case(
    uow: UnitOfWork,
    *,
    category_code: str,
    title: str | None,
    description: str,
    lon: float,
    lat: float,
    address: str,
    source: str,
    source_ref: str | None,
    source_org_id: int | None = None,
    photo_file_ids: list[int] | None = None,
    idempotency_key: str | None = None,
    via_platform: bool = False,
) -> CitygovCase:
    """Open the core case and the centre's file of one problem (信息采集); return the file.

    ``via_platform``: the platform opens it for a caller outside the centre (sensor, citizen).
    The same ``idempotency_key`` returns the file already opened with it.
    """
    if not via_platform:
        return _open(
            uow,
            category_code=category_code,
            title=title,
            description=description,
            lon=lon,
            lat=lat,
            address=address,
            source=source,
            source_ref=source_ref,
            source_org_id=source_org_id,
            photo_file_ids=photo_file_ids,
            idempotency_key=idempotency_key,
            opener=uow.actor,
        )
    with platform_scope(
        uow, f"中心外的{SOURCE_ZH.get(source, source)}上报立案 / case from outside the centre"
    ):
        return _open(
            uow,
            category_code=category_code,
            title=title,
            description=description,
            lon=lon,
            lat=lat,
            address=address,
            source=source,
            source_ref=source_ref,
            source_org_id=source_org_id,
            photo_file_ids=photo_file_ids,
            idempotency_key=idempotency_key,
            opener=SYSTEM,
        )


def _open(
    uow: UnitOfWork,
    *,
    category_code: str,
    title: str | None,
    description: str,
    lon: float,
    lat: float,
    address: str,
    source: str,
    source_ref: str | None,
    source_org_id: int | None,
    photo_file_ids: list[int] | None,
    idempotency_key: str | None,
    opener: Actor,
) -> CitygovCase:
    if source not in SOURCES:
        raise InvalidInput("citygov.bad_source", f"unknown source {source!r}", field="source")
    cat = category(category_code)
    lon, lat = check_point(lon, lat, service_box(uow.settings))
    title_text = clean_text(title or cat.name("zh"), field="title", max_len=200, required=True)
    desc = clean_text(description, field="description", max_len=4000, multiline=True)
    addr = clean_text(address, field="address", max_len=300)
    ref = clean_text(source_ref, field="source_ref", max_len=120) or None
    centre = centre_org(uow)
    if idempotency_key is not None:
        found = uow.session.scalars(
            select(CitygovCase).where(
                CitygovCase.organization_id == centre.id,
                CitygovCase.idempotency_key == idempotency_key,
            )
        ).first()
        if found is not None:
            return found
    case = open_case(
        uow=uow,
        kind="citygov.case",
        title=title_text,
        organization_id=centre.id,
        data={"category": cat.code, "source": source},
        actor=opener,
    )
    t = now()
    stages = catalogue().stages
    row = CitygovCase(
        organization_id=centre.id,
        case_id=case.id,
        code=f"tmp-{case.id}",
        kind=cat.kind,
        category=cat.code,
        title=title_text,
        description=desc,
        lon=lon,
        lat=lat,
        address=addr,
        source=source,
        source_ref=ref,
        source_org_id=source_org_id,
        stage="collected",
        department=cat.department,
        created_at=t,
        stage_due_at=calendar(uow.settings).add(
            t, stages["register"].amount, stages["register"].unit
        ),
        photo_file_ids=list(photo_file_ids or []),
        created_by=uow.actor.label(),
        idempotency_key=idempotency_key,
    )
    uow.session.add(row)
    uow.flush()
    row.code = f"CG{local_day(t, uow.settings).replace('-', '')}{row.id:06d}"
    uow.flush()
    uow.audit(
        "citygov.case.collected",
        f"citygov_case:{row.id}",
        {
            "code": row.code,
            "case_id": case.id,
            "category": cat.code,
            "source": source,
            "source_ref": ref,
            "lon": lon,
            "lat": lat,
        },
        organization_id=centre.id,
    )
    return row


def _video_point(uow: UnitOfWork, code: str | None) -> CitygovVideoPoint:
    if not code:
        raise InvalidInput(
            "citygov.video_point_required", "name the video point (source_ref)", field="source_ref"
        )
    with platform_scope(uow, "read the video point registry", record=False):
        point = uow.session.scalars(
            select(CitygovVideoPoint).where(CitygovVideoPoint.code == code)
        ).first()
    if point is None:
        raise NotFound(
            "citygov.video_point_not_found", f"no video point {code!r}", field="source_ref"
        )
    return point


def collect(
    *, uow: UnitOfWork, actor: Actor, body: CaseIn, idempotency_key: str | None = None
) -> CityCaseOut:
    """Collect a problem for the centre: an inspector's find, a video point, a higher assignment."""
    check(actor, "citygov.case.collect")
    require_centre_member(uow, actor)
    lon, lat = body.lon, body.lat
    if body.source == "video":
        point = _video_point(uow, body.source_ref)
        lon = point.lon if lon is None else lon
        lat = point.lat if lat is None else lat
    if body.source == "higher":
        if not is_centre(uow, actor):
            raise InvalidInput(
                "citygov.higher_by_centre",
                "higher-level assignments are entered by the command centre",
                field="source",
            )
        if not body.source_ref:
            raise InvalidInput(
                "citygov.higher_ref_required",
                "give the assignment's document number (source_ref)",
                field="source_ref",
            )
    if lon is None or lat is None:
        raise InvalidInput("citygov.location_required", "give lon and lat", field="lon")
    row = open_city_case(
        uow,
        category_code=body.category,
        title=body.title,
        description=body.description,
        lon=lon,
        lat=lat,
        address=body.address,
        source=body.source,
        source_ref=body.source_ref,
        idempotency_key=idempotency_key,
    )
    return case_out(uow, row)


def details(row: CitygovCase) -> dict[str, Any]:
    """Return what a unit needs to act on a case (copied onto its task when dispatched)."""
    return {
        "code": row.code,
        "category": row.category,
        "title": row.title,
        "description": row.description,
        "lon": row.lon,
        "lat": row.lat,
        "address": row.address,
        "photo_file_ids": list(row.photo_file_ids or []),
    }


def add_case_photo(*, uow: UnitOfWork, actor: Actor, city_case_id: int, upload: Any) -> CityCaseOut:
    """Attach a photo (metadata stripped) to a case still being collected or handled."""
    check(actor, "citygov.case.collect")
    centre = require_centre_member(uow, actor)
    row = uow.session.scalars(select(CitygovCase).where(CitygovCase.id == city_case_id)).first()
    if row is None:
        raise NotFound("core.not_found", "not found")
    if row.stage in ("closed", "evaluated", "invalid"):
        raise InvalidInput("citygov.case_closed", "the case is closed", field="photo")
    photos = list(row.photo_file_ids or [])
    if len(photos) >= MAX_CASE_PHOTOS:
        raise InvalidInput(
            "citygov.too_many_photos",
            f"at most {MAX_CASE_PHOTOS} photos",
            field="photo",
            max=MAX_CASE_PHOTOS,
        )
    file_id = store_photo(uow, upload, organization_id=centre, purpose="citygov.case")
    row.photo_file_ids = [*photos, file_id]
    uow.flush()
    return case_out(uow, row)
