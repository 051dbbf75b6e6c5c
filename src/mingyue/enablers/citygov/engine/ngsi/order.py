"""Ordering of query results (``orderBy``, ``orderFrom``, ``collation``; clause 4.23).

Keys: ``id``, ``type``, ``createdAt``/``modifiedAt``, an attribute (its value; ``a.b`` a
sub-attribute or member such as ``observedAt``, ``a[x.y]`` a member of a compound value), or a
GeoProperty with ``dist-asc``/``dist-desc`` from ``orderFrom``. Values rank numbers, then strings
(code points, or with ``collation`` a root-collation approximation: letters with their accents
stripped and case folded first, so ``á`` ranks with ``a``, then the exact text), then booleans,
then anything else, then an absent value last.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cmp_to_key
from typing import Any

from shapely.geometry import Point

from mingyue.enablers.citygov.engine.ngsi import geo
from mingyue.enablers.citygov.engine.ngsi.context import ActiveContext
from mingyue.enablers.citygov.engine.ngsi.entity import VALUE_MEMBER
from mingyue.enablers.citygov.engine.ngsi.errors import bad_data

_META = {"observedAt", "createdAt", "modifiedAt", "unitCode", "datasetId"}
_LANG_TAG = re.compile(r"^(und|[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*)$")
_ABSENT = 9


@dataclass(frozen=True)
class OrderKey:
    """One ordering key."""

    attr: str  # "@id", "@type", "createdAt", "modifiedAt" or an expanded attribute IRI
    path: tuple[str, ...] = ()  # expanded sub-attribute names or a member name
    trail: tuple[str, ...] = ()
    desc: bool = False
    distance: bool = False


def check_collation(tag: str) -> str:
    """Return a BCP 47 collation tag, or raise BadRequestData."""
    if not _LANG_TAG.match(tag):
        raise bad_data(f"collation {tag!r} is not a language tag")
    return tag


def parse_order(raw: str, ctx: ActiveContext, order_from: Any | None) -> list[OrderKey]:
    """Parse ``orderBy`` (``a;asc,b.c;desc,location;dist-asc``)."""
    keys: list[OrderKey] = []
    for part in raw.split(","):
        name, _, direction = part.strip().partition(";")
        direction = direction.strip()
        if not name:
            raise bad_data("orderBy holds an empty name")
        if direction not in ("", "asc", "desc", "dist-asc", "dist-desc"):
            raise bad_data(
                f"orderBy direction {direction!r} is not asc, desc, dist-asc or dist-desc"
            )
        trail: tuple[str, ...] = ()
        if "[" in name:
            name, _, inner = name.partition("[")
            trail = tuple(inner.rstrip("]").split("."))
        head, *rest = name.split(".")
        if head == "id":
            attr = "@id"
        elif head == "type":
            attr = "@type"
        elif head in ("createdAt", "modifiedAt"):
            attr = head
        else:
            attr = ctx.expand(head)
        path = tuple(r if r in _META else ctx.expand(r) for r in rest)
        distance = direction.startswith("dist")
        if distance and order_from is None:
            raise bad_data("distance ordering needs orderFrom (the reference coordinates)")
        keys.append(OrderKey(attr, path, trail, desc=direction.endswith("desc"), distance=distance))
    return keys


def _collation_key(text: str) -> tuple[str, str]:
    base = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return (base.casefold(), text)


def _text(text: str, collate: bool) -> tuple[str, str]:
    return _collation_key(text) if collate else (text, text)


def _value(doc: dict[str, Any], key: OrderKey, ref: Any, collate: bool) -> tuple[int, Any]:
    if key.attr == "@id":
        return (1, _text(doc["id"], collate))
    if key.attr == "@type":
        return (1, _text(min(doc["type"]), collate))
    if key.attr in ("createdAt", "modifiedAt") and not key.path:
        return (1, (doc.get(key.attr, ""), ""))
    insts = doc.get("attrs", {}).get(key.attr, [])
    if not insts:
        return (_ABSENT, None)
    cur: Any = insts[0]
    for step in key.path:
        if step in _META:
            cur = cur.get(step) if isinstance(cur, dict) else None
            break
        cur = cur.get("sub", {}).get(step) if isinstance(cur, dict) else None
        if cur is None:
            return (_ABSENT, None)
    if isinstance(cur, dict) and "type" in cur:
        if key.distance:
            g = cur.get("value")
            if not isinstance(g, dict):
                return (_ABSENT, None)
            return (0, geo.distance_m(geo.to_shape(g), ref))
        cur = cur.get(VALUE_MEMBER.get(cur["type"], "value"))
    for t in key.trail:
        if isinstance(cur, dict) and t in cur:
            cur = cur[t]
        else:
            return (_ABSENT, None)
    if cur is None:
        return (_ABSENT, None)
    if isinstance(cur, bool):
        return (2, cur)
    if isinstance(cur, (int, float)):
        return (0, float(cur))
    if isinstance(cur, str):
        return (1, _text(cur, collate))
    return (3, json.dumps(cur, sort_keys=True))


def sort(
    docs: list[dict[str, Any]],
    keys: list[OrderKey],
    order_from: Any | None,
    collation: str | None = None,
) -> list[dict[str, Any]]:
    """Return the documents ordered by the keys (absent values always last).

    Without ``collation`` strings compare by code point; with one (``und``, ``de`` …) by the
    root-collation approximation (accents and case second).
    """
    ref = None
    if order_from is not None:
        coords = geo.parse_coordinates(order_from)
        if len(coords) != 2 or not all(isinstance(c, (int, float)) for c in coords):
            raise bad_data("orderFrom must be a [longitude, latitude] position")
        ref = Point(float(coords[0]), float(coords[1]))
    collate = collation is not None
    values = {id(d): [_value(d, k, ref, collate) for k in keys] for d in docs}

    def compare(a: dict[str, Any], b: dict[str, Any]) -> int:
        for i, k in enumerate(keys):
            va, vb = values[id(a)][i], values[id(b)][i]
            if va == vb:
                continue
            if va[0] == _ABSENT or vb[0] == _ABSENT:
                return 1 if va[0] == _ABSENT else -1
            less = va < vb
            return (1 if less else -1) if k.desc else (-1 if less else 1)
        return 0

    return sorted(docs, key=cmp_to_key(compare))
