"""NGSI-LD entities out: compacted normalized, simplified (keyValues) and GeoJSON (clause 4.5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mingyue.enablers.citygov.engine.ngsi.context import ActiveContext
from mingyue.enablers.citygov.engine.ngsi.entity import VALUE_MEMBER

_INSTANCE_ORDER = (
    "observedAt",
    "unitCode",
    "datasetId",
    "objectType",
    "valueType",
    "entityIdSealed",
    "entityTypeSealed",
    "previousValue",
    "previousObject",
    "previousLanguageMap",
    "previousJson",
    "previousVocab",
    "previousValueList",
    "previousObjectList",
)


@dataclass
class RenderOptions:
    """How to render entities: representation, projection, languages, system attributes."""

    simplified: bool = False
    sys_attrs: bool = False
    attrs: frozenset[str] | None = None  # expanded attribute IRIs to keep
    pick: frozenset[str] | None = None  # compacted member names (id, type, scope, attributes)
    omit: frozenset[str] = frozenset()
    lang: list[tuple[str, float]] | None = None  # language ranges with their weights
    dataset_ids: frozenset[str | None] | None = None  # None member: the default instance
    geometry_property: str = "location"
    extra: dict[str, Any] = field(default_factory=dict)


def render(doc: dict[str, Any], ctx: ActiveContext, opts: RenderOptions) -> dict[str, Any]:
    """Return the entity compacted against ``ctx`` in the requested representation."""
    out: dict[str, Any] = {}
    if _keep("id", opts):
        out["id"] = doc["id"]
    if _keep("type", opts):
        types = [ctx.compact(t) for t in doc["type"]]
        out["type"] = types[0] if len(types) == 1 else types
    if doc.get("scope") and _keep("scope", opts):
        scopes = doc["scope"]
        out["scope"] = scopes[0] if len(scopes) == 1 else list(scopes)
    for iri, instances in doc.get("attrs", {}).items():
        if opts.attrs is not None and iri not in opts.attrs:
            continue
        name = ctx.compact(iri)
        if not _keep(name, opts):
            continue
        chosen = instances
        if opts.dataset_ids is not None:
            chosen = [i for i in instances if i.get("datasetId") in opts.dataset_ids]
        if not chosen:
            continue
        if opts.simplified:
            out[name] = _simplified_attr(chosen, ctx, opts)
        else:
            rendered = [_instance(i, ctx, opts) for i in chosen]
            out[name] = rendered[0] if len(rendered) == 1 else rendered
    if opts.sys_attrs:
        if _keep("createdAt", opts) and doc.get("createdAt"):
            out["createdAt"] = doc["createdAt"]
        if _keep("modifiedAt", opts) and doc.get("modifiedAt"):
            out["modifiedAt"] = doc["modifiedAt"]
    if doc.get("deletedAt"):
        out["deletedAt"] = doc["deletedAt"]
    return out


def _keep(name: str, opts: RenderOptions) -> bool:
    if name in opts.omit:
        return False
    return opts.pick is None or name in opts.pick


def _instance(inst: dict[str, Any], ctx: ActiveContext, opts: RenderOptions) -> dict[str, Any]:
    atype = inst["type"]
    member = VALUE_MEMBER[atype]
    if atype == "LanguageProperty" and opts.lang is not None:
        tag, text = pick_language(inst["languageMap"], opts.lang)
        out: dict[str, Any] = {"type": "Property", "value": text, "lang": tag}
    else:
        out = {"type": atype, member: _value_out(atype, inst[member], ctx)}
    for m in _INSTANCE_ORDER:
        if m in inst:
            v = inst[m]
            if m in ("objectType", "valueType", "entityTypeSealed", "previousVocab"):
                v = [ctx.compact(x) for x in v] if isinstance(v, list) else ctx.compact(v)
            out[m] = v
    for sub_iri, sub in inst.get("sub", {}).items():
        out[ctx.compact(sub_iri)] = _instance(sub, ctx, opts)
    if opts.sys_attrs:
        for m in ("createdAt", "modifiedAt", "deletedAt"):
            if inst.get(m):
                out[m] = inst[m]
    return out


def _value_out(atype: str, value: Any, ctx: ActiveContext) -> Any:
    if atype == "VocabProperty":
        return [ctx.compact(v) for v in value] if isinstance(value, list) else ctx.compact(value)
    return value


def _simple_value(inst: dict[str, Any], ctx: ActiveContext, opts: RenderOptions) -> Any:
    atype = inst["type"]
    value = inst[VALUE_MEMBER[atype]]
    if atype == "LanguageProperty":
        if opts.lang is not None:
            return pick_language(value, opts.lang)[1]
        return {"languageMap": value}
    if atype == "JsonProperty":
        return {"json": value}
    if atype == "VocabProperty":
        return {"vocab": _value_out(atype, value, ctx)}
    if atype == "ListRelationship":
        return [o["object"] if isinstance(o, dict) else o for o in value]
    return value


def _simplified_attr(
    instances: list[dict[str, Any]], ctx: ActiveContext, opts: RenderOptions
) -> Any:
    if len(instances) == 1 and "datasetId" not in instances[0]:
        return _simple_value(instances[0], ctx, opts)
    return {
        "dataset": {i.get("datasetId", "@none"): _simple_value(i, ctx, opts) for i in instances}
    }


# -- languages ----------------------------------------------------------------------------------


def parse_lang(raw: str) -> list[tuple[str, float]]:
    """Parse a ``lang`` parameter (``fr``, ``en,fr``, ``fr;q=0.8,en``, ``*``) into ranges."""
    out: list[tuple[str, float]] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        tag, _, params = part.partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 1.0
        out.append((tag.strip(), q))
    order = {t: i for i, (t, _) in enumerate(out)}
    out.sort(key=lambda tq: (-tq[1], order[tq[0]]))
    return [tq for tq in out if tq[1] > 0]


def pick_language(lmap: dict[str, Any], ranges: list[tuple[str, float]]) -> tuple[str, Any]:
    """Return (tag, text) of the best language of a LanguageMap for the ranges (RFC 4647)."""
    tags = list(lmap)
    for rng, _q in ranges:
        if rng == "*":
            break
        r = rng.lower()
        for t in tags:
            if t.lower() == r:
                return t, lmap[t]
        for t in tags:  # a shorter range matches a longer tag (en -> en-GB)
            if t.lower().startswith(r + "-"):
                return t, lmap[t]
        parts = r.split("-")  # a longer range truncates onto a shorter tag (en-GB -> en)
        while len(parts) > 1:
            parts.pop()
            cut = "-".join(parts)
            for t in tags:
                if t.lower() == cut:
                    return t, lmap[t]
    preferred = "@none" if "@none" in lmap else tags[0]
    return preferred, lmap[preferred]


# -- GeoJSON ------------------------------------------------------------------------------------


def feature(entity: dict[str, Any], geometry_property: str, simplified: bool) -> dict[str, Any]:
    """Wrap a rendered entity as a GeoJSON Feature (clause 4.5.16)."""
    props = {k: v for k, v in entity.items() if k not in ("id", "@context")}
    geometry: Any = None
    g = entity.get(geometry_property)
    if isinstance(g, list):
        g = next((x for x in g if isinstance(x, dict) and "datasetId" not in x), None)
    if isinstance(g, dict):
        if simplified and "dataset" in g and isinstance(g["dataset"], dict):
            g = g["dataset"].get("@none")
        candidate: Any = None
        if simplified:
            candidate = g
        elif isinstance(g, dict) and g.get("type") == "GeoProperty":
            candidate = g.get("value")
        if isinstance(candidate, dict) and "coordinates" in candidate:
            geometry = candidate
    return {"id": entity.get("id"), "type": "Feature", "geometry": geometry, "properties": props}


def feature_collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    """Return a GeoJSON FeatureCollection."""
    return {"type": "FeatureCollection", "features": features}
