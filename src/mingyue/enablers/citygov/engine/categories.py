"""The category table of city cases (部件/事件): codes, owning department, time limit, reward.

Plain data in, typed catalogue out (``load_catalogue(text)``); every problem in the file is an
``InvalidInput`` naming the entry, so a city's replacement table is checked before use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

from mingyue.sdk.errors import InvalidInput

CODE_RE = re.compile(r"^[CE](0[1-9])(\d{2})$")
LIMIT_RE = re.compile(r"^(\d+(?:\.\d+)?)(wh|wd|h)$")
KINDS = {"C": "component", "E": "event"}
PRIORITIES = ("normal", "urgent")


@dataclass(frozen=True)
class Limit:
    """A time limit: an amount of working hours (``wh``), working days (``wd``) or clock hours."""

    amount: float
    unit: str

    def __str__(self) -> str:
        amount = f"{self.amount:g}"
        return f"{amount}{self.unit}"


@dataclass(frozen=True)
class Category:
    """One sub-category (小类) of a component or an event."""

    code: str
    kind: str
    cls: str
    title: dict[str, str]
    department: str
    limit: Limit
    priority: str
    reward_cny: Decimal
    public: bool
    keywords: tuple[str, ...]
    aliases: tuple[str, ...]
    source: str

    def name(self, lang: str) -> str:
        """Return the category's name in ``zh`` or ``en``."""
        return self.title.get(lang) or self.title["zh"]


@dataclass(frozen=True)
class Catalogue:
    """Every category, the department and class names, the centre's stage limits, the sources."""

    version: str
    categories: dict[str, Category]
    departments: dict[str, dict[str, str]]
    classes: dict[str, dict[str, dict[str, str]]]
    stages: dict[str, Limit]
    sources: dict[str, str]
    by_alias: dict[str, str] = field(default_factory=dict)

    def get(self, code_or_alias: str) -> Category:
        """Return the category of a code (``E0102``) or an alias (``septic_tank``)."""
        key = (code_or_alias or "").strip()
        code = key.upper() if CODE_RE.match(key.upper()) else self.by_alias.get(key.lower(), "")
        found = self.categories.get(code)
        if found is None:
            raise InvalidInput(
                "citygov.unknown_category",
                f"unknown category {key[:40]!r}",
                field="category",
                category=key[:40],
            )
        return found

    def class_name(self, cat: Category, lang: str) -> str:
        """Return the major class (大类) of a category in ``zh`` or ``en``."""
        names = self.classes.get(cat.kind, {}).get(cat.cls, {})
        return names.get(lang) or names.get("zh") or cat.cls

    def department_name(self, department: str, lang: str) -> str:
        """Return a department kind's name in ``zh`` or ``en``."""
        names = self.departments.get(department, {})
        return names.get(lang) or names.get("zh") or department


def parse_limit(text: Any, *, where: str) -> Limit:
    """Parse ``"4wh"``, ``"2wd"`` or ``"2h"`` into a Limit (InvalidInput otherwise)."""
    m = LIMIT_RE.match(str(text).strip())
    if not m or float(m.group(1)) <= 0:
        raise InvalidInput(
            "citygov.rules.bad_limit",
            f"{where}: time limit {text!r} must look like 4wh, 2wd or 2h",
            field="limit",
        )
    return Limit(float(m.group(1)), m.group(2))


def _names(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not isinstance(value.get("zh"), str) or not value["zh"]:
        raise InvalidInput("citygov.rules.bad_entry", f"{where}: needs a zh name", field=where)
    return {"zh": value["zh"], "en": str(value.get("en") or value["zh"])}


def _category(raw: Any, departments: dict[str, Any], classes: dict[str, Any]) -> Category:
    if not isinstance(raw, dict):
        raise InvalidInput("citygov.rules.bad_entry", "a category must be a mapping", field="code")
    code = str(raw.get("code", ""))
    m = CODE_RE.match(code)
    if not m:
        raise InvalidInput(
            "citygov.rules.bad_entry", f"category code {code!r} must look like C0101", field="code"
        )
    kind = KINDS[code[0]]
    if m.group(1) not in classes.get(kind, {}):
        raise InvalidInput(
            "citygov.rules.bad_entry", f"{code}: class {m.group(1)} is not declared", field="code"
        )
    department = str(raw.get("department", ""))
    if department not in departments:
        raise InvalidInput(
            "citygov.rules.bad_entry", f"{code}: unknown department {department!r}", field="code"
        )
    priority = str(raw.get("priority", "normal"))
    if priority not in PRIORITIES:
        raise InvalidInput("citygov.rules.bad_entry", f"{code}: bad priority", field="code")
    try:
        reward = Decimal(str(raw.get("reward_cny", "0")))
    except InvalidOperation:
        raise InvalidInput("citygov.rules.bad_entry", f"{code}: bad reward", field="code") from None
    if not reward.is_finite() or reward < 0 or reward > 10000:
        raise InvalidInput("citygov.rules.bad_entry", f"{code}: bad reward", field="code")
    return Category(
        code=code,
        kind=kind,
        cls=m.group(1),
        title=_names(raw, code),
        department=department,
        limit=parse_limit(raw.get("limit"), where=code),
        priority=priority,
        reward_cny=reward.quantize(Decimal("0.01")),
        public=bool(raw.get("public", True)),
        keywords=tuple(str(k) for k in raw.get("keywords") or ()),
        aliases=tuple(str(a).lower() for a in raw.get("aliases") or ()),
        source=str(raw.get("source", "default")),
    )


def load_catalogue(text: str) -> Catalogue:
    """Parse and check a category table (YAML text)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput("citygov.rules.bad_yaml", f"not YAML: {exc}", field="rules") from None
    if not isinstance(doc, dict):
        raise InvalidInput("citygov.rules.bad_yaml", "the table must be a mapping", field="rules")
    departments = {str(k): _names(v, str(k)) for k, v in (doc.get("departments") or {}).items()}
    classes = {
        str(kind): {str(c): _names(n, f"{kind}.{c}") for c, n in (entries or {}).items()}
        for kind, entries in (doc.get("classes") or {}).items()
    }
    stages = {
        name: parse_limit(doc.get("stages", {}).get(name), where=f"stages.{name}")
        for name in ("register", "dispatch", "verify")
    }
    sources = {str(k): str(v) for k, v in (doc.get("sources") or {}).items()}
    cats: dict[str, Category] = {}
    aliases: dict[str, str] = {}
    for raw in doc.get("categories") or ():
        cat = _category(raw, departments, classes)
        if cat.code in cats:
            raise InvalidInput("citygov.rules.bad_entry", f"duplicate {cat.code}", field="code")
        if cat.source not in sources:
            raise InvalidInput(
                "citygov.rules.bad_entry",
                f"{cat.code}: unknown source {cat.source!r}",
                field="code",
            )
        cats[cat.code] = cat
        for alias in cat.aliases:
            if alias in aliases:
                raise InvalidInput(
                    "citygov.rules.bad_entry", f"alias {alias!r} used twice", field="aliases"
                )
            aliases[alias] = cat.code
    if not cats:
        raise InvalidInput("citygov.rules.bad_yaml", "no categories", field="rules")
    return Catalogue(
        version=str(doc.get("version", "")),
        categories=cats,
        departments=departments,
        classes=classes,
        stages=stages,
        sources=sources,
        by_alias=aliases,
    )
