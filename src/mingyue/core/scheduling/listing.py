"""What ``mingyue schedule list`` and the console show: each declared schedule, next run, last result."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import select

from mingyue.core.config import Settings
from mingyue.core.db import system_session
from mingyue.core.declaration import Schedule
from mingyue.core.jobs.models import Job, kinds
from mingyue.core.registries import schedules as registered_schedules
from mingyue.core.scheduling.models import ScheduleOut, ScheduleRun, ScheduleRunOut, ScheduleState
from mingyue.core.scheduling.triggers import describe, trigger_of


def declared() -> dict[str, Schedule]:
    """Return every declared schedule by name (core apps and installed enablers)."""
    kinds()  # discovery fills the registries
    return {name: spec for name, (_key, spec) in registered_schedules().items()}


def _computed_next(spec: Schedule, tz: str, now: datetime) -> datetime | None:
    # No scheduler has reported yet: the trigger's own next due time after now.
    nxt = trigger_of(spec, tz, now).next()
    return nxt.astimezone(UTC) if nxt is not None else None


def list_schedules(
    settings: Settings, schedules: Mapping[str, Schedule] | None = None
) -> list[ScheduleOut]:
    """Return every declared schedule (or the given ones) with its next run and last result."""
    specs = dict(declared() if schedules is None else schedules)
    owners = {name: key for name, (key, _spec) in registered_schedules().items()}
    now = datetime.now(UTC)
    out: list[ScheduleOut] = []
    with system_session(settings, "schedule list") as s:
        states = {
            st.name: st
            for st in s.scalars(select(ScheduleState).where(ScheduleState.name.in_(specs)))
        }
        for name in sorted(specs):
            spec = specs[name]
            st = states.get(name)
            last = s.scalars(
                select(ScheduleRun)
                .where(ScheduleRun.schedule == name)
                .order_by(ScheduleRun.due_at.desc())
                .limit(1)
            ).first()
            job_status = None
            if last is not None and last.job_id is not None:
                job_status = s.scalar(select(Job.status).where(Job.id == last.job_id))
            out.append(
                ScheduleOut(
                    name=name,
                    enabler=owners.get(name, ""),
                    job_kind=spec.job_kind,
                    trigger=describe(spec),
                    misfire=spec.misfire,
                    description=dict(spec.description),
                    next_run_at=(
                        st.next_run_at
                        if st is not None and st.next_run_at is not None
                        else _computed_next(spec, settings.timezone, now)
                    ),
                    scheduler=st.scheduler if st is not None else None,
                    scheduler_seen_at=st.seen_at if st is not None else None,
                    last_due_at=last.due_at if last is not None else None,
                    last_status=last.status if last is not None else None,
                    last_job_id=last.job_id if last is not None else None,
                    last_job_status=job_status,
                    last_message=(last.message or None) if last is not None else None,
                )
            )
    return out


def recent_runs(settings: Settings, *, limit: int = 50) -> list[ScheduleRunOut]:
    """Return the latest firings of every schedule, newest first."""
    with system_session(settings, "schedule runs") as s:
        rows = s.scalars(
            select(ScheduleRun)
            .order_by(ScheduleRun.fired_at.desc(), ScheduleRun.id.desc())
            .limit(max(1, min(limit, 500)))
        )
        return [ScheduleRunOut.model_validate(r) for r in rows]


def result_text(row: ScheduleOut) -> str:
    """Return the last result in one line: ``queued: job #12 succeeded``, ``skipped: …``."""
    if row.last_status is None:
        return "—"
    text = row.last_status
    if row.last_job_id is not None:
        text += f": job #{row.last_job_id} {row.last_job_status or 'gone'}"
    if row.last_message:
        text += f" ({row.last_message})"
    return text
