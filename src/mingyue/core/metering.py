"""Metering and billing (being built): registry of meters.

To add a meter: 1. add ``"<key>.<meter>": MeterSpec(unit=..., description=...)`` to your Enabler's
``meters``; 2. call ``metering.record_usage(uow=..., meter=..., ...)`` where the usage happens;
3. a duplicate name raises.
"""

from __future__ import annotations

_meters: dict[str, tuple[str, str]] = {}


def register_meter(name: str, unit: str, description: str = "") -> None:
    """Register a meter by namespaced name; raise on a duplicate."""
    if name in _meters:
        raise ValueError(f"duplicate meter: {name}")
    _meters[name] = (unit, description)


def meters() -> dict[str, tuple[str, str]]:
    """Return every registered meter: name -> (unit, description)."""
    return dict(_meters)
