"""Smart Data Models: Device, DeviceMeasurement, PointOfInterest and Alert validated offline.

The valid payloads are the programme's own key-values examples (fixtures/sdm/SOURCE.md); each
invalid one is that example with one attribute broken the way a real client breaks it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from referencing.exceptions import Unresolvable

from mingyue.enablers.citygov.engine.ngsi import smartdata
from mingyue.enablers.citygov.engine.ngsi.context import core_context
from mingyue.enablers.citygov.engine.ngsi.errors import NgsiError
from mingyue.enablers.citygov.service import broker

FIXTURES = Path(__file__).parent / "fixtures" / "sdm"
NEW_TYPES = ("Device", "DeviceMeasurement", "PointOfInterest", "Alert")


def example(type_name: str) -> dict[str, Any]:
    """Return the programme's key-values example of a type."""
    return json.loads((FIXTURES / f"{type_name.lower()}.json").read_text(encoding="utf-8"))


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_the_four_types_are_known_with_their_domain() -> None:
    models = smartdata.models()
    assert set(NEW_TYPES) <= set(models)
    assert models["Device"].type_iri == "https://smartdatamodels.org/dataModel.Device/Device"
    assert models["DeviceMeasurement"].domain == "Device"
    assert models["PointOfInterest"].domain == "PointOfInterest"
    assert models["Alert"].type_iri == "https://smartdatamodels.org/dataModel.Alert/Alert"


@pytest.mark.parametrize("type_name", NEW_TYPES)
def test_the_programme_example_is_valid(type_name: str) -> None:
    model = smartdata.models()[type_name]
    assert smartdata.errors_of(model, example(type_name)) == []
    smartdata.validate(model, example(type_name))


# (type, attribute path to break, broken value or None to drop it, path named in the error)
BROKEN = [
    ("Device", ("controlledProperty",), ["methane"], "controlledProperty/0"),
    ("Device", ("controlledProperty",), None, "(entity)"),
    ("Device", ("deviceCategory",), "sensor", "deviceCategory"),
    ("Device", ("batteryLevel",), 75, "batteryLevel"),
    ("Device", ("ipAddress",), ["192.14.56.789"], "ipAddress/0"),
    ("DeviceMeasurement", ("numValue",), "55.2", "numValue"),
    ("DeviceMeasurement", ("outlier",), "yes", "outlier"),
    ("DeviceMeasurement", ("location", "coordinates"), [60.170833], "location"),
    ("PointOfInterest", ("name",), None, "(entity)"),
    ("PointOfInterest", ("category",), [], "category"),
    ("PointOfInterest", ("refSeeAlso",), ["Beach-A-Concha-123456"] * 2, "refSeeAlso"),
    ("Alert", ("category",), "fire", "category"),
    ("Alert", ("severity",), "urgent", "severity"),
    ("Alert", ("subCategory",), "kaiju", "subCategory"),
    ("Alert", ("data",), "blocked 3 km", "data"),
]


@pytest.mark.parametrize(("type_name", "where", "value", "path"), BROKEN)
def test_a_broken_attribute_is_refused_at_its_path(
    type_name: str, where: tuple[str, ...], value: Any, path: str
) -> None:
    payload = copy.deepcopy(example(type_name))
    parent = payload
    for key in where[:-1]:
        parent = parent[key]
    if value is None:
        del parent[where[-1]]
    else:
        parent[where[-1]] = value
    model = smartdata.models()[type_name]
    errors = smartdata.errors_of(model, payload)
    assert errors and any(e.startswith(f"{path}: ") for e in errors), errors
    with pytest.raises(NgsiError) as err:
        smartdata.validate(model, payload)
    assert err.value.status == 400 and type_name in err.value.message


def test_every_ref_of_every_schema_resolves_from_local_files() -> None:
    resolver = smartdata.registry().resolver()
    files = sorted(smartdata.SCHEMAS_DIR.rglob("*.json"))
    seen = 0
    for path in files:
        schema = json.loads(path.read_text(encoding="utf-8"))
        base = resolver.in_subresource(smartdata.registry()[schema["$id"]])
        for ref in _refs(schema):
            assert base.lookup(ref).contents is not None, (path.name, ref)
            seen += 1
    assert seen > 20
    # nothing else resolves: the registry has no way to fetch a schema it does not hold
    with pytest.raises(Unresolvable):
        resolver.lookup("https://smart-data-models.github.io/dataModel.Other/schema.json")


def _normalized(payload: dict[str, Any]) -> dict[str, Any]:
    """Return the NGSI-LD normalized form of a key-values example (no @context: the core's)."""
    out: dict[str, Any] = {"id": payload["id"], "type": payload["type"]}
    for key, value in payload.items():
        if key in ("id", "type"):
            continue
        if key == "location":
            out[key] = {"type": "GeoProperty", "value": value}
        elif key == "refDevice":
            out[key] = {"type": "Relationship", "object": value}
        else:
            out[key] = {"type": "Property", "value": value}
    return out


@pytest.mark.parametrize(
    ("type_name", "attr", "bad"),
    [
        ("DeviceMeasurement", "numValue", "55.2"),
        ("PointOfInterest", "category", []),
        ("Alert", "severity", "urgent"),
    ],
)
def test_the_broker_refuses_an_entity_that_breaks_its_model(
    tenants, actor_of, uow_as, type_name: str, attr: str, bad: Any
) -> None:
    body = _normalized(example(type_name))
    if not body["id"].startswith("urn:"):
        body["id"] = f"urn:ngsi-ld:{type_name}:{body['id'].replace(':', '-')}"
    with uow_as(actor_of(tenants.a.member)) as uow:
        ctx = broker.active_context(uow.settings, [])
        broker.create_entity(uow, org_id=tenants.a.org.id, ctx=ctx, body=body)
        bad_body = {**body, "id": body["id"] + "-bad", attr: {"type": "Property", "value": bad}}
        with pytest.raises(NgsiError) as err:
            broker.create_entity(uow, org_id=tenants.a.org.id, ctx=ctx, body=bad_body)
    assert err.value.status == 400
    assert attr in err.value.message and type_name in err.value.message


def test_every_model_is_enforced_on_write() -> None:
    vocab = core_context().vocab or ""
    models = smartdata.models()
    assert smartdata.model_for([vocab + "Alert"], vocab) == models["Alert"]
    poi = models["PointOfInterest"]
    assert smartdata.model_for([poi.type_iri], vocab) == poi
    # Device too: telemetry describes devices with the model's enums (test_citygov_sdm_device.py)
    assert frozenset() == smartdata.NOT_ENFORCED
    assert smartdata.model_for([vocab + "Device"], vocab) == models["Device"]
    assert smartdata.errors_of(models["Device"], {"id": "urn:ngsi-ld:Device:x", "type": "Device"})
