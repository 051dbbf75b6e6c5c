"""The NGSI-LD query language (clause 4.9), scope queries (4.19) and type selectors (4.17).

``parse_q`` turns a ``q`` string into a tree of ``Term``s joined by AND (``;``) and OR (``|``);
``Evaluator`` tests that tree against a stored (expanded) entity. Attribute paths: ``a`` (an
attribute), ``a.b`` (its sub-attribute or a core member such as ``observedAt``), ``a[x.y]`` (a
member inside a compound value; for a LanguageProperty ``a[en]`` or ``a[*]`` picks a language),
``a{b}`` / ``a{Type:b}`` (attribute ``b`` of the entity ``a`` points to).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Union

from mingyue.enablers.citygov.engine.ngsi.context import ActiveContext
from mingyue.enablers.citygov.engine.ngsi.entity import VALUE_MEMBER
from mingyue.enablers.citygov.engine.ngsi.errors import bad_data
from mingyue.enablers.citygov.engine.ngsi.values import parse_datetime

OPS = ("==", "!=", ">=", "<=", ">", "<", "~=", "!~=")
MAX_Q = 4000
_META = {"observedAt", "createdAt", "modifiedAt", "unitCode", "datasetId"}
_DT = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?)?$")
_NUM = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


@dataclass(frozen=True)
class Range:
    """A closed interval ``low..high``."""

    low: Any
    high: Any


@dataclass
class Term:
    """One query term: an attribute path, optional operator and value."""

    attr: str
    path: list[str] = field(default_factory=list)  # sub-attribute names after '.'
    trail: list[str] = field(default_factory=list)  # members inside the value ('[a.b]')
    link: tuple[str | None, Term] | None = None  # (type hint, inner term) of a{..}
    negate_exists: bool = False
    op: str | None = None
    value: Any = None  # a scalar, a Range or a list of scalars
    raw: str = ""  # the value as written (expandValues)


@dataclass
class Node:
    """A boolean combination: ``op`` is "and" or "or"."""

    op: str
    items: list[Union[Node, Term]]  # noqa: UP007 - a forward reference in a dataclass field


Expr = Union[Node, Term]  # noqa: UP007


class _Reader:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def eof(self) -> bool:
        return self.i >= len(self.s)


def parse_q(text: str) -> Expr:
    """Parse a ``q`` expression; BadRequestData (400) on a grammar violation."""
    if not text or len(text) > MAX_Q:
        raise bad_data("q is empty or too long")
    r = _Reader(text)
    expr = _or(r)
    if not r.eof():
        raise bad_data(f"q: unexpected {r.s[r.i :]!r}")
    return expr


def _or(r: _Reader) -> Expr:
    items = [_and(r)]
    while r.peek() == "|":
        r.i += 1
        items.append(_and(r))
    return items[0] if len(items) == 1 else Node("or", items)


def _and(r: _Reader) -> Expr:
    items = [_factor(r)]
    while r.peek() == ";":
        r.i += 1
        items.append(_factor(r))
    return items[0] if len(items) == 1 else Node("and", items)


def _factor(r: _Reader) -> Expr:
    if r.peek() == "(":
        r.i += 1
        inner = _or(r)
        if r.peek() != ")":
            raise bad_data("q: a parenthesis is not closed")
        r.i += 1
        return inner
    return _term(r)


_STOP = frozenset('=!<>~;|()"')


def _attr_text(r: _Reader) -> str:
    start = r.i
    depth = 0
    while r.i < len(r.s):
        c = r.s[r.i]
        if c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth < 0:
                raise bad_data("q: unbalanced brackets")
        elif depth == 0 and (c in _STOP or c.isspace()) and not (c == "!" and r.i == start):
            break
        r.i += 1
    if depth != 0:
        raise bad_data("q: a bracket is not closed")
    return r.s[start : r.i]


def _term(r: _Reader) -> Term:
    text = _attr_text(r)
    if not text or text == "!":
        raise bad_data(f"q: an attribute is expected at {r.s[r.i :]!r}")
    t = _attr_path(text)
    rest = r.s[r.i :]
    op = next(
        (o for o in ("!~=", "~=", "==", "!=", ">=", "<=", ">", "<") if rest.startswith(o)), None
    )
    if op is None:
        return t
    if t.negate_exists:
        raise bad_data("q: '!' only tests that an attribute does not exist")
    r.i += len(op)
    raw = _value_text(r)
    if raw == "":
        raise bad_data(f"q: a value is expected after {op}")
    t.op = op
    t.raw = raw
    if op in ("~=", "!~="):
        pattern = _unquote(raw) if raw.startswith('"') else raw
        try:
            t.value = re.compile(pattern)
        except re.error:
            raise bad_data(f"q: {pattern!r} is not a valid pattern") from None
        return t
    t.value = _value(raw, op)
    return t


def _attr_path(text: str) -> Term:
    neg = text.startswith("!")
    if neg:
        text = text[1:]
    if "{" in text:
        head, _, inner = text.partition("{")
        if not inner.endswith("}"):
            raise bad_data("q: a linked-entity path ends with }")
        inner = inner[:-1]
        hint: str | None = None
        m = re.match(r"^([^{}\[\].:]+):(?!//)(.+)$", inner)
        if m and "{" not in m.group(1):
            hint, inner = m.group(1), m.group(2)
        sub = _attr_path(inner)
        parts = head.split(".")
        if not all(parts):
            raise bad_data("q: an empty attribute name")
        return Term(attr=parts[0], path=parts[1:], link=(hint, sub), negate_exists=neg)
    trail: list[str] = []
    if "[" in text:
        text, _, inner = text.partition("[")
        if not inner.endswith("]"):
            raise bad_data("q: a [member] path ends with ]")
        trail = inner[:-1].split(".")
        if not all(trail):
            raise bad_data("q: an empty member in [...]")
    parts = text.split(".")
    if not all(parts):
        raise bad_data("q: an empty attribute name")
    return Term(attr=parts[0], path=parts[1:], trail=trail, negate_exists=neg)


def _value_text(r: _Reader) -> str:
    start = r.i
    in_q = False
    while r.i < len(r.s):
        c = r.s[r.i]
        if in_q:
            if c == "\\":
                r.i += 2
                continue
            if c == '"':
                in_q = False
        elif c == '"':
            in_q = True
        elif c in ";|)":
            break
        r.i += 1
    if in_q:
        raise bad_data("q: a quoted string is not closed")
    return r.s[start : r.i]


def _split_list(raw: str) -> list[str]:
    out, cur, in_q = [], "", False
    i = 0
    while i < len(raw):
        c = raw[i]
        if in_q and c == "\\" and i + 1 < len(raw):
            cur += raw[i : i + 2]
            i += 2
            continue
        if c == '"':
            in_q = not in_q
        if c == "," and not in_q:
            out.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    out.append(cur)
    return out


def _value(raw: str, op: str) -> Any:
    items = _split_list(raw)
    if len(items) > 1:
        if op not in ("==", "!="):
            raise bad_data("q: a value list is only allowed with == or !=")
        return [_scalar(x) for x in items]
    if ".." in raw and not raw.startswith('"'):
        low, _, high = raw.partition("..")
        if op not in ("==", "!="):
            raise bad_data("q: a range is only allowed with == or !=")
        return Range(_scalar(low), _scalar(high))
    return _scalar(raw)


def _unquote(raw: str) -> str:
    try:
        v = json.loads(raw)
    except ValueError:
        raise bad_data(f"q: {raw!r} is not a valid string") from None
    if not isinstance(v, str):
        raise bad_data(f"q: {raw!r} is not a string")
    return v


def _scalar(raw: str) -> Any:
    raw = raw.strip()
    if not raw:
        raise bad_data("q: an empty value")
    if raw.startswith('"'):
        return _unquote(raw)
    if raw in ("true", "false"):
        return raw == "true"
    if _NUM.match(raw):
        return float(raw) if any(c in raw for c in ".eE") else int(raw)
    if any(c in raw for c in " \"'<>=!~;|(){}"):
        raise bad_data(f"q: {raw!r} is not a value")
    return raw  # a dateTime, date, time or URI written bare


# -- evaluation ---------------------------------------------------------------------------------

LinkResolver = Callable[[str], dict[str, Any] | None]


class Evaluator:
    """Evaluate parsed queries against expanded entity documents."""

    def __init__(
        self,
        ctx: ActiveContext,
        *,
        expand_values: frozenset[str] = frozenset(),
        resolve: LinkResolver | None = None,
    ) -> None:
        self.ctx = ctx
        self.expand_values = expand_values
        self.resolve = resolve

    def matches(self, expr: Expr, doc: dict[str, Any]) -> bool:
        """Tell whether the entity satisfies the expression."""
        if isinstance(expr, Node):
            if expr.op == "and":
                return all(self.matches(x, doc) for x in expr.items)
            return any(self.matches(x, doc) for x in expr.items)
        return self._term(expr, doc)

    def _term(self, t: Term, doc: dict[str, Any]) -> bool:
        if t.link is not None:
            return self._linked(t, doc)
        values, is_rel = self._values(t, doc)
        if t.op is None:
            return (not values) if t.negate_exists else bool(values)
        if not values:
            return t.op in ("!=", "!~=") and False
        if is_rel and t.op in (">", "<", ">=", "<="):
            return False
        target = t.value
        if t.attr in self.expand_values and isinstance(target, str) and t.op in ("==", "!="):
            target = self.ctx.expand(target)
        if isinstance(target, list) and t.attr in self.expand_values:
            target = [self.ctx.expand(x) if isinstance(x, str) else x for x in target]
        if t.op in ("==", "~="):
            return any(_cmp(v, t.op, target) for v in values)
        if t.op == "!=":
            return not any(_cmp(v, "==", target) for v in values)
        if t.op == "!~=":
            return not any(_cmp(v, "~=", target) for v in values)
        return any(_cmp(v, t.op, target) for v in values)

    def _linked(self, t: Term, doc: dict[str, Any]) -> bool:
        if self.resolve is None or t.link is None:
            return False
        hint, inner = t.link
        targets: list[str] = []
        for inst in doc.get("attrs", {}).get(self.ctx.expand(t.attr), []):
            if inst.get("type") == "Relationship":
                obj = inst["object"]
                targets.extend(obj if isinstance(obj, list) else [obj])
            elif inst.get("type") == "ListRelationship":
                targets.extend(o["object"] for o in inst["objectList"])
        sub = Term(
            attr=inner.attr,
            path=inner.path,
            trail=inner.trail,
            link=inner.link,
            op=t.op,
            value=t.value,
            raw=t.raw,
        )
        for target in targets:
            linked = self.resolve(target)
            if linked is None:
                continue
            if hint is not None and self.ctx.expand(hint) not in linked["type"]:
                continue
            if self._term(sub, linked):
                return True
        return False

    def _values(self, t: Term, doc: dict[str, Any]) -> tuple[list[Any], bool]:
        instances = doc.get("attrs", {}).get(self.ctx.expand(t.attr), [])
        out: list[Any] = []
        is_rel = False
        for inst in instances:
            cur: Any = inst
            for step in t.path:
                if step in _META:
                    cur = cur.get(step) if isinstance(cur, dict) else None
                    break
                cur = (
                    cur.get("sub", {}).get(self.ctx.expand(step)) if isinstance(cur, dict) else None
                )
                if cur is None:
                    break
            if cur is None:
                continue
            if not isinstance(cur, dict) or "type" not in cur:
                out.append(cur)
                continue
            atype = cur["type"]
            is_rel = is_rel or atype in ("Relationship", "ListRelationship")
            value = cur.get(VALUE_MEMBER.get(atype, "value"))
            if atype == "LanguageProperty":
                out.extend(_language_values(value, t.trail))
                continue
            if atype == "ListRelationship":
                value = [o["object"] for o in value or []]
            if t.trail:
                value = _dig(value, t.trail)
                if value is _MISSING:
                    continue
            out.append(value)
        return out, is_rel


_MISSING = object()


def _dig(value: Any, trail: list[str]) -> Any:
    cur = value
    for key in trail:
        if isinstance(cur, dict) and key in cur:
            cur = cur[key]
        else:
            return _MISSING
    return cur


def _language_values(lmap: Any, trail: list[str]) -> list[Any]:
    if not isinstance(lmap, dict):
        return []
    if not trail or trail == ["*"]:
        return list(lmap.values())
    return [lmap[trail[0]]] if trail[0] in lmap else []


def _cmp(actual: Any, op: str, target: Any) -> bool:
    if isinstance(actual, list):
        return any(_cmp(a, op, target) for a in actual)
    if op == "~=":
        return isinstance(actual, str) and bool(target.search(actual))
    if isinstance(target, list):
        return any(_cmp(actual, "==", x) for x in target)
    if isinstance(target, Range):
        return _order(actual, ">=", target.low) and _order(actual, "<=", target.high)
    if op == "==":
        return _equal(actual, target)
    return _order(actual, op, target)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b if isinstance(a, bool) and isinstance(b, bool) else False
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, str) and isinstance(b, str):
        if a == b:
            return True
        da, db = _as_datetime(a), _as_datetime(b)
        return da is not None and da == db
    return bool(a == b)


def _as_datetime(v: str) -> datetime | None:
    if not _DT.match(v) or "T" not in v:
        return None
    try:
        return parse_datetime(v)
    except ValueError:
        return None


def _order(a: Any, op: str, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    x: Any
    y: Any
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        x, y = float(a), float(b)
    elif isinstance(a, str) and isinstance(b, str):
        da, db = _as_datetime(a), _as_datetime(b)
        x, y = (da, db) if da is not None and db is not None else (a, b)
    else:
        return False
    if op == ">":
        return bool(x > y)
    if op == "<":
        return bool(x < y)
    if op == ">=":
        return bool(x >= y)
    if op == "<=":
        return bool(x <= y)
    return False


def q_depth(expr: Expr) -> int:
    """Return how many linked-entity hops a query addresses (``a{b{c}}`` is 2)."""
    if isinstance(expr, Node):
        return max((q_depth(x) for x in expr.items), default=0)
    depth = 0
    t: Term | None = expr
    while t is not None and t.link is not None:
        depth += 1
        t = t.link[1]
    return depth


def q_names(expr: Expr) -> list[str]:
    """Return the attribute names a query tests (the first name of each path)."""
    if isinstance(expr, Node):
        return [n for x in expr.items for n in q_names(x)]
    return [expr.attr]


# -- scope queries and type selectors ----------------------------------------------------------

_SCOPE_TERM = re.compile(r"^/(#|[A-Za-z_][A-Za-z0-9_]*(/([A-Za-z_][A-Za-z0-9_]*|\+))*(/#)?)$")


def parse_selector(text: str, *, term_re: re.Pattern[str] | None = None) -> Expr:
    """Parse a type selector or scope query: ``,`` and ``|`` are OR, ``;`` is AND, ``( )``."""
    r = _Reader(text.replace(",", "|"))

    def or_() -> Expr:
        items = [and_()]
        while r.peek() == "|":
            r.i += 1
            items.append(and_())
        return items[0] if len(items) == 1 else Node("or", items)

    def and_() -> Expr:
        items = [atom()]
        while r.peek() == ";":
            r.i += 1
            items.append(atom())
        return items[0] if len(items) == 1 else Node("and", items)

    def atom() -> Expr:
        if r.peek() == "(":
            r.i += 1
            inner = or_()
            if r.peek() != ")":
                raise bad_data(f"{text!r}: a parenthesis is not closed")
            r.i += 1
            return inner
        m = re.compile(r"[^;|()]+").match(r.s, r.i)
        if not m:
            raise bad_data(f"{text!r}: a name is expected")
        r.i = m.end()
        word = m.group(0).strip()
        if term_re is not None and not term_re.match(word):
            raise bad_data(f"{word!r} is not valid here")
        return Term(attr=word)

    expr = or_()
    if not r.eof():
        raise bad_data(f"{text!r}: unexpected {r.s[r.i :]!r}")
    return expr


def parse_scope_q(text: str) -> Expr:
    """Parse a ``scopeQ`` (``/Madrid/#``, ``/Madrid/+/Park``, ``/#``) expression."""
    return parse_selector(text, term_re=_SCOPE_TERM)


def selector_names(expr: Expr) -> list[str]:
    """Return every name a selector mentions."""
    if isinstance(expr, Term):
        return [expr.attr]
    return [n for item in expr.items for n in selector_names(item)]


def match_selector(expr: Expr, test: Callable[[str], bool]) -> bool:
    """Evaluate a selector with a test for each name."""
    if isinstance(expr, Term):
        return test(expr.attr)
    if expr.op == "and":
        return all(match_selector(x, test) for x in expr.items)
    return any(match_selector(x, test) for x in expr.items)


def scope_matches(pattern: str, scopes: list[str]) -> bool:
    """Tell whether one scope query term matches any of an entity's scopes."""
    if pattern == "/#":
        return bool(scopes)
    pp = pattern.strip("/").split("/")
    for s in scopes:
        sp = s.strip("/").split("/")
        if _scope_levels(pp, sp):
            return True
    return False


def _scope_levels(pp: list[str], sp: list[str]) -> bool:
    for i, p in enumerate(pp):
        if p == "#":
            return True
        if i >= len(sp):
            return False
        if p != "+" and p != sp[i]:
            return False
    return len(sp) == len(pp)
