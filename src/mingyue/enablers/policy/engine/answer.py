"""Answers that cite the clause: extractive by default, generative through a model endpoint.

Every answer rests on retrieved clauses. Whether the corpus covers a question at all is judged
on the best clause's **support** — the mean of its idf-weighted coverage of the question's
words and its dense cosine — against a threshold calibrated on the labelled question set's
trap questions (:func:`.evaluate.calibrate`). Reciprocal-rank scores cannot serve here: they say
how the rankers agree, not how well the clause answers, and the top one is high for any
question. Below the threshold the answer is "not covered", never a guess.

A generative answer keeps only the sentences that carry the id of a clause it was given
(``[slug@1#二.（五）]``); a sentence without one is dropped, and an answer left with no sentence
is "not covered".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mingyue.enablers.policy.engine.retriever import Hit

# Calibrated on eval/questions.jsonl (docs/policy.md, "Not covered"): the support value that
# best separates the trap questions from the answerable ones.
COVERED_THRESHOLD = 0.42
# Besides the best clause, cite the next ones (up to three) whose support is this close to it.
CITE_RATIO = 0.85
NOT_COVERED_ZH = "现有政策文件未涉及该问题（not covered）。建议咨询政策主管部门。"

_SENTENCE_END = re.compile(r"(?<=[。！？；!?])")
# A generated sentence, with the citations that may follow its full stop: "…服务。[id]".
_GEN_SENTENCE = re.compile(r"[^。！？!?；]+[。！？!?；]*(?:\s*\[[^\[\]]+\])*")
_CITE = re.compile(r"\[([^\[\]\s]+@\d+#[^\[\]\s]+)\]")


def support(hit: Hit) -> float:
    """Return how well a clause supports an answer (0–1)."""
    return (hit.coverage + max(hit.cosine, 0.0)) / 2


@dataclass(frozen=True)
class Citation:
    """A clause an answer rests on, with the spans of the question's words in its text."""

    doc: str
    clause_id: str
    text: str
    path: str
    current: bool
    support: float
    highlights: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Answer:
    """An answer, its citations, and whether the corpus covers the question."""

    answer: str
    citations: tuple[Citation, ...]
    covered: bool
    mode: str  # extractive | generative
    support: float
    dropped: tuple[str, ...] = field(default_factory=tuple)  # generative sentences without a cite


def highlight_spans(text: str, words: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """Return non-overlapping (start, end) spans of the words in ``text``, longest word first."""
    taken = [False] * len(text)
    spans: list[tuple[int, int]] = []
    lowered = text.lower()
    for word in sorted({w for w in words if len(w) >= 2 or not w.isascii()}, key=len, reverse=True):
        if len(word) < 2 and word.isascii():
            continue
        start = lowered.find(word)
        while start != -1:
            end = start + len(word)
            if not any(taken[start:end]):
                spans.append((start, end))
                for i in range(start, end):
                    taken[i] = True
            start = lowered.find(word, end)
    return tuple(sorted(spans))


def mark(
    text: str, spans: Sequence[tuple[int, int]], *, open_: str = "【", close: str = "】"
) -> str:
    """Return ``text`` with each span wrapped in the markers (for a terminal)."""
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], open_, text[start:end], close]
        last = end
    out.append(text[last:])
    return "".join(out)


def _best_sentences(text: str, words: Sequence[str], n: int = 2) -> str:
    parts = [s for s in _SENTENCE_END.split(text.replace("\n", "")) if s.strip()]
    if len(parts) <= n:
        return "".join(parts)
    keys = set(words)
    scored = sorted(
        range(len(parts)), key=lambda i: (-sum(len(w) for w in keys if w in parts[i].lower()), i)
    )
    keep = sorted(scored[:n])
    return "".join(parts[i] for i in keep)


def cited(hits: Sequence[Hit], *, threshold: float, ratio: float = CITE_RATIO) -> list[Hit]:
    """Return the hits an answer cites: the best, and up to two more nearly as supportive."""
    if not hits:
        return []
    best = max(support(h) for h in hits[:3])
    if best < threshold:
        return []
    floor = max(threshold, ratio * best)
    return [h for h in hits[:3] if support(h) >= floor]


def _citation(hit: Hit, words: Sequence[str]) -> Citation:
    return Citation(
        doc=hit.clause.doc,
        clause_id=hit.clause.clause_id,
        text=hit.clause.text,
        path=hit.clause.path,
        current=hit.clause.current,
        support=round(support(hit), 4),
        highlights=highlight_spans(hit.clause.text, words),
    )


def extractive_answer(
    hits: Sequence[Hit], words: Sequence[str], *, threshold: float = COVERED_THRESHOLD
) -> Answer:
    """Answer with the clauses themselves: the best sentences of each, cited by id."""
    chosen = cited(hits, threshold=threshold)
    best = max((support(h) for h in hits[:3]), default=0.0)
    if not chosen:
        return Answer(NOT_COVERED_ZH, (), False, "extractive", round(best, 4))
    lines = []
    for h in chosen:
        note = "" if h.clause.current else "（该条已被新版本修订）"
        lines.append(
            f"《{h.clause.doc}》{h.clause.path}{note}："
            f"{_best_sentences(h.clause.text, words)} [{h.clause.clause_id}]"
        )
    return Answer(
        "\n".join(lines),
        tuple(_citation(h, words) for h in chosen),
        True,
        "extractive",
        round(best, 4),
    )


# A chat model: messages in (OpenAI's role/content shape), the reply's text out.
ChatModel = Callable[[list[dict[str, str]]], str]

SYSTEM_PROMPT = (
    "你是政策咨询助手。只依据给出的政策条款回答，不得使用条款以外的知识。"
    "每一句话末尾必须用方括号标注所依据条款的编号，例如 [doc@1#二.（五）]。"
    "如果给出的条款不能回答问题，只回答：NOT_COVERED"
)


def generative_answer(
    question: str,
    hits: Sequence[Hit],
    words: Sequence[str],
    model: ChatModel,
    *,
    threshold: float = COVERED_THRESHOLD,
) -> Answer:
    """Ask a chat model over the cited clauses; keep only sentences that cite one of them."""
    chosen = [h for h in hits if support(h) >= threshold][:5]
    best = max((support(h) for h in hits[:3]), default=0.0)
    if not chosen:
        return Answer(NOT_COVERED_ZH, (), False, "generative", round(best, 4))
    context = "\n\n".join(f"[{h.clause.clause_id}]\n{h.clause.text}" for h in chosen)
    reply = model(
        [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"政策条款：\n{context}\n\n问题：{question}"},
        ]
    )
    known = {h.clause.clause_id: h for h in chosen}
    kept: list[str] = []
    dropped: list[str] = []
    used: list[str] = []
    for sentence in (s.strip() for s in _GEN_SENTENCE.findall(reply.replace("\n", " "))):
        if not sentence or "NOT_COVERED" in sentence:
            continue
        ids = [i for i in _CITE.findall(sentence) if i in known]
        if not ids:
            dropped.append(sentence)
            continue
        kept.append(sentence)
        used.extend(i for i in ids if i not in used)
    if not kept:
        return Answer(NOT_COVERED_ZH, (), False, "generative", round(best, 4), tuple(dropped))
    return Answer(
        "".join(kept),
        tuple(_citation(known[i], words) for i in used),
        True,
        "generative",
        round(best, 4),
        tuple(dropped),
    )
