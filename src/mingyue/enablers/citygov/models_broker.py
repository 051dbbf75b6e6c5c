"""citygov tables (broker): NGSI-LD entities and subscriptions, one set per organization (tenant).

An entity keeps its expanded document (JSON) plus the columns queries filter on: its first type,
its location as a point (``lon``/``lat``) or, for other geometries, a bounding box — indexed, so
a geo-query reads only the rows inside the box of its reference before shapely decides.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mingyue.sdk import Base, TenantMixin, now


class NgsiEntity(TenantMixin, Base):
    """One NGSI-LD entity of a tenant (expanded document)."""

    __tablename__ = "citygov_ngsi_entity"
    __table_args__ = (
        UniqueConstraint("organization_id", "entity_id"),
        Index("ix_citygov_ngsi_entity_org_type", "organization_id", "type_iri"),
        Index("ix_citygov_ngsi_entity_org_lat", "organization_id", "lat", "lon"),
        Index("ix_citygov_ngsi_entity_org_bbox", "organization_id", "min_lat", "max_lat"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(512))
    type_iri: Mapped[str] = mapped_column(String(512))  # the first type (expanded)
    multi_typed: Mapped[bool] = mapped_column(Boolean, default=False)
    doc: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=now)
    modified_at: Mapped[datetime] = mapped_column(default=now)
    # location (the default GeoProperty, default instance): a Point, or another geometry's box
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    min_lon: Mapped[float | None] = mapped_column(Float, default=None)
    min_lat: Mapped[float | None] = mapped_column(Float, default=None)
    max_lon: Mapped[float | None] = mapped_column(Float, default=None)
    max_lat: Mapped[float | None] = mapped_column(Float, default=None)


class NgsiSubscription(TenantMixin, Base):
    """An NGSI-LD subscription of a tenant, with its delivery counters."""

    __tablename__ = "citygov_ngsi_subscription"
    __table_args__ = (
        UniqueConstraint("organization_id", "sub_id"),
        Index("ix_citygov_ngsi_subscription_interval", "interval_s"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sub_id: Mapped[str] = mapped_column(String(512))
    doc: Mapped[dict[str, Any]] = mapped_column(default=dict)  # expanded subscription
    context: Mapped[list[Any]] = mapped_column(default=list)  # the @context it was made with
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    interval_s: Mapped[float | None] = mapped_column(Float, default=None)  # timeInterval
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(default=now)
    modified_at: Mapped[datetime] = mapped_column(default=now)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    times_sent: Mapped[int] = mapped_column(default=0)
    times_failed: Mapped[int] = mapped_column(default=0)
    last_notification: Mapped[datetime | None] = mapped_column(default=None)
    last_success: Mapped[datetime | None] = mapped_column(default=None)
    last_failure: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
