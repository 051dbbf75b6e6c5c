"""Ingest throughput paths: kept device rows, the savepoint insert, failures, the queue drain."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiomqtt
import pytest
from sqlalchemy import event, select, update

from mingyue.enablers.citygov.adapters.mqtt import Subscription
from mingyue.enablers.citygov.models_telemetry import CitygovDevice, CitygovReading
from mingyue.enablers.citygov.service import broker, telemetry
from mingyue.sdk import SYSTEM, unit_of_work

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def _msg(device: str, seconds: int, **values: float) -> telemetry.Incoming:
    body = {"ts": (T0 + timedelta(seconds=seconds)).isoformat(), **(values or {"ch4": 1.0})}
    return telemetry.Incoming(
        f"city/septic_tank/{device}", json.dumps(body).encode(), datetime.now(UTC)
    )


def _register(settings: Any, actor: Any, *ids: str) -> None:
    with unit_of_work(actor, settings) as uow:
        for i, d in enumerate(ids):
            telemetry.register_device(
                uow=uow,
                actor=actor,
                body=telemetry.DeviceIn(
                    device_id=d, kind="septic_tank", lon=106.5 + i / 100, lat=29.5
                ),
            )


class _Statements:
    """Count the statements on a table while active."""

    def __init__(self, settings: Any, verb: str, table: str) -> None:
        with unit_of_work(SYSTEM, settings) as uow:
            self.engine = uow.session.get_bind()
        self.verb, self.table, self.n = verb, table, 0

    def _hook(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        s = statement.lstrip().upper()
        if s.startswith(self.verb) and self.table.upper() in s.split("WHERE")[0]:
            self.n += 1

    def __enter__(self) -> _Statements:
        event.listen(self.engine, "before_cursor_execute", self._hook)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._hook)


def _readings(settings: Any, device: str) -> list[tuple[datetime, dict[str, Any]]]:
    with unit_of_work(SYSTEM, settings) as uow:
        pk = uow.session.scalars(
            select(CitygovDevice.id).where(CitygovDevice.device_id == device)
        ).one()
        rows = uow.session.execute(
            select(CitygovReading.observed_at, CitygovReading.values)
            .where(CitygovReading.device_pk == pk)
            .order_by(CitygovReading.observed_at)
        )
        return [(at, values) for at, values in rows]


def _device(settings: Any, device: str) -> CitygovDevice:
    with unit_of_work(SYSTEM, settings) as uow:
        row = uow.session.scalars(
            select(CitygovDevice).where(CitygovDevice.device_id == device)
        ).one()
        uow.session.expunge(row)
        return row


def test_device_rows_are_kept_and_state_is_written(settings, tenants, actor_of) -> None:
    _register(settings, actor_of(tenants.a.admin), "kc-1", "kc-2")
    out = telemetry.store_batch(
        settings, [_msg("kc-1", 1, ch4=1.0, h2s=2.0), _msg("kc-2", 1), _msg("kc-1", 2, ch4=3.0)]
    )
    assert [o.stored for o in out] == [True, True, True]
    # the next batches read no device row: the process keeps them (and their last state)
    with _Statements(settings, "SELECT", "citygov_device") as selects:
        out = telemetry.store_batch(settings, [_msg("kc-1", 3, ch4=4.0), _msg("kc-2", 2)])
    assert selects.n == 0
    # a refusal is counted on the device's row (read then: refusals are the rare path)
    out += telemetry.store_batch(settings, [_msg("kc-1", 3, ch4=9.0)])  # a replay
    assert [(o.stored, o.reason) for o in out] == [(True, None), (True, None), (False, "replay")]
    dev = _device(settings, "kc-1")
    # the database counts; values merge measure by measure, each with its own time
    assert dev.received == 3
    assert dev.last_values["ch4"] == [4.0, (T0 + timedelta(seconds=3)).isoformat()]
    assert dev.last_values["h2s"] == [2.0, (T0 + timedelta(seconds=1)).isoformat()]
    assert dev.last_observed_at == T0 + timedelta(seconds=3)
    assert dev.last_seen_at is not None
    assert [v["ch4"] for _, v in _readings(settings, "kc-1")] == [1.0, 3.0, 4.0]
    telemetry.mirror_pending(settings)  # what the subscriber does in a quiet spell
    with unit_of_work(SYSTEM, settings) as uow:
        entity = broker.get_entity(
            uow, org_id=tenants.a.org.id, entity_id="urn:ngsi-ld:Device:kc-1"
        )
    assert entity is not None
    assert entity["ch4"]["value"] == 4.0 and entity["h2s"]["value"] == 2.0
    assert entity["h2s"]["observedAt"].startswith((T0 + timedelta(seconds=1)).strftime("%Y-%m-%d"))


def test_a_change_elsewhere_shows_within_the_ttl(settings, tenants, actor_of, monkeypatch) -> None:
    _register(settings, actor_of(tenants.a.admin), "kc-1")
    assert telemetry.store_batch(settings, [_msg("kc-1", 1)])[0].stored
    # another process deactivates the device: this one keeps its row until the TTL ends…
    with unit_of_work(SYSTEM, settings) as uow:
        uow.session.execute(
            update(CitygovDevice).where(CitygovDevice.device_id == "kc-1").values(active=False)
        )
    assert telemetry.store_batch(settings, [_msg("kc-1", 2)])[0].stored
    # …then reads it again and refuses
    monkeypatch.setattr(telemetry, "DEVICE_TTL_S", 0.0)
    out = telemetry.store_batch(settings, [_msg("kc-1", 3)])[0]
    assert (out.stored, out.reason) == (False, "unknown_device")
    # a change in this process is seen at once (forget_devices)
    monkeypatch.setattr(telemetry, "DEVICE_TTL_S", 3600.0)
    with unit_of_work(SYSTEM, settings) as uow:
        uow.session.execute(
            update(CitygovDevice).where(CitygovDevice.device_id == "kc-1").values(active=True)
        )
    telemetry.forget_devices(settings, ["kc-1"])
    assert telemetry.store_batch(settings, [_msg("kc-1", 4)])[0].stored
    # a device registered after its messages were refused is taken at once (no negative entry)
    assert telemetry.store_batch(settings, [_msg("kc-9", 1)])[0].reason == "unknown_device"
    _register(settings, actor_of(tenants.a.admin), "kc-9")
    assert telemetry.store_batch(settings, [_msg("kc-9", 1)])[0].stored


def test_a_batch_that_does_not_commit_is_stored_when_sent_again(
    settings, tenants, actor_of, monkeypatch
) -> None:
    _register(settings, actor_of(tenants.a.admin), "kc-1")
    assert telemetry.store_batch(settings, [_msg("kc-1", 1)])[0].stored
    batch = [_msg("kc-1", 2, ch4=2.0), _msg("kc-1", 3, ch4=3.0)]

    def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("database went away")

    monkeypatch.setattr(broker, "upsert_entities_attrs", broken)
    with pytest.raises(RuntimeError):
        telemetry.store_batch(settings, batch, mirror_now=True)
    monkeypatch.undo()
    # the broker sends the unacknowledged messages again: stored, not taken for replays
    out = telemetry.store_batch(settings, batch)
    assert [(o.stored, o.reason) for o in out] == [(True, None), (True, None)]
    assert [v["ch4"] for _, v in _readings(settings, "kc-1")] == [1.0, 2.0, 3.0]
    assert _device(settings, "kc-1").received == 3


def test_a_reading_stored_elsewhere_is_a_replay_and_the_rest_is_kept(
    settings, tenants, actor_of
) -> None:
    _register(settings, actor_of(tenants.a.admin), "kc-1", "kc-2")
    assert telemetry.store_batch(settings, [_msg("kc-1", 1), _msg("kc-2", 1)])[0].stored
    # another process stores kc-1 at t=5 after this one read the device (its row is kept)
    with unit_of_work(SYSTEM, settings) as uow:
        dev = uow.session.scalars(
            select(CitygovDevice).where(CitygovDevice.device_id == "kc-1")
        ).one()
        uow.session.add(
            CitygovReading(
                organization_id=dev.organization_id,
                device_pk=dev.id,
                observed_at=T0 + timedelta(seconds=5),
                received_at=datetime.now(UTC),
                values={"ch4": 7.0},
                via="http",
            )
        )
    with _Statements(settings, "INSERT", "citygov_reading") as inserts:
        out = telemetry.store_batch(
            settings, [_msg("kc-1", 4), _msg("kc-1", 5), _msg("kc-2", 2), _msg("kc-1", 6)]
        )
    # SQLite: the insert without RETURNING skipped a row, so the one with RETURNING ran too;
    # PostgreSQL inserts with RETURNING at once (one multi-VALUES statement)
    assert inserts.n == (1 if inserts.engine.dialect.name == "postgresql" else 2)
    assert [(o.stored, o.reason) for o in out] == [
        (True, None),
        (False, "replay"),
        (True, None),
        (True, None),
    ]
    assert [v["ch4"] for _, v in _readings(settings, "kc-1")] == [1.0, 1.0, 7.0, 1.0]
    assert _device(settings, "kc-1").received == 3  # its own two and the first batch's
    assert len(_readings(settings, "kc-2")) == 2


def test_refusals_are_counted_on_the_device(settings, tenants, actor_of) -> None:
    _register(settings, actor_of(tenants.a.admin), "kc-1")
    bad = telemetry.Incoming("city/septic_tank/kc-1", b"{not json", datetime.now(UTC))
    future = _msg("kc-1", 7200)
    out = telemetry.store_batch(settings, [bad, _msg("kc-1", 1), future, bad])
    assert [o.reason for o in out] == ["not_json", None, "future", "not_json"]
    dev = _device(settings, "kc-1")
    assert dev.rejected == {"not_json": 2, "future": 1} and dev.received == 1
    assert dev.last_rejection is not None and dev.last_rejection.startswith("not_json")


def test_the_drain_keeps_the_order_of_arrival() -> None:
    async def scenario() -> list[list[int]]:
        client = aiomqtt.Client("127.0.0.1", 1)  # never connected: only its queue is used
        sub = Subscription(client)

        def put(mid: int) -> None:
            client._queue.put_nowait(
                aiomqtt.Message(
                    "city/septic_tank/kc-1", b"{}", qos=1, retain=False, mid=mid, properties=None
                )
            )

        got: list[list[int]] = []
        # nothing queued: the read stays pending across calls
        got.append([m.mid for m in await sub.batch(max_n=3, first_wait_s=0.01, gather_s=0.01)])
        for mid in range(1, 6):
            put(mid)
        got.append([m.mid for m in await sub.batch(max_n=3, first_wait_s=0.5, gather_s=0.01)])
        put(6)
        got.append([m.mid for m in await sub.batch(max_n=10, first_wait_s=0.5, gather_s=0.05)])
        sub.close()
        return got

    assert asyncio.run(scenario()) == [[], [1, 2, 3], [4, 5, 6]]
