"""Device (Smart Data Models 0.0.9) enforced on every write; SDM @contexts served locally.

Telemetry describes each device kind with the model's enums (``controlledProperty``,
``deviceCategory``); the broker refuses a Device that does not follow the model on create,
upsert, patch and the telemetry mirror; the Smart Data Models context URLs resolve from the
enabler's own files and nothing is fetched.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from mingyue.enablers.citygov.adapters import ngsi_remote
from mingyue.enablers.citygov.engine import telemetry as tele
from mingyue.enablers.citygov.engine.ngsi import context as jsonld
from mingyue.enablers.citygov.engine.ngsi import smartdata
from mingyue.enablers.citygov.engine.ngsi.errors import NgsiError
from mingyue.enablers.citygov.service import alarms, broker
from mingyue.sdk.errors import InvalidInput
from tests.enablers.citygov.citygov_ngsi_support import (
    BASE,
    CORE,
    js,
    ld,
    ngsi_client_fixture,  # noqa: F401 - registers the ngsi_client fixture
    point,
)

PROBLEM = "https://uri.etsi.org/ngsi-ld/errors/"
SDM_ALL = "https://smartdatamodels.org/context.jsonld"
SDM_DEVICE = "https://smart-data-models.github.io/dataModel.Device/context.jsonld"
AT = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _never_fetch(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(url: str) -> Any:
        raise AssertionError(f"fetched {url}")

    monkeypatch.setattr(ngsi_remote, "fetch_context", refuse)


def _device(eid: str, **attrs: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": eid,
        "type": "Device",
        "location": point(106.55, 29.56),
        "controlledProperty": {"type": "Property", "value": ["airPollution", "temperature"]},
        "deviceCategory": {"type": "Property", "value": ["sensor"]},
    }
    body.update(attrs)
    return body


# -- telemetry writes the model's enums --------------------------------------------------------


def test_every_device_kind_is_described_with_the_models_enums() -> None:
    controlled = set(smartdata.enum_of("Device", "controlledProperty"))
    categories = set(smartdata.enum_of("Device", "deviceCategory"))
    kinds = alarms.device_kinds()
    assert {"septic_tank", "ancient_tree", "bridge_weigh"} <= set(kinds)
    for kind in kinds.values():
        attrs = tele.device_attrs(kind)
        assert attrs["controlledProperty"]["value"], kind.key
        assert set(attrs["controlledProperty"]["value"]) <= controlled, kind.key
        assert set(attrs["deviceCategory"]["value"]) <= categories, kind.key
        view = {"id": tele.entity_id_of("d-1"), "type": "Device"}
        view.update({k: v["value"] for k, v in attrs.items()})
        assert smartdata.errors_of(smartdata.models()["Device"], view) == [], kind.key
    assert kinds["septic_tank"].controlled_properties == [
        "airPollution",
        "batteryLife",
        "temperature",
    ]
    assert "soilMoisture" in kinds["ancient_tree"].controlled_properties
    assert "motion" in kinds["ancient_tree"].controlled_properties  # tilt
    assert kinds["bridge_weigh"].controlled_properties == ["speed", "weight"]


def _kinds_doc(measure: dict[str, Any], category: str = "sensor") -> dict[str, Any]:
    return {
        "kinds": {
            "probe": {
                "title": {"zh": "探头", "en": "Probe"},
                "category": category,
                "measures": {"x": measure},
            }
        }
    }


def test_a_kind_names_its_sdm_value_and_a_wrong_one_is_refused() -> None:
    kinds = tele.parse_kinds(_kinds_doc({"type": "number", "sdm": "waterLevel"}))
    assert kinds["probe"].controlled_properties == ["waterLevel"]
    with pytest.raises(InvalidInput, match="controlledProperty"):
        tele.parse_kinds(_kinds_doc({"type": "number", "sdm": "methane"}))
    with pytest.raises(InvalidInput, match="no measure maps"):
        tele.parse_kinds(_kinds_doc({"type": "number"}))  # "x" is no SDM value
    with pytest.raises(InvalidInput, match="deviceCategory"):
        tele.parse_kinds(_kinds_doc({"type": "number", "sdm": "depth"}, category="probe"))


def test_the_shipped_rules_parse_with_sdm_values() -> None:
    from pathlib import Path

    import mingyue.enablers.citygov as pkg

    doc = yaml.safe_load((Path(pkg.__file__).parent / "rules" / "alarms.yaml").read_text())
    assert set(tele.parse_kinds(doc)) == set(alarms.device_kinds())


# -- the broker enforces the model ---------------------------------------------------------------


def test_device_is_enforced_on_write() -> None:
    vocab = jsonld.core_context().vocab or ""
    device = smartdata.models()["Device"]
    assert "Device" not in smartdata.NOT_ENFORCED
    assert smartdata.model_for([vocab + "Device"], vocab) == device
    assert smartdata.model_for([device.type_iri], vocab) == device


def test_the_mirror_writes_a_conforming_device_and_refuses_a_broken_one(
    tenants, actor_of, uow_as
) -> None:
    kind = alarms.device_kinds()["septic_tank"]
    reading = tele.Reading(observed_at=AT, values={"ch4": 12.0, "temperature": 18.5})
    org = tenants.a.org.id
    eid = tele.entity_id_of("st-0001")
    with uow_as(actor_of(tenants.a.member)) as uow:
        broker.upsert_entity_attrs(
            uow,
            org_id=org,
            entity_id=eid,
            entity_type="Device",
            attrs={"location": point(106.55, 29.56), **tele.ngsi_attrs(reading, kind)},
            observed_at=AT,
        )
        got = broker.get_entity(uow, org_id=org, entity_id=eid)
    assert got is not None
    with uow_as(actor_of(tenants.a.member)) as uow:
        ctx = broker.core_context()
        view = broker.render(
            broker.require_doc(uow, org_id=org, entity_id=eid),
            ctx,
            broker.RenderOptions(simplified=True),
        )
    assert view["controlledProperty"] == kind.controlled_properties
    assert view["deviceCategory"] == ["sensor"] and view["ch4"] == 12.0
    # the mirror path refuses what the model refuses, naming the attribute
    with pytest.raises(NgsiError) as err, uow_as(actor_of(tenants.a.member)) as uow:
        broker.upsert_entities_attrs(
            uow,
            [
                broker.AttrsUpdate(
                    org_id=org,
                    entity_id=eid,
                    entity_type="Device",
                    attrs={"controlledProperty": {"type": "Property", "value": ["ch4"]}},
                    observed_at=AT,
                )
            ],
        )
    assert err.value.status == 400 and "controlledProperty" in err.value.message
    # a new device written the old way (its kind as deviceCategory) is refused too
    with pytest.raises(NgsiError) as err, uow_as(actor_of(tenants.a.member)) as uow:
        broker.upsert_entity_attrs(
            uow,
            org_id=org,
            entity_id=tele.entity_id_of("st-0002"),
            entity_type="Device",
            attrs={
                "controlledProperty": {"type": "Property", "value": ["airPollution"]},
                "deviceCategory": {"type": "Property", "value": "septic_tank"},
            },
            observed_at=AT,
        )
    assert err.value.status == 400 and "deviceCategory" in err.value.message


def _problem(r: Any, status: int, kind: str, field: str | None = None) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["type"] == PROBLEM + kind, body
    if field:
        assert field in body["detail"], body


def test_the_api_refuses_a_non_conforming_device_on_create_upsert_and_patch(
    ngsi_client, tenants
) -> None:
    h = tenants.a.headers()
    good = {**_device("urn:ngsi-ld:Device:api-1"), "@context": [CORE]}
    r = ngsi_client.post(f"{BASE}/entities", json=good, headers=ld(h))
    assert r.status_code == 201, r.text
    # create: a measure name where the model wants its enum
    bad = {
        **_device(
            "urn:ngsi-ld:Device:api-2",
            controlledProperty={"type": "Property", "value": ["ch4"]},
        ),
        "@context": [CORE],
    }
    _problem(
        ngsi_client.post(f"{BASE}/entities", json=bad, headers=ld(h)),
        400,
        "BadRequestData",
        "controlledProperty",
    )
    # create without the required controlledProperty
    missing = {k: v for k, v in bad.items() if k != "controlledProperty"}
    _problem(
        ngsi_client.post(f"{BASE}/entities", json=missing, headers=ld(h)),
        400,
        "BadRequestData",
        "controlledProperty",
    )
    # batch upsert: the broken item fails, the good one is written
    items = [
        {**_device("urn:ngsi-ld:Device:api-3"), "@context": [CORE]},
        {
            **_device(
                "urn:ngsi-ld:Device:api-4",
                deviceCategory={"type": "Property", "value": "septic_tank"},
            ),
            "@context": [CORE],
        },
    ]
    r = ngsi_client.post(f"{BASE}/entityOperations/upsert", json=items, headers=ld(h))
    assert r.status_code == 207, r.text
    errors = r.json()["errors"]
    assert [e["entityId"] for e in errors] == ["urn:ngsi-ld:Device:api-4"]
    assert "deviceCategory" in json.dumps(errors)
    assert r.json()["success"] == ["urn:ngsi-ld:Device:api-3"]
    # append, patch, merge: an attribute of the stored device broken afterwards
    url = f"{BASE}/entities/urn:ngsi-ld:Device:api-1"
    _problem(
        ngsi_client.post(
            f"{url}/attrs",
            json={"batteryLevel": {"type": "Property", "value": 75}},
            headers=js(h),
        ),
        400,
        "BadRequestData",
        "batteryLevel",
    )
    _problem(
        ngsi_client.patch(
            f"{url}/attrs/controlledProperty", json={"value": ["tilt"]}, headers=js(h)
        ),
        400,
        "BadRequestData",
        "controlledProperty",
    )
    _problem(
        ngsi_client.patch(
            url,
            json={"deviceCategory": {"type": "Property", "value": ["thermometer"]}},
            headers=js(h),
        ),
        400,
        "BadRequestData",
        "deviceCategory",
    )
    r = ngsi_client.post(
        f"{url}/attrs", json={"batteryLevel": {"type": "Property", "value": 0.75}}, headers=js(h)
    )
    assert r.status_code == 204, r.text
    r = ngsi_client.get(url, params={"options": "keyValues"}, headers=h)
    assert r.json()["controlledProperty"] == ["airPollution", "temperature"]
    assert r.json()["batteryLevel"] == 0.75


# -- Smart Data Models @contexts, local -----------------------------------------------------------


def test_every_shipped_sdm_context_is_the_one_built_from_the_schemas() -> None:
    docs = jsonld.local_documents()
    domains = sorted({m.domain for m in smartdata.models().values()})
    assert domains == [
        "Alert",
        "Device",
        "IssueTracking",
        "Parking",
        "PointOfInterest",
        "WasteManagement",
    ]
    for domain in domains:
        for url in (
            f"https://smart-data-models.github.io/dataModel.{domain}/context.jsonld",
            f"https://raw.githubusercontent.com/smart-data-models/dataModel.{domain}/master/context.jsonld",
        ):
            path = docs[url]
            assert json.loads(path.read_text(encoding="utf-8")) == smartdata.context_document(
                domain
            ), url
    unified = docs[SDM_ALL]
    assert json.loads(unified.read_text(encoding="utf-8")) == smartdata.unified_context_document()
    ctx = json.loads(unified.read_text(encoding="utf-8"))["@context"]
    assert (
        ctx["controlledProperty"]
        == "https://smartdatamodels.org/dataModel.Device/controlledProperty"
    )
    assert (
        ctx["PointOfInterest"]
        == "https://smartdatamodels.org/dataModel.PointOfInterest/PointOfInterest"
    )
    assert ctx["name"] == "https://smartdatamodels.org/name"  # a common term


@pytest.mark.parametrize("context", [SDM_ALL, SDM_DEVICE])
def test_a_device_sent_with_an_sdm_context_resolves_locally_and_is_validated(
    ngsi_client, tenants, context: str
) -> None:
    h = tenants.a.headers()
    eid = f"urn:ngsi-ld:Device:ctx-{'all' if context == SDM_ALL else 'dev'}"
    body = _device(eid, category={"type": "Property", "value": ["sensor"]})
    r = ngsi_client.post(f"{BASE}/entities", json=body, headers=js(h, context))
    assert r.status_code == 201, r.text
    # the terms expanded to the Smart Data Models vocabulary
    r = ngsi_client.get(f"{BASE}/entities/{eid}", params={"options": "keyValues"}, headers=h)
    doc = r.json()
    assert doc["type"] == "https://smartdatamodels.org/dataModel.Device/Device"
    assert "https://smartdatamodels.org/dataModel.Device/controlledProperty" in doc
    r = ngsi_client.get(
        f"{BASE}/entities/{eid}", params={"options": "keyValues"}, headers=js(h, context)
    )
    assert r.json()["type"] == "Device"
    assert r.json()["controlledProperty"] == ["airPollution", "temperature"]
    # the model is enforced whatever context named the attributes
    bad = _device(eid + "-bad", category={"type": "Property", "value": ["thermometer"]})
    _problem(
        ngsi_client.post(f"{BASE}/entities", json=bad, headers=js(h, context)),
        400,
        "BadRequestData",
        "category",
    )


def test_an_unknown_remote_context_still_answers_503(ngsi_client, tenants) -> None:
    h = tenants.a.headers()
    for url in (
        "https://smartdatamodels.org/dataModel.Other/context.jsonld",
        "https://example.org/context.jsonld",
    ):
        body = {**_device("urn:ngsi-ld:Device:remote"), "@context": [url]}
        _problem(
            ngsi_client.post(f"{BASE}/entities", json=body, headers=ld(h)),
            503,
            "LdContextNotAvailable",
        )
