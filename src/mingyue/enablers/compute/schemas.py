"""Pydantic in/out models of the compute enabler."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class PoolIn(BaseModel):
    """A pool to register."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    kind: Literal["local", "slurm", "ray"]
    endpoint: str | None = Field(None, max_length=512)
    region: str | None = Field(None, max_length=64)
    tariff: dict[str, Any] | None = None
    cpus: int | None = Field(None, ge=1, le=1_000_000)
    max_runtime_s: int | None = Field(None, ge=1)
    enabled_for: list[int] | None = None
    credentials: dict[str, str] | None = None
    options: dict[str, str] = Field(default_factory=dict)


class PoolOut(BaseModel):
    """A pool as listed (credentials never leave the service)."""

    name: str
    kind: str
    endpoint: str | None
    region: str | None
    suspended: bool
    cpus: int
    free_cpus: int
    gpus: dict[str, int]
    queued: int
    running: int
    utilization: float
    max_runtime_s: int | None
    enabled_for: list[int] | None
    tariff: dict[str, Any]
    has_credentials: bool
    refreshed_at: datetime | None
    down_reason: str | None
    # local pools: whether tenants' commands run isolated (bubblewrap) and how, or why not
    # (then only the platform operator may run commands there)
    isolated: bool | None = None
    isolation: str | None = None


class SubmitOut(BaseModel):
    """What ``submit`` answers: where the job went, why, and what it should cost."""

    job_id: int
    pool: str | None
    reason: str
    estimated_cost: Decimal | None
    state: str
    detail: str | None = None  # why it waits, or a reservation's slot and how to use it


class JobOut(BaseModel):
    """A job's state, place, seconds, cost and free quota used."""

    job_id: int
    name: str | None
    state: str
    pool: str | None
    seconds: int
    cost: Decimal
    free_quota_used: Decimal
    estimated_cost: Decimal | None
    reason: str | None
    explanation: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    exit_code: int | None
    # A reservation's slot: reserved → active → ended (or cancelled/failed); None for a batch job.
    slot: str | None = None


class UsageLine(BaseModel):
    """One statement line: a job's seconds inside one tariff window."""

    job_id: int
    pool: str | None
    meter: str
    band: str
    start: datetime
    end: datetime
    seconds: Decimal
    quantity: Decimal
    free_quantity: Decimal
    unit_price: Decimal | None
    amount: Decimal


class UsageOut(BaseModel):
    """A month of compute usage for one organization."""

    month: str
    organization_id: int
    jobs: int
    seconds: Decimal
    free_quantity: Decimal
    total: Decimal
    # What the core's statement of the month charges for these lines: summed per meter, band
    # and price, each line's gross and free credit rounded to the fen (``total`` is exact).
    statement_total: Decimal
    lines: list[UsageLine]


class ReconcileOut(BaseModel):
    """What one reconciler pass did."""

    checked: int
    transitions: int
    billed_seconds: int
    dispatched: int
    pools_refreshed: int
    open_jobs: int = 0
