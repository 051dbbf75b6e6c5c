"""Unit KPIs of a period (考核) and the composite ranking (综合评价).

Per unit, over the tasks dispatched to it in the period (a task the unit sent back as not its own
does not count): 立案数 ``registered``, 结案数 ``closed``, 按期结案率 ``closed_on_time_rate`` (closed
with the accepted feedback before the handling deadline / registered), 结案率 ``close_rate``, 返工率
``rework_rate`` (tasks reworked at least once / tasks fed back), 超期案件数 ``overdue`` (handled late,
or still open past the deadline at ``as_of``), 平均处置时长 ``avg_handle_hours`` (working hours from
dispatch to the accepted feedback, closed tasks), 核查及时率 ``verify_on_time_rate`` (feedback
verified within the centre's verification limit / feedback verified).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from mingyue.sdk.errors import InvalidInput

METRICS = (
    "closed_on_time_rate",
    "close_rate",
    "rework_rate",
    "overdue",
    "avg_handle_hours",
    "verify_on_time_rate",
)


@dataclass(frozen=True)
class TaskFacts:
    """What the ranking needs of one task (plain values read from the task row)."""

    unit_org_id: int
    dispatched_at: datetime
    due_at: datetime
    closed_at: datetime | None
    fed_back_at: datetime | None
    on_time: bool | None
    verified_on_time: bool | None
    feedback_count: int
    rework_count: int
    handle_hours: float | None


@dataclass(frozen=True)
class UnitKpi:
    """The figures, score and rank of one unit (keys of ``mingyue citygov kpi --json``)."""

    org_id: int
    registered: int
    closed: int
    closed_on_time_rate: float
    close_rate: float
    rework_rate: float
    overdue: int
    avg_handle_hours: float | None
    verify_on_time_rate: float | None
    score: float
    rank: int


def parse_weights(text: str) -> dict[str, float]:
    """Parse ``name:weight,…`` over the six metrics (InvalidInput naming the bad part)."""
    weights: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, value = part.partition(":")
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if name.strip() not in METRICS or not 0 <= number <= 1000:
            raise InvalidInput(
                "citygov.kpi.bad_weights",
                f"{part!r}: expected one of {', '.join(METRICS)} with a weight 0..1000",
                field="kpi_weights",
            )
        weights[name.strip()] = number
    return check_weights(weights)


def check_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Return the weights when every name is a metric and they sum above zero."""
    bad = sorted(set(weights) - set(METRICS))
    if bad or sum(float(w) for w in weights.values()) <= 0 or any(w < 0 for w in weights.values()):
        raise InvalidInput(
            "citygov.kpi.bad_weights",
            f"weights must be non-negative, name {', '.join(METRICS)} and sum above 0",
            field="kpi_weights",
        )
    return {k: float(weights.get(k, 0.0)) for k in METRICS}


def _rate(num: int, den: int) -> float:
    return round(num / den, 4) if den else 0.0


@dataclass(frozen=True)
class _Figures:
    org_id: int
    registered: int
    closed: int
    closed_on_time_rate: float
    close_rate: float
    rework_rate: float
    overdue: int
    avg_handle_hours: float | None
    verify_on_time_rate: float | None
    fed_back: int


def _figures(org_id: int, tasks: list[TaskFacts], as_of: datetime) -> _Figures:
    closed = [t for t in tasks if t.closed_at is not None and t.closed_at <= as_of]
    on_time = sum(1 for t in closed if t.on_time)
    fed = [t for t in tasks if t.feedback_count > 0]
    overdue = 0
    for t in tasks:
        if t.closed_at is not None and t.closed_at <= as_of:
            overdue += 0 if t.on_time else 1
        else:
            end = t.fed_back_at if t.fed_back_at is not None else as_of
            overdue += 1 if end > t.due_at else 0
    hours = [t.handle_hours for t in closed if t.handle_hours is not None]
    verified = [t.verified_on_time for t in tasks if t.verified_on_time is not None]
    return _Figures(
        org_id=org_id,
        registered=len(tasks),
        closed=len(closed),
        closed_on_time_rate=_rate(on_time, len(tasks)),
        close_rate=_rate(len(closed), len(tasks)),
        rework_rate=_rate(sum(1 for t in fed if t.rework_count > 0), len(fed)),
        overdue=overdue,
        avg_handle_hours=round(sum(hours) / len(hours), 2) if hours else None,
        verify_on_time_rate=_rate(sum(1 for v in verified if v), len(verified))
        if verified
        else None,
        fed_back=len(fed),
    )


def _parts(f: _Figures, best_mean: float | None) -> dict[str, float]:
    """Each figure as a 0..1 score, higher is better; a figure not measured scores 0."""
    if f.avg_handle_hours is None:
        speed = 0.0
    elif f.avg_handle_hours <= 0 or best_mean is None:
        speed = 1.0
    else:
        speed = min(1.0, best_mean / f.avg_handle_hours)
    return {
        "closed_on_time_rate": f.closed_on_time_rate,
        "close_rate": f.close_rate,
        "rework_rate": 1 - f.rework_rate if f.fed_back else 0.0,
        "overdue": 1 - f.overdue / f.registered if f.registered else 0.0,
        "avg_handle_hours": speed,
        "verify_on_time_rate": f.verify_on_time_rate or 0.0,
    }


def rank_units(
    facts: Iterable[TaskFacts], *, as_of: datetime, weights: Mapping[str, float]
) -> list[UnitKpi]:
    """Return every unit with tasks in ``facts``, best first, with its score (0..100) and rank.

    Equal scores share a rank (1, 2, 2, 4); ties are listed by 按期结案率, then organization id.
    """
    w = check_weights(weights)
    groups: dict[int, list[TaskFacts]] = defaultdict(list)
    for fact in facts:
        groups[fact.unit_org_id].append(fact)
    figures = [_figures(org, tasks, as_of) for org, tasks in groups.items()]
    best = min(
        (f.avg_handle_hours for f in figures if f.avg_handle_hours and f.avg_handle_hours > 0),
        default=None,
    )
    total = sum(w.values())
    scored = []
    for f in figures:
        parts = _parts(f, best)
        scored.append((round(100 * sum(w[k] * parts[k] for k in METRICS) / total, 2), f))
    scored.sort(key=lambda x: (-x[0], -x[1].closed_on_time_rate, x[1].org_id))
    out: list[UnitKpi] = []
    prev: float | None = None
    rank = 0
    for i, (score, f) in enumerate(scored, start=1):
        if score != prev:
            rank, prev = i, score
        out.append(
            UnitKpi(
                org_id=f.org_id,
                registered=f.registered,
                closed=f.closed,
                closed_on_time_rate=f.closed_on_time_rate,
                close_rate=f.close_rate,
                rework_rate=f.rework_rate,
                overdue=f.overdue,
                avg_handle_hours=f.avg_handle_hours,
                verify_on_time_rate=f.verify_on_time_rate,
                score=score,
                rank=rank,
            )
        )
    return out
