"""Prices for a demand over a time span, behind one small Protocol.

The matcher never knows how a pool is priced: it calls ``pricer(demand, start, seconds)``.
``FlatRate`` prices per CPU-hour / GPU-hour / GB-hour; ``TimeOfUse`` splits the span across
tariff windows (peak/flat/valley in Asia/Shanghai) with a ``split`` function and prices each
part with that window's rates. The core's metering tariffs plug in as such a ``split``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol
from zoneinfo import ZoneInfo

from mingyue.sdk.errors import InvalidInput

from .spec import Demand

SHANGHAI = ZoneInfo("Asia/Shanghai")
CENT = Decimal("0.01")
MILLI_CENT = Decimal("0.0001")
_HOUR = Decimal(3600)
_GB = Decimal(1024)


class Pricer(Protocol):
    """Price a demand that runs ``seconds`` from ``start``; money is Decimal (CNY)."""

    def __call__(self, demand: Demand, start: datetime, seconds: int) -> Decimal: ...


def money(value: Decimal) -> str:
    """Format an amount for people: ``¥3.20``."""
    return f"¥{value.quantize(CENT, rounding=ROUND_HALF_UP)}"


def to_decimal(value: object, what: str) -> Decimal:
    """Read a price from YAML/JSON without float rounding, or raise naming the field."""
    try:
        d = Decimal(str(value))
    except ArithmeticError as exc:
        raise InvalidInput(
            "compute.price_invalid", f"{what}: not a number: {value!r}", field=what
        ) from exc
    if not d.is_finite() or d < 0:
        raise InvalidInput("compute.price_invalid", f"{what}: a price is a number ≥ 0", field=what)
    return d


@dataclass(frozen=True, slots=True)
class FlatRate:
    """One rate all day: CNY per CPU-hour, per GPU-hour (by model), per GB-hour of memory."""

    cpu_hour: Decimal = Decimal(0)
    gpu_hour: Mapping[str, Decimal] = field(default_factory=dict)
    gpu_hour_default: Decimal | None = None
    gb_hour: Decimal = Decimal(0)
    # Hourly price per demand shape: the simulator prices ~10^5 jobs of a few shapes.
    _cache: dict[tuple[int, int, str | None, int], Decimal] = field(
        default_factory=dict, compare=False, repr=False
    )

    def hourly(self, demand: Demand) -> Decimal:
        """Return the price of one hour of this demand."""
        key = (demand.cpus, demand.gpus, demand.gpu_model, demand.memory_mb)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        total = self.cpu_hour * demand.cpus
        if demand.gpus:
            total += self.gpu_rate(demand.gpu_model) * demand.gpus
        if demand.memory_mb and self.gb_hour:
            total += self.gb_hour * Decimal(demand.memory_mb) / _GB
        if len(self._cache) < 4096:
            self._cache[key] = total
        return total

    def gpu_rate(self, model: str | None) -> Decimal:
        """Return the GPU-hour price for a model (the cheapest offered when no model is named)."""
        if model is not None and model in self.gpu_hour:
            return self.gpu_hour[model]
        if model is None and self.gpu_hour:
            return min(self.gpu_hour.values())
        if self.gpu_hour_default is not None:
            return self.gpu_hour_default
        return Decimal(0)

    def __call__(self, demand: Demand, start: datetime, seconds: int) -> Decimal:
        return (self.hourly(demand) * seconds / _HOUR).quantize(MILLI_CENT, ROUND_HALF_UP)


Split = Callable[[datetime, datetime], Iterable[tuple[str, int]]]


def hourly_windows(schedule: Mapping[int, str], tz: ZoneInfo = SHANGHAI) -> Split:
    """Build a split function from an hour-of-day → window-name table (local time).

    ``schedule`` maps each hour 0..23 to a window name (``peak``, ``flat``, ``valley``); the
    returned function cuts ``[start, end)`` at every hour boundary and yields
    ``(window, seconds)`` pieces whose seconds add up exactly to the span.
    """
    missing = sorted(set(range(24)) - set(schedule))
    if missing:
        raise InvalidInput(
            "compute.tariff_invalid", f"hours without a window: {missing}", field="schedule"
        )

    def split(start: datetime, end: datetime) -> Iterable[tuple[str, int]]:
        cur = start.astimezone(tz)
        stop = end.astimezone(tz)
        while cur < stop:
            boundary = cur.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            nxt = min(boundary, stop)
            yield schedule[cur.hour], round((nxt - cur).total_seconds())
            cur = nxt

    return split


@dataclass(frozen=True, slots=True)
class TimeOfUse:
    """Time-of-use prices: a flat rate per window, and a split of time spans into windows."""

    rates: Mapping[str, FlatRate]
    split: Split

    def __call__(self, demand: Demand, start: datetime, seconds: int) -> Decimal:
        end = start + timedelta(seconds=seconds)
        total = Decimal(0)
        for window, secs in self.split(start, end):
            rate = self.rates.get(window)
            if rate is None:
                raise InvalidInput(
                    "compute.tariff_invalid", f"no rate for window {window!r}", field="rates"
                )
            total += rate.hourly(demand) * secs / _HOUR
        return total.quantize(MILLI_CENT, ROUND_HALF_UP)


def flat_rate_from_mapping(data: Mapping[str, object], where: str = "pool") -> FlatRate:
    """Read ``price_per_cpu_hour``/``price_per_gpu_hour``/``price_per_gb_hour`` keys."""
    gpu = data.get("price_per_gpu_hour") or {}
    gpu_map: dict[str, Decimal] = {}
    gpu_default: Decimal | None = None
    if isinstance(gpu, Mapping):
        gpu_map = {str(k): to_decimal(v, f"{where}.price_per_gpu_hour.{k}") for k, v in gpu.items()}
    else:
        gpu_default = to_decimal(gpu, f"{where}.price_per_gpu_hour")
    return FlatRate(
        cpu_hour=to_decimal(data.get("price_per_cpu_hour", 0), f"{where}.price_per_cpu_hour"),
        gpu_hour=gpu_map,
        gpu_hour_default=gpu_default,
        gb_hour=to_decimal(data.get("price_per_gb_hour", 0), f"{where}.price_per_gb_hour"),
    )
