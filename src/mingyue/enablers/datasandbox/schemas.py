"""Pydantic in/out models of the datasandbox API and CLI."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class ColumnOut(BaseModel):
    name: str
    type: str
    cls: str
    bounds: list[float] | None = None
    description: str = ""


class DatasetOut(BaseModel):
    """A catalogue entry: schema, rounded size, policy — never a path or a row."""

    id: int
    name: str
    owner_org_id: int
    description: str
    rows_rounded: int
    max_contributions: int
    columns: list[ColumnOut]
    policy: dict[str, Any]
    odrl: dict[str, Any]
    created_at: datetime


class DatasetDetail(DatasetOut):
    mock_preview: list[dict[str, Any]]


class QueryIn(BaseModel):
    dataset: str | None = None
    sql: str = Field(max_length=20_000)
    epsilon: float | None = Field(default=None, gt=0, le=10)
    params: list[Any] | dict[str, Any] | None = None
    purpose: str = Field(default="statistics", max_length=64)


class VerifyIn(BaseModel):
    dataset: str
    ids: list[str] = Field(min_length=1, max_length=10_000)
    predicate: str = Field(max_length=2_000)
    mode: str = Field(default="each", pattern="^(each|count)$")
    purpose: str = Field(default="verification", max_length=64)


class TrainIn(BaseModel):
    dataset: str
    template: str = Field(max_length=64)
    features: list[str] = Field(min_length=1, max_length=50)
    target: str
    params: dict[str, Any] = Field(default_factory=dict)
    epsilon: float | None = Field(default=None, gt=0, le=10)
    purpose: str = Field(default="model_training", max_length=64)


class RequestOut(BaseModel):
    """A computation request; ``rows`` only once the result is released."""

    id: int
    kind: str
    status: str
    reason: dict[str, Any] | None
    rows: list[dict[str, Any]] | None
    epsilon_spent: float
    epsilon_left: float | None
    datasets: list[str]
    preview: dict[str, Any] | None
    job_id: int | None
    model: dict[str, Any] | None = None  # model-training results: parameters and metrics
    organization_id: int
    created_by: str
    created_at: datetime


class BudgetOut(BaseModel):
    dataset: str
    period: str
    cap: float
    spent: float
    left: float


class PsiIn(BaseModel):
    """An encrypted PSI request (base64 of openmined-psi's Request message)."""

    dataset: str
    predicate: str = Field(max_length=2_000)
    request_b64: str = Field(max_length=4_000_000)
    reveal_intersection: bool = False


class PsiOut(BaseModel):
    request_id: int
    status: str
    reason: dict[str, Any] | None = None
    setup_b64: str | None = None
    response_b64: str | None = None
