"""Operational figures read from the database when ``/metrics`` is scraped.

They are read at scrape time, not counted in one process, so every web and worker process (and
a Redis worker that no web process sees) is counted once, whichever process answers the scrape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from mingyue.core import clock
from mingyue.core.config import Settings
from mingyue.core.db import get_engine
from mingyue.core.jobs.models import FINISHED, Job
from mingyue.core.ledger.audit import AuditCheckpoint, AuditEntry
from mingyue.core.scheduling.models import ScheduleRun, ScheduleState


@dataclass
class OpsFigures:
    """What one scrape reports about jobs and the ledger."""

    jobs_queued: dict[str, int] = field(default_factory=dict)  # kind -> queued jobs
    jobs_running: dict[str, int] = field(default_factory=dict)  # kind -> running jobs
    oldest_queued_age_s: float = 0.0
    job_outcomes: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, status) -> n
    ledger_entries: int = 0
    ledger_checkpointed_entries: int = 0
    last_checkpoint_age_s: float | None = None  # None: no checkpoint yet
    # How late the latest firing came after its due time; how long the most overdue schedule's
    # next due time has passed unfired (a scheduler that stopped or falls behind).
    scheduler_last_lag_s: float | None = None
    scheduler_overdue_s: float | None = None


def _age(now: datetime, then: datetime | None) -> float | None:
    if then is None:
        return None
    if then.tzinfo is None:  # SQLite hands back naive UTC from aggregate functions
        then = then.replace(tzinfo=now.tzinfo)
    return max(0.0, (now - then).total_seconds())


def collect(settings: Settings) -> OpsFigures:
    """Read the job queue, job outcomes and the ledger's length and last checkpoint."""
    job = Job.__table__
    entry = AuditEntry.__table__
    checkpoint = AuditCheckpoint.__table__
    now = clock.now()
    out = OpsFigures()
    # A plain connection, not a session: platform-wide counts, no tenant's rows are read.
    with get_engine(settings).connect() as conn:
        rows = conn.execute(
            select(job.c.kind, job.c.status, func.count()).group_by(job.c.kind, job.c.status)
        )
        for row in rows:
            kind, status, n = str(row[0]), str(row[1]), int(row[2])
            if status == "queued":
                out.jobs_queued[kind] = int(n)
            elif status == "running":
                out.jobs_running[kind] = int(n)
            elif status in FINISHED:
                out.job_outcomes[(kind, status)] = int(n)
        oldest = conn.execute(
            select(func.min(job.c.queued_at)).where(job.c.status == "queued")
        ).scalar()
        out.oldest_queued_age_s = _age(now, oldest) or 0.0
        out.ledger_entries = int(conn.execute(select(func.max(entry.c.seq))).scalar() or 0)
        last = conn.execute(
            select(checkpoint.c.tree_size, checkpoint.c.time)
            .order_by(checkpoint.c.tree_size.desc())
            .limit(1)
        ).first()
        if last is not None:
            out.ledger_checkpointed_entries = int(last[0])
            out.last_checkpoint_age_s = _age(now, last[1])
        run, state = ScheduleRun.__table__, ScheduleState.__table__
        fired = conn.execute(
            select(run.c.due_at, run.c.fired_at).order_by(run.c.fired_at.desc()).limit(1)
        ).first()
        if fired is not None:
            out.scheduler_last_lag_s = _age(fired[1], fired[0])
        next_due = conn.execute(select(func.min(state.c.next_run_at))).scalar()
        if next_due is not None:
            out.scheduler_overdue_s = _age(now, next_due)
    return out
