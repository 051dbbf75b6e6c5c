"""Pydantic shapes of monitoring and contract audit (API and CLI)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class LabelIn(BaseModel):
    """One address label."""

    model_config = ConfigDict(extra="forbid")

    address: str = Field(min_length=1, max_length=128)
    kind: str = Field(min_length=1, max_length=30)
    source: str = Field("analyst", min_length=1, max_length=200)
    confidence: float = Field(1.0, ge=0.0, le=1.0)
    note: str = Field("", max_length=2000)


class LabelOut(BaseModel):
    """A stored address label."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    address: str
    kind: str
    source: str
    confidence: float
    note: str
    created_at: datetime
    created_by: str


class AlertOut(BaseModel):
    """An alert as stored: pattern, severity, status, parties, tokens, rows, evidence."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    fingerprint: str
    pattern: str
    severity: str
    status: str
    addresses: list[str]
    tokens: list[str]
    rows: list[int]
    evidence: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    occurrences: int
    run_id: int | None
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str


class DecisionIn(BaseModel):
    """An analyst's verdict on an alert."""

    model_config = ConfigDict(extra="forbid")

    verdict: str = Field(pattern=r"^(confirmed|false_positive)$")
    note: str = Field("", max_length=2000)


class MonitorRunOut(BaseModel):
    """One monitoring run."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    created_at: datetime
    created_by: str
    source: str
    sha256: str
    events: int
    alerts_new: int
    alerts_seen: int
    suppressed: int
    inferred_hubs: list[dict[str, Any]]
    seconds: float
    status: str = "done"
    job_id: int | None = None
    error: str = ""
    finished_at: datetime | None = None


class AuditOut(BaseModel):
    """A contract audit: status, counts and (when done) per-file results."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    created_at: datetime
    created_by: str
    filename: str
    sha256: str
    job_id: int | None
    status: str
    files_total: int
    files_error: int
    findings_total: int
    by_category: dict[str, int]
    results: list[dict[str, Any]]
    error: str
    finished_at: datetime | None
