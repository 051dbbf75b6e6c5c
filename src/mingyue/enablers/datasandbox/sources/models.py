"""Tables of dataset sources outside the platform (PostgreSQL) and their snapshot versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mingyue.sdk import Base, TenantMixin, now


class SandboxSource(TenantMixin, Base):
    """Where a dataset is snapshotted from; ``organization_id`` is the data owner.

    ``secret_enc`` holds the whole connection (host, user, password, …) sealed with
    ``mingyue.sdk.seal``; ``location`` is its redacted form, for display.
    """

    __tablename__ = "datasandbox_source"

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasandbox_dataset.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="postgresql")
    location: Mapped[str] = mapped_column(String(255))  # postgresql://user@host:port/db
    table_name: Mapped[str] = mapped_column(String(130))  # schema.table
    columns: Mapped[list[Any] | None] = mapped_column(default=None)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)  # classification, bounds
    secret_enc: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1)
    snapshot_at: Mapped[datetime] = mapped_column(default=now)
    rows: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=now)


class SandboxSnapshot(TenantMixin, Base):
    """One snapshot version of a source: when, how many rows, which Parquet digest."""

    __tablename__ = "datasandbox_snapshot"
    __table_args__ = (UniqueConstraint("dataset_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasandbox_dataset.id"))
    version: Mapped[int] = mapped_column()
    taken_at: Mapped[datetime] = mapped_column(default=now)
    rows: Mapped[int] = mapped_column(default=0)
    bytes_read: Mapped[int] = mapped_column(default=0)
    sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(128), default="")
