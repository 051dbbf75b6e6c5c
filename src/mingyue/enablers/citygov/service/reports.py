"""一端服务: citizens report problems with a photo and a place; the report follows its case.

A report of the same category within ``dedup_radius_m`` of an open case younger than
``dedup_window_hours`` joins that case (no second case, no second reward). Rewards
(你发现、我奖励) are credited only when the case is verified and closed (核查结案), to the report that
opened it, within ``reward_daily_cap`` rewarded reports per person and local day.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from mingyue.enablers.citygov.engine.places import check_point, degree_box, distance_m
from mingyue.enablers.citygov.models_cases import CitygovCase, CitygovReport, CitygovReward
from mingyue.enablers.citygov.schemas import ReportOut
from mingyue.sdk import Actor, UnitOfWork, check, now, record_count, require_org
from mingyue.sdk.errors import InvalidInput, NotFound

from .common import category, clean_text, contact_key, local_day, opts, platform_scope, service_box
from .intake import open_city_case
from .photos import store_photo
from .views import report_out

# What a reporter reads of their case's stage.
STATUS = {
    "collected": "received",
    "registered": "processing",
    "dispatched": "processing",
    "handling": "processing",
    "fed_back": "processing",
    "closed": "closed",
    "evaluated": "closed",
    "invalid": "rejected",
}
OPEN_STAGES = ("collected", "registered", "dispatched", "handling", "fed_back")
CHANNELS = ("console", "api", "open311")


def _duplicate_of(uow: UnitOfWork, code: str, lon: float, lat: float) -> CitygovCase | None:
    o = opts(uow)
    box = degree_box(lon, lat, o.dedup_radius_m)
    since = now() - timedelta(hours=o.dedup_window_hours)
    # A platform-internal read: the reporter learns only that their report joined a case.
    with platform_scope(uow, "match a report against open cases", record=False):
        rows = uow.session.scalars(
            select(CitygovCase).where(
                CitygovCase.category == code,
                CitygovCase.created_at >= since,
                CitygovCase.stage.in_(OPEN_STAGES),
                CitygovCase.lon.between(box.min_lon, box.max_lon),
                CitygovCase.lat.between(box.min_lat, box.max_lat),
            )
        ).all()
    near = [(distance_m(lon, lat, r.lon, r.lat), r.id, r) for r in rows]
    near = [n for n in near if n[0] <= o.dedup_radius_m]
    return min(near)[2] if near else None


def submit_report(
    *,
    uow: UnitOfWork,
    actor: Actor,
    category_code: str,
    description: str,
    lon: float,
    lat: float,
    address: str = "",
    photo: Any = None,
    channel: str = "api",
    media_url: str | None = None,
    contact: tuple[str, str] | None = None,
) -> ReportOut:
    """Take a citizen's report: check the place, strip the photo, open or join a case."""
    check(actor, "citygov.report.submit")
    org_id = require_org(actor)
    cat = category(category_code)
    if not cat.public:
        raise InvalidInput(
            "citygov.category_not_public",
            f"{cat.code} is not reported by citizens",
            field="service_code",
        )
    lon, lat = check_point(lon, lat, service_box(uow.settings))
    desc = clean_text(description, field="description", max_len=2000, multiline=True)
    addr = clean_text(address, field="address", max_len=300)
    if channel not in CHANNELS:
        raise InvalidInput("citygov.bad_channel", "unknown channel", field="channel")
    photo_id = (
        store_photo(uow, photo, organization_id=org_id, purpose="citygov.report")
        if photo is not None
        else None
    )
    key = contact_key(uow.settings, *contact) if contact else f"user:{actor.user_id}"
    t = now()
    report = CitygovReport(
        organization_id=org_id,
        reporter_user_id=actor.user_id,
        reporter_key=key,
        category=cat.code,
        description=desc,
        lon=lon,
        lat=lat,
        address=addr,
        photo_file_id=photo_id,
        media_url=media_url,
        channel=channel,
        status="received",
        reward_status="none",
        created_at=t,
        local_day=local_day(t, uow.settings),
    )
    uow.session.add(report)
    uow.flush()
    dup = _duplicate_of(uow, cat.code, lon, lat)
    if dup is not None:
        report.city_case_id, report.duplicate = dup.id, True
        report.reward_status, report.status = "duplicate", STATUS[dup.stage]
        if photo_id is not None:
            with platform_scope(uow, "市民照片并入已有案件 / a citizen's photo joins the case"):
                dup.photo_file_ids = [*(dup.photo_file_ids or []), photo_id]
                uow.flush()
        code = dup.code
        uow.audit(
            "citygov.report.linked",
            f"citygov_report:{report.id}",
            {"case": dup.code, "category": cat.code},
            organization_id=org_id,
        )
    else:
        row = open_city_case(
            uow,
            category_code=cat.code,
            title=None,
            description=desc,
            lon=lon,
            lat=lat,
            address=addr,
            source="citizen",
            source_ref=f"report:{report.id}",
            source_org_id=org_id,
            photo_file_ids=[photo_id] if photo_id is not None else [],
            via_platform=True,
        )
        report.city_case_id, code = row.id, row.code
        report.reward_status = "pending" if cat.reward_cny > 0 else "none"
    uow.flush()
    uow.audit(
        "citygov.report.submitted",
        f"citygov_report:{report.id}",
        {
            "category": cat.code,
            "channel": channel,
            "case": code,
            "duplicate": report.duplicate,
            "photo_file_id": photo_id,
        },
        organization_id=org_id,
    )
    record_count(
        uow=uow,
        organization_id=org_id,
        meter="citygov.reports",
        unit="report",
        source="citygov",
        ref=f"citygov_report:{report.id}",
    )
    return report_out(report, case_code=code)


def sync_status(uow: UnitOfWork, row: CitygovCase) -> None:
    """Show a case's new stage on every report that opened or joined it."""
    status = STATUS.get(row.stage, "processing")
    for report in uow.session.scalars(
        select(CitygovReport).where(CitygovReport.city_case_id == row.id)
    ):
        report.status = status
        if row.stage == "invalid" and report.reward_status == "pending":
            report.reward_status = "none"


def credit_rewards(uow: UnitOfWork, row: CitygovCase) -> None:
    """Credit the report that opened a verified, closed case (once; within the daily cap)."""
    cap = opts(uow).reward_daily_cap
    for report in uow.session.scalars(
        select(CitygovReport).where(
            CitygovReport.city_case_id == row.id, CitygovReport.reward_status == "pending"
        )
    ).all():
        amount = category(report.category).reward_cny
        used = (
            uow.session.scalar(
                select(func.count(CitygovReward.id)).where(
                    CitygovReward.reporter_key == report.reporter_key,
                    CitygovReward.local_day == report.local_day,
                )
            )
            or 0
        )
        subject = f"citygov_report:{report.id}"
        if used >= cap or amount <= 0:
            report.reward_status = "capped" if amount > 0 else "none"
            uow.audit(
                "citygov.reward.withheld",
                subject,
                {"case": row.code, "day": report.local_day, "cap": cap},
                organization_id=report.organization_id,
            )
            continue
        uow.session.add(
            CitygovReward(
                organization_id=report.organization_id,
                report_id=report.id,
                city_case_id=row.id,
                reporter_key=report.reporter_key,
                local_day=report.local_day,
                slot=used + 1,
                amount=amount,
                currency="CNY",
                credited_at=now(),
            )
        )
        report.reward_status = "credited"
        uow.audit(
            "citygov.reward.credited",
            subject,
            {"case": row.code, "amount": str(amount), "currency": "CNY"},
            organization_id=report.organization_id,
        )
    uow.flush()


def _visible_reports(uow: UnitOfWork, actor: Actor) -> Any:
    q = select(CitygovReport)
    # A citizen sees their own reports; the organization's admin and oversight roles see more
    # (the tenant filter keeps an organization's admin inside it).
    if not actor.has_role("org_admin", "platform_admin", "reviewer", "regulator", "auditor"):
        q = q.where(CitygovReport.reporter_user_id == actor.user_id)
    return q


def list_reports(*, uow: UnitOfWork, actor: Actor, limit: int = 100) -> list[ReportOut]:
    """Return the reports the caller may read, newest first, with their case and reward."""
    check(actor, "citygov.report.read")
    rows = uow.session.scalars(
        _visible_reports(uow, actor)
        .order_by(CitygovReport.created_at.desc(), CitygovReport.id.desc())
        .limit(max(1, min(limit, 500)))
    ).all()
    return _with_cases(uow, rows)


def get_report(*, uow: UnitOfWork, actor: Actor, report_id: int) -> ReportOut:
    """Return one report the caller may read (NotFound otherwise)."""
    check(actor, "citygov.report.read")
    row = uow.session.scalars(
        _visible_reports(uow, actor).where(CitygovReport.id == report_id)
    ).first()
    if row is None:
        raise NotFound("core.not_found", "not found")
    return _with_cases(uow, [row])[0]


def _with_cases(uow: UnitOfWork, rows: Any) -> list[ReportOut]:
    ids = {r.city_case_id for r in rows if r.city_case_id}
    codes: dict[int, str] = {}
    if ids:
        # The reporter may read the code of the case their report opened or joined.
        with platform_scope(uow, "show reporters their case numbers", record=False):
            codes = {
                int(cid): str(code)
                for cid, code in uow.session.execute(
                    select(CitygovCase.id, CitygovCase.code).where(CitygovCase.id.in_(ids))
                )
            }
    rewards: dict[int, Decimal] = {
        int(rid): amount
        for rid, amount in uow.session.execute(
            select(CitygovReward.report_id, CitygovReward.amount).where(
                CitygovReward.report_id.in_([r.id for r in rows])
            )
        )
    }
    return [
        report_out(r, case_code=codes.get(r.city_case_id or 0), reward=rewards.get(r.id))
        for r in rows
    ]


def reward_total(*, uow: UnitOfWork, actor: Actor) -> Decimal:
    """Return the rewards credited to the caller's own reports."""
    total = Decimal("0.00")
    for amount in uow.session.scalars(
        select(CitygovReward.amount)
        .join(CitygovReport, CitygovReport.id == CitygovReward.report_id)
        .where(CitygovReport.reporter_user_id == actor.user_id)
    ):
        total += amount
    return total
