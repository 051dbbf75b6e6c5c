"""NGSI-LD broker attribute operations of one entity: update, append, merge (the entity or one
attribute, clause 5.6.17 and 5.6.4), replace and delete one attribute.

Multi-attributes are instance lists told apart by ``datasetId``; every operation stamps
``modifiedAt`` and stores with ``broker_store.update_row`` (store, then notify).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mingyue.enablers.citygov.engine.ngsi.context import ActiveContext
from mingyue.enablers.citygov.engine.ngsi.entity import NGSI_NULL, VALUE_MEMBER, Parser, deep_copy
from mingyue.enablers.citygov.engine.ngsi.errors import bad_data, not_found
from mingyue.enablers.citygov.models_broker import NgsiEntity
from mingyue.enablers.citygov.service.broker_store import require_row, timestamp, update_row
from mingyue.sdk import UnitOfWork


@dataclass
class UpdateResult:
    """Attributes updated and not updated (with reasons) by an attribute operation."""

    updated: list[str] = field(default_factory=list)
    not_updated: list[tuple[str, str]] = field(default_factory=list)


def _same_dataset(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.get("datasetId") == b.get("datasetId")


def _put_instance(instances: list[dict[str, Any]], new: dict[str, Any], stamp: str) -> None:
    for i, old in enumerate(instances):
        if _same_dataset(old, new):
            new["createdAt"] = old.get("createdAt", stamp)
            instances[i] = new
            return
    instances.append(new)


def _attribute(
    row: NgsiEntity, iri: str, entity_id: str, attr: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return a copy of the entity's document and, in it, the instances of one attribute (404
    when the entity has none)."""
    doc = deep_copy(row.doc)
    current = doc["attrs"].get(iri)
    if not current:
        raise not_found(f"entity {entity_id} has no attribute {attr}")
    return doc, current


def update_attrs(
    uow: UnitOfWork, *, org_id: int, ctx: ActiveContext, entity_id: str, body: Any
) -> UpdateResult:
    """Update existing attributes (PATCH /entities/{id}/attrs); report the others."""
    row = require_row(uow, org_id, entity_id)
    stamp = timestamp()
    frag = Parser(ctx, stamp).fragment(body, allow_null=True)
    before = deep_copy(row.doc)
    doc = deep_copy(row.doc)
    result = UpdateResult()
    for iri, instances in frag["attrs"].items():
        name = ctx.compact(iri)
        current = doc["attrs"].get(iri)
        if not current:
            result.not_updated.append((name, "attribute does not exist"))
            continue
        done = False
        for inst in instances:
            if inst is None or inst.get("null"):
                keep = [c for c in current if not (inst is None or _same_dataset(c, inst))]
                done = len(keep) != len(current)
                current[:] = keep
                continue
            if any(_same_dataset(c, inst) for c in current):
                _put_instance(current, inst, stamp)
                done = True
        if not current:
            del doc["attrs"][iri]
        if done:
            result.updated.append(name)
        else:
            result.not_updated.append((name, "no instance with this datasetId"))
    if "type" in frag:
        doc["type"] = list(dict.fromkeys(doc["type"] + frag["type"]))
    if result.updated:
        update_row(uow, org_id, row, doc, before, stamp=stamp)
    return result


def append_attrs(
    uow: UnitOfWork,
    *,
    org_id: int,
    ctx: ActiveContext,
    entity_id: str,
    body: Any,
    no_overwrite: bool = False,
) -> UpdateResult:
    """Append attributes (POST /entities/{id}/attrs), overwriting unless ``no_overwrite``."""
    row = require_row(uow, org_id, entity_id)
    stamp = timestamp()
    frag = Parser(ctx, stamp).fragment(body, allow_null=False)
    before = deep_copy(row.doc)
    doc = deep_copy(row.doc)
    result = UpdateResult()
    for iri, instances in frag["attrs"].items():
        name = ctx.compact(iri)
        current = doc["attrs"].setdefault(iri, [])
        changed = False
        for inst in instances:
            exists = any(_same_dataset(c, inst) for c in current)
            if exists and no_overwrite:
                continue
            _put_instance(current, inst, stamp)
            changed = True
        if changed:
            result.updated.append(name)
        else:
            result.not_updated.append((name, "attribute exists and noOverwrite was asked"))
    if "type" in frag:
        doc["type"] = list(dict.fromkeys(doc["type"] + frag["type"]))
    if frag.get("scope"):
        doc["scope"] = list(dict.fromkeys(doc.get("scope", []) + frag["scope"]))
    update_row(uow, org_id, row, doc, before, stamp=stamp)
    return result


def _merge_value(old: Any, new: Any) -> Any:
    """JSON merge patch (RFC 7396) of a compound value: null removes a member."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = dict(old)
        for k, v in new.items():
            if v is None or v == NGSI_NULL:
                out.pop(k, None)
            else:
                out[k] = _merge_value(out.get(k), v)
        return out
    return new


def _merge_instance(old: dict[str, Any], new: dict[str, Any], stamp: str) -> dict[str, Any]:
    if old.get("type") != new.get("type"):
        new["createdAt"] = old.get("createdAt", stamp)
        return new
    out = dict(old)
    member = VALUE_MEMBER[new["type"]]
    for k, v in new.items():
        if k == "sub":
            subs = dict(old.get("sub", {}))
            for sk, sv in v.items():
                if sv is None or sv.get("null"):
                    subs.pop(sk, None)
                elif sk in subs:
                    subs[sk] = _merge_instance(subs[sk], sv, stamp)
                else:
                    subs[sk] = sv
            if subs:
                out["sub"] = subs
            else:
                out.pop("sub", None)
        elif k == member and new["type"] in ("Property", "JsonProperty"):
            out[k] = _merge_value(old.get(k), v)
        elif k != "createdAt":
            out[k] = v
    out["modifiedAt"] = stamp
    return out


def merge_entity(
    uow: UnitOfWork, *, org_id: int, ctx: ActiveContext, entity_id: str, body: Any
) -> None:
    """Merge a fragment into an entity (PATCH /entities/{id}, clause 5.6.17)."""
    row = require_row(uow, org_id, entity_id)
    stamp = timestamp()
    if isinstance(body, dict) and "id" in body and body["id"] != entity_id:
        raise bad_data("the id in the payload differs from the entity in the path")
    frag = Parser(ctx, stamp, merge=True).fragment(body, allow_null=True)
    merge_row(uow, org_id, row, frag, stamp)


def merge_row(
    uow: UnitOfWork, org_id: int, row: NgsiEntity, frag: dict[str, Any], stamp: str
) -> None:
    """Merge a parsed fragment into an entity's row, store it and notify (no 404 checks)."""
    # Copy on write: only the attribute lists the fragment touches are copied and
    # ``_merge_into`` builds new instances, so the stored document stays intact as ``before``
    # (a deepcopy of the whole entity, twice, was most of a telemetry mirror's cost).
    before = row.doc
    doc = {**before, "attrs": dict(before.get("attrs", {}))}
    for iri in frag["attrs"]:
        if iri in doc["attrs"]:
            doc["attrs"][iri] = list(doc["attrs"][iri])
    _merge_into(doc, frag, stamp)
    update_row(uow, org_id, row, doc, before, stamp=stamp, before_is_stored=True)


def _merge_into(doc: dict[str, Any], frag: dict[str, Any], stamp: str) -> None:
    for iri, instances in frag["attrs"].items():
        current = doc["attrs"].setdefault(iri, [])
        for inst in instances:
            if inst is None:
                current.clear()
                continue
            if inst.get("null"):
                current[:] = [c for c in current if not _same_dataset(c, inst)]
                continue
            for i, c in enumerate(current):
                if _same_dataset(c, inst):
                    current[i] = _merge_instance(c, inst, stamp)
                    break
            else:
                current.append(inst)
        if not current:
            del doc["attrs"][iri]
    if frag.get("type"):
        doc["type"] = list(dict.fromkeys(doc["type"] + frag["type"]))
    if "scope" in frag:
        if frag["scope"] is None:
            doc.pop("scope", None)
        else:
            doc["scope"] = frag["scope"]


def patch_attr(
    uow: UnitOfWork,
    *,
    org_id: int,
    ctx: ActiveContext,
    entity_id: str,
    attr: str,
    body: Any,
) -> None:
    """Partially update one attribute (PATCH /entities/{id}/attrs/{attr}, clause 5.6.4)."""
    row = require_row(uow, org_id, entity_id)
    stamp = timestamp()
    iri = ctx.expand(attr)
    doc, current = _attribute(row, iri, entity_id, attr)
    if not isinstance(body, dict):
        raise bad_data("the attribute fragment must be a JSON object")
    body = {k: v for k, v in body.items() if k != "@context"}
    ds = body.get("datasetId")
    target = next((c for c in current if c.get("datasetId") == ds), None)
    if target is None:
        raise not_found(f"attribute {attr} has no instance with datasetId {ds}")
    fragment = dict(body)
    fragment.setdefault("type", target["type"])
    _, parsed = Parser(ctx, stamp).attribute(
        attr, fragment_with_value(fragment, target), allow_null=True
    )
    inst = parsed[0]
    before = deep_copy(row.doc)
    if inst is None or inst.get("null"):
        current.remove(target)
        if not current:
            del doc["attrs"][iri]
    else:
        idx = current.index(target)
        current[idx] = _merge_instance(target, inst, stamp)
    update_row(uow, org_id, row, doc, before, stamp=stamp)


def fragment_with_value(fragment: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """Complete a partial attribute fragment with the current value member if it has none."""
    member = VALUE_MEMBER.get(str(fragment.get("type")), "value")
    if member in fragment:
        return fragment
    current = target.get(VALUE_MEMBER[target["type"]])
    if target["type"] == "ListRelationship":
        current = [o["object"] for o in current or []]
    return {**fragment, member: current}


def replace_attr(
    uow: UnitOfWork,
    *,
    org_id: int,
    ctx: ActiveContext,
    entity_id: str,
    attr: str,
    body: Any,
) -> None:
    """Replace one attribute (PUT /entities/{id}/attrs/{attr})."""
    row = require_row(uow, org_id, entity_id)
    stamp = timestamp()
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "@context"}
    iri, instances = Parser(ctx, stamp).attribute(attr, body, allow_null=False)
    doc, current = _attribute(row, iri, entity_id, attr)
    before = deep_copy(row.doc)
    for inst in instances:
        _put_instance(current, inst, stamp)
    update_row(uow, org_id, row, doc, before, stamp=stamp)


def delete_attr(
    uow: UnitOfWork,
    *,
    org_id: int,
    ctx: ActiveContext,
    entity_id: str,
    attr: str,
    dataset_id: str | None = None,
    delete_all: bool = False,
) -> None:
    """Delete an attribute (one instance by ``datasetId``, or every one with ``delete_all``)."""
    row = require_row(uow, org_id, entity_id)
    iri = ctx.expand(attr)
    doc, current = _attribute(row, iri, entity_id, attr)
    before = deep_copy(row.doc)
    if delete_all:
        keep: list[dict[str, Any]] = []
    else:
        keep = [c for c in current if c.get("datasetId") != dataset_id]
        if len(keep) == len(current):
            raise not_found(f"attribute {attr} has no instance with datasetId {dataset_id}")
    if keep:
        doc["attrs"][iri] = keep
    else:
        del doc["attrs"][iri]
    update_row(uow, org_id, row, doc, before, stamp=timestamp())
