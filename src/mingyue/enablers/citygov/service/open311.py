"""Open311 GeoReport v2 over the city's cases: services are the public categories, a service
request is a city case (https://wiki.open311.org/GeoReport_v2). A POST is a citizen's report:
it opens a case or joins the open case of the same problem nearby."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from mingyue.enablers.citygov.engine.categories import Category
from mingyue.enablers.citygov.models_cases import CitygovCase, CitygovReport
from mingyue.enablers.citygov.service import reports
from mingyue.enablers.citygov.service.common import catalogue, category, clean_text
from mingyue.enablers.citygov.service.registry import unit_names
from mingyue.sdk import Actor, Settings, UnitOfWork, now
from mingyue.sdk.errors import InvalidInput, NotFound

CLOSED = ("closed", "evaluated", "invalid")
STAGE_NOTES = {
    "collected": ("已受理，待立案", "Received, awaiting registration"),
    "registered": ("已立案，待派遣", "Registered, awaiting dispatch"),
    "dispatched": ("已派遣至责任单位", "Dispatched to the responsible unit"),
    "handling": ("责任单位处置中", "Being handled by the responsible unit"),
    "fed_back": ("已处置，待核查", "Handled, awaiting on-site verification"),
    "closed": ("核查通过，已结案", "Verified on site and closed"),
    "evaluated": ("已结案", "Closed"),
    "invalid": ("经核实不予立案", "Not registered after verification"),
}
MAX_RANGE = timedelta(days=90)
MAX_RESULTS = 1000


def lang_of(accept_language: str | None) -> int:
    """Return 1 (English) when the client prefers English, else 0 (Chinese)."""
    return 1 if (accept_language or "").lower().startswith("en") else 0


def _w3c(at: datetime | None, settings: Settings) -> str | None:
    if at is None:
        return None
    return at.astimezone(ZoneInfo(settings.timezone)).isoformat(timespec="seconds")


def service_row(cat: Category, lang: int) -> dict[str, Any]:
    """Return one service of ``services.json``."""
    cats = catalogue()
    code = ("zh", "en")[lang]
    limit = str(cat.limit)
    kind = ("部件", "Component")[lang] if cat.kind == "component" else ("事件", "Event")[lang]
    return {
        "service_code": cat.code,
        "service_name": cat.name(code),
        "description": f"{kind} · {cats.class_name(cat, code)} · "
        f"{cats.department_name(cat.department, code)} · {limit}",
        "metadata": False,
        "type": "realtime",
        "keywords": ",".join(cat.keywords),
        "group": cats.class_name(cat, code),
    }


def services(lang: int) -> list[dict[str, Any]]:
    """Return the categories citizens may report, as Open311 services."""
    return [service_row(c, lang) for c in catalogue().categories.values() if c.public]


def service_definition(code: str) -> dict[str, Any]:
    """Return a service's definition (no extra attributes are asked)."""
    cat = _public(code)
    return {"service_code": cat.code, "attributes": []}


def _public(code: str) -> Category:
    try:
        cat = category(code)
    except InvalidInput:
        raise NotFound("citygov.open311.no_service", f"no service {code[:20]!r}") from None
    if not cat.public:
        raise NotFound("citygov.open311.no_service", f"no service {code[:20]!r}")
    return cat


def request_row(
    uow: UnitOfWork,
    row: CitygovCase,
    units: dict[int, str],
    lang: int,
    media: dict[int, str | None],
) -> dict[str, Any]:
    """Return one service request (a city case) as Open311 shows it publicly."""
    cat = catalogue().categories.get(row.category)
    name = cat.name(("zh", "en")[lang]) if cat else row.category
    agency = units.get(row.unit_org_id or 0) or (
        catalogue().department_name(row.department, ("zh", "en")[lang])
    )
    updated = max(
        t
        for t in (
            row.created_at,
            row.registered_at,
            row.dispatched_at,
            row.fed_back_at,
            row.closed_at,
            row.evaluated_at,
        )
        if t is not None
    )
    return {
        "service_request_id": str(row.id),
        "status": "closed" if row.stage in CLOSED else "open",
        "status_notes": STAGE_NOTES.get(row.stage, ("", ""))[lang],
        "service_name": name,
        "service_code": row.category,
        "description": row.description,
        "agency_responsible": agency,
        "service_notice": None,
        "requested_datetime": _w3c(row.created_at, uow.settings),
        "updated_datetime": _w3c(updated, uow.settings),
        "expected_datetime": _w3c(row.stage_due_at, uow.settings)
        if row.stage not in CLOSED
        else None,
        "address": row.address,
        "address_id": None,
        "zipcode": None,
        "lat": row.lat,
        "long": row.lon,
        "media_url": media.get(row.id),
    }


def _public_codes() -> list[str]:
    return [c.code for c in catalogue().categories.values() if c.public]


def _media(uow: UnitOfWork, ids: list[int]) -> dict[int, str | None]:
    if not ids:
        return {}
    rows = uow.session.execute(
        select(CitygovReport.city_case_id, CitygovReport.media_url).where(
            CitygovReport.city_case_id.in_(ids),
            CitygovReport.duplicate.is_(False),
            CitygovReport.media_url.is_not(None),
        )
    )
    return {int(cid): url for cid, url in rows if cid is not None}


def parse_w3c(value: str | None, field: str) -> datetime | None:
    """Parse a W3C date-time (``2026-12-01T00:00:00Z``); InvalidInput otherwise."""
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            "citygov.open311.bad_request", f"{field} is not a W3C date-time", field=field
        ) from None
    if at.tzinfo is None:
        raise InvalidInput("citygov.open311.bad_request", f"{field} needs a time zone", field=field)
    return at


def find_requests(
    uow: UnitOfWork,
    *,
    ids: str | None,
    service_code: str | None,
    start_date: str | None,
    end_date: str | None,
    status: str | None,
    lang: int,
) -> list[dict[str, Any]]:
    """Return service requests per GeoReport v2 ``GET requests`` (newest first, at most 1000).

    ``service_request_id`` (comma-separated) overrides the other filters; without dates the
    last 90 days; a range may not span more than 90 days.
    """
    q = select(CitygovCase).where(CitygovCase.category.in_(_public_codes()))
    if ids:
        wanted = [int(i) for i in (p.strip() for p in ids.split(",")) if i.isdigit()]
        if not wanted or len(wanted) > MAX_RESULTS:
            raise InvalidInput(
                "citygov.open311.bad_request", "service_request_id must list ids", field="ids"
            )
        q = q.where(CitygovCase.id.in_(wanted))
    else:
        start, end = parse_w3c(start_date, "start_date"), parse_w3c(end_date, "end_date")
        if end is None:
            end = now() if start is None else min(start + MAX_RANGE, now())
        if start is None:
            start = end - MAX_RANGE
        if end < start or end - start > MAX_RANGE:
            raise InvalidInput(
                "citygov.open311.bad_request",
                "start_date..end_date must be ordered and span at most 90 days",
                field="start_date",
            )
        q = q.where(CitygovCase.created_at >= start, CitygovCase.created_at <= end)
        if service_code:
            codes = [c.strip().upper() for c in service_code.split(",") if c.strip()]
            q = q.where(CitygovCase.category.in_(codes))
        if status:
            wanted_status = {s.strip().lower() for s in status.split(",") if s.strip()}
            if not wanted_status <= {"open", "closed"}:
                raise InvalidInput(
                    "citygov.open311.bad_request", "status is open or closed", field="status"
                )
            if wanted_status == {"open"}:
                q = q.where(CitygovCase.stage.not_in(CLOSED))
            elif wanted_status == {"closed"}:
                q = q.where(CitygovCase.stage.in_(CLOSED))
    rows = uow.session.scalars(
        q.order_by(CitygovCase.created_at.desc(), CitygovCase.id.desc()).limit(MAX_RESULTS)
    ).all()
    units = unit_names(uow)
    media = _media(uow, [r.id for r in rows])
    return [request_row(uow, r, units, lang, media) for r in rows]


def get_request(uow: UnitOfWork, request_id: str, lang: int) -> list[dict[str, Any]]:
    """Return one service request (a list of one, as the spec says)."""
    if not request_id.isdigit() or not 0 < int(request_id) < 2**31:
        raise NotFound("citygov.open311.no_request", "no such service request")
    row = uow.session.get(CitygovCase, int(request_id))
    if row is None or not (catalogue().categories.get(row.category) or _none()).public:
        raise NotFound("citygov.open311.no_request", "no such service request")
    return [request_row(uow, row, unit_names(uow), lang, _media(uow, [row.id]))]


class _NotPublic:
    public = False


def _none() -> _NotPublic:
    return _NotPublic()


def post_request(
    uow: UnitOfWork, actor: Actor, form: dict[str, str], lang: int
) -> list[dict[str, Any]]:
    """Take a POSTed service request (form fields of GeoReport v2) as a citizen's report."""
    code = (form.get("service_code") or "").strip()
    if not code:
        raise InvalidInput(
            "citygov.open311.bad_request", "service_code is required", field="service_code"
        )
    cat = _public(code)
    try:
        lat = float(form["lat"])
        lon = float(form["long"])
    except (KeyError, ValueError):
        raise InvalidInput(
            "citygov.open311.bad_request",
            "lat and long are required (addresses are not geocoded here)",
            field="lat",
        ) from None
    media = clean_text(form.get("media_url"), field="media_url", max_len=500) or None
    if media is not None and not media.lower().startswith(("https://", "http://")):
        raise InvalidInput(
            "citygov.open311.bad_request", "media_url must be an http(s) URL", field="media_url"
        )
    contact = None
    for kind in ("email", "phone", "device_id", "account_id"):
        value = (form.get(kind) or "").strip()
        if value:
            contact = (kind, value[:200])
            break
    out = reports.submit_report(
        uow=uow,
        actor=actor,
        category_code=cat.code,
        description=form.get("description") or "",
        lon=lon,
        lat=lat,
        address=form.get("address_string") or "",
        channel="open311",
        media_url=media,
        contact=contact,
    )
    notice = (
        ("已并入同一问题的案件 ", "Joined the open request for the same problem ")[lang]
        if out.duplicate
        else ("已受理 ", "Received ")[lang]
    )
    return [
        {
            "service_request_id": str(out.city_case_id),
            "service_notice": notice + (out.case_code or ""),
            "account_id": None,
        }
    ]
