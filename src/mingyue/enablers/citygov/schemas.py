"""Pydantic in/out models of citygov's cases, tasks, reports, sharing and KPIs (the API's shapes)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Source = Literal["sensor", "video", "inspector", "citizen", "higher"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseIn(_In):
    """A problem the centre collects (inspector, video point, higher-level assignment)."""

    category: str = Field(max_length=40, description="Category code (E0102) or alias")
    title: str | None = Field(None, max_length=200)
    description: str = Field("", max_length=4000)
    lon: float | None = Field(None, description="WGS84 longitude (GeoJSON order: lon first)")
    lat: float | None = Field(None, description="WGS84 latitude")
    address: str = Field("", max_length=300)
    source: Literal["video", "inspector", "higher"] = "inspector"
    source_ref: str | None = Field(
        None, max_length=120, description="Video point code, or the higher-level document number"
    )


class StepIn(_In):
    """A step on a case that may carry a comment (required to reject, send back, rework)."""

    comment: str | None = Field(None, max_length=4000)


class DispatchIn(_In):
    """Dispatch a registered case to a unit."""

    unit_org_id: int = Field(ge=1, le=2**31 - 1)
    instruction: str = Field("", max_length=2000)


class VerifyIn(_In):
    """The outcome of the on-site verification (核查) of a handled case."""

    passed: bool
    comment: str | None = Field(None, max_length=4000)


class CityCaseOut(BaseModel):
    """A city case as the centre sees it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int
    code: str
    kind: str
    category: str
    category_name: str = ""
    department: str
    title: str
    description: str
    lon: float
    lat: float
    address: str
    source: str
    source_ref: str | None
    stage: str
    unit_org_id: int | None
    unit_name: str = ""
    created_at: datetime
    registered_at: datetime | None
    dispatched_at: datetime | None
    fed_back_at: datetime | None
    closed_at: datetime | None
    evaluated_at: datetime | None
    stage_due_at: datetime | None
    rework_count: int
    dispatch_count: int
    escalated_at: datetime | None
    photo_file_ids: list[int]


class TaskOut(BaseModel):
    """A task as its unit sees it (what to do, where, by when; what was reported back)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    city_case_id: int
    organization_id: int
    status: str
    snapshot: dict[str, object]
    instruction: str
    dispatched_at: datetime
    due_at: datetime
    handle_limit_hours: float
    limit_unit: str
    accepted_at: datetime | None
    fed_back_at: datetime | None
    verified_at: datetime | None
    closed_at: datetime | None
    returned_at: datetime | None
    handler: str | None
    feedback: str
    feedback_photo_ids: list[int]
    feedback_count: int
    rework_count: int
    on_time: bool | None
    supervise_count: int
    escalated_at: datetime | None


class SupervisionOut(BaseModel):
    """A 督办 notice (level 1) or an escalation (level 2)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    task_id: int
    city_case_id: int
    organization_id: int
    level: int
    at: datetime
    overdue_hours: float
    by: str
    note: str
    to_org_id: int | None


class UnitIn(_In):
    """Register (or change) a unit: an organization and the department kind it is."""

    org_id: int = Field(ge=1, le=2**31 - 1)
    department: str = Field(max_length=40)
    name: str | None = Field(None, max_length=200)
    district: str = Field("", max_length=60)
    active: bool = True


class UnitOut(BaseModel):
    """A unit that receives dispatched cases."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    org_id: int
    name: str
    department: str
    district: str
    active: bool


class VideoPointIn(_In):
    """A video point's metadata (the stream reference is stored, never fetched)."""

    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    name: str = Field(min_length=1, max_length=200)
    lon: float = Field(description="WGS84 longitude")
    lat: float = Field(description="WGS84 latitude")
    stream_ref: str = Field("", max_length=500)
    district: str = Field("", max_length=60)
    owner_org_id: int | None = Field(
        None,
        ge=1,
        le=2**31 - 1,
        description="Organization that owns the camera (default: the centre)",
    )


class VideoPointOut(BaseModel):
    """A video point."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    code: str
    name: str
    lon: float
    lat: float
    stream_ref: str
    district: str


class ReportOut(BaseModel):
    """A citizen's report as its reporter sees it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    category: str
    category_name: str = ""
    description: str
    lon: float
    lat: float
    address: str
    channel: str
    status: str
    city_case_id: int | None
    case_code: str | None = None
    duplicate: bool
    reward_status: str
    reward_cny: Decimal | None = None
    photo_file_id: int | None
    created_at: datetime


ShareEvent = Literal["registered", "dispatched", "closed"]


def _registered_only() -> list[ShareEvent]:
    return ["registered"]


class SubscriptionIn(_In):
    """A unit's subscription to shared cases of some categories."""

    name: str = Field(min_length=1, max_length=120)
    categories: list[str] = Field(min_length=1, max_length=50)
    events: list[ShareEvent] = Field(default_factory=_registered_only, min_length=1, max_length=3)
    target: Literal["inbox", "webhook"] = "inbox"
    url: str | None = Field(None, max_length=500)


class SubscriptionOut(BaseModel):
    """A subscription (the webhook's signing secret is shown once, when it is made)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    name: str
    categories: list[str]
    events: list[str]
    target: str
    url: str | None
    active: bool
    created_at: datetime
    secret: str | None = None


class DeliveryOut(BaseModel):
    """One shared event and its delivery attempts."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    subscription_id: int
    city_case_id: int
    event: str
    idempotency_key: str
    payload: dict[str, object]
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    response_status: int | None
    delivered_at: datetime | None
    created_at: datetime


class UnitKpiOut(BaseModel):
    """One unit's figures, score and rank in a period (stable keys)."""

    unit: str
    org_id: int
    registered: int
    closed: int
    closed_on_time_rate: float
    close_rate: float
    rework_rate: float
    overdue: int
    avg_handle_hours: float | None
    verify_on_time_rate: float | None
    score: float
    rank: int


class KpiOut(BaseModel):
    """The ranking of a period (``mingyue citygov kpi --json``)."""

    period: str
    units: list[UnitKpiOut]


class CategoryOut(BaseModel):
    """A category of the table."""

    code: str
    kind: str
    name: dict[str, str]
    class_name: dict[str, str]
    department: str
    limit: str
    priority: str
    reward_cny: Decimal
    public: bool
    source: str
