"""Evaluate retrieval and answers on a labelled question set (question → gold clause ids).

Metrics, over the questions the corpus answers (non-empty gold):
- ``recall_at_5``: share of each question's gold clauses among the first five retrieved, averaged;
- ``mrr``: mean reciprocal rank of the first gold clause (0 when none is in the first ten);
- ``citation_precision``: share of the clauses answers cite that are gold, over every question
  (a trap question answered with citations counts them all as wrong);
- ``trap_accuracy``: share of trap questions (empty gold) answered "not covered";
- ``false_not_covered``: share of answerable questions wrongly answered "not covered".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from mingyue.enablers.policy.engine.answer import Answer
from mingyue.sdk.errors import InvalidInput

KINDS = ("single", "multi", "paraphrase", "versions", "trap")


@dataclass(frozen=True)
class Question:
    """One labelled question."""

    id: str
    question: str
    gold: tuple[str, ...]
    kind: str


def parse_questions(text: str) -> list[Question]:
    """Read JSON Lines of ``{"id", "question", "gold": [clause ids], "kind"}``; InvalidInput names the line."""
    out: list[Question] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput("policy.bad_questions", f"line {n}: not JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise InvalidInput("policy.bad_questions", f"line {n}: not a JSON object")
        question, gold = row.get("question"), row.get("gold", [])
        if not isinstance(question, str) or not question.strip():
            raise InvalidInput("policy.bad_questions", f"line {n}: 'question' must be text")
        if not isinstance(gold, list) or not all(isinstance(g, str) for g in gold):
            raise InvalidInput("policy.bad_questions", f"line {n}: 'gold' must be a list of ids")
        kind = row.get("kind") or ("trap" if not gold else "multi" if len(gold) > 1 else "single")
        if kind not in KINDS:
            raise InvalidInput("policy.bad_questions", f"line {n}: 'kind' must be one of {KINDS}")
        out.append(Question(str(row.get("id") or f"line{n}"), question.strip(), tuple(gold), kind))
    if not out:
        raise InvalidInput("policy.bad_questions", "no question in the file")
    return out


@dataclass(frozen=True)
class Outcome:
    """What the system did with one question."""

    question: Question
    ranked: tuple[str, ...]  # clause ids, best first (ten at most)
    answer: Answer


def run(
    questions: Sequence[Question],
    search: Callable[[str], Sequence[str]],
    answer: Callable[[str], Answer],
) -> list[Outcome]:
    """Run retrieval and answering over every question."""
    return [Outcome(q, tuple(search(q.question))[:10], answer(q.question)) for q in questions]


def _mean(values: Sequence[float]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def metrics(outcomes: Sequence[Outcome]) -> dict[str, object]:
    """Return the metrics of a run (see the module docstring), overall and per kind."""
    recall: list[float] = []
    rr: list[float] = []
    by_kind: dict[str, list[float]] = {}
    cited = cited_gold = 0
    traps = traps_ok = answerable = false_nc = 0
    misses = []
    for o in outcomes:
        gold = set(o.question.gold)
        ids = [c.clause_id for c in o.answer.citations]
        cited += len(ids)
        cited_gold += sum(1 for i in ids if i in gold)
        if not gold:
            traps += 1
            traps_ok += not o.answer.covered
            if o.answer.covered:
                misses.append({"id": o.question.id, "why": "trap answered", "cited": ids})
            continue
        answerable += 1
        false_nc += not o.answer.covered
        r = len(gold & set(o.ranked[:5])) / len(gold)
        recall.append(r)
        by_kind.setdefault(o.question.kind, []).append(r)
        first = next((1 / i for i, c in enumerate(o.ranked[:10], start=1) if c in gold), 0.0)
        rr.append(first)
        if r < 1 or not o.answer.covered:
            misses.append(
                {
                    "id": o.question.id,
                    "why": "gold not in top 5" if r < 1 else "answered not covered",
                    "top5": list(o.ranked[:5]),
                }
            )
    return {
        "questions": len(outcomes),
        "answerable": answerable,
        "traps": traps,
        "recall_at_5": _mean(recall),
        "mrr": _mean(rr),
        "citation_precision": round(cited_gold / cited, 4) if cited else 0.0,
        "trap_accuracy": round(traps_ok / traps, 4) if traps else None,
        "false_not_covered": round(false_nc / answerable, 4) if answerable else 0.0,
        "recall_at_5_by_kind": {k: _mean(v) for k, v in sorted(by_kind.items())},
        "misses": misses,
    }


def calibrate(answerable: Sequence[float], traps: Sequence[float]) -> float:
    """Return the support threshold that best separates answerable from trap questions.

    The threshold maximises balanced accuracy (mean of the share of answerable questions kept
    and the share of traps refused); among equally good cut points it takes the middle of the
    widest gap, so one new question moves it least.
    """
    values = sorted(set(answerable) | set(traps))
    if not values:
        return 0.0
    cuts = [values[0] - 0.01] + [(a + b) / 2 for a, b in pairwise(values)]
    cuts.append(values[-1] + 0.01)

    def score(t: float) -> float:
        kept = sum(1 for v in answerable if v >= t) / len(answerable) if answerable else 1.0
        refused = sum(1 for v in traps if v < t) / len(traps) if traps else 1.0
        return (kept + refused) / 2

    best = max(score(t) for t in cuts)
    good = [t for t in cuts if score(t) == best]
    # The widest run of equally good cuts: take its middle.
    return round(good[len(good) // 2], 4)
