"""One firing of a schedule: claim its due time, then enqueue its job as a platform job.

The claim is a row of ``core_schedule_run`` unique on (schedule, due_at), inserted in the same
transaction as the job and its ledger entry: when several scheduler processes (or APScheduler
itself, see its issue #959 on SQLite) fire the same due time, exactly one transaction commits
and the others end on the unique constraint without queuing anything.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mingyue.core.config import Settings
from mingyue.core.declaration import Schedule
from mingyue.core.errors import MingyueError
from mingyue.core.jobs.service import enqueue
from mingyue.core.scheduling.models import ScheduleRun, ScheduleRunOut
from mingyue.core.tenancy.access import SYSTEM
from mingyue.core.tenancy.identity import Organization
from mingyue.core.uow import UnitOfWork, unit_of_work

log = logging.getLogger(__name__)


class _NotQueued(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def platform_organization(uow: UnitOfWork) -> int | None:
    """Return the organization platform jobs are queued for: the first operator organization."""
    return uow.session.scalar(
        select(Organization.id).where(Organization.kind == "operator").order_by(Organization.id)
    )


def fire(
    settings: Settings,
    *,
    name: str,
    schedule: Schedule,
    due_at: datetime,
    scheduler_id: str,
    grace_s: float,
    now: datetime | None = None,
) -> ScheduleRunOut | None:
    """Claim ``due_at`` of schedule ``name`` and queue its job; None when another process did.

    A due time found later than ``grace_s`` (the scheduler was down) is dropped and recorded as
    ``skipped`` when the schedule's misfire policy is ``skip``; under ``run_once`` the scheduler
    hands over only the latest missed due time, and it runs.
    """
    if due_at.tzinfo is None:
        raise ValueError("due_at must be timezone-aware")
    due_at = due_at.astimezone(UTC)
    late = ((now or datetime.now(UTC)) - due_at).total_seconds()
    try:
        with unit_of_work(SYSTEM, settings) as uow:
            run = ScheduleRun(
                schedule=name, due_at=due_at, status="queued", scheduler=scheduler_id, message=""
            )
            uow.session.add(run)
            uow.flush()  # the claim: a second process fails here on the unique constraint
            if schedule.misfire == "skip" and late > grace_s:
                run.status = "skipped"
                run.message = f"missed by {late:.0f}s while no scheduler ran (misfire: skip)"
            else:
                org_id = platform_organization(uow)
                if org_id is None:
                    raise _NotQueued("no operator organization to queue platform jobs for")
                try:
                    job = enqueue(
                        uow=uow,
                        kind=schedule.job_kind,
                        params=dict(schedule.params),
                        organization_id=org_id,
                        platform=True,
                    )
                except MingyueError as exc:
                    raise _NotQueued(f"{exc.key}: {exc}") from exc
                run.job_id = job.id
                if late > grace_s:
                    run.message = f"late by {late:.0f}s (misfire: run_once)"
            uow.flush()
            out = ScheduleRunOut.model_validate(run)
    except IntegrityError:
        return None
    except _NotQueued as exc:
        log.warning("schedule %s at %s not queued: %s", name, due_at.isoformat(), exc.message)
        return _record_failure(settings, name, due_at, scheduler_id, exc.message)
    return out


def _record_failure(
    settings: Settings, name: str, due_at: datetime, scheduler_id: str, message: str
) -> ScheduleRunOut | None:
    try:
        with unit_of_work(SYSTEM, settings) as uow:
            run = ScheduleRun(
                schedule=name,
                due_at=due_at,
                status="failed",
                scheduler=scheduler_id,
                message=message[:2000],
            )
            uow.session.add(run)
            uow.flush()
            return ScheduleRunOut.model_validate(run)
    except IntegrityError:
        return None
