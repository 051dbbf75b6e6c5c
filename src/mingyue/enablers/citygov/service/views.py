"""Read models: rows as the API returns them, with names people read (category, unit)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from mingyue.enablers.citygov.cases import STAGES
from mingyue.enablers.citygov.models_cases import (
    CitygovCase,
    CitygovReport,
    CitygovTask,
    CitygovUnit,
)
from mingyue.enablers.citygov.schemas import CityCaseOut, ReportOut, TaskOut
from mingyue.sdk import UnitOfWork, now

from .common import calendar, catalogue, org_name

OPEN_STAGES = ("collected", "registered", "dispatched", "handling", "fed_back")


def category_name(code: str, lang: str = "zh") -> str:
    """Return a category's name (the code itself when the table no longer has it)."""
    cat = catalogue().categories.get(code)
    return cat.name(lang) if cat is not None else code


def unit_name(uow: UnitOfWork, org_id: int | None) -> str:
    """Return the name a unit is registered under (its organization's when it has none)."""
    if org_id is None:
        return ""
    name = uow.session.scalars(select(CitygovUnit.name).where(CitygovUnit.org_id == org_id)).first()
    return name or org_name(uow, org_id)


def case_out(uow: UnitOfWork, row: CitygovCase, lang: str = "zh") -> CityCaseOut:
    """Return a city case with its category's and unit's names."""
    out = CityCaseOut.model_validate(row)
    out.category_name = category_name(row.category, lang)
    out.unit_name = unit_name(uow, row.unit_org_id)
    return out


def task_out(row: CitygovTask) -> TaskOut:
    """Return a task as its unit sees it."""
    return TaskOut.model_validate(row)


def report_out(
    row: CitygovReport,
    *,
    case_code: str | None = None,
    reward: Decimal | None = None,
    lang: str = "zh",
) -> ReportOut:
    """Return a report as its reporter sees it."""
    out = ReportOut.model_validate(row)
    out.category_name = category_name(row.category, lang)
    out.case_code = case_code
    out.reward_cny = reward.quantize(Decimal("0.01")) if reward is not None else None
    return out


# -- console read models ----------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    """An SLA clock as people read it: hours left (or overdue) in the hours its limit counts."""

    due_at: datetime | None
    hours: float
    overdue: bool
    unit: str  # wh | h

    @property
    def known(self) -> bool:
        """Tell whether there is a deadline at all."""
        return self.due_at is not None


def sla_clock(uow: UnitOfWork, due_at: datetime | None, unit: str = "wh") -> Clock:
    """Return the clock of a deadline now (working hours, or clock hours for ``h`` limits)."""
    if due_at is None:
        return Clock(None, 0.0, False, unit)
    t = now()
    cal = calendar(uow.settings)
    kind = "h" if unit == "h" else "wh"
    if t <= due_at:
        return Clock(due_at, round(cal.elapsed(t, due_at, kind), 1), False, kind)
    return Clock(due_at, round(cal.elapsed(due_at, t, kind), 1), True, kind)


@dataclass(frozen=True)
class DeskRow:
    """One case on the dispatch desk."""

    case: CityCaseOut
    clock: Clock
    task: CitygovTask | None


def desk(uow: UnitOfWork, *, stage: str | None = None, limit: int = 300) -> list[DeskRow]:
    """Return the open cases of the centre's file for the desk, most urgent first."""
    q = select(CitygovCase).where(CitygovCase.stage.in_(OPEN_STAGES))
    if stage is not None:
        q = q.where(CitygovCase.stage == stage)
    rows = uow.session.scalars(q.order_by(CitygovCase.id.desc()).limit(limit)).all()
    tasks = {
        t.city_case_id: t
        for t in uow.session.scalars(
            select(CitygovTask).where(
                CitygovTask.city_case_id.in_([r.id for r in rows]),
                CitygovTask.status.in_(("dispatched", "handling", "fed_back")),
            )
        )
    }
    out = []
    for r in rows:
        task = tasks.get(r.id)
        unit = (
            task.limit_unit if task is not None and r.stage in ("dispatched", "handling") else "wh"
        )
        out.append(DeskRow(case_out(uow, r), sla_clock(uow, r.stage_due_at, unit), task))
    out.sort(
        key=lambda d: (not d.clock.overdue, d.clock.due_at or datetime.max.replace(tzinfo=UTC))
    )
    return out


def stage_counts(uow: UnitOfWork) -> dict[str, int]:
    """Return how many cases of the file are in each stage now."""
    counts = dict.fromkeys((*STAGES, "invalid"), 0)
    for stage, n in uow.session.execute(
        select(CitygovCase.stage, func.count(CitygovCase.id)).group_by(CitygovCase.stage)
    ):
        counts[str(stage)] = int(n)
    return counts


def funnel(uow: UnitOfWork, since: datetime) -> list[tuple[str, int]]:
    """Return how many cases opened since ``since`` reached each of the seven stages."""
    rows = uow.session.scalars(select(CitygovCase).where(CitygovCase.created_at >= since)).all()
    accepted = set(
        uow.session.scalars(
            select(CitygovTask.city_case_id).where(CitygovTask.accepted_at.is_not(None))
        )
    )
    reached = {
        "collected": len(rows),
        "registered": sum(1 for r in rows if r.registered_at),
        "dispatched": sum(1 for r in rows if r.dispatched_at),
        "handling": sum(1 for r in rows if r.id in accepted),
        "fed_back": sum(1 for r in rows if r.fed_back_at),
        "closed": sum(1 for r in rows if r.closed_at and r.stage != "invalid"),
        "evaluated": sum(1 for r in rows if r.evaluated_at),
    }
    return [(s, reached[s]) for s in STAGES]


def map_points(uow: UnitOfWork, *, days: int = 30, limit: int = 2000) -> list[dict[str, Any]]:
    """Return the cases of the last ``days`` days as points (lon, lat, stage, code, category)."""
    since = now() - timedelta(days=days)
    rows = uow.session.scalars(
        select(CitygovCase)
        .where(CitygovCase.created_at >= since)
        .order_by(CitygovCase.id.desc())
        .limit(limit)
    )
    return [
        {
            "id": r.id,
            "code": r.code,
            "lon": r.lon,
            "lat": r.lat,
            "stage": r.stage,
            "category": r.category,
        }
        for r in rows
    ]


def overdue_tasks(uow: UnitOfWork) -> int:
    """Return how many tasks being handled are past their deadline now."""
    return int(
        uow.session.scalar(
            select(func.count(CitygovTask.id)).where(
                CitygovTask.status.in_(("dispatched", "handling")), CitygovTask.due_at < now()
            )
        )
        or 0
    )


def opened_since(uow: UnitOfWork, since: datetime) -> int:
    """Return how many cases were opened since a moment."""
    return int(
        uow.session.scalar(
            select(func.count(CitygovCase.id)).where(CitygovCase.created_at >= since)
        )
        or 0
    )
