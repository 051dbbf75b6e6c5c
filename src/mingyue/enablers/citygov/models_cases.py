"""citygov tables (cases): the city case file, dispatched tasks, 督办, citizen reports and rewards,
cross-department sharing, the unit and video-point registries, monthly evaluations.

Who owns what (tenant scoping is structural, docs/citygov.md "Organizations"):
- a city case (``citygov_case``) belongs to the command centre's organization;
- a dispatched task, its 督办 notices, a share subscription and its deliveries belong to the
  unit (department) that receives them — the unit sees them and nothing of the centre's file;
- a citizen report and its reward belong to the reporter's organization (the reporter sees
  their own);
- units are reference data (names are public: Open311's ``agency_responsible``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mingyue.sdk import Base, ExactDecimal, TenantMixin, now


class CitygovUnit(Base):
    """A unit (专业部门/责任单位) that receives dispatched cases: one organization, one kind."""

    __tablename__ = "citygov_unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("core_organization.id"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(40), index=True)  # rules: departments
    district: Mapped[str] = mapped_column(String(60), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[str] = mapped_column(String(128))


class CitygovVideoPoint(TenantMixin, Base):
    """A video point (视频点位): metadata only; the stream reference is never fetched here."""

    __tablename__ = "citygov_video_point"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    stream_ref: Mapped[str] = mapped_column(String(500), default="")
    district: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[str] = mapped_column(String(128))


class CitygovCase(TenantMixin, Base):
    """The city's file of one problem (案卷): category, place, source, stage and clocks."""

    __tablename__ = "citygov_case"
    __table_args__ = (
        UniqueConstraint("organization_id", "idempotency_key"),
        Index("ix_citygov_case_category_created", "category", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("core_case.id"), unique=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    kind: Mapped[str] = mapped_column(String(12))  # component | event
    category: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    address: Mapped[str] = mapped_column(String(300), default="")
    source: Mapped[str] = mapped_column(String(12), index=True)
    source_ref: Mapped[str | None] = mapped_column(String(120), default=None)
    source_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_organization.id"), default=None
    )
    stage: Mapped[str] = mapped_column(String(20), index=True)
    department: Mapped[str] = mapped_column(String(40))
    unit_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_organization.id"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=now)
    registered_at: Mapped[datetime | None] = mapped_column(default=None)
    dispatched_at: Mapped[datetime | None] = mapped_column(default=None)
    fed_back_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    evaluated_at: Mapped[datetime | None] = mapped_column(default=None)
    stage_due_at: Mapped[datetime | None] = mapped_column(default=None)
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    dispatch_count: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(default=None)
    photo_file_ids: Mapped[list[Any]] = mapped_column(default=list)
    created_by: Mapped[str] = mapped_column(String(128))
    idempotency_key: Mapped[str | None] = mapped_column(String(80), default=None)


class CitygovTask(TenantMixin, Base):
    """One dispatch of a case to a unit (任务): the unit's view, clocks and feedback."""

    __tablename__ = "citygov_task"

    id: Mapped[int] = mapped_column(primary_key=True)
    city_case_id: Mapped[int] = mapped_column(ForeignKey("citygov_case.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("core_case.id"), index=True)
    # dispatched | handling | fed_back | closed | returned
    status: Mapped[str] = mapped_column(String(20), index=True)
    snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)  # what the unit needs to act
    instruction: Mapped[str] = mapped_column(Text, default="")
    dispatcher: Mapped[str] = mapped_column(String(128))
    dispatched_at: Mapped[datetime] = mapped_column(default=now)
    handle_limit_hours: Mapped[float] = mapped_column(Float)
    limit_unit: Mapped[str] = mapped_column(String(4))  # wh | wd | h
    due_at: Mapped[datetime] = mapped_column(index=True)
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)
    fed_back_at: Mapped[datetime | None] = mapped_column(default=None)
    verify_due_at: Mapped[datetime | None] = mapped_column(default=None)
    verified_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    returned_at: Mapped[datetime | None] = mapped_column(default=None)
    handler: Mapped[str | None] = mapped_column(String(128), default=None)
    feedback: Mapped[str] = mapped_column(Text, default="")
    feedback_photo_ids: Mapped[list[Any]] = mapped_column(default=list)
    feedback_count: Mapped[int] = mapped_column(Integer, default=0)
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    # the feedback that passed verification came before the handling deadline (按期)
    on_time: Mapped[bool | None] = mapped_column(Boolean, default=None)
    verified_on_time: Mapped[bool | None] = mapped_column(Boolean, default=None)
    supervise_count: Mapped[int] = mapped_column(Integer, default=0)
    last_supervised_at: Mapped[datetime | None] = mapped_column(default=None)
    escalated_at: Mapped[datetime | None] = mapped_column(default=None)


class CitygovSupervision(TenantMixin, Base):
    """A 督办 notice on an overdue task (level 1), or its escalation (level 2)."""

    __tablename__ = "citygov_supervision"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("citygov_task.id"), index=True)
    city_case_id: Mapped[int] = mapped_column(ForeignKey("citygov_case.id"), index=True)
    level: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=now)
    overdue_hours: Mapped[float] = mapped_column(Float)
    by: Mapped[str] = mapped_column(String(128))
    note: Mapped[str] = mapped_column(Text, default="")
    to_org_id: Mapped[int | None] = mapped_column(ForeignKey("core_organization.id"), default=None)


class CitygovReport(TenantMixin, Base):
    """A citizen's report (市民上报): where, what, a photo with its metadata stripped."""

    __tablename__ = "citygov_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    reporter_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id"), default=None, index=True
    )
    # "user:<id>", or "contact:<hmac>" for a report an app relays (Open311 email/phone)
    reporter_key: Mapped[str] = mapped_column(String(80), index=True)
    category: Mapped[str] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(Text, default="")
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    address: Mapped[str] = mapped_column(String(300), default="")
    photo_file_id: Mapped[int | None] = mapped_column(Integer, default=None)
    photo_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    media_url: Mapped[str | None] = mapped_column(String(500), default=None)
    channel: Mapped[str] = mapped_column(String(12))  # console | api | open311
    status: Mapped[str] = mapped_column(String(20), index=True)
    city_case_id: Mapped[int | None] = mapped_column(
        ForeignKey("citygov_case.id"), default=None, index=True
    )
    duplicate: Mapped[bool] = mapped_column(Boolean, default=False)
    # pending | credited | capped | duplicate | none
    reward_status: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=now)
    local_day: Mapped[str] = mapped_column(String(10), index=True)


class CitygovReward(TenantMixin, Base):
    """A reward credited for a report once its case was verified and closed (你发现、我奖励).

    ``slot`` numbers a reporter's rewards of one local day (1..cap): the unique key makes two
    closures racing for the last slot of the daily cap fail one of them instead of both paying.
    """

    __tablename__ = "citygov_reward"
    __table_args__ = (UniqueConstraint("reporter_key", "local_day", "slot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("citygov_report.id"), unique=True)
    city_case_id: Mapped[int] = mapped_column(ForeignKey("citygov_case.id"))
    reporter_key: Mapped[str] = mapped_column(String(80), index=True)
    local_day: Mapped[str] = mapped_column(String(10))
    slot: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(ExactDecimal())
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    credited_at: Mapped[datetime] = mapped_column(default=now)


class CitygovShareSubscription(TenantMixin, Base):
    """A unit's subscription to cases of some categories (跨部门共享), e.g. 交警 ← 车辆超载."""

    __tablename__ = "citygov_share_subscription"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    categories: Mapped[list[Any]] = mapped_column(default=list)
    events: Mapped[list[Any]] = mapped_column(default=list)
    target: Mapped[str] = mapped_column(String(10))  # inbox | webhook
    url: Mapped[str | None] = mapped_column(String(500), default=None)
    secret_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[str] = mapped_column(String(128))


class CitygovShareDelivery(TenantMixin, Base):
    """One shared event for one subscription: its payload, attempts and outcome (delivery log)."""

    __tablename__ = "citygov_share_delivery"
    __table_args__ = (UniqueConstraint("subscription_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("citygov_share_subscription.id"), index=True
    )
    city_case_id: Mapped[int] = mapped_column(ForeignKey("citygov_case.id"))
    event: Mapped[str] = mapped_column(String(20))
    idempotency_key: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(12), index=True)  # pending|delivered|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    last_error: Mapped[str | None] = mapped_column(String(300), default=None)
    response_status: Mapped[int | None] = mapped_column(Integer, default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=now)


class CitygovEvaluation(TenantMixin, Base):
    """The month's unit ranking as computed at month end (综合评价), kept as it was."""

    __tablename__ = "citygov_evaluation"
    __table_args__ = (UniqueConstraint("organization_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(7))
    computed_at: Mapped[datetime] = mapped_column(default=now)
    weights: Mapped[dict[str, Any]] = mapped_column(default=dict)
    units: Mapped[list[Any]] = mapped_column(default=list)
    cases_evaluated: Mapped[int] = mapped_column(Integer, default=0)
