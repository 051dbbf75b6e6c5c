"""Figures for the overview screen (一屏通览), each scoped to what the actor may see."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from mingyue.core import clock
from mingyue.core.cases import Case
from mingyue.core.jobs.service import Job
from mingyue.core.ledger import audit
from mingyue.core.metering.service import UsageRecord
from mingyue.core.tenancy.access import can
from mingyue.core.tenancy.identity import Organization, User
from mingyue.core.uow import UnitOfWork


def _month_start(tz: str) -> datetime:
    now = clock.local_now(tz)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def figures(uow: UnitOfWork) -> dict[str, Any]:
    """Return counts of cases by state, jobs by status, usage this month and ledger status."""

    s = uow.session
    out: dict[str, Any] = {
        "cases_by_state": {},
        "jobs_by_status": {},
        "usage_this_month": {},
        "ledger": {},
        "organizations": 0,
        "users": 0,
    }
    cases = s.execute(select(Case.state, func.count()).group_by(Case.state)).all()
    out["cases_by_state"] = {st: n for st, n in cases}
    jobs = s.execute(select(Job.status, func.count()).group_by(Job.status)).all()
    out["jobs_by_status"] = {st: n for st, n in jobs}
    start = _month_start(uow.settings.timezone)
    usage = s.execute(
        select(UsageRecord.meter, func.sum(UsageRecord.quantity))
        .where(UsageRecord.start >= start)
        .group_by(UsageRecord.meter)
    ).all()
    out["usage_this_month"] = {m: float(q or 0) for m, q in usage}
    if can(uow.actor, "core.audit.read"):
        head = s.execute(select(func.count(), func.max(audit.AuditEntry.seq))).one()
        last_cp = s.scalars(
            select(audit.AuditCheckpoint).order_by(audit.AuditCheckpoint.tree_size.desc()).limit(1)
        ).first()
        out["ledger"] = {
            "entries": head[0],
            "head_seq": head[1],
            "last_checkpoint": last_cp.tree_size if last_cp else None,
        }
    out["organizations"] = s.scalar(select(func.count()).select_from(Organization)) or 0
    out["users"] = s.scalar(select(func.count()).select_from(User)) or 0
    return out
