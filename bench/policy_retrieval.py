"""Policy retrieval: the hybrid retriever vs BM25 alone, on the same corpus and questions.

Corpus: the seed documents bundled with the policy enabler (src/mingyue/enablers/policy/corpus/);
questions: the labelled set eval/questions.jsonl (question → gold clause ids; trap questions have
none). For each mode (hybrid = jieba BM25 + corpus-trained dense vectors fused by RRF k=60;
bm25 = the same BM25 alone; dense = the dense half alone, for reference) it prints recall@5 and
MRR over the answerable questions, and questions per second (the whole set asked one by one,
expansion, cutting, both rankers and fusion included; median of --rounds). The ratio row is
hybrid against BM25 alone. Goal: hybrid recall@5 >= 0.9 and >= 50 questions/s on 2 cores.

``--distractors N`` adds N synthetic clauses, each three sentences drawn from different real
clauses, to measure speed as the corpus grows. Their sentences are the real clauses' own, so a
distractor may hold the very sentence a question asks about: recall and MRR are not printed then
(they would measure the copy, not the retriever).

    .venv/bin/python bench/policy_retrieval.py [--rounds 5] [--distractors 0]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from mingyue.enablers.policy.engine.evaluate import Question, parse_questions
from mingyue.enablers.policy.engine.retriever import ClauseDoc, HybridRetriever
from mingyue.enablers.policy.service.qa import bundled_docs

QUESTIONS = Path(__file__).resolve().parents[1] / "src/mingyue/enablers/policy/eval/questions.jsonl"
MODES = ("hybrid", "bm25", "dense")


def distractors(docs: Sequence[ClauseDoc], n: int, seed: int = 7) -> list[ClauseDoc]:
    """Return n synthetic clauses of three sentences from three different real clauses."""
    rng = random.Random(seed)
    pools = [
        [s for s in re.split(r"(?<=[。；])", d.text) if len(s) > 8]
        for d in docs
        if d.path != "序言"
    ]
    pools = [p for p in pools if p]
    out = []
    for i in range(n):
        picked = rng.sample(pools, 3)
        text = "".join(rng.choice(p) for p in picked)
        out.append(ClauseDoc(f"synthetic@1#{i}", "synthetic", str(i), text))
    return out


def quality(r: HybridRetriever, questions: Sequence[Question], mode: str) -> tuple[float, float]:
    """Return (recall@5, MRR) over the answerable questions."""
    recall, rr = [], []
    for q in questions:
        if not q.gold:
            continue
        ids = [h.clause.clause_id for h in r.search(q.question, k=10, mode=mode)]
        gold = set(q.gold)
        recall.append(len(gold & set(ids[:5])) / len(gold))
        rr.append(next((1 / i for i, c in enumerate(ids, start=1) if c in gold), 0.0))
    return statistics.fmean(recall), statistics.fmean(rr)


def speed(r: HybridRetriever, questions: Sequence[Question], mode: str, rounds: int) -> float:
    """Return questions per second (median over rounds)."""
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for q in questions:
            r.search(q.question, k=5, mode=mode)
        rates.append(len(questions) / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--distractors", type=int, default=0)
    args = ap.parse_args()
    questions = parse_questions(QUESTIONS.read_text(encoding="utf-8"))
    docs = bundled_docs()
    docs += distractors(docs, args.distractors)
    t0 = time.perf_counter()
    retriever = HybridRetriever(docs)
    built = time.perf_counter() - t0
    retriever.search("预热", k=5)  # the first question loads nothing more
    answerable = sum(1 for q in questions if q.gold)
    print(
        f"corpus: {len(docs)} clauses ({args.distractors} synthetic); questions: "
        f"{len(questions)} ({answerable} answerable); index built in {built:.2f} s"
    )
    print(f"{'mode':8} {'recall@5':>9} {'MRR':>7} {'questions/s':>12}")
    results = {}
    for mode in MODES:
        rec, mrr = quality(retriever, questions, mode) if not args.distractors else (1.0, 1.0)
        qps = speed(retriever, questions, mode, args.rounds)
        results[mode] = (rec, mrr, qps)
        shown = f"{rec:9.3f} {mrr:7.3f}" if not args.distractors else f"{'-':>9} {'-':>7}"
        print(f"{mode:8} {shown} {qps:12.0f}")
    h, b = results["hybrid"], results["bm25"]
    if args.distractors:
        print(f"{'hybrid/bm25':8} {'-':>9} {'-':>7} {h[2] / b[2]:12.3f}")
        print(f"speed goal (>= 50 questions/s): {'met' if h[2] >= 50 else 'NOT met'}")
        return
    print(f"{'hybrid/bm25':8} {h[0] / b[0]:9.3f} {h[1] / b[1]:7.3f} {h[2] / b[2]:12.3f}")
    ok = h[0] >= 0.9 and h[2] >= 50
    print(f"goal (hybrid recall@5 >= 0.9 and >= 50 questions/s): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
