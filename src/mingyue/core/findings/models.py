"""The finding table and the typed objects services return: ``FindingOut``, ``EvidenceRef``.

A finding is one rule broken by one subject of one organization (``appcheck.over_collection`` on
``app:com.example.shop``). While it is active (open, rectifying, fixed) its ``active_key``
("org:rule:subject") is set and unique, so that a second sighting updates it instead of adding a
row; a closed or dismissed finding drops the key and stays as history.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mingyue.core.db import Base, TenantMixin, utcnow
from mingyue.core.declaration import Severity

FindingStatus = Literal["open", "rectifying", "fixed", "closed", "dismissed"]
STATUSES: tuple[str, ...] = ("open", "rectifying", "fixed", "closed", "dismissed")
ACTIVE: tuple[str, ...] = ("open", "rectifying", "fixed")
TERMINAL: tuple[str, ...] = ("closed", "dismissed")
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
MAX_EVIDENCE = 20  # evidence kept on a finding, newest last
MAX_SUBJECT = 300

_KIND = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class Finding(TenantMixin, Base):
    """A rule broken by a subject of an organization (see the module docstring)."""

    __tablename__ = "core_finding"
    __table_args__ = (
        Index("ix_core_finding_org_rule_first_seen", "organization_id", "rule", "first_seen"),
        Index("ix_core_finding_org_enabler_subject", "organization_id", "enabler", "subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enabler: Mapped[str] = mapped_column(String(60), index=True)
    rule: Mapped[str] = mapped_column(String(120), index=True)
    subject: Mapped[str] = mapped_column(String(MAX_SUBJECT))
    severity: Mapped[str] = mapped_column(String(10), index=True)
    title: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    citation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    evidence: Mapped[list[Any]] = mapped_column(JSON, default=list)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(12), index=True)
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    verification: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    previous_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_finding.id", ondelete="SET NULL"), nullable=True, index=True
    )
    rectify_working_days: Mapped[int] = mapped_column(Integer, default=15)
    # "org:rule:subject" while active, NULL once closed or dismissed (portable partial unique)
    active_key: Mapped[str | None] = mapped_column(String(512), nullable=True, unique=True)


class EvidenceRef(BaseModel):
    """A pointer to what shows a finding: a report, a stored file, a notice (never the content)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field(max_length=120)  # "<enabler>.<thing>": "appcheck.report", "core.file"
    ref: str = Field(min_length=1, max_length=200)  # id in the owner's table
    label: str = Field(default="", max_length=200)
    path: str | None = Field(default=None, max_length=500)  # console path, "/appcheck/reports/42"
    sha256: str | None = None
    at: datetime | None = None  # set to now() when stored

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        if not _KIND.match(v):
            raise ValueError("kind must read '<enabler>.<thing>' in lower case")
        return v

    @field_validator("path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        # A console path on this platform only: no scheme, no "//host" (no open redirect).
        if v is not None and (not v.startswith("/") or v.startswith("//") or "\\" in v):
            raise ValueError("path must be a console path starting with a single '/'")
        return v

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, v: str | None) -> str | None:
        if v is not None and not _SHA256.match(v):
            raise ValueError("sha256 must be 64 lower-case hex digits")
        return v

    @field_validator("at")
    @classmethod
    def _at(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        return v


class FindingOut(BaseModel):
    """A finding as services return it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    enabler: str
    rule: str
    subject: str
    severity: Severity
    citation: dict[str, str]
    title: dict[str, str]
    detail: dict[str, Any]
    evidence: list[EvidenceRef]  # newest last, the last MAX_EVIDENCE kept
    first_seen: datetime
    last_seen: datetime
    occurrences: int
    status: FindingStatus
    status_reason: str | None
    # {"state": "pending"|"fixed"|"still_present", "at": iso, "evidence": [...]}: the last one
    verification: dict[str, Any] | None
    previous_id: int | None  # the closed finding this one repeats (same org, rule, subject)
    rectify_working_days: int
