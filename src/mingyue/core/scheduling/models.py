"""The scheduler's tables: one row per firing (the once-per-due-time claim) and each schedule's state.

``core_schedule_run`` is the claim: a firing inserts (schedule, due_at) and enqueues its job in
the same transaction, and the unique constraint lets only one scheduler process win a due time.
``core_schedule_state`` is what the running scheduler last saw (trigger, next due time), so
that ``mingyue schedule list`` and the console can show it without starting a scheduler.
Neither table is tenant-owned: schedules are the platform's.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mingyue.core.db import Base, utcnow

# What became of a due time: a job was queued; it was dropped (misfire "skip" after downtime);
# or queuing failed (the message says why).
RUN_STATUSES = ("queued", "skipped", "failed")


class ScheduleRun(Base):
    """One due time of one schedule, claimed by exactly one scheduler process."""

    __tablename__ = "core_schedule_run"
    __table_args__ = (UniqueConstraint("schedule", "due_at", name="uq_core_schedule_run_due"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule: Mapped[str] = mapped_column(String(160))
    due_at: Mapped[datetime] = mapped_column()
    fired_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16))
    job_id: Mapped[int | None] = mapped_column(nullable=True)
    scheduler: Mapped[str] = mapped_column(String(160))
    message: Mapped[str] = mapped_column(Text, default="")


class ScheduleState(Base):
    """A declared schedule as the scheduler process last saw it."""

    __tablename__ = "core_schedule_state"

    name: Mapped[str] = mapped_column(String(160), primary_key=True)
    trigger: Mapped[str] = mapped_column(String(200))
    next_run_at: Mapped[datetime | None] = mapped_column(nullable=True)
    scheduler: Mapped[str] = mapped_column(String(160))
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScheduleRunOut(BaseModel):
    """A firing as the CLI and the console show it."""

    model_config = ConfigDict(from_attributes=True)

    schedule: str
    due_at: datetime
    fired_at: datetime
    status: str
    job_id: int | None
    scheduler: str
    message: str


class ScheduleOut(BaseModel):
    """A declared schedule with its next run and its last result."""

    name: str
    enabler: str
    job_kind: str
    trigger: str
    misfire: str
    description: dict[str, str]
    next_run_at: datetime | None
    scheduler: str | None
    scheduler_seen_at: datetime | None
    last_due_at: datetime | None
    last_status: str | None
    last_job_id: int | None
    last_job_status: str | None
    last_message: str | None
