"""Decide which legal path an outbound transfer takes, from the rules in ``rules/*.yaml``.

促进和规范数据跨境流动规定 (2024) Arts. 3-8 decide; PIPL Arts. 38-40, 55-56 add obligations; the
2022 and 2023 Measures are cited where they agree and named where the 2024 text changed the answer
(Art. 13: the later instrument governs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"

PATHS = ("security_assessment", "standard_contract_or_certification", "exempt")
PURPOSES = (
    "contract_with_individual",
    "hr_management",
    "emergency",
    "foreign_collected_returned",
    "no_personal_information",
    "other",
)
REQUIRED_FIELDS = (
    "ciio",
    "important_data",
    "pi_individuals",
    "sensitive_pi_individuals",
    "purpose",
)
OPTIONAL_FIELDS = ("ftz_negative_list",)


class ScenarioError(ValueError):
    """A transfer scenario is invalid; ``field`` names the offending field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class Scenario:
    """One outbound transfer, as the 2024 Provisions count it (since 1 January of this year)."""

    ciio: bool
    important_data: bool
    pi_individuals: int
    sensitive_pi_individuals: int
    purpose: str
    ftz_negative_list: bool | None = None

    @classmethod
    def from_dict(cls, data: Any) -> Scenario:
        """Validate a plain mapping; raise ScenarioError naming the first bad field."""
        if not isinstance(data, dict):
            raise ScenarioError("(root)", "expected a JSON object")
        for name in REQUIRED_FIELDS:
            if name not in data:
                raise ScenarioError(name, "missing required field")
        for name in data:
            if name not in REQUIRED_FIELDS and name not in OPTIONAL_FIELDS:
                raise ScenarioError(str(name), "unknown field")
        for name in ("ciio", "important_data"):
            if not isinstance(data[name], bool):
                raise ScenarioError(name, "must be true or false")
        for name in ("pi_individuals", "sensitive_pi_individuals"):
            value = data[name]
            if isinstance(value, bool) or not isinstance(value, int):
                raise ScenarioError(name, "must be an integer")
            if value < 0:
                raise ScenarioError(name, "must not be negative")
        purpose = data["purpose"]
        if not isinstance(purpose, str) or purpose not in PURPOSES:
            raise ScenarioError(
                "purpose", f"unknown purpose {purpose!r}; one of {', '.join(PURPOSES)}"
            )
        ftz = data.get("ftz_negative_list")
        if ftz is not None and not isinstance(ftz, bool):
            raise ScenarioError("ftz_negative_list", "must be null, true or false")
        if purpose == "no_personal_information" and (
            data["pi_individuals"] or data["sensitive_pi_individuals"]
        ):
            raise ScenarioError(
                "purpose", "no_personal_information contradicts non-zero individual counts"
            )
        return cls(
            ciio=data["ciio"],
            important_data=data["important_data"],
            pi_individuals=data["pi_individuals"],
            sensitive_pi_individuals=data["sensitive_pi_individuals"],
            purpose=purpose,
            ftz_negative_list=ftz,
        )

    @property
    def transfers_pi(self) -> bool:
        """Whether personal information leaves China in this scenario."""
        return bool(
            self.pi_individuals
            or self.sensitive_pi_individuals
            or self.purpose
            in (
                "contract_with_individual",
                "hr_management",
                "emergency",
                "foreign_collected_returned",
            )
        )


@dataclass(frozen=True)
class Obligation:
    """A duty that applies to the transfer, with its citations."""

    id: str
    basis: list[str]
    zh: str
    en: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping."""
        return {"id": self.id, "basis": list(self.basis), "zh": self.zh, "en": self.en}


@dataclass(frozen=True)
class Decision:
    """The legal path, every citation behind it and the obligations that still apply."""

    path: str
    basis: list[str]
    obligations: list[Obligation]
    rule_id: str
    reason_zh: str
    reason_en: str
    notes: list[dict[str, str]] = field(default_factory=list)
    rules_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the stable JSON shape of the CLI contract (plus explanatory keys)."""
        return {
            "path": self.path,
            "basis": list(self.basis),
            "obligations": [o.to_dict() for o in self.obligations],
            "rule": self.rule_id,
            "reason": {"zh": self.reason_zh, "en": self.reason_en},
            "notes": list(self.notes),
            "rules_version": self.rules_version,
        }


@dataclass(frozen=True)
class Rulebook:
    """Instruments and rules loaded from YAML."""

    instruments: dict[str, dict[str, Any]]
    thresholds: dict[str, int]
    rules: list[dict[str, Any]]
    legacy_rules: list[dict[str, Any]]
    obligations: list[dict[str, Any]]
    version: str

    def cite(self, ref: dict[str, Any]) -> str:
        """Format a citation as '<instrument> Art. N(k)'."""
        inst = self.instruments[ref["instrument"]]
        text = f"{inst['cite']} Art. {ref['article']}"
        if "item" in ref:
            text += f"({ref['item']})"
        return text


@lru_cache(maxsize=4)
def load_rulebook(rules_dir: Path = RULES_DIR) -> Rulebook:
    """Load and check the rule tables (cached: they are immutable data files)."""
    inst_doc = yaml.safe_load((rules_dir / "instruments.yaml").read_text(encoding="utf-8"))
    doc = yaml.safe_load((rules_dir / "transfer_rules.yaml").read_text(encoding="utf-8"))
    book = Rulebook(
        instruments=inst_doc["instruments"],
        thresholds={k: int(v) for k, v in doc["thresholds"].items()},
        rules=doc["rules"],
        legacy_rules=doc["legacy_rules"],
        obligations=doc["obligations"],
        version=str(doc["version"]),
    )
    for inst in book.instruments.values():
        for key in ("cite", "effective"):
            if key not in inst:
                raise ValueError(f"instrument without {key}: {inst}")
    for rule in [*book.rules, *book.legacy_rules, *book.obligations]:
        if "path" in rule and rule["path"] not in PATHS:
            raise ValueError(f"rule {rule['id']}: unknown path {rule['path']}")
        for ref in rule["basis"]:
            if ref["instrument"] not in book.instruments:
                raise ValueError(f"rule {rule['id']}: unknown instrument {ref['instrument']}")
    if book.rules[-1]["when"] is not True:
        raise ValueError("the last rule must be a catch-all (when: true)")
    return book


def _value(book: Rulebook, raw: Any) -> Any:
    if isinstance(raw, dict) and "threshold" in raw:
        return book.thresholds[raw["threshold"]]
    return raw


def _holds(book: Rulebook, cond: Any, facts: dict[str, Any]) -> bool:
    if cond is True:
        return True
    if "all" in cond:
        return all(_holds(book, c, facts) for c in cond["all"])
    if "any" in cond:
        return any(_holds(book, c, facts) for c in cond["any"])
    if "not" in cond:
        return not _holds(book, cond["not"], facts)
    actual = facts[cond["field"]]
    for op in ("eq", "ne", "lt", "lte", "gt", "gte", "in"):
        if op in cond:
            want = _value(book, cond[op])
            if op == "eq":
                return bool(actual == want)
            if op == "ne":
                return bool(actual != want)
            if op == "in":
                return actual in want
            if actual is None:
                return False
            if op == "lt":
                return bool(actual < want)
            if op == "lte":
                return bool(actual <= want)
            if op == "gt":
                return bool(actual > want)
            return bool(actual >= want)
    raise ValueError(f"condition without operator: {cond}")


def _first(book: Rulebook, rules: list[dict[str, Any]], facts: dict[str, Any]) -> dict[str, Any]:
    for rule in rules:
        if _holds(book, rule["when"], facts):
            return rule
    raise ValueError("no rule matched")  # unreachable: the rule tables end with a catch-all


def assess(scenario: Scenario | dict[str, Any], rulebook: Rulebook | None = None) -> Decision:
    """Return the legal path for a transfer scenario (CAC 2024 Arts. 3-8), with citations."""
    book = rulebook or load_rulebook()
    sc = scenario if isinstance(scenario, Scenario) else Scenario.from_dict(scenario)
    facts: dict[str, Any] = {
        "ciio": sc.ciio,
        "important_data": sc.important_data,
        "pi_individuals": sc.pi_individuals,
        "sensitive_pi_individuals": sc.sensitive_pi_individuals,
        "purpose": sc.purpose,
        "ftz_negative_list": sc.ftz_negative_list,
        "transfers_pi": sc.transfers_pi,
    }
    rule = _first(book, book.rules, facts)
    basis = [book.cite(ref) for ref in rule["basis"]]
    notes: list[dict[str, str]] = []
    legacy = _first(book, book.legacy_rules, facts)
    if legacy["path"] != rule["path"]:
        old = ", ".join(book.cite(ref) for ref in legacy["basis"])
        newer = book.instruments["provisions_2024"]
        precedence = f"{newer['cite']} Art. {newer['precedence_article']}"
        notes.append(
            {
                "zh": f"按{old}本应为 {legacy['path']}；{newer['cite']}（{newer['effective']}施行）"
                f"与之不一致，依其第{newer['precedence_article']}条适用后者：{rule['path']}。",
                "en": f"Under {old} the path would be {legacy['path']}; the later "
                f"{newer['cite']} (effective {newer['effective']}) differs and governs "
                f"({precedence}): {rule['path']}.",
            }
        )
        basis.append(precedence)
    facts["path"] = rule["path"]
    obligations = [
        Obligation(
            id=ob["id"],
            basis=[book.cite(ref) for ref in ob["basis"]],
            zh=ob["zh"],
            en=ob["en"],
        )
        for ob in book.obligations
        if _holds(book, ob["when"], facts)
    ]
    return Decision(
        path=rule["path"],
        basis=basis,
        obligations=obligations,
        rule_id=rule["id"],
        reason_zh=rule["reason"]["zh"],
        reason_en=rule["reason"]["en"],
        notes=notes,
        rules_version=book.version,
    )


def assess_file(path: str | Path) -> Decision:
    """Read a scenario from a JSON file and assess it; bad JSON raises ScenarioError."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScenarioError("(file)", f"not valid UTF-8 JSON: {exc}") from exc
    return assess(Scenario.from_dict(data))
