"""Entity projections (``pick``/``omit``, clause 4.21) and linked-entity retrieval (4.5.23).

A projection is a tree: ``id,locatedAt{id,name}`` is ``{"id": None, "locatedAt": {"id": None,
"name": None}}`` — a brace addresses the entity the relationship points to, which only has a
meaning with ``join`` and up to ``joinLevel`` hops. ``join=inline`` puts each linked entity
under its relationship (``entity`` in the normalized form, in place of the object in the
simplified form); ``join=flat`` returns the linked entities beside the root ones, once each.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from mingyue.enablers.citygov.engine.ngsi.context import ActiveContext
from mingyue.enablers.citygov.engine.ngsi.errors import bad_data
from mingyue.enablers.citygov.engine.ngsi.render import RenderOptions, render

Tree = dict[str, "Tree | None"]
MAX_JOIN_LEVEL = 10
_NAME = re.compile(r"^(@?[^\W\d]|@)[\w:.#/\-@]*$", re.UNICODE)


def parse_projection(raw: str, what: str) -> Tree:
    """Parse ``a,b{c,d{e}}`` (``|`` works as ``,``) into a tree; BadRequestData on bad syntax."""
    if not raw:
        raise bad_data(f"{what} is empty")
    pos = 0

    def level(depth: int) -> Tree:
        nonlocal pos
        out: Tree = {}
        expect_name = True
        while pos < len(raw):
            c = raw[pos]
            if c in ",|":
                if expect_name:
                    raise bad_data(f"{what}: two separators in a row or a leading one")
                expect_name = True
                pos += 1
                continue
            if c == "}":
                if depth == 0:
                    raise bad_data(f"{what}: unbalanced braces")
                if expect_name:
                    raise bad_data(f"{what}: an empty member list")
                pos += 1
                return out
            if c == "{":
                raise bad_data(f"{what}: a brace must follow a name")
            if not expect_name:
                raise bad_data(f"{what}: a separator is missing")
            m = re.compile(r"[^,|{}]+").match(raw, pos)
            if m is None:
                raise bad_data(f"{what}: a name is expected")
            name = m.group(0)
            if not _NAME.match(name):
                raise bad_data(f"{what}: {name!r} is not a member name")
            pos = m.end()
            sub: Tree | None = None
            if pos < len(raw) and raw[pos] == "{":
                pos += 1
                if pos < len(raw) and raw[pos] == "{":
                    raise bad_data(f"{what}: double braces")
                sub = level(depth + 1)
            if name in out:
                raise bad_data(f"{what}: {name!r} is listed twice")
            out[name] = sub
            expect_name = False
        if depth > 0:
            raise bad_data(f"{what}: a brace is not closed")
        if expect_name:
            raise bad_data(f"{what}: a trailing separator")
        return out

    return level(0)


def depth(tree: Tree | None) -> int:
    """Return how many linked-entity hops a projection addresses."""
    if not tree:
        return 0
    return max((1 + depth(sub) if sub is not None else 0) for sub in tree.values())


def overlap(pick: Tree, omit: Tree) -> str | None:
    """Return a member named both in pick and omit at the same level, if any."""
    for name, sub in pick.items():
        if name in omit:
            osub = omit[name]
            if sub is None or osub is None:
                return name
            inner = overlap(sub, osub)
            if inner is not None:
                return inner
    return None


@dataclass
class Join:
    """How linked entities are retrieved: ``inline`` or ``flat``, and how many hops."""

    mode: str  # "inline" | "flat"
    level: int = 1


Resolver = Callable[[str], "dict[str, Any] | None"]


@dataclass
class Shaper:
    """Render entities with projections and linked entities."""

    ctx: ActiveContext
    opts: RenderOptions
    pick: Tree | None = None
    omit: Tree | None = None
    join: Join | None = None
    resolve: Resolver | None = None
    flat_out: list[dict[str, Any]] = field(default_factory=list)
    _flat_ids: set[str] = field(default_factory=set)

    def entities(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Render root entities (and, with join=flat, the linked ones after them)."""
        roots = [self.one(d, self.pick, self.omit, 0, set()) for d in docs]
        if self.join is not None and self.join.mode == "flat":
            root_ids = {d["id"] for d in docs}
            extra = [e for e in self.flat_out if e.get("id") not in root_ids]
            return roots + extra
        return roots

    def one(
        self,
        doc: dict[str, Any],
        pick: Tree | None,
        omit: Tree | None,
        level: int,
        path: set[str],
    ) -> dict[str, Any]:
        """Render one entity at a join level with its projection."""
        opts = replace(
            self.opts,
            pick=frozenset(pick) if pick is not None else None,
            omit=frozenset(k for k, v in (omit or {}).items() if v is None),
        )
        out = render(doc, self.ctx, opts)
        if self.join is None or self.resolve is None or level >= self.join.level:
            return out
        for iri, instances in doc.get("attrs", {}).items():
            name = self.ctx.compact(iri)
            if name not in out:
                continue
            targets = _targets(instances)
            if not targets:
                continue
            sub_pick = pick.get(name) if pick is not None else None
            sub_omit = omit.get(name) if omit is not None else None
            linked = self._linked(targets, sub_pick, sub_omit, level, path | {doc["id"]})
            if not linked or self.join.mode != "inline":
                continue
            entity: Any = linked[0] if len(linked) == 1 else linked
            value = out[name]
            if self.opts.simplified:
                out[name] = entity
            elif isinstance(value, dict):
                out[name] = {**value, "entity": entity}
        return out

    def _linked(
        self,
        targets: list[str],
        pick: Tree | None,
        omit: Tree | None,
        level: int,
        path: set[str],
    ) -> list[dict[str, Any]]:
        linked = []
        for target in targets:
            if target in path or self.resolve is None:
                continue
            doc = self.resolve(target)
            if doc is None:
                continue
            rendered = self.one(doc, pick, omit, level + 1, path)
            linked.append(rendered)
            if self.join is not None and self.join.mode == "flat" and target not in self._flat_ids:
                self._flat_ids.add(target)
                self.flat_out.append(rendered)
        return linked


def _targets(instances: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for inst in instances:
        if inst.get("type") == "Relationship":
            obj = inst.get("object")
            out.extend(o for o in (obj if isinstance(obj, list) else [obj]) if isinstance(o, str))
        elif inst.get("type") == "ListRelationship":
            out.extend(o["object"] for o in inst.get("objectList", []) if isinstance(o, dict))
    return out
