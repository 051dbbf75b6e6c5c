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


# Organisation names end with one of these words (a rule used with the model: jiagu tags the head
# of a company name poorly). The name extends backwards over the words before the suffix until a
# particle, preposition, punctuation, conjunction, pronoun, adverb or numeral.
ORG_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "公司", "集团", "银行", "大学", "学院",
                "医院", "研究院", "研究所", "委员会", "协会", "基金会", "事务所", "中心")
_ORG_STOP_POS = frozenset({"u", "p", "w", "c", "r", "d", "wp"})
# Words of the identifiers' own context that the model mistakes for names or places.
_NOT_NAMES = frozenset({"卡号", "账号", "帐号", "港澳", "手机", "电话", "邮箱", "护照", "车牌", "证件",
                        "身份证", "银行卡", "通行证", "信用代码", "订单号", "号码"})
_ORG_MAX_WORDS = 5


class JiaguNer:
    """jiagu's bundled NER model, with its POS tags for surnames and an organisation-suffix rule."""

    name = "jiagu"

    def __init__(self) -> None:
        import jiagu

        self._jiagu = jiagu

    def _labels(self, words: list[str]) -> list[tuple[str, bool] | None]:
        tags = self._jiagu.ner(words)
        pos = self._jiagu.pos(words)
        labels: list[tuple[str, bool] | None] = [None] * len(words)
        prev: str | None = None
        for i, tag in enumerate(tags):
            kind = _TYPES.get(tag[2:]) if tag[:2] in ("B-", "I-") else None
            if kind is not None:
                labels[i] = (kind, tag.startswith("B-") or prev != kind)
            prev = kind
        for i, p in enumerate(pos):
            if p == "nh":
                labels[i] = ("PERSON", True)
            elif p == "nhf" and i + 1 < len(words) and len(words[i + 1]) <= 2 and pos[i + 1] != "w":
                labels[i] = ("PERSON", True)
                labels[i + 1] = ("PERSON", False)
            elif p == "ns" and labels[i] is None:
                labels[i] = ("LOCATION", True)
        for i, label in enumerate(labels):
            # A one-character surname tagged alone: the given name is the next short word.
            if (label is not None and label[0] == "PERSON" and len(words[i]) == 1
                    and i + 1 < len(words) and labels[i + 1] is None and 1 <= len(words[i + 1]) <= 2
                    and pos[i + 1] not in _ORG_STOP_POS and pos[i + 1] != "v"):
                labels[i + 1] = ("PERSON", False)
        for i, w in enumerate(words):
            if w in _NOT_NAMES:
                labels[i] = None
        for i, w in enumerate(words):
            if w.endswith(ORG_SUFFIXES):
                start = i
                while start > 0 and i - start < _ORG_MAX_WORDS and pos[start - 1] not in _ORG_STOP_POS:
                    start -= 1
                for k in range(start, i + 1):
                    labels[k] = ("ORGANIZATION", k == start)
        return labels

    def entities(self, text: str) -> Iterator[Entity]:
        if not text.strip():
            return
        words = self._jiagu.seg(text)
        labels = self._labels(words)
        spans: list[tuple[int, int, str]] = []
        pos = 0
        cur: list[int | str] | None = None
        for word, label in zip(words, labels, strict=True):
            start = text.find(word, pos)
            if start < 0:
                continue
            end = start + len(word)
            pos = end
            if label is not None and (label[1] or cur is None or cur[2] != label[0]):
                if cur is not None:
                    spans.append((int(cur[0]), int(cur[1]), str(cur[2])))
                cur = [start, end, label[0]]
            elif label is not None and cur is not None:
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
