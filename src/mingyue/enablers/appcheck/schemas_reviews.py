"""Shapes of listing / ethics reviews and release history as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ReviewIn(BaseModel):
    """Open a review of a finished scan."""

    model_config = ConfigDict(extra="forbid")

    scan_id: int
    kind: Literal["listing", "ethics"]
    content_category: str | None = Field(default=None, max_length=40)


class AnswerIn(BaseModel):
    """One questionnaire answer."""

    model_config = ConfigDict(extra="forbid")

    answer: Literal["yes", "no", "na"]
    note: str = Field(default="", max_length=1000)


class AnswersIn(BaseModel):
    """The operator's declarations (listing) or questionnaire answers (ethics)."""

    model_config = ConfigDict(extra="forbid")

    content_category: str | None = Field(default=None, max_length=40)
    answers: dict[str, AnswerIn] = Field(default_factory=dict, max_length=50)


class DecisionIn(BaseModel):
    """The reviewer's decision."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["accept", "return"]
    opinion: str = Field(default="", max_length=4000)
    items: dict[str, Literal["pass", "fail"]] = Field(default_factory=dict, max_length=50)


class ReviewOut(BaseModel):
    """A listing / ethics review."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    created_at: datetime
    kind: str
    scan_id: int
    package: str
    opened_by: str
    case_id: int | None
    answers: dict[str, Any]
    signals: dict[str, Any]
    results: list[dict[str, Any]]
    evidence: list[dict[str, Any]]
    decision: str
    opinion: str
    item_decisions: dict[str, str]
    credential_id: str | None


class ReleaseOut(BaseModel):
    """One release of an App (a finished scan of its package) and what changed since the last."""

    scan_id: int
    created_at: datetime
    file_name: str
    version_name: str
    version_code: str
    sdks: list[dict[str, str]]
    permissions: int
    watchlisted: list[dict[str, str]]
    diff: dict[str, Any] | None


class AppHistoryOut(BaseModel):
    """The release history of one package of one organization."""

    package: str
    organization_id: int
    releases: list[ReleaseOut]
