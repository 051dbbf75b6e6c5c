"""Validation of Smart Data Models entity types against their JSON Schemas (CC BY 4.0).

The schemas (``schemas/sdm/<Domain>/<Type>/schema.json``) are validated with ``jsonschema``
(Draft 2020-12) on the simplified (key-values) view of an entity, as the Smart Data Models
programme specifies them; every ``$ref`` resolves from local files — a remote schema is never
retrieved. Where the models share definitions (``common-schema.json``, a domain's
``<name>-schema.json``) each shared file is registered under its own ``$id`` and under the older
addresses (``fiware.github.io``, a repository root) that some models still cite it by.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mingyue.enablers.citygov.engine.ngsi.errors import bad_data

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas" / "sdm"
SDM_BASE = "https://smartdatamodels.org/"
_DEFAULT_COMPACT = "ngsi-ld:default-context/"  # the default vocabulary as the core compacts it

# Shared definition files (relative to SCHEMAS_DIR) and the other addresses models cite them by.
# Alert (0.0.2) cites Common-Alert at the repository root and, inside it, the FIWARE-era common
# schema, whose EntityIdentifierType is the one common-schema.json holds.
SHARED: dict[str, tuple[str, ...]] = {
    "common-schema.json": ("https://fiware.github.io/dataModels/common-schema.json",),
    "Alert/alert-schema.json": (
        "https://smart-data-models.github.io/dataModel.Alert/alert-schema.json",
    ),
    "Weather/weather-schema.json": (),
}

# Models shipped and checked by ``validate`` but not enforced when an entity is written. Empty:
# every model is enforced; telemetry writes each device as a conforming ``Device`` (its
# ``controlledProperty`` and ``deviceCategory`` from the model's enums, engine/telemetry.py).
NOT_ENFORCED: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Model:
    """One Smart Data Model: its type name, domain and schema file."""

    type_name: str
    domain: str
    path: Path

    @property
    def type_iri(self) -> str:
        """Return the type's IRI in the Smart Data Models vocabulary."""
        return f"{SDM_BASE}dataModel.{self.domain}/{self.type_name}"


def _type_name(schema: dict[str, Any], default: str) -> str:
    """Return the type a schema fixes (``properties.type.enum``, at the top or in ``allOf``)."""
    for part in [schema, *schema.get("allOf", [])]:
        enum = part.get("properties", {}).get("type", {}).get("enum")
        if enum:
            return str(enum[0])
    return default


@lru_cache(maxsize=1)
def models() -> dict[str, Model]:
    """Return the known models by type name."""
    out: dict[str, Model] = {}
    for path in sorted(SCHEMAS_DIR.glob("*/*/schema.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        type_name = _type_name(schema, path.parent.name)
        out[type_name] = Model(type_name, path.parent.parent.name, path)
    return out


def _resource(path: Path) -> tuple[dict[str, Any], Resource[Any]]:
    contents = json.loads(path.read_text(encoding="utf-8"))
    # Older files declare "http://json-schema.org/schema#", which names no draft: read as 2020-12.
    return contents, Resource.from_contents(contents, default_specification=DRAFT202012)


@lru_cache(maxsize=1)
def registry() -> Registry[Any]:
    """Return every local schema by the addresses models cite it by (nothing else resolves)."""
    pairs: list[tuple[str, Resource[Any]]] = []
    for rel, aliases in SHARED.items():
        contents, resource = _resource(SCHEMAS_DIR / rel)
        pairs += [(uri, resource) for uri in (contents["$id"], *aliases)]
    for model in models().values():
        contents, resource = _resource(model.path)
        pairs.append((contents["$id"], resource))
    # A Registry without a retrieve function resolves only what it holds: nothing is fetched.
    return Registry().with_resources(pairs)


@cache
def _validator(type_name: str) -> Draft202012Validator:
    schema = json.loads(models()[type_name].path.read_text(encoding="utf-8"))
    return Draft202012Validator(schema, registry=registry(), format_checker=FormatChecker())


# -- JSON-LD @contexts, built from the schemas (the programme's rule) -------------------------

# Terms the programme declares common (GSMA-Commons, Location-Commons, PhysicalObject-Commons and
# the address's parts): they map to SDM_BASE + term, a model's own terms to its domain.
_COMMON_DEFS = ("GSMA-Commons", "Location-Commons", "PhysicalObject-Commons")
# NGSI-LD and JSON-LD terms every context maps the same way.
_HEAD: dict[str, str] = {"id": "@id", "type": "@type", "ngsi-ld": "https://uri.etsi.org/ngsi-ld/"}
_FIXED: dict[str, str] = {
    **_HEAD,
    "description": "http://purl.org/dc/terms/description",
    "location": "https://uri.etsi.org/ngsi-ld/location",
}


def _document(terms: dict[str, str]) -> dict[str, Any]:
    body = {**terms, **{k: v for k, v in _FIXED.items() if k not in _HEAD}}
    return {"@context": {**_HEAD, **{t: body[t] for t in sorted(body, key=str.lower)}}}


def _common_terms() -> frozenset[str]:
    common = json.loads((SCHEMAS_DIR / "common-schema.json").read_text(encoding="utf-8"))
    defs = common["definitions"]
    terms: set[str] = set()
    for name in _COMMON_DEFS:
        terms |= set(defs[name].get("properties", {}))
    address = defs["Location-Commons"]["properties"]["address"]
    return frozenset(terms | set(address.get("properties", {})))


def _local(schema: dict[str, Any], ref: str) -> dict[str, Any]:
    """Return the definition a ``$ref`` names, from the local files only."""
    resolved: dict[str, Any] = registry().resolver().lookup(ref).contents
    return resolved


def _terms_of(node: Any, seen: set[str]) -> set[str]:
    """Return the top-level attribute names of a schema (through allOf/anyOf/oneOf and $ref)."""
    if not isinstance(node, dict):
        return set()
    out = set(node.get("properties", {}))
    ref = node.get("$ref")
    if isinstance(ref, str) and ref not in seen:
        seen.add(ref)
        out |= _terms_of(_local(node, ref), seen)
    for key in ("allOf", "anyOf", "oneOf"):
        for part in node.get(key, []):
            out |= _terms_of(part, seen)
    return out


@lru_cache(maxsize=16)
def context_terms(domain: str) -> dict[str, str]:
    """Return the term → IRI map of a domain's models: their types and attributes, and every
    common term (the programme's domain contexts carry the common ones whether used or not)."""
    common = _common_terms()
    terms: dict[str, str] = {}
    for model in models().values():
        if model.domain != domain:
            continue
        schema = json.loads(model.path.read_text(encoding="utf-8"))
        names = (_terms_of(schema, set()) | common) - {"type"}
        terms[model.type_name] = model.type_iri
        for term in names:
            if term in _FIXED:
                continue
            base = SDM_BASE if term in common else f"{SDM_BASE}dataModel.{domain}/"
            terms[term] = base + term
    return terms


def context_document(domain: str) -> dict[str, Any]:
    """Return the ``@context`` document of one domain (``contexts/sdm-<Domain>.jsonld``)."""
    return _document(context_terms(domain))


def unified_context_document() -> dict[str, Any]:
    """Return the one ``@context`` of every shipped domain (``contexts/sdm-context.jsonld``).

    A term two domains define differently (``category``, ``status`` …) takes the IRI of the
    first domain in alphabetical order; the validator reads attributes by name, so an entity
    sent with this context is checked as with its domain's own.
    """
    merged: dict[str, str] = {}
    for domain in sorted({m.domain for m in models().values()}):
        for term, iri in context_terms(domain).items():
            merged.setdefault(term, iri)
    return _document(merged)


@cache
def enum_of(type_name: str, prop: str) -> tuple[str, ...]:
    """Return the values a model allows for an attribute (or each of its array items)."""
    schema = json.loads(models()[type_name].path.read_text(encoding="utf-8"))
    node = schema.get("properties", {}).get(prop, {})
    values = node.get("items", {}).get("enum") if node.get("type") == "array" else node.get("enum")
    if not values:
        raise KeyError(f"{type_name}.{prop} has no enum")
    return tuple(str(v) for v in values)


def model_for(type_iris: list[str], default_vocab: str) -> Model | None:
    """Return the enforced model an entity claims to be (by SDM IRI or default-context name)."""
    known = [m for m in models().values() if m.type_name not in NOT_ENFORCED]
    for iri in type_iris:
        for m in known:
            if iri in (m.type_iri, default_vocab + m.type_name):
                return m
    return None


@cache
def attribute_names(type_name: str) -> frozenset[str]:
    """Return the attribute names a model's schema declares (through allOf and ``$ref``)."""
    schema = json.loads(models()[type_name].path.read_text(encoding="utf-8"))
    return frozenset(_terms_of(schema, set()))


def by_name(model: Model, view: dict[str, Any], default_vocab: str) -> dict[str, Any]:
    """Return a key-values view with the model's attributes under their plain names.

    The schemas name attributes, not IRIs: an attribute the request's context put under another
    Smart Data Models domain (the unified context's ``category``) or the default vocabulary (no
    context) is still the model's attribute of that name. Other vocabularies are left as they
    are. An attribute already present under its plain name wins.
    """
    names = attribute_names(model.type_name)
    out: dict[str, Any] = {}
    moved: dict[str, Any] = {}
    for key, value in view.items():
        if key in names or not key.startswith((SDM_BASE, default_vocab, _DEFAULT_COMPACT)):
            out[key] = value
            continue
        tail = re.split(r"[/#:]", key)[-1]
        if tail in names:
            moved.setdefault(tail, value)
        else:
            out[key] = value
    for key, value in moved.items():
        out.setdefault(key, value)
    return out


def errors_of(model: Model, simplified: dict[str, Any]) -> list[str]:
    """Return what does not follow the model, as ``path: message`` lines (empty when valid)."""
    errors = sorted(_validator(model.type_name).iter_errors(simplified), key=lambda e: list(e.path))
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(entity)'}: {e.message}" for e in errors
    ]


def validate(model: Model, simplified: dict[str, Any]) -> None:
    """Validate the key-values view of an entity; BadRequestData naming the failing path."""
    errors = errors_of(model, simplified)
    if errors:
        raise bad_data(f"{model.type_name} does not follow its Smart Data Model at {errors[0]}")
