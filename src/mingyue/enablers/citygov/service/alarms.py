"""Alarms of city devices: the lifecycle in the database, the case a critical one opens.

Rules are data (``rules/alarms.yaml``); ``engine/alarms.py`` decides each step. One alarm per
(device, type) is open at a time (the ``open_key`` unique constraint): a new signal updates it,
an acknowledged one keeps counting, a cleared one stays history and the next raise opens a new
alarm whose ``previous_id`` points to it. An alarm belongs to the device's organization, so its
people and the oversight roles see it. A critical alarm opens a city case through the closed
loop (``closed_loop.open_from_alarm``), once per alarm.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from mingyue.enablers.citygov.engine.alarms import (
    OPEN_STATUSES,
    AlarmRule,
    Signal,
    can_acknowledge,
    decide,
    severity_rank,
    silent_signal,
)
from mingyue.enablers.citygov.engine.telemetry import DeviceKind, parse_kinds
from mingyue.enablers.citygov.models_telemetry import CitygovAlarm, CitygovDevice
from mingyue.enablers.citygov.service import closed_loop
from mingyue.sdk import Actor, JobContext, UnitOfWork, check, get_visible, now
from mingyue.sdk.errors import Conflict

MAX_LIST = 500
RULES_FILE = Path(__file__).resolve().parents[1] / "rules" / "alarms.yaml"


@lru_cache(maxsize=1)
def device_kinds() -> dict[str, DeviceKind]:
    """Return the device kinds and their alarm rules (``rules/alarms.yaml``, read once)."""
    return parse_kinds(yaml.safe_load(RULES_FILE.read_text(encoding="utf-8")))


class AlarmOut(BaseModel):
    """An alarm as the API and the console show it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    device_id: str
    kind: str
    type: str
    status: str
    severity: str
    measure: str | None
    value: float | None
    threshold: float
    title: dict[str, str]
    source: str
    lon: float | None
    lat: float | None
    first_at: datetime
    last_at: datetime
    count: int
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    cleared_at: datetime | None
    cleared_by: str | None
    previous_id: int | None
    case_id: int | None


class AlarmDevice(Protocol):
    """What an alarm needs of its device: a ``CitygovDevice`` row or ingest's kept copy."""

    @property
    def id(self) -> int: ...
    @property
    def organization_id(self) -> int: ...
    @property
    def device_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def lon(self) -> float | None: ...
    @property
    def lat(self) -> float | None: ...


@dataclass(frozen=True)
class Step:
    """One lifecycle step taken (for callers that report what happened)."""

    alarm_id: int
    action: str
    severity: str


def open_alarms(uow: UnitOfWork, device_pks: Iterable[int]) -> dict[tuple[int, str], CitygovAlarm]:
    """Return the open (not cleared) alarms of these devices by (device pk, type)."""
    pks = sorted(set(device_pks))
    if not pks:
        return {}
    rows = uow.session.scalars(
        select(CitygovAlarm).where(
            CitygovAlarm.device_pk.in_(pks), CitygovAlarm.open_key.is_not(None)
        )
    )
    return {(a.device_pk, a.type): a for a in rows}


def _label(rule: AlarmRule) -> dict[str, str]:
    return {"zh": rule.title.get("zh", rule.type), "en": rule.title.get("en", rule.type)}


def _maybe_open_case(
    uow: UnitOfWork, alarm: CitygovAlarm, rule: AlarmRule, device: AlarmDevice
) -> None:
    if alarm.severity != "critical" or alarm.case_id is not None:
        return
    if alarm.lon is None or alarm.lat is None:
        return  # a case needs a place; a device registered without one cannot open it
    name = device.name or device.device_id
    alarm.case_id = closed_loop.open_from_alarm(
        uow,
        org_id=alarm.organization_id,
        alarm_id=alarm.id,
        category=rule.case_category or alarm.kind,
        title=f"{rule.title.get('zh', rule.type)}：{name}",
        lon=alarm.lon,
        lat=alarm.lat,
        source="sensor",
    )


def _audit(uow: UnitOfWork, event: str, alarm: CitygovAlarm, **extra: Any) -> None:
    uow.audit(
        event,
        f"citygov_alarm:{alarm.id}",
        {
            "device_id": alarm.device_id,
            "type": alarm.type,
            "severity": alarm.severity,
            "value": alarm.value,
            **extra,
        },
        organization_id=alarm.organization_id,
    )


def _create(
    uow: UnitOfWork,
    device: AlarmDevice,
    rule: AlarmRule,
    sig: Signal,
    at: datetime,
    opened: dict[tuple[int, str], CitygovAlarm],
) -> Step:
    previous = uow.session.scalars(
        select(CitygovAlarm.id)
        .where(CitygovAlarm.device_pk == device.id, CitygovAlarm.type == rule.type)
        .order_by(CitygovAlarm.id.desc())
        .limit(1)
    ).first()
    alarm = CitygovAlarm(
        organization_id=device.organization_id,
        device_pk=device.id,
        device_id=device.device_id,
        kind=device.kind,
        type=rule.type,
        open_key=f"{device.id}:{rule.type}",
        status="active",
        severity=sig.severity,
        measure=rule.measure,
        value=sig.value,
        threshold=sig.threshold,
        title=_label(rule),
        source=rule.source[:300],
        lon=device.lon,
        lat=device.lat,
        first_at=at,
        last_at=at,
        count=1,
        previous_id=previous,
    )
    try:
        with uow.session.begin_nested():
            uow.session.add(alarm)
            uow.session.flush()
    except IntegrityError:
        # another process opened it first (shared subscription): count this signal on it
        uow.session.expunge(alarm)
        current = open_alarms(uow, [device.id])[(device.id, rule.type)]
        opened[(device.id, rule.type)] = current
        return _update(uow, device, rule, sig, at, current)
    opened[(device.id, rule.type)] = alarm
    action = "reopened" if previous is not None else "raised"
    _audit(uow, f"citygov.alarm.{action}", alarm, previous_id=previous)
    _maybe_open_case(uow, alarm, rule, device)
    return Step(alarm.id, action, alarm.severity)


def _update(
    uow: UnitOfWork,
    device: AlarmDevice,
    rule: AlarmRule,
    sig: Signal,
    at: datetime,
    alarm: CitygovAlarm,
) -> Step:
    escalated = severity_rank(sig.severity) > severity_rank(alarm.severity)
    alarm.count += 1
    alarm.last_at = max(alarm.last_at, at)
    alarm.value, alarm.threshold, alarm.severity = sig.value, sig.threshold, sig.severity
    if escalated:
        _audit(uow, "citygov.alarm.escalated", alarm)
        _maybe_open_case(uow, alarm, rule, device)
        return Step(alarm.id, "escalated", alarm.severity)
    return Step(alarm.id, "updated", alarm.severity)


def _clear(uow: UnitOfWork, alarm: CitygovAlarm, at: datetime, by: str) -> Step:
    alarm.status, alarm.open_key = "cleared", None
    alarm.cleared_at, alarm.cleared_by = at, by
    _audit(uow, "citygov.alarm.cleared", alarm, by=by)
    return Step(alarm.id, "cleared", alarm.severity)


def apply_signals(
    uow: UnitOfWork,
    *,
    device: AlarmDevice,
    kind: DeviceKind,
    signals: Sequence[tuple[Signal, datetime]],
    opened: dict[tuple[int, str], CitygovAlarm],
) -> list[Step]:
    """Take one lifecycle step per signal of a device, in order (``opened`` is kept current)."""
    rules = {r.type: r for r in kind.rules}
    steps: list[Step] = []
    for sig, at in signals:
        rule = rules[sig.type]
        current = opened.get((device.id, sig.type))
        decision = decide(
            current.status if current else None, current.severity if current else None, sig
        )
        if decision.action in ("create", "reopen"):
            steps.append(_create(uow, device, rule, sig, at, opened))
        elif decision.action == "update" and current is not None:
            steps.append(_update(uow, device, rule, sig, at, current))
        elif decision.action == "clear" and current is not None:
            steps.append(_clear(uow, current, at, "auto"))
            opened.pop((device.id, sig.type), None)
    return steps


# -- people -----------------------------------------------------------------------------------


def list_alarms(
    *,
    uow: UnitOfWork,
    actor: Actor,
    status: Literal["open", "active", "acknowledged", "cleared", "all"] = "open",
    device_id: str | None = None,
    severity: str | None = None,
    limit: int = 100,
) -> list[AlarmOut]:
    """Alarms the actor's scope reaches, newest first (``open``: active or acknowledged)."""
    check(actor, "citygov.read")
    stmt = select(CitygovAlarm)
    if status == "open":
        stmt = stmt.where(CitygovAlarm.status.in_(OPEN_STATUSES))
    elif status != "all":
        stmt = stmt.where(CitygovAlarm.status == status)
    if device_id:
        stmt = stmt.where(CitygovAlarm.device_id == device_id)
    if severity:
        stmt = stmt.where(CitygovAlarm.severity == severity)
    stmt = stmt.order_by(CitygovAlarm.last_at.desc(), CitygovAlarm.id.desc()).limit(
        max(1, min(limit, MAX_LIST))
    )
    return [AlarmOut.model_validate(a) for a in uow.session.scalars(stmt)]


def count_open(*, uow: UnitOfWork, actor: Actor) -> dict[str, int]:
    """Open alarms by severity (for the map legend and the console's badge)."""
    check(actor, "citygov.read")
    rows = uow.session.execute(
        select(CitygovAlarm.severity, func.count())
        .where(CitygovAlarm.status.in_(OPEN_STATUSES))
        .group_by(CitygovAlarm.severity)
    )
    return {str(sev): int(n) for sev, n in rows}


def acknowledge(*, uow: UnitOfWork, actor: Actor, alarm_id: int) -> AlarmOut:
    """Acknowledge an active alarm: someone is on it (it keeps counting until it clears)."""
    alarm = get_visible(
        uow, CitygovAlarm, alarm_id, "citygov.alarm.handle", key="citygov.alarm.not_found"
    )
    if not can_acknowledge(alarm.status):
        raise Conflict(
            "citygov.alarm.not_active", f"alarm {alarm_id} is {alarm.status}", status=alarm.status
        )
    alarm.status = "acknowledged"
    alarm.acknowledged_at, alarm.acknowledged_by = now(), actor.label()
    _audit(uow, "citygov.alarm.acknowledged", alarm, by=actor.label())
    return AlarmOut.model_validate(alarm)


def clear(*, uow: UnitOfWork, actor: Actor, alarm_id: int) -> AlarmOut:
    """Clear an open alarm by hand (the condition was dealt with on site)."""
    alarm = get_visible(
        uow, CitygovAlarm, alarm_id, "citygov.alarm.handle", key="citygov.alarm.not_found"
    )
    if alarm.status not in OPEN_STATUSES:
        raise Conflict("citygov.alarm.cleared", f"alarm {alarm_id} is already cleared")
    _clear(uow, alarm, now(), actor.label())
    return AlarmOut.model_validate(alarm)


# -- silent devices (scheduled) ---------------------------------------------------------------


def check_silent(*, uow: UnitOfWork, at: datetime | None = None) -> dict[str, int]:
    """Raise the ``silent`` alarm of every active device that sent nothing for its minutes."""
    at = at or now()
    raised = 0
    for kind in device_kinds().values():
        for rule in kind.silent_rules:
            cutoff = at - timedelta(minutes=rule.minutes)
            seen = func.coalesce(CitygovDevice.last_seen_at, CitygovDevice.created_at)
            devices = list(
                uow.session.scalars(
                    select(CitygovDevice).where(
                        CitygovDevice.kind == kind.key,
                        CitygovDevice.active.is_(True),
                        seen <= cutoff,
                    )
                )
            )
            opened = open_alarms(uow, [d.id for d in devices])
            for d in devices:
                if (d.id, rule.type) in opened:
                    continue
                sig = silent_signal(rule, last_seen=d.last_seen_at or d.created_at, now=at)
                if sig is not None:
                    apply_signals(uow, device=d, kind=kind, signals=[(sig, at)], opened=opened)
                    raised += 1
    return {"raised": raised}


def run_silent_check_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Job ``citygov.silent_check``: raise alarms of devices gone quiet (every minute)."""
    with ctx.unit_of_work() as uow:
        return check_silent(uow=uow)
