"""Tables and pydantic views of metering and billing: usage, tariffs, free pools, statements."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict
from sqlalchemy import Date, Numeric, String, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from mingyue.core.db import Base, TenantMixin, utcnow
from mingyue.core.errors import Conflict


def canonical(d: Decimal) -> Decimal:
    """Return a Decimal without trailing zeros and never in exponent form (``40.000`` → ``40``)."""
    return d.normalize() if d != d.to_integral_value() else d.quantize(Decimal(1))


Dec = Annotated[Decimal, AfterValidator(canonical)]


class ExactDecimal(TypeDecorator[Decimal]):
    """A Decimal stored exactly: unbounded NUMERIC on PostgreSQL, text on SQLite (no float)."""

    impl = Numeric()
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(60))
        # unbounded NUMERIC: a quantity (9 places) times a price (9 places) has 18 places, which
        # a NUMERIC(38, 12) column would round
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal) or not value.is_finite():
            raise ValueError(f"an exact Decimal is required, got {value!r}")
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        # PostgreSQL pads to the column's scale; both databases read back the canonical form.
        return canonical(Decimal(str(value)))


class Tariff(Base):
    """A time-of-use tariff of one meter (platform-wide reference data)."""

    __tablename__ = "core_tariff"

    id: Mapped[int] = mapped_column(primary_key=True)
    meter: Mapped[str] = mapped_column(String(120), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    currency: Mapped[str] = mapped_column(String(3))
    tz: Mapped[str] = mapped_column(String(60), default="Asia/Shanghai")
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date, nullable=True)  # exclusive
    windows: Mapped[list[Any]] = mapped_column()  # [{band, start, end}]
    prices: Mapped[dict[str, Any]] = mapped_column()  # band -> Decimal as text
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UsageRecord(TenantMixin, Base):
    """One metered usage of an organization, priced with the tariffs in force when recorded."""

    __tablename__ = "core_usage_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    meter: Mapped[str] = mapped_column(String(120), index=True)
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal())
    unit: Mapped[str] = mapped_column(String(40))
    start: Mapped[datetime] = mapped_column(index=True)
    end: Mapped[datetime] = mapped_column(index=True)
    source: Mapped[str] = mapped_column(String(120))
    ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    free_quantity: Mapped[Decimal] = mapped_column(ExactDecimal())
    amount: Mapped[Decimal | None] = mapped_column(ExactDecimal(), nullable=True)  # gross
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    # [{start, end, month, band, quantity, free, unit_price, amount, tariff_id}] (Decimals as text)
    breakdown: Mapped[list[Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FreePool(TenantMixin, Base):
    """An organization's free quantity and optional cap of one meter in one month."""

    __tablename__ = "core_free_pool"
    __table_args__ = (
        UniqueConstraint(
            "organization_id", "meter", "month", name="uq_core_free_pool_org_meter_month"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meter: Mapped[str] = mapped_column(String(120))
    month: Mapped[str] = mapped_column(String(7))
    granted: Mapped[Decimal] = mapped_column(ExactDecimal())
    used: Mapped[Decimal] = mapped_column(ExactDecimal())
    cap: Mapped[Decimal | None] = mapped_column(ExactDecimal(), nullable=True)
    recorded: Mapped[Decimal] = mapped_column(ExactDecimal())  # usage recorded this month


class PoolDefault(Base):
    """The monthly free quantity every organization (or every SME) gets for a meter."""

    __tablename__ = "core_pool_default"
    __table_args__ = (UniqueConstraint("meter", "sme_only", name="uq_core_pool_default_meter_sme"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meter: Mapped[str] = mapped_column(String(120))
    sme_only: Mapped[bool] = mapped_column(default=True)
    granted: Mapped[Decimal] = mapped_column(ExactDecimal())


class Statement(TenantMixin, Base):
    """An issued monthly statement; immutable."""

    __tablename__ = "core_statement"
    __table_args__ = (
        UniqueConstraint("organization_id", "month", name="uq_core_statement_org_month"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7))
    currency: Mapped[str] = mapped_column(String(3))
    gross: Mapped[Decimal] = mapped_column(ExactDecimal())
    free_credit: Mapped[Decimal] = mapped_column(ExactDecimal())
    total: Mapped[Decimal] = mapped_column(ExactDecimal())
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_by: Mapped[str] = mapped_column(String(120))
    usage_count: Mapped[int] = mapped_column(default=0)


class StatementLine(TenantMixin, Base):
    """One line of a statement: a meter in one band at one unit price."""

    __tablename__ = "core_statement_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(index=True)
    position: Mapped[int] = mapped_column()
    meter: Mapped[str] = mapped_column(String(120))
    band: Mapped[str] = mapped_column(String(20))
    unit: Mapped[str] = mapped_column(String(40))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal())
    free_quantity: Mapped[Decimal] = mapped_column(ExactDecimal())
    unit_price: Mapped[Decimal | None] = mapped_column(ExactDecimal(), nullable=True)
    gross: Mapped[Decimal] = mapped_column(ExactDecimal())
    free_credit: Mapped[Decimal] = mapped_column(ExactDecimal())
    amount: Mapped[Decimal] = mapped_column(ExactDecimal())


@event.listens_for(Statement, "before_update")
@event.listens_for(StatementLine, "before_update")
@event.listens_for(Statement, "before_delete")
@event.listens_for(StatementLine, "before_delete")
def _refuse_change(_mapper: Any, _conn: Any, target: Any) -> None:
    raise Conflict("core.billing.statement_immutable", "an issued statement cannot change")


_IMMUTABLE = ("core_statement", "core_statement_line")


def statement_immutable_ddl(dialect: str) -> list[str]:
    """Return the statements that make issued statements refuse UPDATE/DELETE in the database."""
    if dialect == "postgresql":
        out = [
            "CREATE OR REPLACE FUNCTION core_statement_immutable() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'an issued statement is immutable'; END; $$ "
            "LANGUAGE plpgsql"
        ]
        for table in _IMMUTABLE:
            out += [
                f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}",
                f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION core_statement_immutable()",
            ]
        return out
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        "BEGIN SELECT RAISE(ABORT, 'an issued statement is immutable'); END"
        for table in _IMMUTABLE
        for verb in ("UPDATE", "DELETE")
    ]


@event.listens_for(StatementLine.__table__, "after_create")
def _install_triggers(target: Any, connection: Any, **kw: Any) -> None:
    for stmt in statement_immutable_ddl(connection.dialect.name):
        connection.exec_driver_sql(stmt)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class SegmentOut(_Out):
    """A piece of a usage inside one tariff window and one month."""

    start: datetime
    end: datetime
    month: str
    band: str
    quantity: Dec
    free: Dec
    unit_price: Dec | None
    amount: Dec
    tariff_id: int | None


class UsageOut(_Out):
    """A recorded usage with its price breakdown."""

    id: int
    organization_id: int
    meter: str
    quantity: Dec
    unit: str
    start: datetime
    end: datetime
    source: str
    ref: str | None
    free_quantity: Dec
    amount: Dec | None
    currency: str | None
    breakdown: list[SegmentOut]
    created_at: datetime


class TariffOut(_Out):
    """A tariff."""

    id: int
    meter: str
    name: str
    currency: str
    tz: str
    effective_from: date
    effective_to: date | None
    windows: list[dict[str, str]]
    prices: dict[str, Dec]


class FreePoolOut(_Out):
    """An organization's free pool and cap for one meter and month."""

    organization_id: int
    meter: str
    month: str
    granted: Dec
    used: Dec
    remaining: Dec
    cap: Dec | None
    recorded: Dec


class StatementLineOut(_Out):
    """One line of a statement."""

    position: int
    meter: str
    band: str
    unit: str
    quantity: Dec
    free_quantity: Dec
    unit_price: Dec | None
    gross: Dec
    free_credit: Dec
    amount: Dec


class StatementOut(_Out):
    """An issued monthly statement with its lines."""

    id: int
    organization_id: int
    month: str
    currency: str
    gross: Dec
    free_credit: Dec
    total: Dec
    issued_at: datetime
    issued_by: str
    usage_count: int
    lines: list[StatementLineOut] = []
