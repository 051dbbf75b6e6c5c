"""API: usage records, monthly statements, tariffs and free pools (mounted at ``/api``)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AwareDatetime, BaseModel, Field

from mingyue.core import jobs, metering
from mingyue.core.jobs.service import JobOut
from mingyue.core.metering.models import FreePoolOut, StatementOut, TariffOut, UsageOut
from mingyue.core.metering.statements import UsageSummary
from mingyue.core.metering.tou import month_bounds
from mingyue.core.tenancy.access import Actor
from mingyue.web.deps import UoW, require

router = APIRouter(tags=["billing"])

Month = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2026-01"])]
MonthQuery = Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
IdQuery = Annotated[int | None, Query(ge=1, le=2**31 - 1)]
MeterName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$", max_length=120)]
MeterQuery = Annotated[
    str | None, Query(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$", max_length=120)
]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=10**9)]
Money = Annotated[Decimal, Field(ge=0, max_digits=30, decimal_places=9, allow_inf_nan=False)]


class UsageIn(BaseModel):
    """A usage to record for an organization."""

    organization_id: Id
    meter: MeterName
    quantity: Money
    unit: str = Field(min_length=1, max_length=40, pattern=r"^[^\x00-\x1f\x7f]+$")
    start: AwareDatetime
    end: AwareDatetime
    source: str = Field(min_length=1, max_length=120, pattern=r"^[^\x00-\x1f\x7f]+$")
    ref: str | None = Field(None, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")


class WindowIn(BaseModel):
    """One time-of-use window."""

    band: str = Field(pattern="^(peak|flat|valley)$")
    start: str = Field(pattern=r"^\d{2}:\d{2}$")
    end: str = Field(pattern=r"^\d{2}:\d{2}$")


class TariffIn(BaseModel):
    """A tariff to create; windows default to the Chongqing-shaped peak/flat/valley day."""

    meter: MeterName
    prices: dict[str, Money]
    effective_from: date
    effective_to: date | None = None
    windows: list[WindowIn] | None = Field(None, max_length=48)
    currency: str | None = Field(None, pattern="^[A-Za-z]{3}$")
    name: str = Field("", max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")


class StatementIn(BaseModel):
    """Which organization and month to invoice."""

    organization_id: Id
    month: Month


class FreePoolIn(BaseModel):
    """An organization's free quantity and optional cap of a meter for a month."""

    organization_id: Id
    meter: MeterName
    month: Month
    granted: Money
    cap: Money | None = None


class PoolDefaultIn(BaseModel):
    """The monthly free quantity every SME (or every organization) gets for a meter."""

    meter: MeterName
    granted: Money
    sme_only: bool = True


@router.get("/usage", operation_id="billing-list_usage")
def list_usage(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.usage.read"))],
    month: MonthQuery = None,
    meter: MeterQuery = None,
    organization_id: IdQuery = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[UsageOut]:
    """List usage records in scope, newest first; filter by month (YYYY-MM), meter, org."""
    return metering.list_usage(
        uow=uow,
        actor=actor,
        organization_id=organization_id,
        month=month,
        meter=meter,
        limit=limit,
        offset=offset,
    )


@router.post("/usage", status_code=201, operation_id="billing-record_usage")
def record_usage(
    body: UsageIn, uow: UoW, actor: Annotated[Actor, Depends(require("core.usage.record"))]
) -> UsageOut:
    """Record and price a usage (platform administrators; enablers record through the service)."""
    return metering.record_usage(uow=uow, actor=actor, **body.model_dump())


@router.get("/usage/summary", operation_id="billing-usage_summary")
def usage_summary(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.usage.read"))],
    month: Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")],
    organization_id: IdQuery = None,
) -> UsageSummary:
    """Summarize a month of usage by meter and by day and band."""
    return metering.usage_summary(
        uow=uow, actor=actor, organization_id=organization_id, month=month
    )


@router.get("/statements", operation_id="billing-list_statements")
def list_statements(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.statement.read"))],
    month: MonthQuery = None,
    organization_id: IdQuery = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[StatementOut]:
    """List issued statements in scope, newest month first (lines via the detail route)."""
    return metering.list_statements(
        uow=uow,
        actor=actor,
        organization_id=organization_id,
        month=month,
        limit=limit,
        offset=offset,
    )


@router.post("/statements", status_code=201, operation_id="billing-generate_statement")
def generate_statement(
    body: StatementIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.statement.generate"))],
) -> StatementOut:
    """Issue the statement of an ended month for an organization."""
    return metering.generate_statement(
        uow=uow, actor=actor, organization_id=body.organization_id, month=body.month
    )


class BillingRunIn(BaseModel):
    """Which ended month to invoice for every organization."""

    month: Month


@router.post("/statements/run", status_code=201, operation_id="billing-run_statements")
def run_statements(
    body: BillingRunIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.statement.generate"))],
) -> list[StatementOut]:
    """Issue the month's statement of every organization with usage and none issued yet."""
    return metering.generate_due_statements(uow=uow, actor=actor, month=body.month)


@router.post("/statements/run-job", status_code=202, operation_id="billing-queue_billing_run")
def queue_billing_run(
    body: BillingRunIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.statement.generate"))],
) -> JobOut:
    """Queue the month's billing run as a background job (progress per organization)."""
    month_bounds(body.month, uow.settings.timezone)
    return jobs.enqueue(uow=uow, kind="core.billing.run", params={"month": body.month})


@router.get("/statements/{statement_id}", operation_id="billing-get_statement")
def get_statement(
    statement_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.statement.read"))],
) -> StatementOut:
    """Return one statement with its lines."""
    return metering.get_statement(uow=uow, actor=actor, statement_id=statement_id)


@router.get("/tariffs", operation_id="billing-list_tariffs")
def list_tariffs(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.tariff.read"))],
    meter: MeterQuery = None,
) -> list[TariffOut]:
    """List tariffs (optionally of one meter)."""
    return metering.list_tariffs(uow=uow, actor=actor, meter=meter)


@router.post("/tariffs", status_code=201, operation_id="billing-create_tariff")
def create_tariff(
    body: TariffIn, uow: UoW, actor: Annotated[Actor, Depends(require("core.tariff.manage"))]
) -> TariffOut:
    """Create a time-of-use tariff."""
    data = body.model_dump()
    return metering.create_tariff(uow=uow, actor=actor, **data)


@router.get("/free-pools", operation_id="billing-get_free_pool")
def get_free_pool(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.usage.read"))],
    meter: Annotated[str, Query(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$", max_length=120)],
    month: Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")],
    organization_id: IdQuery = None,
) -> FreePoolOut:
    """Return an organization's free pool of a meter for a month (own org by default)."""
    org = organization_id if organization_id is not None else actor.organization_id
    return metering.get_free_pool(
        uow=uow, actor=actor, organization_id=org or 0, meter=meter, month=month
    )


@router.put("/free-pools", operation_id="billing-set_free_pool")
def set_free_pool(
    body: FreePoolIn, uow: UoW, actor: Annotated[Actor, Depends(require("core.quota.manage"))]
) -> FreePoolOut:
    """Set an organization's free quantity and cap of a meter for a month."""
    return metering.set_free_pool(uow=uow, actor=actor, **body.model_dump())


@router.put("/free-pools/defaults", status_code=204, operation_id="billing-set_pool_default")
def set_pool_default(
    body: PoolDefaultIn, uow: UoW, actor: Annotated[Actor, Depends(require("core.quota.manage"))]
) -> None:
    """Set the monthly free quantity every SME (or every organization) gets for a meter."""
    metering.set_pool_default(uow=uow, actor=actor, **body.model_dump())
