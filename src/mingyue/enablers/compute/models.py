"""Tables of compute: pools (shared reference data), jobs and their usage (tenant-owned)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mingyue.sdk import Base, ExactDecimal, TenantMixin, now

MONEY = Numeric(20, 6)
# Billed quantities and amounts are exact (text on SQLite, unbounded NUMERIC on PostgreSQL):
# a Numeric column is a float on SQLite and rounds to its scale on PostgreSQL, so the sum of a
# month's lines would drift from the core statement that prices the same pieces.
EXACT = ExactDecimal()


class ComputePool(Base):
    """A provider's pool. Shared by every organization it is enabled for, so not tenant-owned;
    ``provider_organization_id`` says whose it is."""

    __tablename__ = "compute_pool"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    endpoint: Mapped[str | None] = mapped_column(String(512), default=None)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    credentials_enc: Mapped[str | None] = mapped_column(Text, default=None)
    region: Mapped[str | None] = mapped_column(String(64), default=None)
    provider_organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_organization.id"), default=None
    )
    tariff: Mapped[dict[str, Any]] = mapped_column(default=dict)
    max_runtime_s: Mapped[int | None] = mapped_column(default=None)
    maintenance: Mapped[list[Any]] = mapped_column(default=list)
    enabled_for: Mapped[list[Any] | None] = mapped_column(default=None)
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    capacity: Mapped[dict[str, Any]] = mapped_column(default=dict)
    refreshed_at: Mapped[datetime | None] = mapped_column(default=None)
    down_reason: Mapped[str | None] = mapped_column(String(512), default=None)
    created_at: Mapped[datetime] = mapped_column(default=now)


class ComputeJob(TenantMixin, Base):
    """One submitted job: its spec, where it went and why, its state and what it cost."""

    __tablename__ = "compute_job"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    submitted_by: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(128), default=None)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    pool: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    engine_id: Mapped[str | None] = mapped_column(String(128), default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    explanation: Mapped[str] = mapped_column(Text, default="")
    estimated_cost: Mapped[Decimal | None] = mapped_column(MONEY, default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    exit_code: Mapped[int | None] = mapped_column(default=None)
    seconds: Mapped[int] = mapped_column(default=0)
    cost: Mapped[Decimal] = mapped_column(EXACT, default=Decimal(0))
    free_quota_used: Mapped[Decimal] = mapped_column(EXACT, default=Decimal(0))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    billed_seconds: Mapped[int] = mapped_column(default=0)
    # set while the job is ``dispatching`` (committed before the engine is called): the
    # reconciler resolves a job left in that state past a grace period
    dispatching_since: Mapped[datetime | None] = mapped_column(default=None)


class ComputeUsage(TenantMixin, Base):
    """One priced piece of a job's usage: one meter inside one tariff window and month."""

    __tablename__ = "compute_usage"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("compute_job.id"), index=True)
    month: Mapped[str] = mapped_column(String(7), index=True)
    meter: Mapped[str] = mapped_column(String(64))
    band: Mapped[str] = mapped_column(String(16))
    start: Mapped[datetime] = mapped_column()
    end: Mapped[datetime] = mapped_column()
    seconds: Mapped[Decimal] = mapped_column(EXACT)
    quantity: Mapped[Decimal] = mapped_column(EXACT)
    free_quantity: Mapped[Decimal] = mapped_column(EXACT, default=Decimal(0))
    unit_price: Mapped[Decimal | None] = mapped_column(EXACT, default=None)
    amount: Mapped[Decimal] = mapped_column(EXACT, default=Decimal(0))
    core_usage_id: Mapped[int | None] = mapped_column(default=None)


class ComputeOrgSetting(TenantMixin, Base):
    """Per-organization choice: when the free quota is used up, stop or pay."""

    __tablename__ = "compute_org_setting"
    __table_args__ = (UniqueConstraint("organization_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    on_quota_exhausted: Mapped[str] = mapped_column(String(8), default="pay")
