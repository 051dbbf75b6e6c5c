"""Pydantic in/out models of satcert (API, CLI and console share them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_ORM = ConfigDict(from_attributes=True)


class SampleIn(BaseModel):
    """A terminal brought for testing: who makes it, what it is, what the maker declares."""

    manufacturer: str = Field(min_length=1, max_length=200)
    model: str = Field(min_length=1, max_length=200)
    terminal_kind: Literal["satcom", "gnss", "combo"] = "satcom"
    declared_imei: str | None = Field(None, pattern=r"^\d{15}$")
    notes: str = Field("", max_length=4000)
    # Lab staff registering a sample at the counter name the maker's organization.
    organization_id: int | None = Field(None, ge=1, le=2**31 - 1)


class SampleOut(BaseModel):
    """A sample as stored, with its identity once a bench run has read it."""

    model_config = _ORM

    id: int
    organization_id: int
    created_at: datetime
    created_by: str
    manufacturer: str
    model: str
    terminal_kind: str
    declared_imei: str | None
    imei: str | None
    firmware: str | None
    reported_model: str | None
    identified_at: datetime | None
    notes: str
    status: str
    case_id: int | None


class PlanIn(BaseModel):
    """A test plan version to publish: its YAML text as the lab wrote it."""

    yaml: str = Field(min_length=1, max_length=512 * 1024)


class PlanOut(BaseModel):
    """One published version of a test plan."""

    model_config = _ORM

    id: int
    key: str
    version: str
    title: str
    sha256: str
    cases: int
    created_at: datetime
    created_by: str


class PlanDetail(PlanOut):
    """A plan version with its YAML."""

    yaml: str


class RunIn(BaseModel):
    """Start a bench run: which sample, which plan version, over which port."""

    sample_id: int = Field(ge=1, le=2**31 - 1)
    plan_id: int = Field(ge=1, le=2**31 - 1)
    port: str = Field(
        "sim",
        min_length=1,
        max_length=200,
        description="`sim` (the simulated module), a serial device path or socket://host:port.",
    )
    purpose: Literal["certification", "surveillance"] = "certification"
    sim_fault: str | None = Field(None, max_length=40, description="Simulated module fault.")
    idempotency_key: str | None = Field(None, min_length=8, max_length=80)


class RunOut(BaseModel):
    """A bench run: its state, verdict, per-case results and the raw log's hash."""

    model_config = _ORM

    id: int
    organization_id: int
    sample_id: int
    plan_id: int
    transport: str
    purpose: str
    status: str
    verdict: str | None
    job_id: int | None
    started_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    summary: dict[str, Any]
    results: list[Any]
    log_sha256: str | None
    log_bytes: int
    error_key: str | None
    error_text: str | None


class LogLine(BaseModel):
    """One live log line of a run."""

    seq: int
    at: datetime
    text: str


class RunLog(BaseModel):
    """Log lines after a sequence number, and whether the run is still going."""

    run_id: int
    status: str
    progress: int
    lines: list[LogLine]
    next: int
    done: bool


class ImportOut(BaseModel):
    """RF or protocol results imported and judged."""

    model_config = _ORM

    id: int
    organization_id: int
    sample_id: int
    created_at: datetime
    created_by: str
    kind: str
    standard: str
    filename: str
    sha256: str
    format: str
    verdicts: list[Any]
    counts: dict[str, Any]
    verdict: str


class CertificateOut(BaseModel):
    """A terminal certificate as this enabler keeps it (the signed credential is in the core)."""

    model_config = _ORM

    id: int
    organization_id: int
    sample_id: int
    case_id: int | None
    credential_id: str
    issued_at: datetime
    valid_until: datetime | None
    issued_by: str
    verdict: str
    plan_key: str
    plan_version: str
    subject: dict[str, Any]
    revoked: bool
    revoked_reason: str | None
    revoked_at: datetime | None


class RevokeIn(BaseModel):
    """Why a certificate is revoked; ``non_conformity`` raises a finding on the maker."""

    reason: str = Field(min_length=1, max_length=2000)
    non_conformity: bool = True


class RegistryOut(BaseModel):
    """One certified terminal in the public registry."""

    model_config = _ORM

    credential_id: str
    holder: str
    manufacturer: str
    model: str
    firmware: str
    tac: str
    terminal_kind: str
    plan_key: str
    plan_version: str
    issued_at: datetime
    valid_until: datetime | None
    status: str


class DecisionIn(BaseModel):
    """A review decision on a sample's case."""

    action: Literal[
        "start_testing", "submit_review", "retest", "approve", "reject", "return", "resubmit"
    ]
    comment: str | None = Field(None, max_length=4000)
