"""The hybrid retriever: BM25 over jieba words + dense vectors, fused by reciprocal rank.

Each clause is indexed with the headings of the levels above it (a measure carries its part's
title), so a question about a part's theme reaches its measures. Questions are expanded with
the thesaurus (:mod:`.thesaurus`) before both rankers see them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from mingyue.enablers.policy.engine.bm25 import BM25, Tokenizer
from mingyue.enablers.policy.engine.dense import DenseIndex, Embedder, LsaEmbedder
from mingyue.enablers.policy.engine.fusion import RRF_K, rrf
from mingyue.enablers.policy.engine.thesaurus import expand

MODES = ("hybrid", "bm25", "dense")
DEPTH = 50  # how deep each ranker's list goes into the fusion


@dataclass(frozen=True)
class ClauseDoc:
    """A clause as the retriever sees it."""

    clause_id: str  # <doc-slug>@<version>#<path>
    doc: str  # the document's title
    path: str
    text: str
    context: tuple[str, ...] = ()  # headings of the levels above
    current: bool = True  # False: a changed clause of a superseded version

    @property
    def index_text(self) -> str:
        """Return the text that is indexed: the headings above, then the clause."""
        return "\n".join([*self.context, self.text])


@dataclass(frozen=True)
class Hit:
    """One retrieved clause with the evidence of every ranker."""

    index: int
    clause: ClauseDoc
    score: float  # fused (RRF) score, or the single ranker's score
    bm25: float
    cosine: float
    coverage: float  # idf-weighted share of the question's words in the clause
    rank: int


@lru_cache(maxsize=1)
def default_tokenizer() -> Tokenizer:
    """Return the shared tokenizer (its dictionary loads once per process)."""
    return Tokenizer()


@dataclass
class HybridRetriever:
    """BM25 + dense retrieval over a fixed list of clauses, fused with RRF (k = 60)."""

    docs: Sequence[ClauseDoc]
    tokenizer: Tokenizer = field(default_factory=default_tokenizer)
    embedder: Embedder | None = None
    rrf_k: int = RRF_K

    def __post_init__(self) -> None:
        texts = [d.index_text for d in self.docs]
        self.bm25 = BM25([self.tokenizer(t) for t in texts])
        if self.embedder is None and texts:
            self.embedder = LsaEmbedder(texts)
        self.dense = DenseIndex(self.embedder, texts) if self.embedder is not None else None

    def search(self, question: str, *, k: int = 5, mode: str = "hybrid") -> list[Hit]:
        """Return the ``k`` best clauses for a question, best first."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if not self.docs:
            return []
        query = expand(question)
        words = self.tokenizer(query)
        lexical = self.bm25.scores(words)
        cosine = (
            self.dense.scores(query)
            if self.dense is not None and mode != "bm25"
            else np.zeros(len(self.docs), dtype=np.float32)
        )
        by_bm25 = [int(i) for i in np.argsort(-lexical, kind="stable")[:DEPTH] if lexical[i] > 0]
        by_dense = [int(i) for i in np.argsort(-cosine, kind="stable")[:DEPTH] if cosine[i] > 0]
        if mode == "bm25":
            ranked = [(i, float(lexical[i])) for i in by_bm25]
        elif mode == "dense":
            ranked = [(i, float(cosine[i])) for i in by_dense]
        else:
            ranked = rrf([by_bm25, by_dense], k=self.rrf_k)
        return [
            Hit(
                index=i,
                clause=self.docs[i],
                score=score,
                bm25=float(lexical[i]),
                cosine=float(cosine[i]),
                coverage=self.bm25.coverage(words, i),
                rank=r,
            )
            for r, (i, score) in enumerate(ranked[:k], start=1)
        ]

    def words(self, question: str) -> list[str]:
        """Return the index words of a question after expansion (for highlighting)."""
        return self.tokenizer(expand(question))
