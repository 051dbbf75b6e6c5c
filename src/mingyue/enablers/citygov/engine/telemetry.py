"""Telemetry messages of city devices: kinds, topic names, payload checks, rate limits.

A device of kind ``septic_tank`` with id ``st-0012`` publishes a JSON object on
``city/septic_tank/st-0012`` (MQTT) or POSTs it to the HTTP ingest, e.g.
``{"ts": "2026-12-07T08:00:00+08:00", "ch4": 0.4, "h2s": 3.1}``. ``ts`` (or ``observedAt``) is
an ISO 8601 time with its offset, or a Unix time in seconds (milliseconds above 10^11); without
it the time of receipt counts. ``parse_payload`` checks, in order: size cap, JSON, an object, the
kind's JSON Schema (its measures, their ranges, nothing else), the time (not in the future past
the allowed clock skew, not at or before the device's last reading: a replay), and returns a
``Reading`` or a ``Rejection`` (counted by the caller; a bad message never stops the stream).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema_rs

from mingyue.enablers.citygov.engine.alarms import AlarmRule, parse_rule
from mingyue.enablers.citygov.engine.ngsi import smartdata
from mingyue.sdk.errors import InvalidInput

DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
KIND = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
TOPIC_ROOT = "city"
# Unix times above this are milliseconds (10^11 s is the year 5138).
_MS_FROM = 10**11

REASONS = (
    "bad_topic",
    "unknown_device",
    "kind_mismatch",
    "forbidden",
    "too_large",
    "not_json",
    "not_object",
    "schema",
    "bad_ts",
    "future",
    "replay",
    "rate",
)


# What a measure controls, in the Smart Data Models ``Device.controlledProperty`` enum
# (schemas/sdm/Device/Device/schema.json, 0.0.9), for measure names that are not themselves a
# value of it (``temperature``, ``soilMoisture``, ``speed``, ``humidity`` … map to themselves).
# The enum has no gas-by-gas values: a gas concentration in air is ``airPollution``; a tilt
# sensor (an inclinometer, trunk tilt from vertical) is a ``motion`` sensor; a battery's charge
# in % is ``batteryLife``; a weigh-in-motion's gross mass is ``weight``. A measure mapped to
# None (a vehicle's plate, its axle count) describes what passed, not what the device controls.
# A kind in rules/alarms.yaml overrides any of these with ``sdm:`` on the measure.
SDM_CONTROLLED: Mapping[str, str | None] = {
    "ch4": "airPollution",
    "h2s": "airPollution",
    "co": "airPollution",
    "co2": "airPollution",
    "no2": "airPollution",
    "so2": "airPollution",
    "o3": "airPollution",
    "nh3": "airPollution",
    "pm10": "airPollution",
    "pm25": "airPollution",
    "tilt": "motion",
    "battery": "batteryLife",
    "grossWeight": "weight",
    "noise": "noiseLevel",
    "fill": "fillingLevel",
    "axles": None,
    "plate": None,
}


@dataclass(frozen=True)
class Measure:
    """One measure a device kind reports: its JSON type, range and UN/CEFACT unit code."""

    name: str
    type: str  # number | integer | boolean | string
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int = 64
    controlled: str | None = None  # its Smart Data Models controlledProperty (SDM_CONTROLLED)


@dataclass(frozen=True)
class DeviceKind:
    """A kind of city device: what it measures and the alarm rules that watch it."""

    key: str
    title: Mapping[str, str]
    measures: Mapping[str, Measure]
    rules: tuple[AlarmRule, ...] = ()
    category: str = "sensor"  # SDM Device.deviceCategory (and the deprecated category)
    validator: Any = field(repr=False, compare=False, default=None)  # its JSON Schema, compiled

    @property
    def controlled_properties(self) -> list[str]:
        """Return what the kind's devices control, as Smart Data Models enum values (sorted)."""
        return sorted({m.controlled for m in self.measures.values() if m.controlled})

    @property
    def silent_rules(self) -> tuple[AlarmRule, ...]:
        """The rules that watch for a device going quiet."""
        return tuple(r for r in self.rules if r.condition == "silent")


@dataclass(frozen=True)
class Reading:
    """A valid message: when it was observed and its measures."""

    observed_at: datetime
    values: dict[str, Any]


@dataclass(frozen=True)
class Rejection:
    """Why a message was refused: one of ``REASONS`` and a short detail (never the payload)."""

    reason: str
    detail: str


def parse_topic(topic: str) -> tuple[str, str] | None:
    """Return (kind, device id) of ``city/<kind>/<deviceId>``, or None for any other topic."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != TOPIC_ROOT:
        return None
    if not KIND.match(parts[1]) or not DEVICE_ID.match(parts[2]):
        return None
    return parts[1], parts[2]


def topic_of(kind: str, device_id: str) -> str:
    """Return the topic a device publishes on."""
    return f"{TOPIC_ROOT}/{kind}/{device_id}"


def entity_id_of(device_id: str) -> str:
    """Return the NGSI-LD entity id that mirrors a device (Smart Data Models ``Device``)."""
    return f"urn:ngsi-ld:Device:{device_id}"


def _schema(measures: Mapping[str, Measure]) -> dict[str, Any]:
    props: dict[str, Any] = {
        "ts": {"type": ["string", "number"]},
        "observedAt": {"type": ["string", "number"]},
    }
    for m in measures.values():
        p: dict[str, Any] = {"type": m.type}
        if m.type in ("number", "integer"):
            if m.minimum is not None:
                p["minimum"] = m.minimum
            if m.maximum is not None:
                p["maximum"] = m.maximum
        if m.type == "string":
            p["maxLength"] = m.max_length
        props[m.name] = p
    return {
        "type": "object",
        "properties": props,
        "additionalProperties": False,
        "anyOf": [{"required": [name]} for name in measures],
    }


def parse_kinds(doc: Mapping[str, Any]) -> dict[str, DeviceKind]:
    """Read the device kinds of ``rules/alarms.yaml`` (InvalidInput naming the bad field)."""
    kinds = doc.get("kinds")
    if not isinstance(kinds, Mapping) or not kinds:
        raise InvalidInput("citygov.rules.bad", "kinds: missing", field="kinds")
    out: dict[str, DeviceKind] = {}
    for key, spec in kinds.items():
        where = f"kinds.{key}"
        if not isinstance(key, str) or not KIND.match(key) or not isinstance(spec, Mapping):
            raise InvalidInput("citygov.rules.bad", f"{where}: bad kind", field=where)
        raw_measures = spec.get("measures")
        if not isinstance(raw_measures, Mapping) or not raw_measures:
            raise InvalidInput("citygov.rules.bad", f"{where}: measures missing", field=where)
        measures: dict[str, Measure] = {}
        for name, m in raw_measures.items():
            if not isinstance(m, Mapping) or m.get("type") not in (
                "number",
                "integer",
                "boolean",
                "string",
            ):
                raise InvalidInput("citygov.rules.bad", f"{where}.{name}: bad type", field=where)
            if name in ("ts", "observedAt", "id", "type", "location") or not re.match(
                r"^[a-zA-Z][a-zA-Z0-9]{0,39}$", str(name)
            ):
                raise InvalidInput("citygov.rules.bad", f"{where}.{name}: bad name", field=where)
            measures[name] = Measure(
                name=name,
                type=m["type"],
                unit=m.get("unit"),
                minimum=m.get("min"),
                maximum=m.get("max"),
                controlled=_controlled(name, m, where=f"{where}.measures.{name}"),
            )
        if not any(m.controlled for m in measures.values()):
            raise InvalidInput(
                "citygov.rules.bad",
                f"{where}: no measure maps to a Smart Data Models controlledProperty (sdm:)",
                field=where,
            )
        device_category = str(spec.get("category", "sensor"))
        if device_category not in smartdata.enum_of("Device", "deviceCategory"):
            raise InvalidInput(
                "citygov.rules.bad",
                f"{where}.category: {device_category!r} is not a Smart Data Models deviceCategory",
                field=f"{where}.category",
            )
        rules = tuple(
            parse_rule(r, where=f"{where}.alarms[{i}]", measures=list(measures))
            for i, r in enumerate(spec.get("alarms") or [])
        )
        if len({r.type for r in rules}) != len(rules):
            raise InvalidInput("citygov.rules.bad", f"{where}: duplicate alarm type", field=where)
        title = spec.get("title") or {}
        if not isinstance(title, Mapping) or not {"zh", "en"} <= set(title):
            raise InvalidInput("citygov.rules.bad", f"{where}: title needs zh and en", field=where)
        schema = _schema(measures)
        out[key] = DeviceKind(
            key=key,
            title={"zh": str(title["zh"]), "en": str(title["en"])},
            measures=measures,
            rules=rules,
            category=device_category,
            # jsonschema-rs (Rust): ~1 µs a message where the pure-Python validator takes ~60 µs
            validator=jsonschema_rs.Draft202012Validator(schema),
        )
    return out


def _controlled(name: str, spec: Mapping[str, Any], *, where: str) -> str | None:
    """Return a measure's controlledProperty: its ``sdm:``, SDM_CONTROLLED, or its own name."""
    allowed = smartdata.enum_of("Device", "controlledProperty")
    if "sdm" in spec:
        value = spec["sdm"]
    elif name in SDM_CONTROLLED:
        value = SDM_CONTROLLED[name]
    else:
        value = name if name in allowed else None
    if value is not None and value not in allowed:
        raise InvalidInput(
            "citygov.rules.bad",
            f"{where}.sdm: {value!r} is not a Smart Data Models controlledProperty",
            field=f"{where}.sdm",
        )
    return None if value is None else str(value)


def device_attrs(kind: DeviceKind) -> dict[str, Any]:
    """Return a kind's Smart Data Models ``Device`` description as normalized Properties.

    ``controlledProperty`` and ``deviceCategory`` (and the deprecated ``category``, which older
    clients still read) hold the model's enum values, so the mirrored entity follows Device 0.0.9.
    """
    return {
        "category": {"type": "Property", "value": [kind.category]},
        "controlledProperty": {"type": "Property", "value": kind.controlled_properties},
        "deviceCategory": {"type": "Property", "value": [kind.category]},
    }


def parse_time(value: Any) -> datetime | None:
    """Return the UTC time of an ISO 8601 string with offset or a Unix time (None: invalid)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            return None
        secs = value / 1000.0 if value >= _MS_FROM else float(value)
        try:
            return datetime.fromtimestamp(secs, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and len(value) <= 40:
        try:
            at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if at.tzinfo is None:
            return None  # a time without its offset is ambiguous
        return at.astimezone(UTC)
    return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python accepts them, JSON does not


def parse_payload(
    payload: bytes,
    kind: DeviceKind,
    *,
    received_at: datetime,
    max_bytes: int,
    max_skew_s: float,
    last_observed: datetime | None,
) -> Reading | Rejection:
    """Check one message of a device of ``kind`` (see the module docstring)."""
    if len(payload) > max_bytes:
        return Rejection("too_large", f"{len(payload)} bytes, the cap is {max_bytes}")
    try:
        doc = json.loads(payload, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Rejection("not_json", "the payload is not JSON")
    if not isinstance(doc, dict):
        return Rejection("not_object", "the payload must be a JSON object")
    if not any(name in doc for name in kind.measures):
        return Rejection("schema", f"no measure of {kind.key}: {', '.join(kind.measures)}")
    if not kind.validator.is_valid(doc):
        errors = sorted(kind.validator.iter_errors(doc), key=lambda e: len(e.instance_path))
        error = errors[-1]  # the deepest names the measure at fault
        path = ".".join(str(p) for p in error.instance_path) or "payload"
        return Rejection("schema", f"{path}: {error.message}"[:200])
    raw_ts = doc.pop("ts", None)
    raw_obs = doc.pop("observedAt", None)
    raw = raw_ts if raw_ts is not None else raw_obs
    observed = received_at if raw is None else parse_time(raw)
    if observed is None:
        return Rejection("bad_ts", "ts must be ISO 8601 with an offset or a Unix time")
    if observed > received_at + timedelta(seconds=max_skew_s):
        return Rejection("future", f"ts {observed.isoformat()} is in the future")
    if last_observed is not None and observed <= last_observed:
        return Rejection("replay", f"ts {observed.isoformat()} is not after the last reading")
    return Reading(observed_at=observed, values=doc)


def ngsi_attrs(reading: Reading, kind: DeviceKind) -> dict[str, Any]:
    """Return the reading as NGSI-LD normalized Properties (``observedAt``, ``unitCode``).

    The kind's ``Device`` description (``device_attrs``) comes with it, so every mirror write
    leaves the entity following its Smart Data Model — an entity registered before the
    description followed the model's enums is set right by its next reading.
    """
    at = reading.observed_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    out: dict[str, Any] = device_attrs(kind)
    for name, value in reading.values.items():
        prop: dict[str, Any] = {"type": "Property", "value": value, "observedAt": at}
        unit = kind.measures[name].unit
        if unit:
            prop["unitCode"] = unit
        out[name] = prop
    return out


class RateLimiter:
    """Token buckets per key: ``rate`` messages a second on average, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: float, *, max_keys: int = 100_000) -> None:
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str, now: float) -> bool:
        """Take one token of ``key`` at monotonic time ``now``; False when none is left."""
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        ok = tokens >= 1.0
        if ok:
            tokens -= 1.0
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._prune(now)
        self._buckets[key] = (tokens, now)
        return ok

    def _prune(self, now: float) -> None:
        full = self.burst / self.rate if self.rate > 0 else 0.0
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full}
