"""Digital-economy indicators: statistics uploads, series, ranking, and supervision of laggards.

An official (``policy.indicator.manage``) uploads a CSV or XLSX of statistics: the file is kept
(size-capped, hashed), a workbook is judged as an archive before it is opened, each bad row is
reported with its line and reason, good rows replace the published value of their indicator,
district and period, and formulas fill what the data imply (``derive``). Then the latest period
of every touched indicator and district is compared with its target path: one behind it by more
than ``MINGYUE_POLICY__INDICATOR_TOLERANCE`` opens a ``policy.indicator_lag`` case (督办) for the
responsible unit, once per indicator, district and period. The same check runs on a schedule.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from mingyue.enablers.policy.engine.indicators import (
    Indicator,
    Observation,
    Parsed,
    Period,
    UploadTooLarge,
    assess,
    derive,
    parse_period,
    parse_rows,
    path_value,
    rank,
    read_csv,
    read_xlsx,
)
from mingyue.enablers.policy.models_service import (
    PolicyIndicatorAlert,
    PolicyIndicatorUpload,
    PolicyIndicatorValue,
)
from mingyue.enablers.policy.schemas_service import (
    AlertOut,
    CheckRunOut,
    IndicatorOut,
    PointOut,
    RankingOut,
    RankRowOut,
    RowErrorOut,
    SeriesOut,
    UploadOut,
)
from mingyue.enablers.policy.service.common import INDICATOR_MANAGE, READ, catalogue
from mingyue.enablers.policy.settings import options
from mingyue.sdk import (
    Actor,
    JobContext,
    UnitOfWork,
    check,
    check_archive,
    get_visible,
    now,
    open_case,
    require_org,
    store_upload,
    stored_path,
)
from mingyue.sdk.errors import InvalidInput, NotFound, PayloadTooLarge

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TEXT_TYPES = frozenset({"text/csv", "text/plain", "application/octet-stream"})


def indicator_or_404(key: str) -> Indicator:
    """Return the indicator of this key (NotFound otherwise)."""
    ind = catalogue().get(key)
    if ind is None:
        raise NotFound("policy.indicator.not_found", f"no indicator {key!r}", field="indicator")
    return ind


def _ind_out(i: Indicator) -> IndicatorOut:
    return IndicatorOut(
        key=i.key,
        title=i.title,
        unit=i.unit,
        measure=i.measure,
        direction=i.direction,
        frequency=i.frequency,
        formula=i.formula,
        data_source=i.data_source,
        responsible=i.responsible,
        targets={d: dict(y) for d, y in i.targets.items()},
    )


def list_indicators(*, actor: Actor) -> list[IndicatorOut]:
    """Return every indicator's definition and targets."""
    check(actor, READ)
    return [_ind_out(i) for i in catalogue().indicators]


def highlands() -> list[dict[str, Any]]:
    """Return the demonstration highlands with their lead units."""
    return [dict(h) for h in catalogue().highlands]


# -- uploads --------------------------------------------------------------------------------------


def _read(uow: UnitOfWork, stored: Any, max_rows: int) -> Parsed:
    path = stored_path(uow=uow, file_id=stored.id)
    try:
        if stored.mime == XLSX:
            check_archive(path)
            return parse_rows(read_xlsx(path, max_rows=max_rows), catalogue())
        if stored.mime in TEXT_TYPES:
            return parse_rows(read_csv(path.read_bytes(), max_rows=max_rows), catalogue())
    except UploadTooLarge as exc:
        raise PayloadTooLarge(
            "policy.indicator.too_many_rows",
            f"the upload has more than {max_rows} rows",
            field="file",
            max_rows=max_rows,
        ) from exc
    except (ValueError, KeyError, zipfile.BadZipFile, OSError) as exc:
        raise InvalidInput(
            "policy.indicator.bad_file", f"the file cannot be read: {exc}", field="file"
        ) from exc
    raise InvalidInput(
        "policy.indicator.bad_file",
        f"a CSV or XLSX file is expected, not {stored.mime}",
        field="file",
    )


def _upsert(
    uow: UnitOfWork, obs: Observation, *, upload_id: int, derived: bool
) -> PolicyIndicatorValue:
    row = uow.session.scalars(
        select(PolicyIndicatorValue).where(
            PolicyIndicatorValue.indicator == obs.indicator,
            PolicyIndicatorValue.district == obs.district,
            PolicyIndicatorValue.period == obs.period.text,
        )
    ).first()
    if row is None:
        row = PolicyIndicatorValue(
            indicator=obs.indicator, district=obs.district, period=obs.period.text, value=obs.value
        )
        uow.session.add(row)
    row.value = obs.value
    row.derived = derived
    row.upload_id = upload_id
    row.updated_at = now()
    return row


def _values_at(
    uow: UnitOfWork, points: set[tuple[str, str]]
) -> dict[tuple[str, str, Period], tuple[Decimal, bool]]:
    out: dict[tuple[str, str, Period], tuple[Decimal, bool]] = {}
    districts = {d for d, _ in points}
    if not districts:
        return out
    rows = uow.session.scalars(
        select(PolicyIndicatorValue).where(PolicyIndicatorValue.district.in_(districts))
    ).all()
    for r in rows:
        if (r.district, r.period) in points:
            out[(r.indicator, r.district, parse_period(r.period))] = (r.value, r.derived)
    return out


def upload_statistics(
    *,
    uow: UnitOfWork,
    actor: Actor,
    upload: Any,
    filename: str | None = None,
    strict: bool = False,
) -> UploadOut:
    """Read a statistics upload; keep good rows, report bad ones; check the touched paths."""
    check(actor, INDICATOR_MANAGE)
    org_id = require_org(actor)
    opts = options(uow.settings)
    stored = store_upload(
        uow=uow,
        upload=upload,
        filename=filename,
        purpose="policy.statistics",
        max_bytes=opts.indicator_max_bytes,
    )
    parsed = _read(uow, stored, opts.indicator_max_rows)
    header_fault = next(
        (
            e
            for e in parsed.errors
            if e.key in ("policy.indicator.empty", "policy.indicator.header")
        ),
        None,
    )
    if header_fault is not None:
        raise InvalidInput(header_fault.key, header_fault.message, field="file")
    if strict and parsed.errors:
        first = parsed.errors[0]
        raise InvalidInput(
            "policy.indicator.bad_rows",
            f"{len(parsed.errors) + parsed.errors_dropped} bad row(s); first at line "
            f"{first.line}: {first.message}",
            field="file",
            count=len(parsed.errors) + parsed.errors_dropped,
            line=first.line,
        )
    status = "accepted" if not parsed.errors else ("partial" if parsed.observations else "rejected")
    row = PolicyIndicatorUpload(
        organization_id=org_id,
        created_by=actor.label(),
        filename=stored.filename,
        sha256=stored.sha256,
        file_id=stored.id,
        status=status,
        rows=parsed.rows,
        accepted=len(parsed.observations),
        errors=[
            {"line": e.line, "key": e.key, "message": e.message, "column": e.column}
            for e in parsed.errors
        ],
        errors_dropped=parsed.errors_dropped,
    )
    uow.session.add(row)
    uow.flush()
    for obs in parsed.observations:
        _upsert(uow, obs, upload_id=row.id, derived=False)
    uow.flush()
    points = {(o.district, o.period.text) for o in parsed.observations}
    have = _values_at(uow, points)
    derived = derive(catalogue(), {k: v for k, (v, _d) in have.items()})
    for obs in derived:
        _upsert(uow, obs, upload_id=row.id, derived=True)
    row.derived = len(derived)
    uow.flush()
    touched = {(o.indicator, o.district) for o in [*parsed.observations, *derived]}
    opened = _check(uow, touched, fallback_org=org_id)
    row.alerts = len(opened)
    uow.audit(
        "policy.indicator.uploaded",
        f"policy_indicator_upload:{row.id}",
        {
            "file_id": stored.id,
            "sha256": stored.sha256,
            "status": status,
            "rows": parsed.rows,
            "accepted": row.accepted,
            "derived": row.derived,
            "errors": len(parsed.errors) + parsed.errors_dropped,
            "alerts": len(opened),
        },
        organization_id=org_id,
    )
    return _upload_out(row)


def _upload_out(row: PolicyIndicatorUpload) -> UploadOut:
    return UploadOut.model_validate(
        {
            **{k: getattr(row, k) for k in UploadOut.model_fields if k != "errors"},
            "errors": [RowErrorOut(**e) for e in row.errors or []],
        }
    )


def list_uploads(*, uow: UnitOfWork, actor: Actor, limit: int = 50) -> list[UploadOut]:
    """Return the statistics uploads in scope, newest first."""
    check(actor, INDICATOR_MANAGE)
    rows = uow.session.scalars(
        select(PolicyIndicatorUpload).order_by(PolicyIndicatorUpload.id.desc()).limit(limit)
    ).all()
    return [_upload_out(r) for r in rows]


def get_upload(*, uow: UnitOfWork, actor: Actor, upload_id: int) -> UploadOut:
    """Return one upload with its refused rows."""
    check(actor, INDICATOR_MANAGE)
    row = get_visible(
        uow, PolicyIndicatorUpload, upload_id, key="policy.indicator.upload_not_found"
    )
    return _upload_out(row)


# -- series and ranking ---------------------------------------------------------------------------


def _rows(uow: UnitOfWork, indicator: str) -> list[PolicyIndicatorValue]:
    return list(
        uow.session.scalars(
            select(PolicyIndicatorValue).where(PolicyIndicatorValue.indicator == indicator)
        ).all()
    )


def districts(*, uow: UnitOfWork, actor: Actor, indicator: str | None = None) -> list[str]:
    """Return the districts that have data (for one indicator) or targets, by name."""
    check(actor, READ)
    q = select(PolicyIndicatorValue.district).distinct()
    if indicator:
        q = q.where(PolicyIndicatorValue.indicator == indicator)
    found = set(uow.session.scalars(q).all())
    for ind in catalogue().indicators:
        if indicator is None or ind.key == indicator:
            found |= set(ind.targets)
    return sorted(found)


def series(*, uow: UnitOfWork, actor: Actor, indicator: str, district: str) -> SeriesOut:
    """Return one district's values of an indicator over time, with its path and gaps."""
    check(actor, READ)
    ind = indicator_or_404(indicator)
    tol = Decimal(str(options(uow.settings).indicator_tolerance))
    values = {parse_period(r.period): r for r in _rows(uow, indicator) if r.district == district}
    periods = set(values)
    for year in ind.targets.get(district, {}):
        periods.add(parse_period(str(year)))
    points = []
    for p in sorted(periods):
        r = values.get(p)
        if r is None:
            points.append(
                PointOut(
                    period=p.text,
                    actual=None,
                    path=path_value(ind, district, p),
                    gap_ratio=None,
                    lagging=False,
                    derived=False,
                )
            )
            continue
        a = assess(ind, district, p, r.value, tol)
        points.append(
            PointOut(
                period=p.text,
                actual=r.value,
                path=a.path,
                gap_ratio=a.gap_ratio,
                lagging=a.lagging,
                derived=r.derived,
            )
        )
    return SeriesOut(indicator=indicator, district=district, unit=ind.unit, points=points)


def ranking(
    *, uow: UnitOfWork, actor: Actor, indicator: str, period: str | None = None
) -> RankingOut:
    """Rank districts by completion of their path for a period (default: the latest with data)."""
    check(actor, READ)
    ind = indicator_or_404(indicator)
    asked = None
    if period is not None:
        try:
            asked = parse_period(period)
        except ValueError as exc:
            raise InvalidInput("policy.indicator.bad_period", str(exc), field="period") from exc
    rows = _rows(uow, indicator)
    if not rows:
        return RankingOut(indicator=indicator, period=None, unit=ind.unit, rows=[])
    chosen = asked or max(parse_period(r.period) for r in rows)
    actuals = {r.district: r.value for r in rows if r.period == chosen.text}
    tol = Decimal(str(options(uow.settings).indicator_tolerance))
    return RankingOut(
        indicator=indicator,
        period=chosen.text,
        unit=ind.unit,
        rows=[
            RankRowOut(
                rank=x.rank,
                district=x.district,
                actual=x.assessment.actual,
                path=x.assessment.path,
                completion=x.assessment.completion,
                gap_ratio=x.assessment.gap_ratio,
                lagging=x.assessment.lagging,
            )
            for x in rank(ind, chosen, actuals, tol)
        ],
    )


# -- lag supervision ------------------------------------------------------------------------------


def _check(
    uow: UnitOfWork, touched: Iterable[tuple[str, str]], *, fallback_org: int | None
) -> list[PolicyIndicatorAlert]:
    tol = Decimal(str(options(uow.settings).indicator_tolerance))
    opened: list[PolicyIndicatorAlert] = []
    for key, district in sorted(set(touched)):
        ind = catalogue().get(key)
        if ind is None or district not in ind.targets:
            continue
        rows = [r for r in _rows(uow, key) if r.district == district]
        comparable = [
            (parse_period(r.period), r)
            for r in rows
            if path_value(ind, district, parse_period(r.period)) is not None
        ]
        if not comparable:
            continue
        period, latest = max(comparable, key=lambda x: x[0])
        a = assess(ind, district, period, latest.value, tol)
        if not a.lagging or a.path is None or a.gap_ratio is None:
            continue
        exists = uow.session.scalars(
            select(PolicyIndicatorAlert.id).where(
                PolicyIndicatorAlert.indicator == key,
                PolicyIndicatorAlert.district == district,
                PolicyIndicatorAlert.period == period.text,
            )
        ).first()
        if exists is not None:
            continue
        org_id = _owner(uow, latest) or fallback_org
        if org_id is None:
            continue
        alert = PolicyIndicatorAlert(
            organization_id=org_id,
            indicator=key,
            district=district,
            period=period.text,
            actual=a.actual,
            path=a.path,
            gap_ratio=a.gap_ratio,
            responsible=ind.responsible["zh"],
        )
        uow.session.add(alert)
        uow.flush()
        pct = f"{abs(a.gap_ratio) * 100:.1f}%"
        case = open_case(
            uow=uow,
            kind="policy.indicator_lag",
            title=f"督办：{ind.title['zh']}落后目标路径 {pct}（{district} {period.text}）",
            organization_id=org_id,
            subject=f"policy_indicator:{key}:{district}",
            data={
                "alert_id": alert.id,
                "indicator": key,
                "district": district,
                "period": period.text,
                "responsible": ind.responsible["zh"],
            },
        )
        alert.case_id = case.id
        uow.audit(
            "policy.indicator.lagging",
            f"policy_indicator_alert:{alert.id}",
            {
                "indicator": key,
                "district": district,
                "period": period.text,
                "actual": str(a.actual),
                "path": str(a.path),
                "gap_ratio": str(a.gap_ratio),
                "responsible": ind.responsible["zh"],
                "case_id": case.id,
            },
            organization_id=org_id,
        )
        opened.append(alert)
    return opened


def _owner(uow: UnitOfWork, value: PolicyIndicatorValue) -> int | None:
    if value.upload_id is None:
        return None
    found = uow.session.scalars(
        select(PolicyIndicatorUpload.organization_id).where(
            PolicyIndicatorUpload.id == value.upload_id
        )
    ).first()
    return int(found) if found is not None else None


def check_lags(*, uow: UnitOfWork, actor: Actor) -> CheckRunOut:
    """Compare every indicator's latest value per district with its path; open cases for laggards."""
    check(actor, INDICATOR_MANAGE)
    pairs = {
        (r.indicator, r.district) for r in uow.session.scalars(select(PolicyIndicatorValue)).all()
    }
    opened = _check(uow, pairs, fallback_org=actor.organization_id)
    lagging = len(opened)
    return CheckRunOut(
        checked=len(pairs), lagging=lagging, opened=[AlertOut.model_validate(a) for a in opened]
    )


def run_check_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Scheduled: the lag check over all published values (cases for the organizations)."""
    with ctx.unit_of_work() as uow:
        pairs = {
            (r.indicator, r.district)
            for r in uow.session.scalars(select(PolicyIndicatorValue)).all()
        }
        opened = _check(uow, pairs, fallback_org=ctx.organization_id)
        ids = [a.id for a in opened]
    ctx.progress(100, f"{len(ids)} lagging")
    return {"checked": len(pairs), "opened": ids}


def list_alerts(*, uow: UnitOfWork, actor: Actor, limit: int = 100) -> list[AlertOut]:
    """Return the lag alerts in scope, newest first."""
    check(actor, READ)
    rows = uow.session.scalars(
        select(PolicyIndicatorAlert).order_by(PolicyIndicatorAlert.id.desc()).limit(limit)
    ).all()
    return [AlertOut.model_validate(a) for a in rows]
