"""Tables of the datasandbox enabler: datasets (owner's), requests, budgets and charges (consumer's)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mingyue.sdk import Base, TenantMixin, now

# The enabler's ``models`` module loads every table of the enabler, the sources' ones included.
from .sources.models import SandboxSnapshot, SandboxSource

__all__ = [
    "SandboxBudget",
    "SandboxCharge",
    "SandboxDataset",
    "SandboxRequest",
    "SandboxSnapshot",
    "SandboxSource",
    "SandboxVerifyCount",
]


class SandboxDataset(TenantMixin, Base):
    """A dataset stored inside the sandbox; ``organization_id`` is the data owner."""

    __tablename__ = "datasandbox_dataset"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)  # engine Dataset.to_dict()
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)  # engine UsagePolicy.to_dict()
    rows_rounded: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(default=now)


class SandboxRequest(TenantMixin, Base):
    """One computation asked for by a consumer (``organization_id``) and what became of it."""

    __tablename__ = "datasandbox_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    kind: Mapped[str] = mapped_column(String(32))  # aggregate_sql | verification
    datasets: Mapped[list[Any]] = mapped_column(default=list)  # names
    owner_org_ids: Mapped[list[Any]] = mapped_column(default=list)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    purpose: Mapped[str] = mapped_column(String(64), default="statistics")
    # submitted | pending_approval | approved | in_review | released | refused | failed
    status: Mapped[str] = mapped_column(String(24), default="submitted", index=True)
    reason: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    preview: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    epsilon_spent: Mapped[float] = mapped_column(Float, default=0.0)
    job_id: Mapped[int | None] = mapped_column(default=None)
    rows_scanned: Mapped[int] = mapped_column(default=0)
    cpu_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    decided_by: Mapped[str | None] = mapped_column(String(128), default=None)
    # Core cases of the owners' approval and release review (their subject names this request).
    case_ids: Mapped[list[Any]] = mapped_column(default=list)


class SandboxBudget(TenantMixin, Base):
    """ε spent by one consumer (``organization_id``) on one dataset in one period."""

    __tablename__ = "datasandbox_budget"
    __table_args__ = (UniqueConstraint("organization_id", "dataset_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasandbox_dataset.id"))
    period: Mapped[str] = mapped_column(String(16))
    cap: Mapped[float] = mapped_column(Float)
    spent: Mapped[float] = mapped_column(Float, default=0.0)


class SandboxCharge(TenantMixin, Base):
    """One entry of the privacy-budget ledger."""

    __tablename__ = "datasandbox_charge"

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasandbox_dataset.id"))
    period: Mapped[str] = mapped_column(String(16))
    epsilon: Mapped[float] = mapped_column(Float)
    request_id: Mapped[int] = mapped_column(ForeignKey("datasandbox_request.id"))
    created_at: Mapped[datetime] = mapped_column(default=now)


class SandboxVerifyCount(TenantMixin, Base):
    """Identifiers checked by one consumer on one dataset in one day (rate limit)."""

    __tablename__ = "datasandbox_verify_count"
    __table_args__ = (UniqueConstraint("organization_id", "dataset_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasandbox_dataset.id"))
    day: Mapped[str] = mapped_column(String(10))
    used: Mapped[int] = mapped_column(default=0)
