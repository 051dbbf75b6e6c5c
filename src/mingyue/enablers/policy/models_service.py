"""policy tables (service): enterprise profiles, push campaigns and notifications, the 免申即享
approval list, requests and their dispatch, indicator uploads, values and lag alerts.

Tenant-owned rows carry the organization they belong to: a profile, a push and a benefit belong
to the enterprise; a campaign and an upload to the official's organization; a request to the
enterprise that filed it; an alert to the organization its supervision case is opened for.
Indicator values are published statistics (reference data, not tenant-owned).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Date, Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mingyue.sdk import Base, ExactDecimal, RequestMixin, TenantMixin, now


class PolicyProfile(TenantMixin, Base):
    """What the eligibility rules know of an enterprise (money in 10,000 yuan)."""

    __tablename__ = "policy_profile"
    __table_args__ = (UniqueConstraint("organization_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    industry_code: Mapped[str | None] = mapped_column(String(8), default=None)  # GB/T 4754-2017
    size_class: Mapped[str | None] = mapped_column(String(10), default=None)  # declared, or None
    district: Mapped[str | None] = mapped_column(String(40), default=None)
    park: Mapped[str | None] = mapped_column(String(40), default=None)
    qualifications: Mapped[list[Any]] = mapped_column(default=list)
    sectors: Mapped[list[Any]] = mapped_column(default=list)
    listing: Mapped[str] = mapped_column(String(20), default="none")
    headcount: Mapped[int | None] = mapped_column(default=None)
    revenue: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    total_assets: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    rd_spend: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    established: Mapped[date | None] = mapped_column(Date, default=None)
    push_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=now)
    updated_by: Mapped[str] = mapped_column(String(128), default="")


class PolicyCampaign(TenantMixin, Base):
    """An official's push of one measure to every matching enterprise (run as a job)."""

    __tablename__ = "policy_campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    measure_key: Mapped[str] = mapped_column(String(80), index=True)
    rules_version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[str] = mapped_column(String(128))
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_job.id", ondelete="SET NULL"), default=None, index=True
    )


class PolicyPush(TenantMixin, Base):
    """A notification to an enterprise: a measure it may use, or a benefit decided for it."""

    __tablename__ = "policy_push"
    __table_args__ = (UniqueConstraint("campaign_id", "organization_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="measure")  # measure | benefit
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("policy_campaign.id", ondelete="SET NULL"), default=None, index=True
    )
    benefit_id: Mapped[int | None] = mapped_column(
        ForeignKey("policy_benefit.id", ondelete="SET NULL"), default=None
    )
    measure_key: Mapped[str] = mapped_column(String(80), index=True)
    clause_id: Mapped[str] = mapped_column(String(200), default="")
    verdict: Mapped[str] = mapped_column(String(12))  # eligible | likely | granted | rejected
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    # sent | read | suppressed (the enterprise opted out: logged, never shown as new)
    status: Mapped[str] = mapped_column(String(12), default="sent", index=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    read_at: Mapped[datetime | None] = mapped_column(default=None)


class PolicyBenefit(TenantMixin, Base):
    """An entry of a 免申即享 approval list: eligible without applying, confirmed on a case."""

    __tablename__ = "policy_benefit"
    __table_args__ = (UniqueConstraint("organization_id", "measure_key", "rules_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    measure_key: Mapped[str] = mapped_column(String(80), index=True)
    clause_id: Mapped[str] = mapped_column(String(200))
    rules_version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default="proposed", index=True)
    checks: Mapped[list[Any]] = mapped_column(default=list)
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("policy_campaign.id", ondelete="SET NULL"), default=None
    )
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_case.id", ondelete="SET NULL"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=now)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_by: Mapped[str | None] = mapped_column(String(128), default=None)


class PolicyRequest(RequestMixin, Base):
    """A free-text request of an enterprise, classified and dispatched to a department.

    ``status``: ``review`` (a dispatcher decides), ``dispatched`` (a case is open at the
    department), ``answered``, ``returned`` (the department sent it back: review again).
    """

    __tablename__ = "policy_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    predicted_department: Mapped[str] = mapped_column(String(20))
    department_confidence: Mapped[float] = mapped_column(Float)
    predicted_kind: Mapped[str] = mapped_column(String(20))
    kind_confidence: Mapped[float] = mapped_column(Float)
    ranked: Mapped[list[Any]] = mapped_column(default=list)
    model_version: Mapped[str] = mapped_column(String(32))
    department: Mapped[str | None] = mapped_column(String(20), default=None, index=True)
    kind: Mapped[str | None] = mapped_column(String(20), default=None)
    dispatched_by: Mapped[str | None] = mapped_column(String(128), default=None)
    dispatched_at: Mapped[datetime | None] = mapped_column(default=None)


class PolicyIndicatorUpload(TenantMixin, Base):
    """A statistics upload (CSV or XLSX): what was read, what was refused and why."""

    __tablename__ = "policy_indicator_upload"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[str] = mapped_column(String(128))
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    file_id: Mapped[int | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(12))  # accepted | partial | rejected
    rows: Mapped[int] = mapped_column(default=0)
    accepted: Mapped[int] = mapped_column(default=0)
    derived: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list[Any]] = mapped_column(default=list)
    errors_dropped: Mapped[int] = mapped_column(default=0)
    alerts: Mapped[int] = mapped_column(default=0)


class PolicyIndicatorValue(Base):
    """A published statistic: one indicator, district and period (the latest upload wins)."""

    __tablename__ = "policy_indicator_value"
    __table_args__ = (UniqueConstraint("indicator", "district", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    indicator: Mapped[str] = mapped_column(String(40), index=True)
    district: Mapped[str] = mapped_column(String(40), index=True)
    period: Mapped[str] = mapped_column(String(10))  # 2023 | 2023Q2 | 2023-05
    value: Mapped[Decimal] = mapped_column(ExactDecimal())
    derived: Mapped[bool] = mapped_column(Boolean, default=False)
    upload_id: Mapped[int | None] = mapped_column(
        ForeignKey("policy_indicator_upload.id", ondelete="SET NULL"), default=None
    )
    updated_at: Mapped[datetime] = mapped_column(default=now)


class PolicyIndicatorAlert(TenantMixin, Base):
    """An indicator found behind its target path, and the supervision case it opened."""

    __tablename__ = "policy_indicator_alert"
    __table_args__ = (UniqueConstraint("indicator", "district", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    indicator: Mapped[str] = mapped_column(String(40), index=True)
    district: Mapped[str] = mapped_column(String(40))
    period: Mapped[str] = mapped_column(String(10))
    actual: Mapped[Decimal] = mapped_column(ExactDecimal())
    path: Mapped[Decimal] = mapped_column(ExactDecimal())
    gap_ratio: Mapped[Decimal] = mapped_column(ExactDecimal())
    responsible: Mapped[str] = mapped_column(String(200))
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_case.id", ondelete="SET NULL"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=now)
