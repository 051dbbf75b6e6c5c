"""The telemetry mirror: a flush's entities in one SELECT, coalesced, copy-on-write merges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from mingyue.enablers.citygov.engine.ngsi.context import core_context
from mingyue.enablers.citygov.service import broker, broker_store
from mingyue.sdk import SYSTEM, unit_of_work

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
DEVS = [f"urn:ngsi-ld:Sensor:s-{i}" for i in range(3)]


def _prop(value: Any, unit: str = "P1") -> dict[str, Any]:
    return {"type": "Property", "value": value, "unitCode": unit}


def _seed(settings: Any, org_id: int) -> None:
    bodies = [
        {
            "id": eid,
            "type": "Sensor",
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [106.5 + i / 100, 29.5]},
            },
            "ch4": _prop(0.0),
        }
        for i, eid in enumerate(DEVS)
    ]
    with unit_of_work(SYSTEM, settings) as uow:
        broker.import_entities(uow, org_id=org_id, ctx=core_context(), bodies=bodies)


class _Selects:
    """Count the SELECTs on the entity table while active."""

    def __init__(self, uow: Any) -> None:
        self.engine = uow.session.get_bind()
        self.n = 0

    def _hook(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "citygov_ngsi_entity" in statement:
            self.n += 1

    def __enter__(self) -> _Selects:
        event.listen(self.engine, "before_cursor_execute", self._hook)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._hook)


def test_flush_mirrors_in_one_select_and_coalesces(settings, tenants) -> None:
    org = tenants.a.org.id
    _seed(settings, org)
    updates = [
        broker.AttrsUpdate(org, DEVS[0], "Sensor", {"ch4": _prop(1.0)}, T0),
        broker.AttrsUpdate(org, DEVS[1], "Sensor", {"ch4": _prop(2.0)}, T0),
        # the same device twice in one flush: one write, later values win per attribute
        broker.AttrsUpdate(
            org, DEVS[0], "Sensor", {"ch4": _prop(3.0), "h2s": _prop(0.5, "GP")}, T0
        ),
        broker.AttrsUpdate(org, DEVS[0], "Sensor", {"ch4": _prop(4.0)}, T0 + timedelta(seconds=1)),
        # an entity that does not exist yet is created
        broker.AttrsUpdate(org, "urn:ngsi-ld:Sensor:new", "Sensor", {"ch4": _prop(9.0)}, T0),
    ]
    with unit_of_work(SYSTEM, settings) as uow, _Selects(uow) as selects:
        writes = broker.upsert_entities_attrs(uow, updates)
        # the created entity looks itself up once (its create checks the id is free)
        assert selects.n == 2
    assert writes == 3
    with unit_of_work(SYSTEM, settings) as uow:
        e0 = broker.get_entity(uow, org_id=org, entity_id=DEVS[0])
        e1 = broker.get_entity(uow, org_id=org, entity_id=DEVS[1])
        e2 = broker.get_entity(uow, org_id=org, entity_id=DEVS[2])
        new = broker.get_entity(uow, org_id=org, entity_id="urn:ngsi-ld:Sensor:new")
    assert e0 is not None and e1 is not None and e2 is not None and new is not None
    assert e0["ch4"] == {
        "type": "Property",
        "value": 4.0,
        "observedAt": "2026-12-01T08:00:01.000Z",
        "unitCode": "P1",
    }
    assert e0["h2s"]["value"] == 0.5 and e0["h2s"]["observedAt"] == "2026-12-01T08:00:00.000Z"
    assert e0["location"]["value"]["coordinates"] == [106.5, 29.5]
    assert e1["ch4"]["value"] == 2.0 and e2["ch4"]["value"] == 0.0
    assert new["ch4"]["value"] == 9.0 and new["type"] == "Sensor"


def test_merge_leaves_the_stored_document_intact(settings, tenants) -> None:
    org = tenants.a.org.id
    _seed(settings, org)
    with unit_of_work(SYSTEM, settings) as uow:
        row = broker_store.find_row(uow, org, DEVS[0])
        assert row is not None
        before = row.doc
        snapshot = repr(before)
        broker.upsert_entities_attrs(
            uow,
            [
                broker.AttrsUpdate(
                    org,
                    DEVS[0],
                    "Sensor",
                    {
                        "ch4": _prop(5.0),
                        "location": {
                            "type": "GeoProperty",
                            "value": {"type": "Point", "coordinates": [106.6, 29.6]},
                        },
                    },
                    T0,
                )
            ],
        )
        # the old document (a subscription's "before") was not changed in place
        assert repr(before) == snapshot and row.doc is not before
        assert (row.lon, row.lat) == (106.6, 29.6)
    with unit_of_work(SYSTEM, settings) as uow:
        e0 = broker.get_entity(uow, org_id=org, entity_id=DEVS[0])
        near = broker.query_entities(
            uow,
            org_id=org,
            type_="Sensor",
            georel="near;maxDistance==100",
            geometry="Point",
            coordinates=[106.6, 29.6],
            q=None,
            limit=10,
        )
    assert e0 is not None and e0["ch4"]["value"] == 5.0
    assert [e["id"] for e in near] == [DEVS[0]]


def test_unchanged_values_are_not_written_again(settings, tenants) -> None:
    org = tenants.a.org.id
    _seed(settings, org)
    update = broker.AttrsUpdate(org, DEVS[1], "Sensor", {"ch4": _prop(7.0)}, T0)
    with unit_of_work(SYSTEM, settings) as uow:
        assert broker.upsert_entities_attrs(uow, [update]) == 1
    with unit_of_work(SYSTEM, settings) as uow:
        stamp = broker.get_doc(uow, org_id=org, entity_id=DEVS[1])
        # the same value at the same time: nothing to write; a new time is a change
        assert broker.upsert_entities_attrs(uow, [update]) == 0
        later = broker.AttrsUpdate(
            org, DEVS[1], "Sensor", {"ch4": _prop(7.0)}, T0 + timedelta(seconds=5)
        )
        assert broker.upsert_entities_attrs(uow, [later]) == 1
    assert stamp is not None and stamp["modifiedAt"]
