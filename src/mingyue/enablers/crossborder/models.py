"""Tables of the crossborder enabler (all tenant-owned): assessments, filings, transfers, scans."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mingyue.sdk import Base, TenantMixin, now


class CrossborderAssessment(TenantMixin, Base):
    """One run of the decision engine on a transfer scenario."""

    __tablename__ = "crossborder_assessment"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[str] = mapped_column(String(128))
    scenario: Mapped[dict[str, Any]] = mapped_column(default=dict)
    path: Mapped[str] = mapped_column(String(40))
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CrossborderFiling(TenantMixin, Base):
    """A filing (security assessment declaration, standard-contract filing, PIPIA) and its case."""

    __tablename__ = "crossborder_filing"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(40), index=True)
    case_id: Mapped[int] = mapped_column(index=True, unique=True)
    assessment_id: Mapped[int | None] = mapped_column(default=None)
    form: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="submitted", index=True)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    valid_until: Mapped[datetime | None] = mapped_column(default=None, index=True)
    credential_id: Mapped[str | None] = mapped_column(String(80), default=None)
    expiry_warned_at: Mapped[datetime | None] = mapped_column(default=None)


class CrossborderTransfer(TenantMixin, Base):
    """A declared transfer: recipient, country, endpoints, categories and its legal basis."""

    __tablename__ = "crossborder_transfer"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    recipient: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    endpoints: Mapped[list[Any]] = mapped_column(default=list)
    categories: Mapped[list[Any]] = mapped_column(default=list)
    legal_basis: Mapped[str] = mapped_column(String(40))
    filing_id: Mapped[int | None] = mapped_column(default=None)


class CrossborderScan(TenantMixin, Base):
    """A PII scan of one file: counts, column verdicts and hashed entities (never raw values)."""

    __tablename__ = "crossborder_scan"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[str] = mapped_column(String(128))
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sensitive: Mapped[bool] = mapped_column(default=False)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text, default=None)
