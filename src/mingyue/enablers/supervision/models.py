"""Tables of the supervision enabler: rectifications, their reports, decisions, documents, self-checks.

Findings themselves are the core's (``mingyue.sdk.raise_finding``); rows here refer to them by id.
Documents (the exemption list, sector guidelines) are published reference data, not tenant-owned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mingyue.sdk import Base, TenantMixin, now


class SupervisionRectification(TenantMixin, Base):
    """One order to correct a finding within a time limit (APL Art. 28), and its case."""

    __tablename__ = "supervision_rectification"

    id: Mapped[int] = mapped_column(primary_key=True)
    finding_id: Mapped[int] = mapped_column(Integer, unique=True, index=True)
    case_id: Mapped[int] = mapped_column(
        ForeignKey("core_case.id", ondelete="CASCADE"), unique=True, index=True
    )
    enabler: Mapped[str] = mapped_column(String(60), index=True)
    rule: Mapped[str] = mapped_column(String(120), index=True)
    subject: Mapped[str] = mapped_column(String(512))
    ordered_at: Mapped[datetime] = mapped_column(default=now)
    ordered_by: Mapped[str] = mapped_column(String(128))
    instructions: Mapped[str | None] = mapped_column(Text, default=None)
    rule_working_days: Mapped[int] = mapped_column(Integer)  # the rule's own time limit
    working_days: Mapped[int] = mapped_column(Integer)  # the limit set in this order
    deadline: Mapped[datetime] = mapped_column(index=True)
    exemption_list_version: Mapped[int | None] = mapped_column(Integer, default=None)
    status: Mapped[str] = mapped_column(String(20), default="ordered", index=True)
    # The transition the service is taking now; case hooks refuse a step taken around it.
    pending_step: Mapped[str | None] = mapped_column(String(20), default=None)
    reminded_at: Mapped[datetime | None] = mapped_column(default=None)
    reverify_requested_at: Mapped[datetime | None] = mapped_column(default=None)
    verification_state: Mapped[str | None] = mapped_column(String(20), default=None)
    verified_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)


class SupervisionReport(TenantMixin, Base):
    """An enterprise's rectification report: what it did, and the evidence files it uploaded."""

    __tablename__ = "supervision_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    rectification_id: Mapped[int] = mapped_column(
        ForeignKey("supervision_rectification.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    files: Mapped[list[Any]] = mapped_column(default=list)  # [{id, filename, sha256, size, mime}]
    submitted_by: Mapped[str] = mapped_column(String(128))
    submitted_at: Mapped[datetime] = mapped_column(default=now)


class SupervisionDecision(TenantMixin, Base):
    """A decision on a finding: the facts used, the outcome, its basis and the signed record."""

    __tablename__ = "supervision_decision"

    id: Mapped[int] = mapped_column(primary_key=True)
    rectification_id: Mapped[int | None] = mapped_column(
        ForeignKey("supervision_rectification.id", ondelete="SET NULL"), default=None, index=True
    )
    finding_id: Mapped[int] = mapped_column(Integer, index=True)
    rule: Mapped[str] = mapped_column(String(120), index=True)
    facts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    derivation: Mapped[dict[str, Any]] = mapped_column(default=dict)  # how each fact was found
    decision: Mapped[str] = mapped_column(String(30), index=True)
    outcome: Mapped[str] = mapped_column(String(30), index=True)  # after discretion
    basis: Mapped[list[Any]] = mapped_column(default=list)
    reason: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reasons: Mapped[str | None] = mapped_column(Text, default=None)  # the person's, discretionary
    exemption_list_version: Mapped[int | None] = mapped_column(Integer, default=None)
    credential_id: Mapped[str | None] = mapped_column(String(80), default=None)
    decided_by: Mapped[str] = mapped_column(String(128))
    decided_at: Mapped[datetime] = mapped_column(default=now)


class SupervisionDocument(Base):
    """One version of a published document: the exemption list or a sector guideline."""

    __tablename__ = "supervision_document"
    __table_args__ = (UniqueConstraint("slug", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), index=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)  # exemption_list | guideline
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[dict[str, Any]] = mapped_column(default=dict)
    effective_from: Mapped[datetime] = mapped_column(index=True)
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sha256: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text, default=None)
    published_by: Mapped[str] = mapped_column(String(128))
    published_at: Mapped[datetime] = mapped_column(default=now)


class SupervisionSelfCheck(TenantMixin, Base):
    """An enterprise's self-check against one version of a guideline."""

    __tablename__ = "supervision_selfcheck"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80))
    version: Mapped[int] = mapped_column(Integer)
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=now)
