"""NGSI-LD entities in, expanded: the normalized and concise representations (clause 4.5).

An entity is stored as ``{"id", "type": [IRI...], "scope"?, "createdAt", "modifiedAt",
"attrs": {IRI: [instance...]}}``; an instance keeps its NGSI-LD members (``type``, ``value`` /
``object`` / ``languageMap`` / ``json`` / ``vocab`` / ``valueList`` / ``objectList``,
``observedAt``, ``unitCode``, ``datasetId``, ``createdAt``, ``modifiedAt``) and its
sub-attributes under ``sub`` ({IRI: instance}). Values are kept verbatim.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from mingyue.enablers.citygov.engine.ngsi import geo
from mingyue.enablers.citygov.engine.ngsi.context import ActiveContext
from mingyue.enablers.citygov.engine.ngsi.errors import bad_data
from mingyue.enablers.citygov.engine.ngsi.values import (
    check_id,
    check_name,
    check_scope,
    is_datetime,
    is_uri,
)

ATTR_TYPES = (
    "Property",
    "Relationship",
    "GeoProperty",
    "LanguageProperty",
    "ListProperty",
    "ListRelationship",
    "JsonProperty",
    "VocabProperty",
)
# The member carrying each attribute type's value (clause 4.5.2 ff.).
VALUE_MEMBER = {
    "Property": "value",
    "GeoProperty": "value",
    "Relationship": "object",
    "LanguageProperty": "languageMap",
    "ListProperty": "valueList",
    "ListRelationship": "objectList",
    "JsonProperty": "json",
    "VocabProperty": "vocab",
}
_CONCISE_MEMBER = {v: k for k, v in VALUE_MEMBER.items() if k != "GeoProperty"}
# Members of an attribute that are not sub-attributes.
CORE_MEMBERS = frozenset(
    {
        "type",
        "value",
        "object",
        "languageMap",
        "valueList",
        "objectList",
        "json",
        "vocab",
        "observedAt",
        "unitCode",
        "datasetId",
        "createdAt",
        "modifiedAt",
        "deletedAt",
        "instanceId",
        "objectType",
        "valueType",
        "lang",
        "expiresAt",
    }
)
# Output-only or reserved members that are never accepted on input in an attribute.
_FORBIDDEN_MEMBERS = frozenset(
    {
        "previousValue",
        "previousObject",
        "previousLanguageMap",
        "previousValueList",
        "previousObjectList",
        "previousJson",
        "previousVocab",
        "entityIdSealed",
        "entityTypeSealed",
        "@context",
        "@id",
        "@type",
        "@value",
    }
)
# Members allowed per attribute type (besides sub-attributes and the common ones).
_COMMON = frozenset({"type", "observedAt", "datasetId", "createdAt", "modifiedAt", "instanceId"})
_ALLOWED = {
    "Property": _COMMON | {"value", "unitCode", "valueType"},
    "GeoProperty": _COMMON | {"value", "unitCode"},
    "Relationship": _COMMON | {"object", "objectType"},
    "LanguageProperty": _COMMON | {"languageMap", "valueType"},
    "ListProperty": _COMMON | {"valueList", "unitCode", "valueType"},
    "ListRelationship": _COMMON | {"objectList", "objectType"},
    "JsonProperty": _COMMON | {"json", "valueType"},
    "VocabProperty": _COMMON | {"vocab", "valueType"},
}
GEO_NAMES = ("location", "observationSpace", "operationSpace")
# Attribute names that are NGSI-LD core members and may not name an attribute.
RESERVED_NAMES = frozenset(
    {
        "id",
        "type",
        "scope",
        "createdAt",
        "modifiedAt",
        "deletedAt",
        "observedAt",
        "datasetId",
        "instanceId",
        "unitCode",
        "value",
        "object",
        "languageMap",
        "valueList",
        "objectList",
        "json",
        "vocab",
        "objectType",
        "valueType",
        "@context",
        "@id",
        "@type",
    }
)
ENTITY_MEMBERS = frozenset(
    {
        "id",
        "type",
        "scope",
        "@context",
        "createdAt",
        "modifiedAt",
        "deletedAt",
        "@id",
        "@type",
        "expiresAt",
    }
)


class Parser:
    """Parse input documents against one active context."""

    def __init__(self, ctx: ActiveContext, now: str, *, merge: bool = False) -> None:
        self.ctx = ctx
        self.now = now
        # A merge (clause 5.5.8) may null members inside a compound value to remove them;
        # everywhere else a null inside a value is refused.
        self.merge = merge

    # -- entities -----------------------------------------------------------------------------

    def entity(self, body: Any, *, require_id: bool = True) -> dict[str, Any]:
        """Parse a whole entity (create, replace, batch)."""
        if not isinstance(body, dict):
            raise bad_data("an entity must be a JSON object")
        body = _alias_keywords(body)
        if require_id and "id" not in body:
            raise bad_data("the entity has no id")
        out: dict[str, Any] = {}
        if "id" in body:
            out["id"] = check_id(body["id"], "entity id")
        if "type" not in body:
            raise bad_data("the entity has no type")
        out["type"] = self.types(body["type"])
        if "scope" in body:
            out["scope"] = check_scope(body["scope"])
        out["createdAt"] = self.now
        out["modifiedAt"] = self.now
        out["attrs"] = self.attributes(body, allow_null=False)
        return out

    def types(self, raw: Any) -> list[str]:
        """Expand an entity type (a name or an array of names)."""
        items = raw if isinstance(raw, list) else [raw]
        if not items:
            raise bad_data("the entity type must not be empty")
        out: list[str] = []
        for t in items:
            check_name(t, "entity type")
            iri = self.ctx.expand(t)
            if iri.startswith("@") or t in RESERVED_NAMES:
                raise bad_data(f"{t!r} is a JSON-LD keyword and cannot be an entity type")
            if iri not in out:
                out.append(iri)
        return out

    def attributes(self, body: dict[str, Any], *, allow_null: bool) -> dict[str, list[Any]]:
        """Parse the attributes of an entity or fragment (keys other than id/type/scope)."""
        attrs: dict[str, list[Any]] = {}
        for name, value in body.items():
            if name in ENTITY_MEMBERS:
                continue
            iri, instances = self.attribute(name, value, allow_null=allow_null)
            if iri in attrs:
                attrs[iri].extend(instances)
                _check_datasets(name, attrs[iri])
            else:
                attrs[iri] = instances
        return attrs

    def fragment(self, body: Any, *, allow_null: bool) -> dict[str, Any]:
        """Parse an update/append/merge fragment: attributes, plus optional type and scope."""
        if not isinstance(body, dict):
            raise bad_data("the payload must be a JSON object")
        body = _alias_keywords(body)
        out: dict[str, Any] = {"attrs": self.attributes(body, allow_null=allow_null)}
        if "id" in body:
            out["id"] = check_id(body["id"], "entity id")
        if "type" in body:
            out["type"] = self.types(body["type"])
        if "scope" in body:
            out["scope"] = (
                None if body["scope"] is None and allow_null else check_scope(body["scope"])
            )
        return out

    # -- attributes ---------------------------------------------------------------------------

    def attribute(self, name: str, value: Any, *, allow_null: bool) -> tuple[str, list[Any]]:
        """Parse one attribute (one instance or an array of instances); returns (IRI, instances)."""
        check_name(name, "attribute name")
        if name in RESERVED_NAMES:
            raise bad_data(f"{name!r} is an NGSI-LD core member and cannot name an attribute")
        iri = self.ctx.expand(name)
        if value is None:
            if allow_null:
                return iri, [None]
            raise bad_data(f"attribute {name}: null is not a value")
        if isinstance(value, list) and value and all(_is_attribute_object(v) for v in value):
            instances = [self.instance(name, v, allow_null=allow_null) for v in value]
            _check_datasets(name, instances)
            return iri, instances
        return iri, [self.instance(name, value, allow_null=allow_null)]

    def instance(self, name: str, value: Any, *, allow_null: bool, sub: bool = False) -> Any:
        """Parse one attribute instance in normalized or concise form."""
        where = f"attribute {name}"
        if value is None:
            if allow_null:
                return None
            raise bad_data(f"{where}: null is not a value")
        if not isinstance(value, dict) or not _is_attribute_object(value):
            atype = (
                "GeoProperty" if (isinstance(value, dict) and _is_geojson(value)) else "Property"
            )
            if atype == "Property" and name in GEO_NAMES and not sub:
                atype = "GeoProperty"
            value = {"type": atype, "value": value}
        value = dict(value)
        atype = value.get("type")
        if atype is None:
            atype = next((t for m, t in _CONCISE_MEMBER.items() if m in value), "Property")
            if (
                atype == "Property"
                and isinstance(value.get("value"), dict)
                and _is_geojson(value["value"])
            ):
                atype = "GeoProperty"
            value["type"] = atype
        if atype not in ATTR_TYPES:
            raise bad_data(f"{where}: type {atype!r} is not an attribute type")
        proof = name == "ngsildproof" and not sub
        if proof:
            return self._proof(value, where)
        for m in value:
            if m in _FORBIDDEN_MEMBERS:
                raise bad_data(f"{where}: member {m!r} is not allowed here")
            if m in CORE_MEMBERS and m not in _ALLOWED[atype]:
                raise bad_data(f"{where}: a {atype} cannot carry {m!r}")
        out: dict[str, Any] = {"type": atype}
        member = VALUE_MEMBER[atype]
        if member not in value:
            raise bad_data(f"{where}: a {atype} needs {member!r}")
        raw = value[member]
        if is_null_marker(raw, atype):
            if not allow_null:
                raise bad_data(f"{where}: the NGSI-LD Null cannot be created")
            out["null"] = True
            if "datasetId" in value and value["datasetId"] != "@none":
                out["datasetId"] = check_id(value["datasetId"], f"{where}: datasetId")
            return out
        if raw is None and not allow_null:
            raise bad_data(f"{where}: {member} must not be null")
        if atype != "JsonProperty" and not (allow_null and self.merge):
            _no_nulls(raw, where)
        out[member] = self._value(atype, raw, where, name=name, sub=sub)
        if "observedAt" in value:
            if not is_datetime(value["observedAt"]):
                raise bad_data(f"{where}: observedAt must be a DateTime in UTC (…Z)")
            out["observedAt"] = value["observedAt"]
        if "unitCode" in value:
            if not isinstance(value["unitCode"], str) or not value["unitCode"]:
                raise bad_data(f"{where}: unitCode must be a string")
            out["unitCode"] = value["unitCode"]
        if "datasetId" in value and value["datasetId"] != "@none":
            out["datasetId"] = check_id(value["datasetId"], f"{where}: datasetId")
        if "objectType" in value:
            ot = value["objectType"]
            items = ot if isinstance(ot, list) else [ot]
            for t in items:
                check_name(t, f"{where}: objectType")
            exp = [self.ctx.expand(t) for t in items]
            out["objectType"] = exp if isinstance(ot, list) else exp[0]
        if "valueType" in value:
            vt = value["valueType"]
            if not isinstance(vt, str) or not vt:
                raise bad_data(f"{where}: valueType must be a string")
            if atype == "LanguageProperty" and self.ctx.expand(vt) != _LANG_STRING:
                raise bad_data(f"{where}: the valueType of a LanguageProperty is langString")
            out["valueType"] = self.ctx.expand(vt)
        if name in GEO_NAMES and not sub and atype != "GeoProperty":
            raise bad_data(f"{where}: {name} must be a GeoProperty")
        out["createdAt"] = self.now
        out["modifiedAt"] = self.now
        subs: dict[str, Any] = {}
        for m, v in value.items():
            if m in CORE_MEMBERS:
                continue
            check_name(m, f"{where}: sub-attribute")
            if m in RESERVED_NAMES:
                raise bad_data(f"{where}: {m!r} cannot name a sub-attribute")
            if isinstance(v, list) and v and all(_is_attribute_object(x) for x in v):
                raise bad_data(f"{where}: sub-attribute {m} must have one instance")
            inst = self.instance(f"{name}.{m}", v, allow_null=allow_null, sub=True)
            subs[self.ctx.expand(m)] = inst
        if subs:
            out["sub"] = subs
        return out

    def _proof(self, value: dict[str, Any], where: str) -> dict[str, Any]:
        """Parse ``ngsildproof`` (clause 4.5.2.2): a W3C Data Integrity proof and sealed members."""
        if value.get("type", "Property") != "Property":
            raise bad_data(f"{where}: ngsildproof must be a Property")
        v = value.get("value")
        if not isinstance(v, dict):
            raise bad_data(f"{where}: the value of ngsildproof must be a proof object")
        unknown = set(value) - {"type", "value", "entityIdSealed", "entityTypeSealed", "observedAt"}
        if unknown:
            raise bad_data(f"{where}: ngsildproof cannot carry {sorted(unknown)[0]!r}")
        out: dict[str, Any] = {"type": "Property", "value": v}
        if "entityIdSealed" in value:
            if not isinstance(value["entityIdSealed"], str):
                raise bad_data(f"{where}: entityIdSealed must be a string")
            out["entityIdSealed"] = value["entityIdSealed"]
        if "entityTypeSealed" in value:
            t = value["entityTypeSealed"]
            if not isinstance(t, str):
                raise bad_data(f"{where}: entityTypeSealed must be a string")
            out["entityTypeSealed"] = self.ctx.expand(t)
        if "observedAt" in value:
            if not is_datetime(value["observedAt"]):
                raise bad_data(f"{where}: observedAt must be a DateTime in UTC (…Z)")
            out["observedAt"] = value["observedAt"]
        out["createdAt"] = self.now
        out["modifiedAt"] = self.now
        return out

    def _value(self, atype: str, raw: Any, where: str, *, name: str, sub: bool) -> Any:
        if raw is None:
            return None
        if atype == "Property":
            if isinstance(raw, dict) and "@value" in raw and set(raw) - {"@value", "@type"}:
                raise bad_data(f"{where}: a JSON-LD value object holds @value and @type only")
            return raw  # a typed literal ({"@type": "DateTime", "@value": ...}) is kept as is
        if atype == "GeoProperty":
            if isinstance(raw, str):
                try:
                    raw = json.loads(raw)
                except ValueError:
                    raise bad_data(f"{where}: the geometry string is not GeoJSON") from None
            return geo.check_geometry(raw, where)
        if atype == "Relationship":
            items = raw if isinstance(raw, list) else [raw]
            if not items:
                raise bad_data(f"{where}: object must not be empty")
            for o in items:
                if not is_uri(o):
                    raise bad_data(f"{where}: object {o!r} is not a URI")
            return raw
        if atype == "LanguageProperty":
            return _check_language_map(raw, where)
        if atype == "ListProperty":
            if not isinstance(raw, list):
                raise bad_data(f"{where}: valueList must be an array")
            return raw
        if atype == "ListRelationship":
            if not isinstance(raw, list):
                raise bad_data(f"{where}: objectList must be an array")
            out = []
            for o in raw:
                obj = o.get("object") if isinstance(o, dict) else o
                if not is_uri(obj):
                    raise bad_data(f"{where}: objectList entry {o!r} is not a URI")
                out.append({"object": obj})
            return out
        if atype == "JsonProperty":
            if not isinstance(raw, (dict, list)):
                raise bad_data(f"{where}: json must be an object or an array")
            return raw
        # VocabProperty
        items = raw if isinstance(raw, list) else [raw]
        if not items or not all(isinstance(v, str) and v for v in items):
            raise bad_data(f"{where}: vocab must be a string or an array of strings")
        exp = [self.ctx.expand(v) for v in items]
        return exp if isinstance(raw, list) else exp[0]


_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"


def _check_language_map(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or not raw:
        raise bad_data(f"{where}: languageMap must be a non-empty object")
    for tag, text in raw.items():
        if not tag or not isinstance(tag, str):
            raise bad_data(f"{where}: an empty language tag is not allowed")
        if tag != "@none" and not all(p.isalnum() for p in tag.split("-")):
            raise bad_data(f"{where}: {tag!r} is not a language tag")
        texts = text if isinstance(text, list) else [text]
        if not texts or not all(isinstance(s, str) for s in texts):
            raise bad_data(f"{where}: languageMap values must be strings")
    return raw


NGSI_NULL = "urn:ngsi-ld:null"


def is_null_marker(raw: Any, atype: str = "Property") -> bool:
    """Tell whether an attribute's value is the NGSI-LD Null (delete in a merge or update)."""
    if raw == NGSI_NULL:
        return True
    nulls: dict[str, list[Any]] = {
        "LanguageProperty": [{"@none": NGSI_NULL}],
        "ListProperty": [[NGSI_NULL]],
        "ListRelationship": [[NGSI_NULL], [{"object": NGSI_NULL}]],
    }
    return any(raw == n for n in nulls.get(atype, []))


def _alias_keywords(body: dict[str, Any]) -> dict[str, Any]:
    if "@id" in body or "@type" in body:
        body = dict(body)
        if "@id" in body:
            body.setdefault("id", body.pop("@id"))
        if "@type" in body:
            body.setdefault("type", body.pop("@type"))
    return body


def _is_geojson(value: dict[str, Any]) -> bool:
    return value.get("type") in geo.GEOMETRY_TYPES and "coordinates" in value


def _is_attribute_object(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    t = value.get("type")
    if t in ATTR_TYPES:
        return True
    if t is None:
        return any(m in value for m in _CONCISE_MEMBER)
    return False


def _no_nulls(value: Any, where: str) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if v is None or v == NGSI_NULL:
                raise bad_data(f"{where}: {k} is null (null is not a value)")
            _no_nulls(v, where)
    elif isinstance(value, list):
        for v in value:
            if v is None or v == NGSI_NULL:
                raise bad_data(f"{where}: an array holds null")
            _no_nulls(v, where)


def _check_datasets(name: str, instances: list[Any]) -> None:
    seen: set[str | None] = set()
    for inst in instances:
        if inst is None:
            continue
        ds = inst.get("datasetId")
        if ds in seen:
            what = "default instances" if ds is None else f"instances with datasetId {ds}"
            raise bad_data(f"attribute {name}: two {what}")
        seen.add(ds)


def deep_copy(doc: dict[str, Any]) -> dict[str, Any]:
    """Return an independent copy of a stored entity document."""
    return copy.deepcopy(doc)
