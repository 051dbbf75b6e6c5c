"""Pydantic shapes of the crossborder API and CLI."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FilingKind = Literal["security_assessment", "standard_contract", "pipia"]


class ScenarioIn(BaseModel):
    """A transfer scenario (validated again by the engine, which names the bad field)."""

    model_config = ConfigDict(extra="allow")

    ciio: Any = None
    important_data: Any = None
    pi_individuals: Any = None
    sensitive_pi_individuals: Any = None
    purpose: Any = None
    ftz_negative_list: bool | None = None


class AssessmentOut(BaseModel):
    """A stored assessment."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    created_at: datetime
    path: str
    scenario: dict[str, Any]
    result: dict[str, Any]


class Recipient(BaseModel):
    """境外接收方 — the overseas recipient."""

    name: str = Field(min_length=1, max_length=200)
    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2")
    address: str = Field("", max_length=500)
    contact: str = Field("", max_length=200)


class FilingForm(BaseModel):
    """Sections of the CAC declaration / filing templates (申报书、标准合同备案、个人信息保护影响评估报告)."""

    model_config = ConfigDict(extra="forbid")

    recipient: Recipient
    purpose: str = Field(min_length=1, max_length=4000, description="出境目的、范围、方式")
    categories: list[str] = Field(min_length=1, description="出境数据种类")
    pi_individuals: int = Field(ge=0, description="个人信息涉及人数（不含敏感）")
    sensitive_pi_individuals: int = Field(ge=0, description="敏感个人信息涉及人数")
    important_data: bool = False
    retention: str = Field(min_length=1, max_length=1000, description="境外保存期限及到期处理")
    security_measures: str = Field(min_length=1, max_length=8000, description="技术和管理措施")
    recipient_legal_environment: str = Field(
        min_length=1, max_length=8000, description="境外接收方所在国家或地区个人信息保护政策法规"
    )
    risks_and_mitigations: str = Field(min_length=1, max_length=8000, description="风险及应对措施")
    contact_person: str = Field("", max_length=200)


class FilingIn(BaseModel):
    """Open a filing."""

    kind: FilingKind
    form: FilingForm
    assessment_id: int | None = None


class FilingOut(BaseModel):
    """A filing and where its case stands."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    kind: str
    case_id: int
    status: str
    created_at: datetime
    decided_at: datetime | None
    valid_until: datetime | None
    credential_id: str | None
    assessment_id: int | None
    form: dict[str, Any]


class TransferIn(BaseModel):
    """Declare a transfer."""

    recipient: str = Field(min_length=1, max_length=200)
    country: str = Field(min_length=2, max_length=2)
    endpoints: list[str] = Field(min_length=1, max_length=200)
    categories: list[str] = Field(default_factory=list)
    legal_basis: Literal["exempt", "standard_contract_or_certification", "security_assessment"]
    filing_id: int | None = None


class TransferOut(TransferIn):
    """A declared transfer."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    created_at: datetime


class ScanOut(BaseModel):
    """A scan report (hashes, never raw values, unless the owner asked for them)."""

    model_config = ConfigDict(from_attributes=True)

    id: int | None = None
    filename: str
    sha256: str
    kind: str
    counts: dict[str, int]
    sensitive: bool
    entities: list[dict[str, Any]]
    columns: list[dict[str, Any]] | None = None
    ner: bool = False  # whether names, places and organisations were looked for
    ner_truncated: bool = False  # the NER time budget ran out: they were looked for in part


class ScanQueuedOut(BaseModel):
    """A scan too large for one request, queued as a job (202): poll ``status_url``; when the
    job has succeeded its ``result.report_url`` is the report (``GET /scans/{id}``)."""

    job_id: int
    status: str
    status_url: str
    filename: str
    sha256: str
    size: int
    ner: bool
