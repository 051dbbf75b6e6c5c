"""API and CLI shapes of profiles, eligibility, pushes, benefits, requests and indicators."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mingyue.enablers.policy.engine.eligibility import LISTINGS, QUALIFICATIONS, SECTORS
from mingyue.enablers.policy.engine.industry import SIZE_CLASSES, parse_industry

Qualification = Literal[
    "hnte", "tsme", "srdi", "srdi_giant", "innovative_sme", "new_rd_institution"
]
Sector = Literal[
    "ai", "web3", "smart_terminal", "satellite", "fintech", "digital_content", "icv", "commerce"
]
Listing = Literal["none", "neeq", "ipo_domestic", "ipo_overseas"]
SizeClass = Literal["large", "medium", "small", "micro"]
Money = Decimal  # 10,000 yuan (万元)
# The literals repeat the engine's lists for the OpenAPI schema; a test holds them equal.
ENGINE_LISTS = {
    "qualifications": QUALIFICATIONS,
    "sectors": SECTORS,
    "listing": LISTINGS,
    "size_class": SIZE_CLASSES,
}


class ProfileIn(BaseModel):
    """An enterprise's own profile (money in 10,000 yuan; the industry code per GB/T 4754-2017)."""

    model_config = ConfigDict(extra="forbid")

    industry_code: str | None = Field(None, max_length=8, description="GB/T 4754-2017, e.g. I6513")
    size_class: SizeClass | None = Field(
        None, description="Declared size class; empty: derived from headcount and revenue"
    )
    district: str | None = Field(None, max_length=40)
    park: str | None = Field(None, max_length=40)
    qualifications: list[Qualification] = Field(default_factory=list, max_length=10)
    sectors: list[Sector] = Field(default_factory=list, max_length=10)
    listing: Listing = "none"
    headcount: int | None = Field(None, ge=0, le=10_000_000)
    revenue: Money | None = Field(None, ge=0, le=10**12, decimal_places=4)
    total_assets: Money | None = Field(None, ge=0, le=10**12, decimal_places=4)
    rd_spend: Money | None = Field(None, ge=0, le=10**12, decimal_places=4)
    established: date | None = None

    @field_validator("industry_code")
    @classmethod
    def _industry(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return parse_industry(value).code

    @field_validator("district", "park")
    @classmethod
    def _place(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = " ".join(value.split())
        if any(ord(c) < 0x20 for c in text):
            raise ValueError("control characters are not allowed")
        return text or None

    @field_validator("qualifications", "sectors")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return sorted(set(value))


class ProfileOut(ProfileIn):
    """A profile as read back, with what the platform derives from it."""

    model_config = ConfigDict(extra="ignore")

    organization_id: int
    organization_name: str
    derived_size_class: SizeClass | None
    is_sme: bool | None
    push_opt_out: bool
    exists: bool
    updated_at: datetime | None
    updated_by: str


class OptOutIn(BaseModel):
    """Whether the enterprise wants policy pushes."""

    model_config = ConfigDict(extra="forbid")

    opt_out: bool


class CheckOut(BaseModel):
    """One condition's outcome for one enterprise."""

    id: str
    status: Literal["met", "unmet", "unknown", "to_confirm"]
    label: dict[str, str]
    actual: str | None
    values: list[tuple[str, str]] = Field(
        default_factory=list, description="(fact, value) of each profile fact the condition read"
    )


class MeasureOut(BaseModel):
    """A support measure: what it gives, the clause granting it, its conditions."""

    key: str
    title: dict[str, str]
    benefit: dict[str, str]
    clause_id: str
    clause_url: str
    department: str
    department_title: dict[str, str]
    no_application: bool
    conditions: list[dict[str, str]]
    note: dict[str, str]


class MatchOut(BaseModel):
    """An enterprise against a measure: eligible / likely / missing, a reason per condition."""

    organization_id: int
    measure: MeasureOut
    verdict: Literal["eligible", "likely", "missing"]
    checks: list[CheckOut]
    missing: list[dict[str, str]]
    to_confirm: list[dict[str, str]]


class CampaignIn(BaseModel):
    """Push one measure to every enterprise that matches it."""

    model_config = ConfigDict(extra="forbid")

    measure_key: str = Field(min_length=1, max_length=80)
    note: str = Field("", max_length=500)


class CampaignOut(BaseModel):
    """A push campaign and what it did."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    measure_key: str
    rules_version: str
    status: str
    counts: dict[str, int]
    note: str
    created_at: datetime
    created_by: str
    finished_at: datetime | None
    job_id: int | None


class PushOut(BaseModel):
    """A notification as its enterprise (or an official) reads it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    kind: str
    campaign_id: int | None
    benefit_id: int | None
    measure_key: str
    clause_id: str
    verdict: str
    reasons: list[dict[str, object]]
    status: str
    created_at: datetime
    read_at: datetime | None


class BenefitOut(BaseModel):
    """An entry of the 免申即享 approval list."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    measure_key: str
    clause_id: str
    rules_version: str
    status: str
    checks: list[dict[str, object]]
    campaign_id: int | None
    case_id: int | None
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None


class RequestIn(BaseModel):
    """A free-text request of an enterprise (诉求)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=2000)


class RankedOut(BaseModel):
    """A department the classifier considered, with its probability."""

    department: str
    probability: float


class RequestOut(BaseModel):
    """A request, what the classifier said, where it went."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    created_at: datetime
    created_by: str
    text: str
    status: str
    predicted_department: str
    department_confidence: float
    predicted_kind: str
    kind_confidence: float
    ranked: list[RankedOut]
    model_version: str
    department: str | None
    kind: str | None
    dispatched_by: str | None
    dispatched_at: datetime | None
    case_id: int | None
    reason_key: str | None


class DispatchIn(BaseModel):
    """A dispatcher's decision: the department and the kind (its time limits)."""

    model_config = ConfigDict(extra="forbid")

    department: str = Field(min_length=1, max_length=20)
    kind: Literal["consult", "help", "complaint", "suggestion"]


class HeadOut(BaseModel):
    """Held-out figures of one classifier head."""

    accuracy: float
    macro_f1: float
    labels: list[str]
    confusion: list[list[int]]


class SetOut(BaseModel):
    """Figures of one labelled set."""

    size: int
    department: HeadOut
    kind: HeadOut
    auto_share: float
    auto_accuracy: float
    auto_both_correct: float


class DispatchReportOut(BaseModel):
    """How well the dispatch classifier does (held-out split; the later-written set)."""

    model_version: str
    examples: int
    train: int
    duties: int
    department_min: float
    kind_min: float
    cv_department_accuracy: float
    held_out: SetOut
    blind: SetOut | None


class IndicatorOut(BaseModel):
    """An indicator's definition and its targets (district -> year -> value)."""

    key: str
    title: dict[str, str]
    unit: str
    measure: str
    direction: str
    frequency: str
    formula: dict[str, str]
    data_source: dict[str, str]
    responsible: dict[str, str]
    targets: dict[str, dict[int, Decimal]]


class PointOut(BaseModel):
    """One period of a series: the actual value, the path, the gap."""

    period: str
    actual: Decimal | None
    path: Decimal | None
    gap_ratio: Decimal | None
    lagging: bool
    derived: bool


class SeriesOut(BaseModel):
    """One indicator of one district over time."""

    indicator: str
    district: str
    unit: str
    points: list[PointOut]


class RankRowOut(BaseModel):
    """One district's place."""

    rank: int
    district: str
    actual: Decimal
    path: Decimal | None
    completion: Decimal | None
    gap_ratio: Decimal | None
    lagging: bool


class RankingOut(BaseModel):
    """Districts ordered by completion of their target path, for one indicator and period."""

    indicator: str
    period: str | None
    unit: str
    rows: list[RankRowOut]


class RowErrorOut(BaseModel):
    """A row of an upload that was not read."""

    line: int
    key: str
    message: str
    column: str | None


class UploadOut(BaseModel):
    """A statistics upload: rows read, accepted, derived, refused (with line numbers)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    created_at: datetime
    created_by: str
    filename: str
    sha256: str
    status: str
    rows: int
    accepted: int
    derived: int
    errors: list[RowErrorOut]
    errors_dropped: int
    alerts: int


class AlertOut(BaseModel):
    """An indicator behind its path and its supervision case."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    indicator: str
    district: str
    period: str
    actual: Decimal
    path: Decimal
    gap_ratio: Decimal
    responsible: str
    case_id: int | None
    created_at: datetime


class CheckRunOut(BaseModel):
    """What one lag check did."""

    checked: int
    lagging: int
    opened: list[AlertOut]
