"""Reciprocal-rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009): score = Σ 1 / (k + rank)."""

from __future__ import annotations

from collections.abc import Sequence

RRF_K = 60


def rrf(rankings: Sequence[Sequence[int]], *, k: int = RRF_K) -> list[tuple[int, float]]:
    """Fuse ranked lists of document indexes (best first); return (index, score), best first.

    Ties keep the order of the first list that ranked the document higher, so the fusion is
    deterministic.
    """
    scores: dict[int, float] = {}
    first_seen: dict[int, tuple[int, int]] = {}
    for li, ranking in enumerate(rankings):
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
            seen = first_seen.get(doc)
            if seen is None or (rank, li) < seen:
                first_seen[doc] = (rank, li)
    return sorted(scores.items(), key=lambda kv: (-kv[1], first_seen[kv[0]]))
