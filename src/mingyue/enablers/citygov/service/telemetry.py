"""Telemetry: the device registry, ingest (MQTT batches and HTTP), the readings, MQTT status.

Every message, whatever way it came, goes through ``Ingestor.store``: topic and device, rate
limit (flood), the payload checks of ``engine/telemetry.py`` (size, JSON object, the kind's
schema, future and replayed times), then in one transaction: readings inserted in one statement
(a reading already stored for the same device and time is a replay), the device's last values
and its alarms. The device's NGSI-LD entity gets the merged latest values at most
``MIRROR_EVERY_S`` later, once per device however many readings came (an HTTP reading at once):
``broker.upsert_entities_attrs`` mirrors all waiting devices with one SELECT, copy-on-write
merges and one flush — the entity shows the last value, not every one (the readings table
keeps every one). A rejected message is counted
by reason (per device and per process) and never stops the stream.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from mingyue.enablers.citygov.engine.alarms import Signal, evaluate, severity_rank
from mingyue.enablers.citygov.engine.telemetry import (
    DEVICE_ID,
    KIND,
    DeviceKind,
    RateLimiter,
    Reading,
    Rejection,
    device_attrs,
    entity_id_of,
    ngsi_attrs,
    parse_payload,
    parse_topic,
)
from mingyue.enablers.citygov.models_telemetry import CitygovDevice, CitygovReading
from mingyue.enablers.citygov.service import alarms, broker
from mingyue.enablers.citygov.settings import CitygovSettings, options
from mingyue.sdk import (
    SYSTEM,
    Actor,
    Settings,
    UnitOfWork,
    can,
    check,
    get_settings,
    get_visible,
    now,
    require_org,
    unit_of_work,
)
from mingyue.sdk.errors import (
    Conflict,
    InvalidInput,
    MingyueError,
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
)

MIRROR_EVERY_S = 0.5  # entities are mirrored at most this long after their device's reading
TOKEN_PREFIX = "myd_"  # noqa: S105 - the prefix of device tokens, not a secret
MAX_READINGS = 1000
DEVICE_TTL_S = 2.0  # a device row read for ingest is trusted this long (see ``Ingestor``)
MAX_KEPT_DEVICES = 200_000
_IN_CHUNK = 500


# -- registry ---------------------------------------------------------------------------------


class DeviceIn(BaseModel):
    """A device to register: its id (the last topic level), kind and place (WGS84)."""

    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(pattern=DEVICE_ID.pattern, description="Unique id, e.g. st-0012")
    kind: str = Field(pattern=KIND.pattern, description="A kind of rules/alarms.yaml")
    name: str = Field("", max_length=200)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    mqtt_username: str | None = Field(None, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")


class DeviceOut(BaseModel):
    """A registered device and its last state."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    device_id: str
    kind: str
    name: str
    lon: float | None
    lat: float | None
    entity_id: str
    mqtt_username: str | None
    active: bool
    created_at: datetime
    last_seen_at: datetime | None
    last_observed_at: datetime | None
    last_values: dict[str, Any]
    received: int
    rejected: dict[str, int]
    last_rejection: str | None
    last_rejected_at: datetime | None


class DeviceCreated(DeviceOut):
    """A device just registered (or its token rotated): the HTTP token, shown this once."""

    token: str


class ReadingOut(BaseModel):
    """One stored reading."""

    model_config = ConfigDict(from_attributes=True)

    observed_at: datetime
    received_at: datetime
    values: dict[str, Any]
    via: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _kind(key: str) -> DeviceKind:
    kinds = alarms.device_kinds()
    if key not in kinds:
        raise InvalidInput(
            "citygov.device.unknown_kind",
            f"unknown device kind {key!r}; known: {', '.join(sorted(kinds))}",
            field="kind",
        )
    return kinds[key]


def register_device(*, uow: UnitOfWork, actor: Actor, body: DeviceIn) -> DeviceCreated:
    """Register a device of the actor's organization; mirror it as an NGSI-LD ``Device``."""
    check(actor, "citygov.device.manage")
    org = require_org(actor)
    kind = _kind(body.kind)
    with uow.unscoped(reason="device ids are unique across organizations", record=False):
        taken = uow.session.scalars(
            select(CitygovDevice.id).where(CitygovDevice.device_id == body.device_id)
        ).first()
    if taken is not None:
        raise Conflict("citygov.device.exists", f"device {body.device_id} is already registered")
    token = TOKEN_PREFIX + secrets.token_urlsafe(24)
    device = CitygovDevice(
        organization_id=org,
        device_id=body.device_id,
        kind=body.kind,
        name=body.name,
        lon=body.lon,
        lat=body.lat,
        entity_id=entity_id_of(body.device_id),
        token_hash=_hash(token),
        mqtt_username=body.mqtt_username,
        created_by=actor.label(),
        last_values={},
        rejected={},
    )
    uow.session.add(device)
    uow.flush()
    attrs: dict[str, Any] = {
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [body.lon, body.lat]},
        },
        **device_attrs(kind),
    }
    if body.name:
        attrs["name"] = {"type": "Property", "value": body.name}
    broker.upsert_entity_attrs(
        uow,
        org_id=org,
        entity_id=device.entity_id,
        entity_type="Device",
        attrs=attrs,
        observed_at=now(),
    )
    forget_devices(uow.settings, [device.device_id])
    uow.audit(
        "citygov.device.registered",
        f"citygov_device:{device.id}",
        {"device_id": device.device_id, "kind": device.kind},
    )
    return DeviceCreated(**DeviceOut.model_validate(device).model_dump(), token=token)


def rotate_token(*, uow: UnitOfWork, actor: Actor, device_id: str) -> DeviceCreated:
    """Give a device a new HTTP token (the old one stops working at once)."""
    device = _device(uow, device_id, "citygov.device.manage")
    token = TOKEN_PREFIX + secrets.token_urlsafe(24)
    device.token_hash = _hash(token)
    uow.audit(
        "citygov.device.token_rotated", f"citygov_device:{device.id}", {"device_id": device_id}
    )
    return DeviceCreated(**DeviceOut.model_validate(device).model_dump(), token=token)


def _device(uow: UnitOfWork, device_id: str, permission: str) -> CitygovDevice:
    pk = uow.session.scalars(
        select(CitygovDevice.id).where(CitygovDevice.device_id == device_id)
    ).first()
    if pk is None:
        raise NotFound("citygov.device.not_found", f"no device {device_id}")
    return get_visible(uow, CitygovDevice, pk, permission, key="citygov.device.not_found")


def list_devices(
    *, uow: UnitOfWork, actor: Actor, kind: str | None = None, limit: int = 500
) -> list[DeviceOut]:
    """Devices the actor's scope reaches."""
    check(actor, "citygov.read")
    stmt = select(CitygovDevice).order_by(CitygovDevice.device_id).limit(max(1, min(limit, 5000)))
    if kind:
        stmt = stmt.where(CitygovDevice.kind == kind)
    return [DeviceOut.model_validate(d) for d in uow.session.scalars(stmt)]


def get_device(*, uow: UnitOfWork, actor: Actor, device_id: str) -> DeviceOut:
    """One device (404 when absent or another organization's)."""
    check(actor, "citygov.read")
    return DeviceOut.model_validate(_device(uow, device_id, "citygov.read"))


def list_readings(
    *,
    uow: UnitOfWork,
    actor: Actor,
    device_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> list[ReadingOut]:
    """A device's readings, newest first (at most ``MAX_READINGS``)."""
    check(actor, "citygov.read")
    device = _device(uow, device_id, "citygov.read")
    stmt = select(CitygovReading).where(CitygovReading.device_pk == device.id)
    if since is not None:
        stmt = stmt.where(CitygovReading.observed_at >= since)
    if until is not None:
        stmt = stmt.where(CitygovReading.observed_at < until)
    stmt = stmt.order_by(CitygovReading.observed_at.desc()).limit(max(1, min(limit, MAX_READINGS)))
    return [ReadingOut.model_validate(r) for r in uow.session.scalars(stmt)]


# -- ingest -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Incoming:
    """A message as it came: its topic (or the HTTP path's kind and id) and payload."""

    topic: str
    payload: bytes
    received_at: datetime
    via: str = "mqtt"


@dataclass
class Outcome:
    """What became of one message: stored, or refused with a reason."""

    stored: bool
    reason: str | None = None
    detail: str = ""
    observed_at: datetime | None = None


@dataclass
class Counters:
    """What this process has taken in since it started (shown by ``mqtt_status``)."""

    received: int = 0
    stored: int = 0
    batches: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


@dataclass
class _Mirror:
    """A device's latest values waiting to be mirrored into its entity."""

    org_id: int
    entity_id: str
    attrs: dict[str, Any]
    latest: datetime


_DEVICE_COLUMNS = (
    CitygovDevice.id,
    CitygovDevice.organization_id,
    CitygovDevice.device_id,
    CitygovDevice.kind,
    CitygovDevice.name,
    CitygovDevice.lon,
    CitygovDevice.lat,
    CitygovDevice.entity_id,
    CitygovDevice.active,
    CitygovDevice.last_observed_at,
    CitygovDevice.last_values,
)


@dataclass
class _Device:
    """What ingest needs of a device row, kept by the process for ``DEVICE_TTL_S``."""

    id: int
    organization_id: int
    device_id: str
    kind: str
    name: str
    lon: float | None
    lat: float | None
    entity_id: str
    active: bool
    last_observed_at: datetime | None
    last_values: dict[str, Any]
    fetched: float = 0.0


def _insert(uow: UnitOfWork, *, returning: bool) -> Any:
    dialect = uow.session.get_bind().dialect.name
    mod = postgresql if dialect == "postgresql" else sqlite
    stmt = mod.insert(CitygovReading).on_conflict_do_nothing(
        index_elements=["device_pk", "observed_at"]
    )
    return (
        stmt.returning(CitygovReading.device_pk, CitygovReading.observed_at) if returning else stmt
    )


_DEVICE_STATE = (
    update(CitygovDevice.__table__)  # type: ignore[arg-type]
    .where(CitygovDevice.__table__.c.id == bindparam("b_id"))
    .values(
        last_values=bindparam("b_values"),
        last_observed_at=bindparam("b_observed"),
        last_seen_at=bindparam("b_seen"),
        received=CitygovDevice.__table__.c.received + bindparam("b_n"),
    )
)


class Ingestor:
    """Checks and stores messages; holds the per-device rate limits of this process.

    It also keeps the device rows it needs (``_Device``) for ``DEVICE_TTL_S``: a batch reads
    only devices it has not seen lately (one SELECT a few seconds instead of one a batch). A
    change made in this process drops the entry at once (``forget_devices``); one made in
    another process shows within the TTL. The entries' last state (time and values) moves
    with each batch and is dropped whenever a batch does not commit, so a message sent again
    after a failure is judged against what is stored, never against what was rolled back.
    """

    def __init__(self, opts: CitygovSettings) -> None:
        self.opts = opts
        self.limiter = RateLimiter(opts.telemetry_rate_per_s, float(opts.telemetry_burst))
        self.counters = Counters()
        self.lock = threading.Lock()
        self.pending: dict[int, _Mirror] = {}
        self.last_mirror = 0.0
        self.devices: dict[str, _Device] = {}

    def forget_devices(self, device_ids: Sequence[str] | None = None) -> None:
        """Drop kept device rows (all of them without ``device_ids``): they are read again."""
        with self.lock:
            if device_ids is None:
                self.devices.clear()
            else:
                for d in device_ids:
                    self.devices.pop(d, None)

    def store(
        self, uow: UnitOfWork, batch: Sequence[Incoming], *, mirror_now: bool = False
    ) -> list[Outcome]:
        """Check and store a batch in the caller's unit of work (see the module docstring).

        The devices' entities are mirrored with the batch when ``mirror_now`` or when the last
        mirror is ``MIRROR_EVERY_S`` old; otherwise their latest values wait (merged) for the
        next batch or ``mirror_pending``. The caller calls ``failed`` when the unit of work
        does not commit.
        """
        with self.lock:
            kept = {
                pk: _Mirror(m.org_id, m.entity_id, dict(m.attrs), m.latest)
                for pk, m in self.pending.items()
            }
            try:
                out = self._store(uow, batch)
                if mirror_now or time.monotonic() - self.last_mirror >= MIRROR_EVERY_S:
                    self._mirror(uow)
            except BaseException:
                self.pending = kept  # the transaction will not commit: keep what was pending
                self.devices.clear()
                raise
            return out

    def failed(self) -> None:
        """Forget the kept device state: the batch it came from did not commit."""
        with self.lock:
            self.devices.clear()

    def mirror_pending(self, uow: UnitOfWork) -> int:
        """Mirror every device whose latest values wait; return how many."""
        with self.lock:
            kept = dict(self.pending)
            try:
                return self._mirror(uow)
            except BaseException:
                self.pending = kept
                raise

    def _mirror(self, uow: UnitOfWork) -> int:
        pending, self.pending = self.pending, {}
        # one SELECT for the flush's entities and one flush at the commit (executemany)
        with uow.session.no_autoflush:
            broker.upsert_entities_attrs(
                uow,
                [
                    broker.AttrsUpdate(
                        org_id=m.org_id,
                        entity_id=m.entity_id,
                        entity_type="Device",
                        attrs=m.attrs,
                        observed_at=m.latest,
                    )
                    for m in pending.values()
                ],
            )
        self.last_mirror = time.monotonic()
        return len(pending)

    def _lookup(self, uow: UnitOfWork, ids: set[str], mono: float) -> dict[str, _Device]:
        """Return the batch's devices, reading those not kept (or kept too long) in one SELECT."""
        stale = sorted(
            i for i in ids if (d := self.devices.get(i)) is None or mono - d.fetched > DEVICE_TTL_S
        )
        if stale:
            for start in range(0, len(stale), _IN_CHUNK):
                rows = uow.session.execute(
                    select(*_DEVICE_COLUMNS).where(
                        CitygovDevice.device_id.in_(stale[start : start + _IN_CHUNK])
                    )
                )
                for r in rows:
                    self.devices[r.device_id] = _Device(**r._asdict(), fetched=mono)
            for i in stale:  # gone since it was kept (no negative entries: a new one counts)
                if (d := self.devices.get(i)) is not None and d.fetched != mono:
                    del self.devices[i]
            if len(self.devices) > MAX_KEPT_DEVICES:
                self.devices = {k: v for k, v in self.devices.items() if k in ids}
        return {i: d for i in ids if (d := self.devices.get(i)) is not None}

    def _store(self, uow: UnitOfWork, batch: Sequence[Incoming]) -> list[Outcome]:
        kinds = alarms.device_kinds()
        parsed = [parse_topic(m.topic) for m in batch]
        mono = time.monotonic()
        devices = self._lookup(uow, {p[1] for p in parsed if p is not None}, mono)
        last_obs = {d.id: d.last_observed_at for d in devices.values()}
        outcomes: list[Outcome] = []
        accepted: list[tuple[_Device, Reading, Incoming]] = []
        rejected: list[tuple[_Device, Rejection, datetime]] = []
        for msg, where in zip(batch, parsed, strict=True):
            result: Reading | Rejection
            device = devices.get(where[1]) if where else None
            if where is None:
                result = Rejection("bad_topic", "the topic must be city/<kind>/<deviceId>")
            elif device is None or not device.active:
                result = Rejection("unknown_device", f"no active device {where[1]}")
            elif device.kind != where[0] or device.kind not in kinds:
                result = Rejection("kind_mismatch", f"device {device.device_id} is a {device.kind}")
            elif not self.limiter.allow(device.device_id, mono):
                result = Rejection("rate", "the device sends faster than its rate limit")
            else:
                result = parse_payload(
                    msg.payload,
                    kinds[device.kind],
                    received_at=msg.received_at,
                    max_bytes=self.opts.telemetry_max_bytes,
                    max_skew_s=self.opts.telemetry_max_skew_s,
                    last_observed=last_obs[device.id],
                )
            if isinstance(result, Rejection):
                outcomes.append(Outcome(False, result.reason, result.detail))
                if device is not None:
                    rejected.append((device, result, msg.received_at))
            else:
                assert device is not None  # noqa: S101 - set whenever a reading was parsed
                last_obs[device.id] = result.observed_at
                outcomes.append(Outcome(True, observed_at=result.observed_at))
                accepted.append((device, result, msg))
        stored = self._insert(uow, accepted)
        for i, out in enumerate(outcomes):
            if out.stored and (id(batch[i]), out.observed_at) not in stored:
                out.stored, out.reason = False, "replay"
                out.detail = "a reading of this device at this time is already stored"
        if rejected:
            self._count_rejections(uow, rejected)
        self._after_store(uow, [a for a in accepted if (id(a[2]), a[1].observed_at) in stored])
        self.counters.received += len(batch)
        self.counters.batches += 1
        for out in outcomes:
            if out.stored:
                self.counters.stored += 1
            else:
                self.counters.rejected[out.reason or "?"] += 1
        return outcomes

    @staticmethod
    def _count_rejections(
        uow: UnitOfWork, rejected: list[tuple[_Device, Rejection, datetime]]
    ) -> None:
        # the ORM row (a flood of refusals reads it once a batch; accepted messages never do)
        for dev, rej, at in rejected:
            device = uow.session.get(CitygovDevice, dev.id)
            if device is None:
                continue
            counts = dict(device.rejected or {})
            counts[rej.reason] = int(counts.get(rej.reason, 0)) + 1
            device.rejected = counts
            device.last_rejection = f"{rej.reason}: {rej.detail}"[:240]
            device.last_rejected_at = at

    @staticmethod
    def _insert(
        uow: UnitOfWork, accepted: list[tuple[_Device, Reading, Incoming]]
    ) -> set[tuple[int, datetime]]:
        if not accepted:
            return set()
        rows = [
            {
                "organization_id": d.organization_id,
                "device_pk": d.id,
                "observed_at": r.observed_at,
                "received_at": m.received_at,
                "values": r.values,
                "via": m.via,
            }
            for d, r, m in accepted
        ]
        conn = uow.session.connection()
        # Core, not the ORM's bulk path: a quarter of the cost per row, same transaction. The
        # batch's times are checked against each device's last one, so a conflict is rare (a
        # reading stored by another process). On SQLite the insert runs without RETURNING
        # (sqlite3's executemany, in C) in a savepoint, and only when a row was skipped is it
        # run again, returning what it stored. On PostgreSQL RETURNING is what batches the
        # rows into one multi-VALUES statement (SQLAlchemy's insertmanyvalues); without it
        # psycopg sends a statement per row, measured 40 % slower.
        if conn.dialect.name != "postgresql":
            with conn.begin_nested() as savepoint:
                if conn.execute(_insert(uow, returning=False), rows).rowcount == len(rows):
                    return {(id(m), r.observed_at) for d, r, m in accepted}
                savepoint.rollback()
        inserted: set[tuple[int, datetime]] = set()
        for row in conn.execute(_insert(uow, returning=True), rows):
            pk: int = row[0]
            at: datetime = row[1]
            inserted.add((int(pk), at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)))
        return {(id(m), r.observed_at) for d, r, m in accepted if (d.id, r.observed_at) in inserted}

    def _after_store(
        self, uow: UnitOfWork, accepted: list[tuple[_Device, Reading, Incoming]]
    ) -> None:
        by_device: dict[int, list[tuple[Reading, Incoming]]] = {}
        devices: dict[int, _Device] = {}
        for d, r, m in accepted:
            by_device.setdefault(d.id, []).append((r, m))
            devices[d.id] = d
        if not by_device:
            return
        opened = alarms.open_alarms(uow, by_device)
        self._per_device(uow, by_device, devices, opened)

    def _per_device(
        self,
        uow: UnitOfWork,
        by_device: dict[int, list[tuple[Reading, Incoming]]],
        devices: dict[int, _Device],
        opened: dict[tuple[int, str], Any],
    ) -> None:
        kinds = alarms.device_kinds()
        states: list[dict[str, Any]] = []
        for pk, items in by_device.items():
            device, kind = devices[pk], kinds[devices[pk].kind]
            items.sort(key=lambda it: it[0].observed_at)
            values: dict[str, Any] = dict(device.last_values or {})
            signals = []
            for reading, _ in items:
                for rule in kind.rules:
                    if rule.condition == "silent":
                        # any reading ends a silence
                        if (pk, rule.type) in opened:
                            signals.append((_silence_over(rule.type), reading.observed_at))
                        continue
                    if rule.measure not in reading.values:
                        continue
                    prev = values.get(rule.measure)
                    previous = (float(prev[0]), datetime.fromisoformat(prev[1])) if prev else None
                    sig = evaluate(
                        rule,
                        value=reading.values[rule.measure],
                        at=reading.observed_at,
                        previous=previous,
                    )
                    if sig is not None:
                        signals.append((sig, reading.observed_at))
                iso = reading.observed_at.isoformat()
                for name, value in reading.values.items():
                    values[name] = [value, iso]
            # the entity shows each measure's last value: only the last reading of each counts
            attrs: dict[str, Any] = {}
            for reading, _ in reversed(items):
                if not reading.values.keys() <= attrs.keys():
                    fresh = {k: v for k, v in reading.values.items() if k not in attrs}
                    attrs.update(ngsi_attrs(Reading(reading.observed_at, fresh), kind))
            latest = items[-1][0].observed_at
            device.last_values = values
            device.last_observed_at = max(device.last_observed_at or latest, latest)
            states.append(
                {
                    "b_id": pk,
                    "b_values": values,
                    "b_observed": device.last_observed_at,
                    "b_seen": max(m.received_at for _, m in items),
                    "b_n": len(items),
                }
            )
            pending = self.pending.get(pk)
            if pending is None:
                self.pending[pk] = _Mirror(device.organization_id, device.entity_id, attrs, latest)
            else:
                pending.attrs.update(attrs)
                pending.latest = max(pending.latest, latest)
            if signals:
                alarms.apply_signals(uow, device=device, kind=kind, signals=signals, opened=opened)
        # the devices' last state in one executemany UPDATE (``received`` counted by the
        # database, so another process's readings add up)
        uow.session.connection().execute(_DEVICE_STATE, states)


def _silence_over(rule_type: str) -> Signal:
    return Signal(rule_type, False, "minor", None, 0.0)


# -- the process-wide ingestor and HTTP ingest ------------------------------------------------

_INGESTORS: dict[tuple[str, CitygovSettings], Ingestor] = {}
_INGESTORS_LOCK = threading.Lock()


def ingestor(settings: Settings) -> Ingestor:
    """Return this process's ingestor for these settings (one rate-limit table per process)."""
    key = (str(settings.data_dir), options(settings))
    with _INGESTORS_LOCK:
        if key not in _INGESTORS:
            _INGESTORS[key] = Ingestor(key[1])
        return _INGESTORS[key]


def store_batch(
    settings: Settings, batch: Sequence[Incoming], *, mirror_now: bool = False
) -> list[Outcome]:
    """Store a batch of messages in one transaction of the platform (system actor)."""
    ing = ingestor(settings)
    try:
        with unit_of_work(SYSTEM, settings) as uow:
            return ing.store(uow, batch, mirror_now=mirror_now)
    except BaseException:
        ing.failed()
        raise


def forget_devices(settings: Settings, device_ids: Sequence[str] | None = None) -> None:
    """Make this process's ingest read these devices (all without ids) again at their next
    message: call it after changing a device row (kind, place, active, organization)."""
    ingestor(settings).forget_devices(device_ids)


def mirror_pending(settings: Settings) -> int:
    """Mirror the entities whose latest values wait (the subscriber calls it when idle)."""
    ing = ingestor(settings)
    if not ing.pending:
        return 0
    with unit_of_work(SYSTEM, settings) as uow:
        return ing.mirror_pending(uow)


_ERRORS: dict[str, type[MingyueError]] = {
    "too_large": PayloadTooLarge,
    "rate": QuotaExceeded,
    "replay": Conflict,
    "unknown_device": NotFound,
}


def ingest_http(
    *,
    settings: Settings,
    actor: Actor | None,
    device_token: str | None,
    kind: str,
    device_id: str,
    payload: bytes,
) -> Outcome:
    """Store one message POSTed by its device (its token) or its organization (a member's token).

    A device of another organization answers 404, as an absent one does; a refused message
    answers the status of its reason (413, 422, 409 replay, 429 flood) and is counted.
    """
    if not DEVICE_ID.match(device_id) or not KIND.match(kind):
        raise NotFound("citygov.device.not_found", f"no device {device_id[:64]}")
    with unit_of_work(SYSTEM, settings) as uow:
        device = uow.session.scalars(
            select(CitygovDevice).where(CitygovDevice.device_id == device_id)
        ).first()
        if device_token is not None:
            if (
                device is None
                or not device.token_hash
                or not hmac.compare_digest(device.token_hash, _hash(device_token))
            ):
                raise NotAuthenticated("citygov.device.bad_token", "unknown device token")
        else:
            if actor is None:
                raise NotAuthenticated("core.auth.required", "authentication required")
            if device is None:
                raise NotFound("citygov.device.not_found", f"no device {device_id}")
            check(actor, "citygov.telemetry.ingest", device)  # another org's device: 404
    msg = Incoming(f"city/{kind}/{device_id}", payload, now(), via="http")
    out = store_batch(settings, [msg], mirror_now=True)[0]
    if not out.stored:
        err = _ERRORS.get(out.reason or "", InvalidInput)
        raise err(f"citygov.telemetry.{out.reason}", out.detail, field="payload")
    return out


# -- MQTT status (shared between processes through a small file) -----------------------------

STATUS_FRESH_S = 15.0


def status_path(settings: Settings) -> Path:
    """Where the active subscriber writes its status."""
    return Path(settings.data_dir) / "run" / "citygov-mqtt.json"


def write_status(settings: Settings, status: dict[str, Any]) -> None:
    """Write the subscriber's status atomically (the console of any process reads it)."""
    path = status_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({**status, "updated": time.time()}), encoding="utf-8")
    tmp.replace(path)


def mqtt_status(settings: Settings | None = None) -> dict[str, Any]:
    """Return the MQTT subscriber's state for the console: ``state`` is one of
    ``connected``, ``connecting``, ``down`` (no broker answers; ``last_error`` says why),
    ``off`` (no subscriber runs); with ``url`` (no password), ``topic``, ``client_id``,
    ``since``, counters ``received``/``stored``/``rejected`` (by reason) and ``http`` (HTTP
    ingest works whatever the state)."""
    s = settings or get_settings()
    base: dict[str, Any] = {"state": "off", "url": "", "http": True}
    try:
        doc = json.loads(status_path(s).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return base
    if not isinstance(doc, dict) or time.time() - float(doc.get("updated", 0)) > STATUS_FRESH_S:
        return base
    return {**base, **doc}


# -- console helpers (C1's pages render them) --------------------------------------------------


def alarm_panel(*, uow: UnitOfWork, actor: Actor, limit: int = 50) -> dict[str, Any]:
    """Return the context of ``templates/citygov/_alarms.html`` (open alarms, counts, MQTT)."""
    return {
        "alarms": alarms.list_alarms(uow=uow, actor=actor, status="open", limit=limit),
        "counts": alarms.count_open(uow=uow, actor=actor),
        "mqtt": mqtt_status(uow.settings),
        "can_handle": can(actor, "citygov.alarm.handle"),
    }


def device_layer(*, uow: UnitOfWork, actor: Actor, kind: str | None = None) -> dict[str, Any]:
    """Return the devices as a GeoJSON FeatureCollection for the map, each with the severity
    of its worst open alarm (``alarm``: null when none) and when it was last heard."""
    check(actor, "citygov.read")
    worst: dict[str, str] = {}
    for a in alarms.list_alarms(uow=uow, actor=actor, status="open", limit=alarms.MAX_LIST):
        if a.device_id not in worst or severity_rank(a.severity) > severity_rank(
            worst[a.device_id]
        ):
            worst[a.device_id] = a.severity
    features = [
        {
            "type": "Feature",
            "id": d.device_id,
            "geometry": {"type": "Point", "coordinates": [d.lon, d.lat]},
            "properties": {
                "kind": d.kind,
                "name": d.name,
                "alarm": worst.get(d.device_id),
                "last_seen_at": d.last_seen_at.isoformat() if d.last_seen_at else None,
            },
        }
        for d in list_devices(uow=uow, actor=actor, kind=kind, limit=5000)
        if d.lon is not None and d.lat is not None
    ]
    return {"type": "FeatureCollection", "features": features}
