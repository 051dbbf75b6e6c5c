"""Dense vectors of clauses and questions: the semantic half of the hybrid retriever.

No embedding model that handles Chinese installs *with its weights* from PyPI here: the
packages that name BGE, M3E or text2vec models fetch the weights from a model hub at run time,
which this platform refuses (no download at run time), and the one package that bundles its
weights (``wordllama`` 0.4, a 32 000-token Llama-2 vocabulary) reads most Chinese characters as
raw bytes — measured on the labelled question set it ranks worse than the corpus-trained model
below (docs/policy.md, "Dense model"). So the dense half is **latent semantic analysis trained
on the corpus itself**: TF-IDF over character 1–3-grams of the corpus's sentences, reduced by a
truncated SVD, L2-normalised. Character n-grams need no segmenter and match words jieba cuts
differently; the SVD ties together n-grams that occur in the same sentences. It is named for
what it is: a corpus statistic, not a pretrained language model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

_SENTENCE = re.compile(r"(?<=[。！？；\n])")


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors (one row per text)."""

    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return one unit vector per text."""
        ...


def sentences(texts: Sequence[str]) -> list[str]:
    """Split texts into sentences (the training units of the LSA model)."""
    out: list[str] = []
    for text in texts:
        out.extend(s.strip() for s in _SENTENCE.split(text) if len(s.strip()) >= 4)
    return out


class LsaEmbedder:
    """Character n-gram TF-IDF + truncated SVD, fitted on the corpus's own sentences."""

    name = "lsa-char-ngram"

    def __init__(self, corpus_texts: Sequence[str], *, dims: int = 192, seed: int = 0) -> None:
        from sklearn.decomposition import TruncatedSVD  # heavy: scikit-learn
        from sklearn.feature_extraction.text import TfidfVectorizer

        units = sentences(corpus_texts) + [t for t in corpus_texts if t.strip()]
        self._tfidf: Any = TfidfVectorizer(
            analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1, lowercase=True
        )
        matrix = self._tfidf.fit_transform(units or ["空"])
        n_components = max(1, min(dims, matrix.shape[0] - 1, matrix.shape[1] - 1))
        self._svd: Any = TruncatedSVD(n_components=n_components, random_state=seed)
        self._svd.fit(matrix)
        self.dims = n_components

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return one unit vector per text (a zero vector for text with no known n-gram)."""
        vectors = np.asarray(self._svd.transform(self._tfidf.transform(list(texts))))
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.where(norms == 0, 1.0, norms), dtype=np.float32)


class DenseIndex:
    """Cosine nearest neighbours over encoded documents (exact: corpora are thousands, not millions)."""

    def __init__(self, embedder: Embedder, docs: Sequence[str]) -> None:
        self.embedder = embedder
        self.size = len(docs)
        self._matrix = embedder.encode(docs) if docs else np.zeros((0, 1), dtype=np.float32)

    def scores(self, query: str) -> np.ndarray:
        """Return the cosine similarity of the query to every document."""
        if not self.size:
            return np.zeros(0, dtype=np.float32)
        q = self.embedder.encode([query])[0]
        return np.asarray(self._matrix @ q, dtype=np.float32)
