"""Tables of the appcheck enabler."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from mingyue.sdk import Base, TenantMixin, now


class Scan(TenantMixin, Base):
    """One submitted APK, its scan job, report, review case and signed credential."""

    __tablename__ = "appcheck_scan"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    submitted_by: Mapped[str] = mapped_column(String(200), default="")
    file_id: Mapped[int] = mapped_column()
    file_name: Mapped[str] = mapped_column(String(255), default="")
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(default=0)
    policy_file_id: Mapped[int | None] = mapped_column(default=None)
    app_type: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued|done|failed
    job_id: Mapped[int | None] = mapped_column(default=None)
    package: Mapped[str] = mapped_column(String(255), default="")
    incomplete: Mapped[bool] = mapped_column(default=False)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    case_id: Mapped[int | None] = mapped_column(default=None)
    review: Mapped[str] = mapped_column(String(16), default="")  # ""|accepted|returned
    credential_id: Mapped[str | None] = mapped_column(String(64), default=None)


class Review(TenantMixin, Base):
    """A store-listing review (上架审核) or algorithm-ethics review (算法伦理审查) of one scan."""

    __tablename__ = "appcheck_review"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    kind: Mapped[str] = mapped_column(String(16))  # listing|ethics
    scan_id: Mapped[int] = mapped_column(index=True)
    package: Mapped[str] = mapped_column(String(255), default="")
    opened_by: Mapped[str] = mapped_column(String(200), default="")
    case_id: Mapped[int | None] = mapped_column(default=None)
    #: the operator's declarations (content category) and questionnaire answers
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: static signals of the package (ethics) and the checklist / question results
    signals: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: attached evidence: [{"item", "file_id", "name", "sha256", "size", "by", "at"}]
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    decision: Mapped[str] = mapped_column(String(16), default="")  # ""|accepted|returned
    opinion: Mapped[str] = mapped_column(String(4000), default="")
    #: the reviewer's result per item that needed evidence: {item id: pass|fail}
    item_decisions: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    credential_id: Mapped[str | None] = mapped_column(String(64), default=None)
