"""Use cases of policy Q&A: answer a question with cited clauses; evaluate on a labelled set.

The retriever of a database's corpus is built once per corpus state and kept (a new ingest
changes the fingerprint and the next question rebuilds it); the bundled seed corpus has its own,
built on first use. Asking changes nothing, so it writes no audit entry.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from mingyue.enablers.policy.adapters.model_endpoint import ChatEndpoint
from mingyue.enablers.policy.engine.answer import (
    COVERED_THRESHOLD,
    Answer,
    ChatModel,
    extractive_answer,
    generative_answer,
    support,
)
from mingyue.enablers.policy.engine.evaluate import calibrate, metrics, parse_questions, run
from mingyue.enablers.policy.engine.ingest import parse_document
from mingyue.enablers.policy.engine.retriever import ClauseDoc, Hit, HybridRetriever
from mingyue.enablers.policy.schemas_corpus import (
    AnswerOut,
    AskIn,
    CitationOut,
    RetrievedOut,
    clause_url,
)
from mingyue.enablers.policy.service.corpus import READ, clause_id, corpus_fingerprint, corpus_rows
from mingyue.enablers.policy.service.corpus import seed_files as _seed_files
from mingyue.enablers.policy.settings import PolicySettings, options
from mingyue.sdk import Actor, Settings, UnitOfWork, check
from mingyue.sdk.errors import InvalidInput

_CACHE_SIZE = 4
_cache: OrderedDict[tuple[Any, ...], HybridRetriever] = OrderedDict()
_lock = threading.Lock()


def _doc_of(c: Any, d: Any) -> ClauseDoc:
    return ClauseDoc(
        clause_id=c.clause_id,
        doc=d.title,
        path=c.path,
        text=c.text,
        context=tuple(c.context or ()),
        current=d.status == "current",
    )


def retriever_for(uow: UnitOfWork) -> HybridRetriever:
    """Return the retriever of the database's corpus (built once per corpus state)."""
    key = (uow.settings.sqlalchemy_url, *corpus_fingerprint(uow))
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    retriever = HybridRetriever([_doc_of(c, d) for c, d in corpus_rows(uow)])
    with _lock:
        _cache[key] = retriever
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return retriever


def bundled_docs() -> list[ClauseDoc]:
    """Return the clauses of the bundled seed documents (each as version 1, current)."""
    docs: list[ClauseDoc] = []
    for name, data in _seed_files():
        parsed = parse_document(data, filename=name)
        slug = name.rsplit(".", 1)[0].lower()
        docs.extend(
            ClauseDoc(
                clause_id=clause_id(slug, 1, c.path),
                doc=parsed.meta.title,
                path=c.path,
                text=c.text,
                context=c.context,
            )
            for c in parsed.clauses
        )
    return docs


@lru_cache(maxsize=1)
def bundled_retriever() -> HybridRetriever:
    """Return the retriever of the bundled seed corpus (built on first use)."""
    return HybridRetriever(bundled_docs())


def model_for(settings: Settings | PolicySettings) -> ChatModel | None:
    """Return the configured chat model endpoint, or None when none is configured."""
    opts = settings if isinstance(settings, PolicySettings) else options(settings)
    if not opts.model_url:
        return None
    return ChatEndpoint(
        opts.model_url,
        model=opts.model_name,
        api_key=opts.model_api_key,
        timeout_s=opts.model_timeout_s,
        allowed_hosts=opts.model_hosts,
    )


def threshold_of(settings: Settings | PolicySettings | None) -> float:
    """Return the 'not covered' threshold in force."""
    if settings is None:
        return COVERED_THRESHOLD
    opts = settings if isinstance(settings, PolicySettings) else options(settings)
    return opts.covered_threshold


def _out(question: str, answer: Answer, hits: Sequence[Hit], threshold: float) -> AnswerOut:
    return AnswerOut(
        question=question,
        answer=answer.answer,
        citations=[
            CitationOut(
                doc=c.doc,
                clause_id=c.clause_id,
                text=c.text,
                path=c.path,
                current=c.current,
                support=c.support,
                highlights=list(c.highlights),
                url=clause_url(c.clause_id),
            )
            for c in answer.citations
        ],
        covered=answer.covered,
        mode=answer.mode,
        support=answer.support,
        threshold=threshold,
        retrieved=[
            RetrievedOut(
                clause_id=h.clause.clause_id,
                doc=h.clause.doc,
                path=h.clause.path,
                rank=h.rank,
                score=round(h.score, 6),
                bm25=round(h.bm25, 4),
                cosine=round(h.cosine, 4),
                coverage=round(h.coverage, 4),
            )
            for h in hits
        ],
        dropped_sentences=list(answer.dropped),
    )


def answer_with(
    retriever: HybridRetriever,
    body: AskIn,
    *,
    threshold: float,
    model: ChatModel | None = None,
) -> AnswerOut:
    """Retrieve and answer one question with a given retriever (extractive unless ``generate``)."""
    question = body.question.strip()
    if len(question) < 2:
        raise InvalidInput("policy.bad_question", "the question is empty", field="question")
    hits = retriever.search(question, k=body.k, mode=body.mode)
    words = retriever.words(question)
    if body.generate:
        if model is None:
            raise InvalidInput(
                "policy.no_model",
                "no model endpoint is configured (MINGYUE_POLICY__MODEL_URL): ask without generate",
                field="generate",
            )
        answer = generative_answer(question, hits, words, model, threshold=threshold)
    else:
        answer = extractive_answer(hits, words, threshold=threshold)
    return _out(question, answer, hits, threshold)


def ask(*, uow: UnitOfWork, actor: Actor, body: AskIn) -> AnswerOut:
    """Answer a question from the platform's policy corpus, citing its clauses."""
    check(actor, READ)
    model = model_for(uow.settings) if body.generate else None
    return answer_with(retriever_for(uow), body, threshold=threshold_of(uow.settings), model=model)


def ask_bundled(body: AskIn, *, opts: PolicySettings | None = None) -> AnswerOut:
    """Answer from the bundled seed corpus (no database: the CLI without --data-dir)."""
    model = model_for(opts) if body.generate and opts is not None else None
    return answer_with(bundled_retriever(), body, threshold=threshold_of(opts), model=model)


def evaluate_set(
    text: str,
    retriever: HybridRetriever,
    *,
    threshold: float,
    mode: str = "hybrid",
) -> dict[str, Any]:
    """Evaluate a labelled question set (JSON Lines) against a retriever; see engine.evaluate."""
    questions = parse_questions(text)
    hits: dict[str, list[Hit]] = {}

    def search(q: str) -> list[str]:
        hits[q] = retriever.search(q, k=10, mode=mode)  # one search serves all three uses
        return [h.clause.clause_id for h in hits[q]]

    def answer(q: str) -> Answer:
        return extractive_answer(hits[q][:5], retriever.words(q), threshold=threshold)

    started = time.perf_counter()
    outcomes = run(questions, search, answer)
    elapsed = time.perf_counter() - started
    result: dict[str, Any] = metrics(outcomes)
    supports = {
        q.id: max((support(h) for h in hits[q.question][:3]), default=0.0) for q in questions
    }
    answerable = [supports[q.id] for q in questions if q.gold]
    traps = [supports[q.id] for q in questions if not q.gold]
    result["threshold"] = threshold
    result["calibrated_threshold"] = calibrate(answerable, traps) if traps else None
    result["mode"] = mode
    result["clauses"] = len(retriever.docs)
    result["seconds"] = round(elapsed, 3)
    return result
