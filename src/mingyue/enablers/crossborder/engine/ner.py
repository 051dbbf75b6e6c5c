"""Chinese person / place / organisation recognition with models that ship inside PyPI packages.

Two backends, measured against each other by ``bench/pii_detect.py`` (see docs/crossborder.md):
- ``jiagu``: jiagu's perceptron NER model (``jiagu/model/ner.model``, 3.7 MB, MSRA-style
  B-/I-PER|LOC|ORG tags) over jiagu's own segmentation.
- ``jieba``: jieba's HMM part-of-speech tags nr (person), ns (place), nt (organisation).
Neither fetches anything at run time. Offsets are character offsets into the text.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Protocol

from .pii import Entity

_TYPES = {"PER": "PERSON", "LOC": "LOCATION", "ORG": "ORGANIZATION"}
_JIEBA = {"nr": "PERSON", "nrfg": "PERSON", "nrt": "PERSON", "ns": "LOCATION", "nt": "ORGANIZATION"}


class NerBackend(Protocol):
    """Finds names, places and organisations."""

    name: str

    def entities(self, text: str) -> Iterator[Entity]:
        """Yield entities with character offsets into ``text``."""
        ...


def _merge(spans: list[tuple[int, int, str]], text: str, score: float, source: str) -> Iterator[Entity]:
    """Merge adjacent spans of the same type (an address is several place words in a row)."""
    cur: list[int | str] | None = None
    for start, end, type_ in spans:
        if cur is not None and cur[2] == type_ and cur[1] == start and type_ == "LOCATION":
            cur[1] = end
            continue
        if cur is not None:
            s, e = int(cur[0]), int(cur[1])
            yield Entity(str(cur[2]), s, e, text[s:e], score, False, source)
        cur = [start, end, type_]
    if cur is not None:
        s, e = int(cur[0]), int(cur[1])
        yield Entity(str(cur[2]), s, e, text[s:e], score, False, source)


class JiaguNer:
    """jiagu's bundled NER model."""

    name = "jiagu"

    def __init__(self) -> None:
        import jiagu

        self._jiagu = jiagu

    def entities(self, text: str) -> Iterator[Entity]:
        if not text.strip():
            return
        words = self._jiagu.seg(text)
        tags = self._jiagu.ner(words)
        spans: list[tuple[int, int, str]] = []
        pos = 0
        cur: list[int | str] | None = None
        for word, tag in zip(words, tags, strict=False):
            start = text.find(word, pos)
            if start < 0:
                continue
            end = start + len(word)
            pos = end
            if tag.startswith("B-") and tag[2:] in _TYPES:
                if cur is not None:
                    spans.append((int(cur[0]), int(cur[1]), str(cur[2])))
                cur = [start, end, _TYPES[tag[2:]]]
            elif tag.startswith("I-") and cur is not None and cur[2] == _TYPES.get(tag[2:]):
                cur[1] = end
            else:
                if cur is not None:
                    spans.append((int(cur[0]), int(cur[1]), str(cur[2])))
                cur = None
        if cur is not None:
            spans.append((int(cur[0]), int(cur[1]), str(cur[2])))
        yield from _merge(spans, text, 0.7, "jiagu")


class JiebaNer:
    """jieba part-of-speech tags as a floor for names, places and organisations."""

    name = "jieba"

    def __init__(self) -> None:
        import jieba
        import jieba.posseg

        jieba.setLogLevel(logging.WARNING)
        self._tokenizer = jieba.posseg.POSTokenizer(jieba.Tokenizer())

    def entities(self, text: str) -> Iterator[Entity]:
        spans: list[tuple[int, int, str]] = []
        pos = 0
        for pair in self._tokenizer.cut(text):
            start = pos
            pos += len(pair.word)
            type_ = _JIEBA.get(pair.flag)
            if type_ is not None:
                spans.append((start, pos, type_))
        yield from _merge(spans, text, 0.6, "jieba")


def make_ner(name: str) -> NerBackend:
    """Return a NER backend by name ('jiagu' or 'jieba')."""
    if name == "jiagu":
        return JiaguNer()
    if name == "jieba":
        return JiebaNer()
    raise ValueError(f"unknown NER backend {name!r}; one of jiagu, jieba")
