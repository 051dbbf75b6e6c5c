"""Background jobs: the job-kind registry, the ``core_job`` table, its API shape and queue hook.

Imported by both the job services (``jobs``) and the executor (``jobs_exec``); use ``jobs``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, Boolean, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mingyue.core import plugins, registries
from mingyue.core.db import Base, TenantMixin, utcnow

if TYPE_CHECKING:
    pass

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED = frozenset({"succeeded", "failed", "cancelled"})

_kinds = registries._job_kinds  # the one registry; plugins fills it
register_kind = registries.register_job_kind


def kinds() -> dict[str, str]:
    """Return every registered job kind."""
    _load_registry()
    return dict(_kinds)


def _load_registry() -> None:
    plugins.registry()


class Job(TenantMixin, Base):
    """One background job: what to run, for whom, and how far it got."""

    __tablename__ = "core_job"
    __table_args__ = (Index("ix_core_job_status_queued_at", "status", "queued_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(120), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[int] = mapped_column(default=0)
    message: Mapped[str] = mapped_column(String(500), default="")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=2)
    worker_id: Mapped[str | None] = mapped_column(String(120), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    submitted_by: Mapped[str] = mapped_column(String(80), default="system")
    submitted_by_id: Mapped[int | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class JobOut(BaseModel):
    """A job as the API, the console and the CLI show it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    kind: str
    params: dict[str, Any]
    status: str
    progress: int
    message: str
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    max_attempts: int
    worker_id: str | None
    heartbeat_at: datetime | None
    cancel_requested: bool
    submitted_by: str
    submitted_by_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        """Tell whether the job has ended."""
        return self.status in FINISHED


def _params_digest(params: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(params, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()
