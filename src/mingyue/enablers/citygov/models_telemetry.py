"""citygov tables (telemetry): the device registry, the readings time series and the alarms.

Tenant-owned: a device belongs to the organization that operates it; its readings and alarms
carry the same organization (alarms are propagated to it and to the oversight roles).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mingyue.sdk import Base, TenantMixin, now

# 64-bit ids on PostgreSQL; SQLite only autoincrements an INTEGER primary key.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class CitygovDevice(TenantMixin, Base):
    """A registered device: its kind, place, credentials and last state (one per device id)."""

    __tablename__ = "citygov_device"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    entity_id: Mapped[str] = mapped_column(String(200))
    # sha256 of the per-device HTTP token (the token itself is shown once, at registration)
    token_hash: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    # the device's MQTT user name in the broker's dynamic security (scripts/citygov-mqtt-setup.sh)
    mqtt_username: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[str] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(default=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    # the last stored reading's observed time: a message at or before it is a replay
    last_observed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected: Mapped[dict[str, Any]] = mapped_column(default=dict)  # reason -> count
    last_rejection: Mapped[str | None] = mapped_column(String(240), default=None)
    last_rejected_at: Mapped[datetime | None] = mapped_column(default=None)


class CitygovReading(TenantMixin, Base):
    """One stored message of a device: when it was observed and its measures (time series)."""

    __tablename__ = "citygov_reading"
    __table_args__ = (UniqueConstraint("device_pk", "observed_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    device_pk: Mapped[int] = mapped_column(ForeignKey("citygov_device.id"))
    observed_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=now)
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    via: Mapped[str] = mapped_column(String(8), default="mqtt")  # mqtt | http


class CitygovAlarm(TenantMixin, Base):
    """An alarm of one (device, type): active → acknowledged → cleared; one open at a time.

    ``open_key`` is ``"<device pk>:<type>"`` while the alarm is not cleared and NULL after: its
    unique constraint is the dedup rule, enforced by the database on SQLite and PostgreSQL.
    """

    __tablename__ = "citygov_alarm"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_pk: Mapped[int] = mapped_column(ForeignKey("citygov_device.id"), index=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(40))
    open_key: Mapped[str | None] = mapped_column(String(120), default=None, unique=True)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    severity: Mapped[str] = mapped_column(String(10))
    measure: Mapped[str | None] = mapped_column(String(40), default=None)
    value: Mapped[float | None] = mapped_column(Float, default=None)
    threshold: Mapped[float] = mapped_column(Float)
    title: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"zh": …, "en": …}
    source: Mapped[str] = mapped_column(String(300), default="")
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    first_at: Mapped[datetime] = mapped_column()
    last_at: Mapped[datetime] = mapped_column()
    count: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=now)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128), default=None)
    cleared_at: Mapped[datetime | None] = mapped_column(default=None)
    cleared_by: Mapped[str | None] = mapped_column(String(128), default=None)
    previous_id: Mapped[int | None] = mapped_column(
        ForeignKey("citygov_alarm.id", ondelete="SET NULL"), default=None
    )
    # the city case a critical alarm opened (closed_loop.open_from_alarm)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("citygov_case.id", ondelete="SET NULL"), default=None, index=True
    )
