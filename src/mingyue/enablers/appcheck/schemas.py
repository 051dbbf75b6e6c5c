"""Pydantic in/out models of the appcheck API and CLI."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class ScanOut(BaseModel):
    """A scan as the API shows it (the report itself is fetched separately)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    created_at: datetime
    finished_at: datetime | None
    file_name: str
    sha256: str
    size: int
    app_type: str | None
    status: str
    job_id: int | None
    package: str
    incomplete: bool
    error: dict[str, Any]
    case_id: int | None
    review: str
    credential_id: str | None


class RuleSetOut(BaseModel):
    """One loaded rule set."""

    name: str
    version: str
    source: str


class AppTypeOut(BaseModel):
    """One of the 39 App types."""

    n: int
    key: str
    zh: str
    en: str
    necessary: str
    no_pi: bool
    article: str
