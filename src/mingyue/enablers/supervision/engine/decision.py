"""Decide how a finding is handled under inclusive-prudent supervision, from ``rules/*.yaml``.

行政处罚法 (2021) Art. 33(1)-(3) decide whether a penalty is waived, Art. 28(1) orders correction and
Art. 54 opens the ordinary procedure; 优化营商环境条例 Art. 55 and the district's exemption list
(合规免责清单 Arts. 2-4) are cited where they apply. The rules are data, evaluated first match.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, cast

import yaml

from .citations import RULES_DIR, Instrument, Ref, cite_en, cite_zh, load_instruments
from .errors import FactsError

Harm = Literal["none", "minor", "serious"]
Correction = Literal["in_time", "late", "not_yet"]
DecisionKind = Literal["penalty_procedure", "no_penalty", "discretionary", "rectification_ordered"]

HARMS: tuple[Harm, ...] = ("none", "minor", "serious")
CORRECTIONS: tuple[Correction, ...] = ("in_time", "late", "not_yet")
DECISIONS: tuple[DecisionKind, ...] = (
    "penalty_procedure",
    "no_penalty",
    "discretionary",
    "rectification_ordered",
)
BOOL_FIELDS = ("prohibited", "first_offence", "no_fault_evidence", "on_exemption_list")
FIELDS = (
    "prohibited",
    "first_offence",
    "harm",
    "corrected",
    "no_fault_evidence",
    "on_exemption_list",
)
_CHOICES: dict[str, tuple[Any, ...]] = {
    **{name: (False, True) for name in BOOL_FIELDS},
    "harm": HARMS,
    "corrected": CORRECTIONS,
}


@dataclass(frozen=True)
class Facts:
    """The facts of one case, as the officer (or the raising enabler) established them."""

    prohibited: bool
    first_offence: bool
    harm: Harm
    corrected: Correction
    no_fault_evidence: bool
    on_exemption_list: bool

    @classmethod
    def from_dict(cls, data: Any) -> Facts:
        """Validate a plain mapping; raise FactsError naming the first bad field."""
        if not isinstance(data, Mapping):
            raise FactsError("(root)", "expected a JSON object")
        for name in FIELDS:
            if name not in data:
                raise FactsError(name, "missing required field")
        for name in data:
            if name not in FIELDS:
                raise FactsError(str(name), f"unknown field; expected {', '.join(FIELDS)}")
        for name in BOOL_FIELDS:
            if not isinstance(data[name], bool):
                raise FactsError(name, "must be true or false")
        for name, allowed in (("harm", HARMS), ("corrected", CORRECTIONS)):
            value = data[name]
            if not isinstance(value, str) or value not in allowed:
                raise FactsError(name, f"must be one of {', '.join(allowed)}; got {value!r}")
        return cls(
            prohibited=data["prohibited"],
            first_offence=data["first_offence"],
            harm=cast(Harm, data["harm"]),
            corrected=cast(Correction, data["corrected"]),
            no_fault_evidence=data["no_fault_evidence"],
            on_exemption_list=data["on_exemption_list"],
        )

    def to_dict(self) -> dict[str, bool | str]:
        """Return the facts as a JSON-ready mapping (the inputs echo of a decision)."""
        return {name: getattr(self, name) for name in FIELDS}

    @classmethod
    def every(cls) -> Iterator[Facts]:
        """Yield all 144 combinations of the facts (2*2*3*3*2*2)."""
        for values in itertools.product(*(_CHOICES[name] for name in FIELDS)):
            yield cls(**dict(zip(FIELDS, values, strict=True)))


@dataclass(frozen=True)
class Note:
    """A remark that accompanies a decision (education duty, mitigation, …) with its citations."""

    id: str
    zh: str
    en: str
    basis: tuple[str, ...]
    basis_zh: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping."""
        return {
            "id": self.id,
            "zh": self.zh,
            "en": self.en,
            "basis": list(self.basis),
            "basis_zh": list(self.basis_zh),
        }


@dataclass(frozen=True)
class Reason:
    """Why: the bilingual reason of the rule that fired, its id and the facts it saw."""

    zh: str
    en: str
    rule_id: str
    inputs: Facts

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"zh", "en", "rule", "inputs"}``."""
        return {"zh": self.zh, "en": self.en, "rule": self.rule_id, "inputs": self.inputs.to_dict()}


@dataclass(frozen=True)
class Decision:
    """The decision, its citations (English and Chinese form), the reason and the notes."""

    decision: DecisionKind
    basis: tuple[str, ...]
    basis_zh: tuple[str, ...]
    reason: Reason
    notes: tuple[Note, ...]
    title_zh: str
    title_en: str
    rules_version: str
    rules_effective: str

    def to_dict(self) -> dict[str, Any]:
        """Return the stable JSON shape of the CLI contract (plus explanatory keys)."""
        return {
            "decision": self.decision,
            "basis": list(self.basis),
            "basis_zh": list(self.basis_zh),
            "reason": self.reason.to_dict(),
            "notes": [n.to_dict() for n in self.notes],
            "title": {"zh": self.title_zh, "en": self.title_en},
            "rules_version": self.rules_version,
            "rules_effective": self.rules_effective,
        }


@dataclass(frozen=True)
class Rule:
    """One row of the decision table."""

    id: str
    decision: DecisionKind
    when: Any
    basis: tuple[Ref, ...]
    reason_zh: str
    reason_en: str


@dataclass(frozen=True)
class NoteRule:
    """A note and the condition (over facts, ``decision`` and ``rule``) under which it is added."""

    id: str
    when: Any
    basis: tuple[Ref, ...]
    zh: str
    en: str


@dataclass(frozen=True)
class Rulebook:
    """The decision table, the notes and the instruments they cite."""

    version: str
    effective: str
    titles: dict[str, dict[str, str]]
    rules: tuple[Rule, ...]
    notes: tuple[NoteRule, ...]
    instruments: dict[str, Instrument]

    def cite(self, ref: Ref) -> str:
        """Format a reference as '<instrument> Art. N(k)'."""
        return cite_en(self.instruments[ref.instrument], ref)

    def cite_zh(self, ref: Ref) -> str:
        """Format a reference as '<instrument>第N条第k款'."""
        return cite_zh(self.instruments[ref.instrument], ref)


_NOTE_FIELDS: dict[str, tuple[Any, ...]] = {**_CHOICES, "decision": DECISIONS, "rule": ()}


def _check_cond(cond: Any, where: str, fields: Mapping[str, tuple[Any, ...]]) -> None:
    if cond is True:
        return
    if not isinstance(cond, dict):
        raise ValueError(f"{where}: condition must be a mapping or true: {cond!r}")
    if "all" in cond or "any" in cond:
        subs = cond["all"] if "all" in cond else cond["any"]
        if not isinstance(subs, list):
            raise ValueError(f"{where}: all/any takes a list: {cond!r}")
        for sub in subs:
            _check_cond(sub, where, fields)
        return
    if "not" in cond:
        _check_cond(cond["not"], where, fields)
        return
    name = cond.get("field")
    if not isinstance(name, str) or name not in fields:
        raise ValueError(f"{where}: unknown field {name!r} in condition")
    ops = [op for op in ("eq", "ne", "in") if op in cond]
    if len(ops) != 1 or len(cond) != 2:
        raise ValueError(f"{where}: a condition needs one of eq, ne, in: {cond!r}")
    allowed = fields[name]
    values = cond["in"] if ops[0] == "in" else [cond[ops[0]]]
    for value in values:
        if allowed and value not in allowed:
            raise ValueError(f"{where}: {name} cannot be {value!r}")


def _holds(cond: Any, facts: Mapping[str, Any]) -> bool:
    if cond is True:
        return True
    if "all" in cond:
        return all(_holds(c, facts) for c in cond["all"])
    if "any" in cond:
        return any(_holds(c, facts) for c in cond["any"])
    if "not" in cond:
        return not _holds(cond["not"], facts)
    actual = facts[cond["field"]]
    if "eq" in cond:
        return bool(actual == cond["eq"])
    if "ne" in cond:
        return bool(actual != cond["ne"])
    return actual in cond["in"]


def _refs(
    raw: Any, where: str, instruments: Mapping[str, Instrument], *, pinpoint: bool
) -> tuple[Ref, ...]:
    refs = tuple(Ref.from_dict(r, where) for r in raw)
    for ref in refs:
        if ref.instrument not in instruments:
            raise ValueError(f"{where}: unknown instrument {ref.instrument}")
        if pinpoint and ref.article is None:
            raise ValueError(f"{where}: a decision's basis cites an article: {ref}")
    return refs


@lru_cache(maxsize=4)
def load_rulebook(rules_dir: Path = RULES_DIR) -> Rulebook:
    """Load and check the decision table: complete over all 144 facts, no rule that never fires."""
    instruments = load_instruments(rules_dir)
    doc = yaml.safe_load((rules_dir / "decision_rules.yaml").read_text(encoding="utf-8"))
    titles = {str(k): {"zh": str(v["zh"]), "en": str(v["en"])} for k, v in doc["decisions"].items()}
    if set(titles) != set(DECISIONS):
        raise ValueError(f"decisions must be exactly {', '.join(DECISIONS)}")
    rules: list[Rule] = []
    for raw in doc["rules"]:
        where = f"rule {raw.get('id')}"
        if raw.get("decision") not in DECISIONS:
            raise ValueError(f"{where}: unknown decision {raw.get('decision')!r}")
        _check_cond(raw["when"], where, _CHOICES)
        basis = _refs(raw["basis"], where, instruments, pinpoint=True)
        if not basis or not raw["reason"].get("zh") or not raw["reason"].get("en"):
            raise ValueError(f"{where}: needs a basis and a reason in zh and en")
        rules.append(
            Rule(
                id=str(raw["id"]),
                decision=raw["decision"],
                when=raw["when"],
                basis=basis,
                reason_zh=str(raw["reason"]["zh"]),
                reason_en=str(raw["reason"]["en"]),
            )
        )
    if len({r.id for r in rules}) != len(rules):
        raise ValueError("duplicate rule ids")
    note_fields = {**_NOTE_FIELDS, "rule": tuple(r.id for r in rules)}
    notes: list[NoteRule] = []
    for raw in doc.get("notes", []):
        where = f"note {raw.get('id')}"
        _check_cond(raw["when"], where, note_fields)
        notes.append(
            NoteRule(
                id=str(raw["id"]),
                when=raw["when"],
                basis=_refs(raw["basis"], where, instruments, pinpoint=False),
                zh=str(raw["zh"]),
                en=str(raw["en"]),
            )
        )
    fired: set[str] = set()
    for facts in Facts.every():
        rule = _first(rules, facts.to_dict())
        if rule is None:
            raise ValueError(f"no rule matches {facts.to_dict()}")
        fired.add(rule.id)
    dead = [r.id for r in rules if r.id not in fired]
    if dead:
        raise ValueError(f"rules that can never fire: {', '.join(dead)}")
    return Rulebook(
        version=str(doc["version"]),
        effective=str(doc["effective"]),
        titles=titles,
        rules=tuple(rules),
        notes=tuple(notes),
        instruments=instruments,
    )


def _first(rules: tuple[Rule, ...] | list[Rule], facts: Mapping[str, Any]) -> Rule | None:
    for rule in rules:
        if _holds(rule.when, facts):
            return rule
    return None


def rules_version() -> str:
    """Return the version of the decision table in force (``rules/decision_rules.yaml``)."""
    return load_rulebook().version


def decide(facts: Mapping[str, Any] | Facts, rulebook: Rulebook | None = None) -> Decision:
    """Decide the handling of a case under 行政处罚法 Art. 33, 28(1) and 54; first rule that holds."""
    book = rulebook or load_rulebook()
    fx = facts if isinstance(facts, Facts) else Facts.from_dict(facts)
    plain: dict[str, Any] = dict(fx.to_dict())
    rule = _first(book.rules, plain)
    if rule is None:  # load_rulebook proved every combination matches
        raise AssertionError(f"no rule matched {plain}")
    plain.update(decision=rule.decision, rule=rule.id)
    notes = tuple(
        Note(
            id=n.id,
            zh=n.zh,
            en=n.en,
            basis=tuple(book.cite(r) for r in n.basis),
            basis_zh=tuple(book.cite_zh(r) for r in n.basis),
        )
        for n in book.notes
        if _holds(n.when, plain)
    )
    title = book.titles[rule.decision]
    return Decision(
        decision=rule.decision,
        basis=tuple(book.cite(r) for r in rule.basis),
        basis_zh=tuple(book.cite_zh(r) for r in rule.basis),
        reason=Reason(zh=rule.reason_zh, en=rule.reason_en, rule_id=rule.id, inputs=fx),
        notes=notes,
        title_zh=title["zh"],
        title_en=title["en"],
        rules_version=book.version,
        rules_effective=book.effective,
    )


def read_facts(path: str | Path) -> Facts:
    """Read the facts from a JSON file; a missing, binary or non-JSON file raises FactsError."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise FactsError("(file)", f"no such file {p}") from None
    except IsADirectoryError:
        raise FactsError("(file)", f"{p} is a directory") from None
    except OSError as exc:
        raise FactsError("(file)", f"cannot read {p}: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise FactsError("(file)", f"{p} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise FactsError("(file)", f"not JSON: {exc.msg} at line {exc.lineno}") from None
    return Facts.from_dict(data)
