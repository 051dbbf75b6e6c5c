"""Tables and data transfer objects of cases: the case, its history, its attachments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mingyue.core.db import Base, TenantMixin, utcnow

EVENT_KINDS = ("open", "transition", "comment", "assign", "attach", "escalate", "data")


class Case(TenantMixin, Base):
    """A case; its organization is the submitting organization (the tenant)."""

    __tablename__ = "core_case"
    __table_args__ = (
        Index("ix_core_case_open_due", "closed_at", "due_at"),
        # the case list: an organization's cases, newest first (docs/performance.md)
        Index("ix_core_case_org_created", "organization_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(120), index=True)
    title: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    state: Mapped[str] = mapped_column(String(60), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    opened_by: Mapped[str] = mapped_column(String(120))
    assignee_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_organization.id"), nullable=True, index=True
    )
    assignee_department: Mapped[str | None] = mapped_column(String(120), nullable=True)
    assignee_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    state_entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    sla_breaches: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)


class CaseEvent(TenantMixin, Base):
    """One line of a case's history (see ``EVENT_KINDS``)."""

    __tablename__ = "core_case_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("core_case.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str | None] = mapped_column(String(60), nullable=True)
    actor: Mapped[str] = mapped_column(String(120))
    actor_user_id: Mapped[int | None] = mapped_column(nullable=True)
    from_state: Mapped[str | None] = mapped_column(String(60), nullable=True)
    to_state: Mapped[str | None] = mapped_column(String(60), nullable=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CaseAttachment(TenantMixin, Base):
    """A stored file (``mingyue.core.files.store``) attached to a case, by file id."""

    __tablename__ = "core_case_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("core_case.id", ondelete="CASCADE"), index=True)
    file_id: Mapped[int] = mapped_column(Integer, index=True)
    filename: Mapped[str | None] = mapped_column(String(255), nullable=True)
    attached_by: Mapped[str] = mapped_column(String(120))
    attached_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseOut(BaseModel):
    """A case as services return it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    kind: str
    title: str
    subject: str | None
    state: str
    data: dict[str, Any]
    opened_by: str
    assignee_org_id: int | None
    assignee_department: str | None
    assignee_user_id: int | None
    created_at: datetime
    state_entered_at: datetime
    due_at: datetime | None
    escalated: bool
    escalation_level: int
    sla_breaches: int
    closed_at: datetime | None

    def is_overdue(self, now: datetime) -> bool:
        """Tell whether the case's current state is past its SLA at ``now``."""
        return self.closed_at is None and self.due_at is not None and now > self.due_at


class CaseEventOut(BaseModel):
    """One history line."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int
    kind: str
    name: str | None
    actor: str
    from_state: str | None
    to_state: str | None
    at: datetime
    comment: str | None
    late: bool
    data: dict[str, Any]


class AttachmentOut(BaseModel):
    """One attachment of a case."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int
    file_id: int
    filename: str | None
    attached_by: str
    attached_at: datetime


class TransitionOut(BaseModel):
    """A transition the actor may take now."""

    name: str
    target: str
    title: dict[str, str]
    requires_comment: bool


class CaseDetail(CaseOut):
    """A case with its history, attachments and the transitions open to the reader."""

    events: list[CaseEventOut]
    attachments: list[AttachmentOut]
    transitions: list[TransitionOut]


class AssigneeFigures(BaseModel):
    """Assessment (考核) figures of one assignee over a period."""

    assignee_org_id: int | None
    assignee_department: str | None
    assignee_user_id: int | None
    label: str
    handled: int
    on_time: int
    on_time_rate: float
    mean_hours: float
    p90_hours: float
