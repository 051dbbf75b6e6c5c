"""Metering's registry of meters and its input helpers (exact decimals, months).

To add a meter: 1. add ``"<key>.<meter>": MeterSpec(unit=..., description=...)`` to your Enabler's
``meters``; 2. call ``metering.record_usage(uow=..., meter=..., ...)`` where the usage happens;
3. a duplicate name raises.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from mingyue.core import plugins, registries
from mingyue.core.errors import InvalidInput
from mingyue.core.tenancy.access import Actor
from mingyue.core.uow import UnitOfWork

_meters = registries._meters  # the one registry; plugins fills it
register_meter = registries.register_meter
ZERO = Decimal(0)
_MAX_DIGITS = 9  # quantities carry at most 9 decimals (the proration quantum)


def meters() -> dict[str, tuple[str, str]]:
    """Return every registered meter: name -> (unit, description)."""
    if not _meters:
        plugins.registry()
    return dict(_meters)


def plain_text(value: str, field: str) -> str:
    """Refuse control characters (NUL cannot be stored in PostgreSQL text) in a label."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidInput(
            "core.usage.bad_text", f"{field}: control characters are not allowed", field=field
        )
    return value


def meter_unit(meter: str) -> str:
    """Return the unit of a registered meter; raise InvalidInput for an unknown one."""
    known = meters()
    if meter not in known:
        raise InvalidInput("core.usage.unknown_meter", f"unknown meter: {meter}", field="meter")
    return known[meter][0]


def exact_decimal(value: Any, field: str) -> Decimal:
    """Read a quantity or price exactly (Decimal, int or text; never float), ≥ 0, ≤ 9 places."""
    if isinstance(value, float) or not isinstance(value, (Decimal, int, str)):
        raise InvalidInput(
            "core.usage.bad_quantity", f"{field}: an exact decimal is required", field=field
        )
    try:
        d = Decimal(value)
    except ArithmeticError as exc:
        raise InvalidInput(
            "core.usage.bad_quantity", f"{field}: not a number", field=field
        ) from exc
    exp = d.as_tuple().exponent
    if not d.is_finite() or d < 0 or (isinstance(exp, int) and exp < -_MAX_DIGITS):
        raise InvalidInput(
            "core.usage.bad_quantity",
            f"{field}: a number ≥ 0 with at most {_MAX_DIGITS} decimals",
            field=field,
        )
    return d


def acting(uow: UnitOfWork, actor: Actor | None) -> Actor:
    """Return the given actor, else the unit of work's."""
    return actor if actor is not None else uow.actor


def month_of(moment: datetime, tz: str) -> str:
    """Return the local ``YYYY-MM`` of an instant in a time zone."""
    local = moment.astimezone(ZoneInfo(tz))
    return f"{local.year:04d}-{local.month:02d}"
