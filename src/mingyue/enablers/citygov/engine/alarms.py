"""Alarm rules of device kinds and the alarm lifecycle, as pure functions.

A rule watches one measure of a device kind: ``above`` / ``below`` a threshold (with severity
levels and a clearing point for hysteresis, so a value hovering at the threshold does not raise
and clear on every reading), ``rate`` of change per ``per_s`` seconds, or ``silent`` (no reading
for ``minutes``). Evaluating a reading gives a ``Signal`` (the condition holds, or it is gone);
``decide`` turns a signal and the current alarm of the same (device, type) into one step of the
lifecycle create → update → acknowledge → clear. An alarm that is not cleared is updated, never
duplicated; after it is cleared the next raise opens a new alarm that points to the cleared one
(the same dedup rule as the platform's findings).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any, Literal

from mingyue.sdk.errors import InvalidInput

Severity = Literal["warning", "minor", "major", "critical"]
SEVERITIES: tuple[Severity, ...] = ("warning", "minor", "major", "critical")
Condition = Literal["above", "below", "rate", "silent"]
Status = Literal["active", "acknowledged", "cleared"]
OPEN_STATUSES: tuple[Status, ...] = ("active", "acknowledged")


def severity_rank(severity: str) -> int:
    """Return the order of a severity (warning 0 … critical 3)."""
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class Level:
    """One step of a rule: past ``threshold`` the alarm has ``severity``."""

    threshold: float
    severity: Severity


@dataclass(frozen=True)
class AlarmRule:
    """One alarm rule of a device kind (see the module docstring)."""

    type: str
    condition: Condition
    levels: tuple[Level, ...]
    measure: str | None = None
    clear_at: float | None = None
    per_s: float = 3600.0
    minutes: int = 0
    title: Mapping[str, str] = field(default_factory=dict)
    source: str = ""
    case_category: str | None = None

    @property
    def clearing_point(self) -> float:
        """The value past which (back inside) a raised alarm of this rule clears."""
        return self.levels[0].threshold if self.clear_at is None else self.clear_at


@dataclass(frozen=True)
class Signal:
    """What one evaluation found: the condition holds (``raised``) or is gone."""

    type: str
    raised: bool
    severity: Severity
    value: float | None
    threshold: float


Action = Literal["create", "update", "reopen", "clear", "none"]


@dataclass(frozen=True)
class Decision:
    """One lifecycle step for the (device, type) alarm; ``escalated``: severity went up."""

    action: Action
    escalated: bool = False


def _level_for(rule: AlarmRule, value: float) -> Level | None:
    hit: Level | None = None
    for level in rule.levels:
        past = value < level.threshold if rule.condition == "below" else value > level.threshold
        if past:
            hit = level
    return hit


def evaluate(
    rule: AlarmRule,
    *,
    value: Any,
    at: datetime,
    previous: tuple[float, datetime] | None = None,
) -> Signal | None:
    """Evaluate a reading's value against a rule (``None``: nothing to say, e.g. hysteresis)."""
    if rule.condition == "silent" or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    if not math.isfinite(v):
        return None
    if rule.condition == "rate":
        if previous is None or at <= previous[1]:
            return None
        v = abs(v - previous[0]) / (at - previous[1]).total_seconds() * rule.per_s
    level = _level_for(rule, v)
    if level is not None:
        return Signal(rule.type, True, level.severity, v, level.threshold)
    cleared = v >= rule.clearing_point if rule.condition == "below" else v <= rule.clearing_point
    if cleared:
        return Signal(rule.type, False, rule.levels[0].severity, v, rule.levels[0].threshold)
    return None


def silent_signal(rule: AlarmRule, *, last_seen: datetime | None, now: datetime) -> Signal | None:
    """Raise a ``silent`` rule when no reading came for its minutes (None: not silent yet)."""
    if rule.condition != "silent" or last_seen is None:
        return None
    quiet_min = (now - last_seen).total_seconds() / 60.0
    if quiet_min >= rule.minutes:
        return Signal(rule.type, True, rule.levels[0].severity, quiet_min, float(rule.minutes))
    return None


def decide(current: str | None, current_severity: str | None, signal: Signal) -> Decision:
    """Return the lifecycle step for a signal, given the (device, type) alarm's status."""
    open_now = current in OPEN_STATUSES
    if not signal.raised:
        return Decision("clear") if open_now else Decision("none")
    if current is None:
        return Decision("create")
    if not open_now:
        return Decision("reopen")
    up = current_severity is not None and severity_rank(signal.severity) > severity_rank(
        current_severity
    )
    return Decision("update", escalated=up)


def can_acknowledge(status: str) -> bool:
    """Tell whether an alarm in ``status`` may be acknowledged (an active one only)."""
    return status == "active"


# -- rules as data ----------------------------------------------------------------------------


def _num(doc: Mapping[str, Any], key: str, where: str) -> float:
    v = doc.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
        raise InvalidInput("citygov.rules.bad", f"{where}: {key} must be a number", field=where)
    return float(v)


def parse_rule(doc: Mapping[str, Any], *, where: str, measures: Sequence[str]) -> AlarmRule:
    """Read one rule of ``rules/alarms.yaml`` (InvalidInput naming the bad field)."""
    rtype, cond = doc.get("type"), doc.get("condition")
    if not isinstance(rtype, str) or not rtype.replace("_", "").isalnum() or len(rtype) > 40:
        raise InvalidInput("citygov.rules.bad", f"{where}: type must be a short name", field=where)
    if cond not in ("above", "below", "rate", "silent"):
        raise InvalidInput("citygov.rules.bad", f"{where}: unknown condition {cond!r}", field=where)
    measure = doc.get("measure")
    if cond != "silent" and measure not in measures:
        raise InvalidInput(
            "citygov.rules.bad", f"{where}: unknown measure {measure!r}", field=where
        )
    raw_levels = doc.get("levels")
    if cond == "silent":
        raw_levels = [{"threshold": _num(doc, "minutes", where), "severity": doc.get("severity")}]
    if not isinstance(raw_levels, list) or not raw_levels:
        raise InvalidInput("citygov.rules.bad", f"{where}: levels missing", field=where)
    levels: list[Level] = []
    for i, lv in enumerate(raw_levels):
        if not isinstance(lv, Mapping) or lv.get("severity") not in SEVERITIES:
            raise InvalidInput(
                "citygov.rules.bad", f"{where}.levels[{i}]: bad severity", field=where
            )
        levels.append(Level(_num(lv, "threshold", where), lv["severity"]))
    ascending = cond != "below"
    for a, b in pairwise(levels):
        ordered = a.threshold < b.threshold if ascending else a.threshold > b.threshold
        if not ordered or severity_rank(a.severity) >= severity_rank(b.severity):
            raise InvalidInput(
                "citygov.rules.bad",
                f"{where}: levels must grow in threshold and severity",
                field=where,
            )
    clear_at = _num(doc, "clear_at", where) if "clear_at" in doc else None
    if clear_at is not None:
        first = levels[0].threshold
        if (ascending and clear_at > first) or (not ascending and clear_at < first):
            raise InvalidInput(
                "citygov.rules.bad", f"{where}: clear_at must lie inside the threshold", field=where
            )
    title = doc.get("title") or {}
    if not isinstance(title, Mapping) or not {"zh", "en"} <= set(title):
        raise InvalidInput("citygov.rules.bad", f"{where}: title needs zh and en", field=where)
    return AlarmRule(
        type=rtype,
        condition=cond,
        levels=tuple(levels),
        measure=measure if cond != "silent" else None,
        clear_at=clear_at,
        per_s=_num(doc, "per_s", where) if "per_s" in doc else 3600.0,
        minutes=int(_num(doc, "minutes", where)) if cond == "silent" else 0,
        title={"zh": str(title["zh"]), "en": str(title["en"])},
        source=str(doc.get("source", "")),
        case_category=str(doc["case_category"]) if doc.get("case_category") else None,
    )
