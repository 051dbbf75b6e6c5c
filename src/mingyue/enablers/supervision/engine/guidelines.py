"""Sector compliance guidelines (行业性合规指引) and their self-check questionnaires.

A guideline is a published document (``data/guidelines/<key>.yaml`` as shipped, or a version the
service stored): sections of clauses, each clause citing its legal source, and questions whose
answers map to a rule id with a verdict (pass, risk, not_applicable). ``run_self_check`` scores the
answers and cites, per rule, the clauses behind each verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import yaml

from . import docfields as f
from .errors import DocumentError, SelfCheckError
from .exemptions import DATA_DIR

GUIDELINES_DIR = DATA_DIR / "guidelines"

Verdict = Literal["pass", "risk", "not_applicable"]
VERDICTS: tuple[Verdict, ...] = ("pass", "risk", "not_applicable")
KINDS = ("yes_no", "choice")


@dataclass(frozen=True)
class Clause:
    """One requirement of a guideline, with its legal sources (English and Chinese citation form)."""

    id: str
    section: str
    zh: str
    en: str
    basis: tuple[str, ...]
    basis_zh: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the clause in its published shape (plus its section id)."""
        return {
            "id": self.id,
            "section": self.section,
            "zh": self.zh,
            "en": self.en,
            "basis": list(self.basis),
            "basis_zh": list(self.basis_zh),
        }


@dataclass(frozen=True)
class Section:
    """A titled group of clauses."""

    id: str
    title_zh: str
    title_en: str
    clauses: tuple[Clause, ...]


@dataclass(frozen=True)
class Option:
    """One answer to a question and the verdict it gives its rule."""

    value: str | bool
    zh: str
    en: str
    verdict: Verdict


@dataclass(frozen=True)
class Question:
    """A self-check question: yes/no (answer true/false) or a choice among option values."""

    id: str
    kind: str
    zh: str
    en: str
    rule_id: str
    clause: str
    options: tuple[Option, ...]
    weight: int = 1

    def option(self, answer: Any) -> Option | None:
        """Return the option an answer selects, or None when it selects none."""
        for opt in self.options:
            if type(opt.value) is type(answer) and opt.value == answer:
                return opt
        return None


@dataclass(frozen=True)
class Guideline:
    """One version of a sector guideline with its questionnaire."""

    key: str
    version: str
    effective: str
    title_zh: str
    title_en: str
    issued_by_zh: str
    issued_by_en: str
    scope_zh: str
    scope_en: str
    sections: tuple[Section, ...]
    questions: tuple[Question, ...]
    raw: dict[str, Any] = field(compare=False, repr=False)

    def clause(self, clause_id: str) -> Clause:
        """Return a clause by id (KeyError when absent)."""
        for section in self.sections:
            for c in section.clauses:
                if c.id == clause_id:
                    return c
        raise KeyError(clause_id)

    @classmethod
    def from_dict(cls, doc: Any) -> Guideline:
        """Validate a published guideline; raise DocumentError naming the field's path."""
        d = f.mapping(doc, "")
        if d.get("kind") != "guideline":
            raise DocumentError("kind", "must be 'guideline'")
        sections = []
        clause_ids: set[str] = set()
        for i, raw in enumerate(f.seq(d, "sections", "")):
            where = f"sections[{i}]"
            s = f.mapping(raw, where)
            sid = f.text(s, "id", where)
            title = f.bilingual(s, "title", where)
            clauses = []
            for j, craw in enumerate(f.seq(s, "clauses", where)):
                cw = f"{where}.clauses[{j}]"
                c = f.mapping(craw, cw)
                cid = f.text(c, "id", cw)
                if cid in clause_ids:
                    raise DocumentError(f"{cw}.id", f"duplicate clause id {cid}")
                clause_ids.add(cid)
                basis, basis_zh = f.strings(c, "basis", cw), f.strings(c, "basis_zh", cw)
                if not basis or len(basis) != len(basis_zh):
                    raise DocumentError(f"{cw}.basis_zh", "one Chinese citation per basis entry")
                clauses.append(
                    Clause(cid, sid, f.text(c, "zh", cw), f.text(c, "en", cw), basis, basis_zh)
                )
            sections.append(Section(sid, title[0], title[1], tuple(clauses)))
        questions = [
            _question(raw, f"questions[{i}]", clause_ids)
            for i, raw in enumerate(f.seq(d, "questions", ""))
        ]
        if not questions:
            raise DocumentError("questions", "a guideline needs at least one question")
        if len({q.id for q in questions}) != len(questions):
            raise DocumentError("questions", "question ids must be unique")
        title = f.bilingual(d, "title", "")
        issuer = f.bilingual(d, "issued_by", "")
        scope = f.bilingual(d, "scope", "")
        return cls(
            key=f.text(d, "key", ""),
            version=f.text(d, "version", ""),
            effective=f.day(d, "effective", "").isoformat(),
            title_zh=title[0],
            title_en=title[1],
            issued_by_zh=issuer[0],
            issued_by_en=issuer[1],
            scope_zh=scope[0],
            scope_en=scope[1],
            sections=tuple(sections),
            questions=tuple(questions),
            raw=_plain(d),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the document as published (JSON-ready)."""
        out: dict[str, Any] = _plain(self.raw)
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _question(raw: Any, where: str, clause_ids: set[str]) -> Question:
    q = f.mapping(raw, where)
    kind = q.get("kind")
    if kind not in KINDS:
        raise DocumentError(f"{where}.kind", f"must be one of {', '.join(KINDS)}")
    clause = f.text(q, "clause", where)
    if clause not in clause_ids:
        raise DocumentError(f"{where}.clause", f"no clause {clause}")
    weight = q.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 10:
        raise DocumentError(f"{where}.weight", "must be an integer from 1 to 10")
    options = []
    for j, oraw in enumerate(f.seq(q, "options", where)):
        ow = f"{where}.options[{j}]"
        o = f.mapping(oraw, ow)
        value = o.get("value")
        if kind == "yes_no" and not isinstance(value, bool):
            raise DocumentError(f"{ow}.value", "a yes/no option's value is true or false")
        if kind == "choice" and (not isinstance(value, str) or not value):
            raise DocumentError(f"{ow}.value", "a choice option's value is a non-empty string")
        verdict = o.get("verdict")
        if verdict not in VERDICTS:
            raise DocumentError(f"{ow}.verdict", f"must be one of {', '.join(VERDICTS)}")
        options.append(
            Option(cast(str | bool, value), f.text(o, "zh", ow), f.text(o, "en", ow), verdict)
        )
    values = [o.value for o in options]
    if len(set(values)) != len(values) or len(values) < 2:
        raise DocumentError(f"{where}.options", "at least two options with distinct values")
    if kind == "yes_no" and set(values) != {True, False}:
        raise DocumentError(f"{where}.options", "a yes/no question has options true and false")
    return Question(
        id=f.text(q, "id", where),
        kind=kind,
        zh=f.text(q, "zh", where),
        en=f.text(q, "en", where),
        rule_id=f.rule_id(q.get("rule_id"), f"{where}.rule_id"),
        clause=clause,
        options=tuple(options),
        weight=weight,
    )


def load_guidelines(guidelines_dir: Path = GUIDELINES_DIR) -> dict[str, Guideline]:
    """Load the shipped guidelines, keyed by their ``key``."""
    out: dict[str, Guideline] = {}
    for path in sorted(guidelines_dir.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        try:
            g = Guideline.from_dict(doc)
        except DocumentError as exc:
            raise DocumentError(f"{path.name}: {exc.field}", exc.message) from None
        if g.key in out:
            raise DocumentError(f"{path.name}: key", f"duplicate guideline key {g.key}")
        out[g.key] = g
    return out


@dataclass(frozen=True)
class RuleResult:
    """The verdict on one rule: risk if any of its questions says risk, else pass, else n/a."""

    rule_id: str
    verdict: Verdict
    questions: tuple[str, ...]
    clauses: tuple[Clause, ...]

    @property
    def basis(self) -> tuple[str, ...]:
        """Return the citations of the clauses behind the verdict (deduplicated, in order)."""
        return tuple(dict.fromkeys(b for c in self.clauses for b in c.basis))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping."""
        return {
            "rule_id": self.rule_id,
            "verdict": self.verdict,
            "questions": list(self.questions),
            "basis": list(self.basis),
            "basis_zh": list(dict.fromkeys(b for c in self.clauses for b in c.basis_zh)),
            "clauses": [c.to_dict() for c in self.clauses],
        }


@dataclass(frozen=True)
class SelfCheckResult:
    """Per-rule verdicts with the clauses cited, and a score (weighted share of passes, 0-100)."""

    guideline: str
    version: str
    score: int
    passed: int
    risks: int
    not_applicable: int
    rules: tuple[RuleResult, ...]
    answers: dict[str, str | bool]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping."""
        return {
            "guideline": self.guideline,
            "version": self.version,
            "score": self.score,
            "passed": self.passed,
            "risks": self.risks,
            "not_applicable": self.not_applicable,
            "rules": [r.to_dict() for r in self.rules],
            "answers": dict(self.answers),
        }


def check_answers(guideline: Guideline, answers: Any) -> dict[str, str | bool]:
    """Validate answers; raise SelfCheckError naming the unknown, missing or bad question id."""
    if not isinstance(answers, Mapping):
        raise SelfCheckError("answers", "expected a mapping of question id to answer")
    known = {q.id: q for q in guideline.questions}
    for qid in answers:
        if qid not in known:
            raise SelfCheckError(str(qid), f"unknown question in guideline {guideline.key}")
    out: dict[str, str | bool] = {}
    for q in guideline.questions:
        if q.id not in answers:
            raise SelfCheckError(q.id, "missing answer")
        answer = answers[q.id]
        if q.option(answer) is None:
            if q.kind == "yes_no":
                raise SelfCheckError(q.id, "must be true or false")
            choices = ", ".join(str(o.value) for o in q.options)
            raise SelfCheckError(q.id, f"must be one of {choices}; got {answer!r}")
        out[q.id] = answer
    return out


def run_self_check(guideline: Guideline, answers: Mapping[str, Any]) -> SelfCheckResult:
    """Score a self-check against a guideline; each rule cites the clauses its questions rest on."""
    checked = check_answers(guideline, answers)
    by_rule: dict[str, list[tuple[Question, Verdict]]] = {}
    gained = possible = 0
    for q in guideline.questions:
        opt = q.option(checked[q.id])
        if opt is None:  # pragma: no cover - check_answers refused every unmatched answer
            raise SelfCheckError(q.id, "no option matches the answer")
        by_rule.setdefault(q.rule_id, []).append((q, opt.verdict))
        if opt.verdict != "not_applicable":
            possible += q.weight
            gained += q.weight if opt.verdict == "pass" else 0
    results = []
    for rule_id, pairs in by_rule.items():
        verdicts = {v for _, v in pairs}
        verdict: Verdict = (
            "risk" if "risk" in verdicts else "pass" if "pass" in verdicts else "not_applicable"
        )
        deciding = [q for q, v in pairs if v == verdict]
        clauses = tuple(dict.fromkeys(guideline.clause(q.clause) for q in deciding))
        results.append(RuleResult(rule_id, verdict, tuple(q.id for q in deciding), clauses))
    counts = {v: sum(1 for r in results if r.verdict == v) for v in VERDICTS}
    return SelfCheckResult(
        guideline=guideline.key,
        version=guideline.version,
        score=round(100 * gained / possible) if possible else 100,
        passed=counts["pass"],
        risks=counts["risk"],
        not_applicable=counts["not_applicable"],
        rules=tuple(results),
        answers=checked,
    )
