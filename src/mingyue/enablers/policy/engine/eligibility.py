"""Eligibility of an enterprise for a measure: structured rules (data) against a profile.

A measure (``rules/measures.yaml``) cites the clause that grants it and lists its conditions;
each condition tests one fact of the enterprise's profile (``FACTS``) with one operator
(``OPS``), or groups conditions with ``any``. A condition is **met**, **unmet**, **unknown** (the
profile lacks the fact) or **to confirm** (``soft``: a judgement the department makes, such as
"fills a gap in the area's businesses"). The verdict:

- ``eligible``: every condition met;
- ``likely``: none unmet, some unknown or to confirm (the reasons say what to confirm);
- ``missing``: at least one unmet ("missing: X" names each).

Pure: a loaded YAML document and a ``Profile`` in, a ``Match`` out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import yaml

from .industry import SME_CLASSES, Industry, parse_industry, size_class

Verdict = Literal["eligible", "likely", "missing"]
Status = Literal["met", "unmet", "unknown", "to_confirm"]

QUALIFICATIONS = (
    "hnte",  # 高新技术企业 (高新技术企业认定管理办法, 国科发火〔2016〕32号)
    "tsme",  # 科技型中小企业 (科技型中小企业评价办法, 国科发政〔2017〕115号)
    "srdi",  # 专精特新中小企业 (优质中小企业梯度培育管理暂行办法, 工信部企业〔2022〕63号)
    "srdi_giant",  # 专精特新"小巨人"企业 (same)
    "innovative_sme",  # 创新型中小企业 (same)
    "new_rd_institution",  # 新型研发机构
)
LISTINGS = ("none", "neeq", "ipo_domestic", "ipo_overseas")
SECTORS = (
    "ai",
    "web3",
    "smart_terminal",
    "satellite",
    "fintech",
    "digital_content",
    "icv",
    "commerce",
)

# Facts a rule may test, with their type.
FACTS: dict[str, str] = {
    "industry": "industry",
    "size_class": "text",
    "is_sme": "bool",
    "district": "text",
    "park": "text",
    "qualifications": "set",
    "sectors": "set",
    "listing": "text",
    "headcount": "number",
    "revenue": "number",
    "rd_spend": "number",
    "rd_ratio": "number",
    "age_years": "number",
}
OPS: dict[str, frozenset[str]] = {
    "eq": frozenset({"text", "bool"}),
    "in": frozenset({"text"}),
    "not_in": frozenset({"text"}),
    "gte": frozenset({"number"}),
    "gt": frozenset({"number"}),
    "lte": frozenset({"number"}),
    "lt": frozenset({"number"}),
    "any_of": frozenset({"set"}),
    "all_of": frozenset({"set"}),
    "under": frozenset({"industry"}),
}


@dataclass(frozen=True)
class Profile:
    """What the rules may know of an enterprise (money in 10,000 yuan, as statistics state it)."""

    organization_id: int
    name: str
    industry_code: str | None = None
    size_class: str | None = None  # declared; derived from the figures when None
    is_sme: bool | None = None  # the platform's SME flag of the organization
    district: str | None = None
    park: str | None = None
    qualifications: frozenset[str] = frozenset()
    sectors: frozenset[str] = frozenset()
    listing: str | None = None
    headcount: int | None = None
    revenue: Decimal | None = None
    total_assets: Decimal | None = None
    rd_spend: Decimal | None = None
    established: date | None = None

    def industry(self) -> Industry | None:
        """Return the parsed industry code (None when absent or unreadable)."""
        if not self.industry_code:
            return None
        try:
            return parse_industry(self.industry_code)
        except ValueError:
            return None

    def derived_size(self) -> str | None:
        """Return the declared size class, or the one the 2017 rules give for the figures."""
        if self.size_class:
            return self.size_class
        ind = self.industry()
        if ind is None:
            return None
        return size_class(
            ind, headcount=self.headcount, revenue=self.revenue, assets=self.total_assets
        )

    def fact(self, name: str, today: date) -> Any:
        """Return one fact by name (None when the profile does not know it)."""
        if name == "industry":
            return self.industry()
        if name == "size_class":
            return self.derived_size()
        if name == "is_sme":
            size = self.derived_size()
            return size in SME_CLASSES if size is not None else self.is_sme
        if name == "rd_ratio":
            if self.rd_spend is None or not self.revenue:
                return None
            return (self.rd_spend / self.revenue * 100).quantize(Decimal("0.01"))
        if name == "age_years":
            if self.established is None:
                return None
            return Decimal((today - self.established).days) / Decimal("365.25")
        if name in ("qualifications", "sectors"):
            return getattr(self, name)
        return getattr(self, name)


@dataclass(frozen=True)
class Condition:
    """One condition of a measure: a test of one fact, or ``any`` of several, or a judgement."""

    id: str
    label: dict[str, str]
    fact: str | None = None
    op: str | None = None
    value: Any = None
    any: tuple[Condition, ...] = ()
    soft: bool = False


@dataclass(frozen=True)
class Measure:
    """A support measure: what it gives, the clause that grants it, who runs it, its conditions."""

    key: str
    title: dict[str, str]
    benefit: dict[str, str]
    clause: str  # the clause id, ``<doc-slug>@<version>#<path>``
    clause_path: str
    department: str
    no_application: bool
    conditions: tuple[Condition, ...]
    note: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rulebook:
    """The measures of one rules file, with its version (the file's SHA-256)."""

    document: str
    version: str
    measures: tuple[Measure, ...]
    sha256: str

    def get(self, key: str) -> Measure | None:
        """Return the measure of this key, if any."""
        return next((m for m in self.measures if m.key == key), None)


@dataclass(frozen=True)
class Check:
    """The outcome of one condition for one enterprise."""

    id: str
    status: Status
    label: dict[str, str]
    actual: str | None = None  # the profile's value, as text
    values: tuple[tuple[str, str], ...] = ()  # (fact, value as text) of each fact tested


@dataclass(frozen=True)
class Match:
    """An enterprise against a measure: the verdict and a reason per condition."""

    measure: str
    organization_id: int
    verdict: Verdict
    checks: tuple[Check, ...]

    @property
    def missing(self) -> list[Check]:
        """Return the conditions not met."""
        return [c for c in self.checks if c.status == "unmet"]

    @property
    def to_confirm(self) -> list[Check]:
        """Return the conditions unknown or left to the department's judgement."""
        return [c for c in self.checks if c.status in ("unknown", "to_confirm")]


# -- loading --------------------------------------------------------------------------------------


def _text(node: Any, where: str, what: str) -> dict[str, str]:
    if not isinstance(node, Mapping) or not node.get("zh") or not node.get("en"):
        raise ValueError(f"{where}: {what} needs zh and en text")
    return {"zh": str(node["zh"]), "en": str(node["en"])}


def _condition(node: Any, where: str) -> Condition:
    if not isinstance(node, Mapping):
        raise ValueError(f"{where}: a condition is a mapping")
    cid = str(node.get("id") or "")
    label = _text(node.get("label"), where, "label") if "label" in node else {}
    if "any" in node:
        subs = node["any"]
        if not isinstance(subs, list) or len(subs) < 2:
            raise ValueError(f"{where}: 'any' lists at least two conditions")
        parts = tuple(
            _condition({**s, "label": s.get("label", label)}, f"{where}.any[{i}]")
            for i, s in enumerate(subs)
        )
        if not label:
            raise ValueError(f"{where}: an 'any' group needs a label")
        return Condition(id=cid, label=label, any=parts)
    if not label:
        raise ValueError(f"{where}: a condition needs a label")
    if node.get("soft"):
        return Condition(id=cid, label=label, soft=True)
    fact, op = node.get("fact"), node.get("op")
    if fact not in FACTS:
        raise ValueError(f"{where}: unknown fact {fact!r} (one of {', '.join(FACTS)})")
    if op not in OPS or FACTS[fact] not in OPS[op]:
        raise ValueError(f"{where}: operator {op!r} does not apply to {fact} ({FACTS[fact]})")
    value = node.get("value")
    if FACTS[fact] == "number":
        try:
            value = Decimal(str(value))
        except InvalidOperation as exc:
            raise ValueError(f"{where}: {fact} compares with a number, not {value!r}") from exc
    elif op in ("in", "not_in", "any_of", "all_of", "under"):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise ValueError(f"{where}: {op} needs a list of values")
        value = tuple(str(v) for v in value)
        if fact == "qualifications" and (bad := set(value) - set(QUALIFICATIONS)):
            raise ValueError(f"{where}: unknown qualification(s) {sorted(bad)}")
        if fact == "sectors" and (bad := set(value) - set(SECTORS)):
            raise ValueError(f"{where}: unknown sector(s) {sorted(bad)}")
        if fact == "industry":
            for v in value:
                try:
                    parse_industry(v)
                except ValueError as exc:
                    raise ValueError(f"{where}: {exc}") from exc
    return Condition(id=cid, label=label, fact=fact, op=op, value=value)


def load_rulebook(path: Path) -> Rulebook:
    """Load and validate a measures file; ValueError naming the measure and the problem."""
    raw = path.read_bytes()
    doc = yaml.safe_load(raw.decode("utf-8"))
    if not isinstance(doc, Mapping) or not isinstance(doc.get("measures"), list):
        raise ValueError(f"{path.name}: expected a mapping with a 'measures' list")
    source = doc.get("source") or {}
    slug, version = str(source.get("document", "")), str(source.get("version", ""))
    if not slug or not version:
        raise ValueError(f"{path.name}: source.document and source.version are required")
    measures: list[Measure] = []
    seen: set[str] = set()
    for i, node in enumerate(doc["measures"]):
        key = str(node.get("key") or "") if isinstance(node, Mapping) else ""
        where = f"{path.name}: measure {key or i}"
        if not key or not key.replace("_", "").replace("-", "").isalnum() or key in seen:
            raise ValueError(f"{where}: a unique key of letters, digits, - and _ is required")
        seen.add(key)
        clause_path = str(node.get("clause") or "")
        if not clause_path:
            raise ValueError(f"{where}: cite the clause that grants it")
        conds = node.get("conditions")
        if not isinstance(conds, list) or not conds:
            raise ValueError(f"{where}: list its conditions")
        conditions = tuple(_condition(c, f"{where}.conditions[{j}]") for j, c in enumerate(conds))
        ids = [c.id for c in conditions]
        if any(not c for c in ids) or len(set(ids)) != len(ids):
            raise ValueError(f"{where}: every condition needs a unique id")
        measures.append(
            Measure(
                key=key,
                title=_text(node.get("title"), where, "title"),
                benefit=_text(node.get("benefit"), where, "benefit"),
                clause=f"{slug}@{version}#{clause_path}",
                clause_path=clause_path,
                department=str(node.get("department") or ""),
                no_application=bool(node.get("no_application", False)),
                conditions=conditions,
                note=_text(node["note"], where, "note") if node.get("note") else {},
            )
        )
    return Rulebook(
        document=slug,
        version=version,
        measures=tuple(measures),
        sha256=hashlib.sha256(raw).hexdigest(),
    )


# -- evaluation -----------------------------------------------------------------------------------


def _show(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Industry):
        return value.code
    if isinstance(value, (set, frozenset, tuple, list)):
        return ",".join(sorted(str(v) for v in value)) or "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value.quantize(Decimal('0.01')).normalize():f}"
    return str(value)


def _test(cond: Condition, value: Any) -> bool:
    op, want = cond.op, cond.value
    if op == "eq":
        return bool(value == want) if not isinstance(want, str) else str(value) == want
    if op == "in":
        return str(value) in want
    if op == "not_in":
        return str(value) not in want
    if op in ("gte", "gt", "lte", "lt"):
        v, w = Decimal(str(value)), Decimal(want)
        return {"gte": v >= w, "gt": v > w, "lte": v <= w, "lt": v < w}[op]
    if op == "any_of":
        return bool(set(value) & set(want))
    if op == "all_of":
        return set(want) <= set(value)
    if op == "under":
        return any(value.under(p) for p in want)
    raise ValueError(f"unknown operator {op!r}")


def _evaluate(cond: Condition, profile: Profile, today: date) -> Check:
    if cond.soft:
        return Check(cond.id, "to_confirm", cond.label)
    if cond.any:
        parts = [_evaluate(c, profile, today) for c in cond.any]
        statuses = {p.status for p in parts}
        status: Status
        if "met" in statuses:
            status = "met"
        elif "unknown" in statuses or "to_confirm" in statuses:
            status = "unknown"
        else:
            status = "unmet"
        actual = "; ".join(p.actual for p in parts if p.actual) or None
        values = tuple(v for p in parts for v in p.values)
        return Check(cond.id, status, cond.label, actual, values)
    if cond.fact is None:  # a judgement is "soft": handled above
        return Check(cond.id, "to_confirm", cond.label)
    value = profile.fact(cond.fact, today)
    shown = _show(value)
    # An empty set is a known fact (no qualification), not a missing one.
    if value is None:
        return Check(cond.id, "unknown", cond.label, None)
    status = "met" if _test(cond, value) else "unmet"
    return Check(cond.id, status, cond.label, shown, ((cond.fact, shown or ""),))


def match(measure: Measure, profile: Profile, today: date) -> Match:
    """Judge one enterprise against one measure, with a reason per condition."""
    checks = tuple(_evaluate(c, profile, today) for c in measure.conditions)
    statuses = {c.status for c in checks}
    verdict: Verdict
    if "unmet" in statuses:
        verdict = "missing"
    elif statuses - {"met"}:
        verdict = "likely"
    else:
        verdict = "eligible"
    return Match(measure.key, profile.organization_id, verdict, checks)


def match_all(measures: Sequence[Measure], profile: Profile, today: date) -> list[Match]:
    """Judge one enterprise against every measure: eligible first, then likely, then missing."""
    order = {"eligible": 0, "likely": 1, "missing": 2}
    out = [match(m, profile, today) for m in measures]
    return sorted(out, key=lambda m: (order[m.verdict], len(m.missing), m.measure))
