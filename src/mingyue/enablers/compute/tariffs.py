"""A pool's tariff: core time-of-use tariffs (peak/flat/valley per CPU-second and GPU-second).

Stored on the pool as plain data::

    {"cpu_second": {"peak": "0.0002", "flat": "0.0001", "valley": "0.00005"},
     "gpu_second": {"A100": {"peak": "0.01", "flat": "0.008", "valley": "0.004"}},
     "windows": [{"band": "valley", "start": "00:00", "end": "07:00"}, ...]}   # optional

and turned into core ``TariffSpec``s; the matcher's pricer and the bill both go through the
core's exact splitter (``metering_tou.price_interval``), so an estimate and a bill of the same
span agree to the fen.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import yaml

from mingyue.sdk import (
    DEFAULT_TOU_WINDOWS,
    TOU_BANDS,
    PricedSegment,
    TariffSpec,
    parse_windows,
    price_interval,
)
from mingyue.sdk.errors import InvalidInput

from .engine.spec import Demand, known_gpu_models

CPU_METER = "compute.cpu_seconds"
GPU_METER = "compute.gpu_seconds"
_Q = Decimal("0.0001")


def _prices(raw: Any, where: str) -> dict[str, Decimal]:
    if not isinstance(raw, Mapping):
        raise InvalidInput(
            "compute.tariff_invalid", f"{where}: peak/flat/valley prices", field="tariff"
        )
    out: dict[str, Decimal] = {}
    for band, value in raw.items():
        if band not in TOU_BANDS:
            raise InvalidInput(
                "compute.tariff_invalid",
                f"{where}.{band}: bands are {', '.join(TOU_BANDS)}",
                field="tariff",
            )
        try:
            d = Decimal(str(value))
        except ArithmeticError:
            d = Decimal(-1)
        if not d.is_finite() or d < 0:
            raise InvalidInput(
                "compute.tariff_invalid", f"{where}.{band}: a price ≥ 0", field="tariff"
            )
        out[str(band)] = d
    return out


@dataclass(frozen=True)
class PoolTariff:
    """Validated tariff of one pool: a CPU spec and one spec per GPU model."""

    cpu: TariffSpec
    gpu: Mapping[str, TariffSpec]
    raw: Mapping[str, Any]

    def segments(
        self, demand: Demand, start: datetime, seconds: int, gpu_model: str | None = None
    ) -> list[tuple[str, PricedSegment]]:
        """Split and price ``seconds`` of the demand from ``start``: (meter, segment) pieces."""
        end = start + timedelta(seconds=seconds)
        out = [
            (CPU_METER, s)
            for s in price_interval(self.cpu, start, end, Decimal(demand.cpus * seconds))
        ]
        if demand.gpus:
            spec = self.gpu_spec(gpu_model or demand.gpu_model)
            if spec is not None:
                out += [
                    (GPU_METER, s)
                    for s in price_interval(spec, start, end, Decimal(demand.gpus * seconds))
                ]
        return out

    def gpu_spec(self, model: str | None) -> TariffSpec | None:
        """Return the GPU tariff of a model (the cheapest peak when no model is named)."""
        if model is not None:
            return self.gpu.get(model)
        if not self.gpu:
            return None
        return min(self.gpu.values(), key=lambda t: t.prices.get("peak", Decimal(0)))

    def __call__(self, demand: Demand, start: datetime, seconds: int) -> Decimal:
        """Price a demand over ``seconds`` from ``start`` (the matcher's Pricer)."""
        total = sum((s.amount for _m, s in self.segments(demand, start, seconds)), Decimal(0))
        return total.quantize(_Q, ROUND_HALF_UP)


def parse_tariff(data: Mapping[str, Any] | None) -> PoolTariff:
    """Validate a pool tariff (see the module docstring); an empty one prices at zero."""
    data = dict(data or {})
    unknown = set(data) - {"cpu_second", "gpu_second", "windows", "currency"}
    if unknown:
        raise InvalidInput(
            "compute.tariff_invalid", f"tariff: unknown keys {sorted(unknown)}", field="tariff"
        )
    windows = parse_windows(data.get("windows") or DEFAULT_TOU_WINDOWS)
    currency = str(data.get("currency", "CNY"))
    zero = {b: Decimal(0) for b in TOU_BANDS}
    cpu_prices = _prices(data.get("cpu_second", zero), "tariff.cpu_second")
    cpu = _spec(CPU_METER, cpu_prices, windows, currency, "tariff.cpu_second")
    gpu: dict[str, TariffSpec] = {}
    gpu_raw = data.get("gpu_second") or {}
    if not isinstance(gpu_raw, Mapping):
        raise InvalidInput(
            "compute.tariff_invalid", "tariff.gpu_second: MODEL → prices", field="tariff"
        )
    for model, prices in gpu_raw.items():
        if model not in known_gpu_models():
            raise InvalidInput(
                "compute.tariff_invalid",
                f"tariff.gpu_second.{model}: unknown GPU model",
                field="tariff",
            )
        gpu[str(model)] = _spec(
            GPU_METER,
            _prices(prices, f"tariff.gpu_second.{model}"),
            windows,
            currency,
            f"tariff.gpu_second.{model}",
        )
    return PoolTariff(cpu=cpu, gpu=gpu, raw=data)


def _spec(
    meter: str, prices: dict[str, Decimal], windows: Any, currency: str, where: str
) -> TariffSpec:
    missing = {w.band for w in windows} - set(prices)
    if missing:
        raise InvalidInput(
            "compute.tariff_invalid",
            f"{where}: no price for {', '.join(sorted(missing))}",
            field="tariff",
        )
    return TariffSpec(meter=meter, prices=prices, windows=windows, currency=currency)


def read_tariff_arg(value: str) -> dict[str, Any]:
    """Read ``--tariff``: a YAML/JSON file, inline JSON, or ``peak=..,flat=..,valley=..``
    (CNY per CPU-second)."""
    text = value.strip()
    path = Path(text)
    if not text.startswith("{") and "=" not in text:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(
                "compute.tariff_invalid",
                f"cannot read tariff file {value}: {exc.strerror}",
                field="tariff",
            ) from exc
    elif "=" in text and not text.startswith("{"):
        pairs = dict(p.split("=", 1) for p in text.split(",") if "=" in p)
        return {"cpu_second": {k.strip(): v.strip() for k, v in pairs.items()}}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(
            "compute.tariff_invalid", f"cannot parse tariff: {exc}", field="tariff"
        ) from exc
    if not isinstance(data, dict):
        raise InvalidInput("compute.tariff_invalid", "a tariff is a mapping", field="tariff")
    parse_tariff(data)
    plain: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return plain
