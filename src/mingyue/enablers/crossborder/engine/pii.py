"""Chinese personal-information detection: patterns + check digits, fast and exact.

One compiled pattern finds candidate *shapes* (a digit run, an uppercase code, an email, an IP, a
plate); each candidate is then classified once by check digits, prefixes and context words, so an
overlapping hit always resolves to one type. Numbers are guarded by "no ASCII letter or digit
before/after" instead of ``\\b`` (Chinese characters are word characters, so ``\\b`` fails on
``身份证号110101...``). Offsets are character offsets into the text.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import ipaddress
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .checksums import (
    PROVINCE_CODES,
    id_structure_ok,
    id_valid,
    luhn_valid,
    org_code_valid,
    today_in_china,
    uscc_valid,
)

_PKG = Path(__file__).resolve().parent.parent
PLATE_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"

# Mainland mobile number segments (MIIT numbering plan): 13x-19x with the allocated second digits.
_MOBILE_PREFIXES = frozenset(
    [f"13{d}" for d in "0123456789"]
    + [f"14{d}" for d in "5679"] + ["140", "141", "144", "148", "149"]
    + [f"15{d}" for d in "012356789"]
    + [f"16{d}" for d in "2567"]
    + [f"17{d}" for d in "0123456789"]
    + [f"18{d}" for d in "0123456789"]
    + [f"19{d}" for d in "0123456789"]
)  # fmt: skip

_G = r"(?<![0-9A-Za-z])"  # guard before: no ASCII letter or digit
_E = r"(?![0-9A-Za-z])"  # guard after
_NO_DOT_DIGIT = r"(?!\.\d)"
_SHAPES = re.compile(
    "|".join(
        [
            # email first: its local part may be digits (a QQ mailbox) that would read as a number
            rf"(?P<email>{_G}[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{{2,}}{_E})",
            (
                rf"(?P<plate>(?<=[{PLATE_PROVINCES}])[A-Z][·\- ]?"
                rf"(?:[DF][A-HJ-NP-Z0-9]\d{{4}}|\d{{5}}[DF]|[A-HJ-NP-Z0-9]{{4}}[A-HJ-NP-Z0-9挂学警])"
                rf"(?![0-9A-Za-z]))"
            ),
            rf"(?P<ipv4>(?<![0-9A-Za-z.])(?:\d{{1,3}}\.){{3}}\d{{1,3}}{_E}{_NO_DOT_DIGIT})",
            (
                r"(?P<ipv6>(?<![0-9A-Za-z:])(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)"
                r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?"
                r"(?![0-9A-Za-z:]))"
            ),
            (
                rf"(?P<num>{_G}(?:\+86[ \-]?|0086[ \-]?)?(?:\d{{10,19}}[Xx]?|\d{{3,6}}(?:[ \-]\d{{3,6}}){{1,4}})"
                rf"{_E}{_NO_DOT_DIGIT})"
            ),
            rf"(?P<code>{_G}[0-9A-Z]{{8,17}}[0-9A-Z]{_E})",
        ]
    )
)
# Every shape above lies inside one run of these characters and starts with an ASCII letter or
# digit, '+' or ':'; scanning such runs first lets the shape pattern skip Chinese text entirely.
_ISLANDS = re.compile(r"[0-9A-Za-z+:][0-9A-Za-z._%+\-@: ·挂学警]*")
_SEPARATORS = str.maketrans("", "", " -")
_PLATE_SEPARATORS = str.maketrans("", "", "·- ")
_ASCII_LETTERS = re.compile("[A-Za-z]").findall
# Each octet 0-255 without a leading zero (the shape pattern already gave four 1-3 digit groups).
_IPV4_OCTETS = re.compile(
    r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\Z", re.ASCII
).match
_SAMPLE = 4096


def _mostly_ascii(text: str) -> bool:
    """Under ~1 in 4 characters outside ASCII (judged on a prefix): tables, logs, query values."""
    sample = text[:_SAMPLE]
    return sample.isascii() or len(sample.encode()) - len(sample) < len(sample) // 2


@dataclass(slots=True)
class Entity:
    """One detected piece of personal information."""

    type: str
    start: int
    end: int
    text: str
    score: float
    sensitive: bool
    source: str = "pattern"

    def text_hash(self, key: bytes) -> str:
        """Keyed BLAKE2b of the normalised value (never the raw value in reports)."""
        return value_hash(self.normalized, key)

    @property
    def normalized(self) -> str:
        """The value without separators and case differences (for distinct counting)."""
        value = self.text
        if self.type in ("CN_MOBILE", "BANK_CARD", "CN_RESIDENT_ID", "CN_RESIDENT_ID_LIKE"):
            value = value.translate(_SEPARATORS).upper()
            if self.type == "CN_MOBILE":
                value = value[-11:]
        elif self.type == "EMAIL":
            value = value.lower()
        return value

    def to_dict(self, key: bytes, show_value: bool = False) -> dict[str, Any]:
        """Return the report shape: type, offsets, keyed hash, sensitivity (value only on request)."""
        out: dict[str, Any] = {
            "type": self.type,
            "start": self.start,
            "end": self.end,
            "text_hash": self.text_hash(key),
            "sensitive": self.sensitive,
            "score": self.score,
        }
        if show_value:
            out["text"] = self.text
        return out


def value_hash(value: str, key: bytes) -> str:
    """Keyed hash of one identifier value (32 hex characters)."""
    return hashlib.blake2b(value.encode("utf-8"), key=key[:64], digest_size=16).hexdigest()


@dataclass(frozen=True)
class PiiConfig:
    """Type table and card prefixes, loaded from the rule files."""

    types: dict[str, dict[str, Any]]
    card_prefixes: tuple[tuple[str, frozenset[int]], ...]
    card_ranges: tuple[tuple[int, int, frozenset[int]], ...]
    card_context: tuple[str, ...]

    def sensitive(self, type_: str) -> bool:
        """Whether a type is sensitive personal information (PIPL Art. 28)."""
        return bool(self.types[type_]["sensitive"])


@lru_cache(maxsize=2)
def load_config(package_dir: Path = _PKG) -> PiiConfig:
    """Load rules/pii_types.yaml and data/card_bins.yaml."""
    types = yaml.safe_load((package_dir / "rules" / "pii_types.yaml").read_text("utf-8"))["types"]
    bins = yaml.safe_load((package_dir / "data" / "card_bins.yaml").read_text("utf-8"))
    prefixes: list[tuple[str, frozenset[int]]] = []
    ranges: list[tuple[int, int, frozenset[int]]] = []
    for net in bins["networks"].values():
        lengths = frozenset(int(n) for n in net["lengths"])
        prefixes.extend((str(p), lengths) for p in net.get("prefixes", []))
        ranges.extend((int(lo), int(hi), lengths) for lo, hi in net.get("ranges", []))
    return PiiConfig(
        types=types,
        card_prefixes=tuple(prefixes),
        card_ranges=tuple(ranges),
        card_context=tuple(w.lower() for w in bins["context_words"]),
    )


_USCC_CONTEXT = ("信用代码", "统一社会", "税号", "纳税人识别号", "营业执照", "uscc")
_PASSPORT_CONTEXT = ("护照", "passport", "证件")
_PERMIT_CONTEXT = ("通行证", "港澳", "回乡证", "permit")


@dataclass
class PiiDetector:
    """Pattern + checksum detector; optional NER backend for names, places and organisations."""

    config: PiiConfig = field(default_factory=load_config)
    today: dt.date | None = None
    context_window: int = 16
    ner: Any = None  # an object with .entities(text) -> Iterable[Entity]
    # Seconds of NER per document (None: no budget); the clock starts at the document's first
    # NER call, so loading the model does not count. Past it NER stops and ``ner_truncated`` is
    # set; the identifier patterns still run over the whole document.
    ner_budget_s: float | None = None
    # NER reads long texts in pieces of about this many characters (cut after a line or a
    # sentence), so the budget is checked often and one huge text cannot run unbounded.
    ner_piece_chars: int = 4096
    ner_truncated: bool = field(init=False, default=False)
    _ner_deadline: float | None = field(init=False, repr=False, default=None)
    _sensitive: dict[str, bool] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.today is None:
            self.today = today_in_china()
        self._sensitive = {t: self.config.sensitive(t) for t in self.config.types}

    def start_document(self) -> None:
        """Begin a new document: its NER budget starts afresh at its first NER call."""
        self.ner_truncated = False
        self._ner_deadline = None

    def _over_budget(self) -> bool:
        if self.ner_budget_s is None:
            return False
        now = time.monotonic()
        if self._ner_deadline is None:
            self._ner_deadline = now + self.ner_budget_s
        if now > self._ner_deadline:
            self.ner_truncated = True
        return self.ner_truncated

    def _ner_entities(self, text: str) -> Iterator[Entity]:
        """NER over ``text`` piece by piece while the document's budget lasts."""
        for start, piece in split_pieces(text, self.ner_piece_chars):
            if self._over_budget():
                return
            for e in self.ner.entities(piece):
                yield Entity(
                    e.type,
                    e.start + start,
                    e.end + start,
                    e.text,
                    e.score,
                    self.config.sensitive(e.type),
                    e.source,
                )

    def _card_known(self, digits: str) -> bool:
        n = len(digits)
        for prefix, lengths in self.config.card_prefixes:
            if n in lengths and digits.startswith(prefix):
                return True
        head = int(digits[:4])
        return any(lo <= head <= hi and n in lengths for lo, hi, lengths in self.config.card_ranges)

    def _context(self, text: str, start: int, words: tuple[str, ...]) -> bool:
        window = text[max(0, start - self.context_window) : start].lower()
        return any(w in window for w in words)

    def _classify_number(self, text: str, raw: str, start: int) -> tuple[str, float] | None:
        has_cc = raw.startswith(("+86", "0086"))
        digits = raw if raw.isalnum() else raw.translate(_SEPARATORS)
        if has_cc:
            digits = digits[3:] if digits.startswith("+86") else digits[4:]
            if len(digits) == 11 and digits[:3] in _MOBILE_PREFIXES:
                return "CN_MOBILE", 0.95
            return None
        n = len(digits)
        grouped = n != len(raw)
        if n == 11 and digits[:3] in _MOBILE_PREFIXES:
            return "CN_MOBILE", 0.9 if not grouped else 0.85
        # An ID may be written in up to four groups (6-8-4); more separators look like a card.
        if n == 18 and raw.count(" ") + raw.count("-") <= 3 and id_valid(digits, self.today):
            return "CN_RESIDENT_ID", 1.0
        if not digits.isdigit():
            if n == 18 and id_structure_ok(digits, self.today):
                return "CN_RESIDENT_ID_LIKE", 0.5
            return None
        card_ok = 13 <= n <= 19 and luhn_valid(digits)
        known = card_ok and self._card_known(digits)
        card_ctx = card_ok and self._context(text, start, self.config.card_context)
        if known and card_ctx:
            return "BANK_CARD", 1.0
        if n == 18:
            # An 18-digit string that is not a valid ID: a USCC only with a context word, else an
            # ID-like number if region and birth date fit, else a digit-only USCC.
            uscc = uscc_valid(digits)
            if uscc and self._context(text, start, _USCC_CONTEXT):
                return "CN_USCC", 0.95
            if id_structure_ok(digits, self.today):
                return "CN_RESIDENT_ID_LIKE", 0.5
            if uscc and org_code_valid(digits[8:17]):
                return "CN_USCC", 0.8
        if known and n != 18:
            return "BANK_CARD", 0.85
        if card_ctx:
            return "BANK_CARD", 0.6
        return None

    def _classify_code(self, text: str, raw: str, start: int) -> tuple[str, float] | None:
        n = len(raw)
        if n == 18:
            if uscc_valid(raw):
                return "CN_USCC", 1.0
            return None
        if n == 9:
            head = raw[0]
            if (head in "EG" and raw[1:].isdigit()) or (head == "E" and raw[2:].isdigit()):
                ctx = self._context(text, start, _PASSPORT_CONTEXT)
                return "CN_PASSPORT", 0.95 if ctx else 0.75
            if head in "CW" and raw[2:].isdigit() and raw[1] not in "IOZ":
                ctx = self._context(text, start, _PERMIT_CONTEXT)
                return "HK_MACAU_PERMIT", 0.95 if ctx else 0.75
            if head in "HM" and raw[1:].isdigit():
                return "HK_MACAU_PERMIT", 0.8
            if (
                head in "DSP"
                and raw[1:].isdigit()
                and self._context(text, start, _PASSPORT_CONTEXT)
            ):
                return "CN_PASSPORT", 0.85
        if (
            n == 8
            and raw[0] in "DSP"
            and raw[1:].isdigit()
            and self._context(text, start, _PASSPORT_CONTEXT)
        ):
            return "CN_PASSPORT", 0.85
        if n == 11 and raw[0] in "HM" and raw[1:].isdigit():
            return "HK_MACAU_PERMIT", 0.8
        return None

    def _classify(self, text: str, m: re.Match[str]) -> Entity | None:
        kind = m.lastgroup
        raw = m.group()
        start, end = m.span()
        result: tuple[str, float] | None
        if kind == "num":
            result = self._classify_number(text, raw, start)
        elif kind == "code":
            result = self._classify_code(text, raw, start)
        elif kind == "email":
            result = ("EMAIL", 0.95)
        elif kind == "plate":
            start -= 1  # include the province character matched by the look-behind
            body = raw.translate(_PLATE_SEPARATORS)
            letters = len(_ASCII_LETTERS(body, 1))
            # GA 36-2018: ordinary plates carry at most two letters after the authority letter.
            result = (
                ("CN_LICENSE_PLATE", 0.9)
                if letters <= 2 or (len(body) == 7 and body[1] in "DF")
                else None
            )
            raw = text[start:end]
        elif kind == "ipv4":
            if raw.isascii():
                ok = _IPV4_OCTETS(raw) is not None
            else:  # other Unicode digits that \d matched
                parts = raw.split(".")
                ok = all(len(p) == 1 or p[0] != "0" for p in parts) and all(
                    int(p) <= 255 for p in parts
                )
            result = ("IP_ADDRESS", 0.8) if ok else None
        else:  # ipv6
            try:
                ipaddress.IPv6Address(raw)
                result = ("IP_ADDRESS", 0.8)
            except ValueError:
                result = None
        if result is None:
            return None
        type_, score = result
        return Entity(type_, start, end, raw, score, self._sensitive[type_])

    def iter_patterns(self, text: str, offset: int = 0) -> Iterator[Entity]:
        """Yield pattern entities in text order (offsets shifted by ``offset``)."""
        return iter(self.patterns(text, offset))

    def patterns(self, text: str, offset: int = 0) -> list[Entity]:
        """Pattern entities in text order (offsets shifted by ``offset``).

        Mostly-ASCII text (tables, logs, query values) takes one pass of the shape pattern; in
        mostly-Chinese text (prose) the shape pattern runs only inside ASCII islands, which one
        simple pattern finds at C speed. Both give the same matches; only the speed differs.
        """
        classify = self._classify
        out: list[Entity] = []
        append = out.append
        if (len(text) < 256 and text.isascii()) or _mostly_ascii(text):
            for m in _SHAPES.finditer(text):
                ent = classify(text, m)
                if ent is not None:
                    append(ent)
        else:
            shapes = _SHAPES.finditer
            for island in _ISLANDS.finditer(text):
                s, e = island.span()
                if e - s >= 3:
                    for m in shapes(text, s, e):
                        ent = classify(text, m)
                        if ent is not None:
                            append(ent)
        if offset:
            for ent in out:
                ent.start += offset
                ent.end += offset
        return out

    def detect(self, text: str, offset: int = 0) -> list[Entity]:
        """Return all entities in ``text``, one type per span (patterns win over NER)."""
        found = self.patterns(text, offset)
        if self.ner is not None and not self.ner_truncated:
            found = resolve_overlaps(found, [
                Entity(e.type, e.start + offset, e.end + offset, e.text, e.score,
                       e.sensitive, e.source)
                for e in self._ner_entities(text)
            ])  # fmt: skip
        return found


_PIECE_ENDS = "\n。！？；!?;"


def split_pieces(text: str, size: int) -> Iterator[tuple[int, str]]:
    """Cut ``text`` into pieces of at most ``size`` characters, after a line or sentence end
    where there is one (a hard cut otherwise); yield each piece with its offset."""
    if len(text) <= size:
        yield 0, text
        return
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = max(text.rfind(ch, start, end) for ch in _PIECE_ENDS)
            if cut > start:
                end = cut + 1
        yield start, text[start:end]
        start = end


def resolve_overlaps(primary: list[Entity], secondary: Iterable[Entity]) -> list[Entity]:
    """Merge two sorted entity lists; a secondary entity overlapping a primary one is dropped."""
    spans = [(e.start, e.end) for e in primary]
    out = list(primary)

    starts = [s for s, _ in spans]
    for e in secondary:
        i = bisect.bisect_left(starts, e.end)
        if i and spans[i - 1][1] > e.start:
            continue
        out.append(e)
    out.sort(key=lambda e: (e.start, e.end))
    return out


def count_types(entities: Iterable[Entity]) -> dict[str, int]:
    """Count entities per type."""
    return dict(Counter(e.type for e in entities))


__all__ = [
    "PLATE_PROVINCES",
    "PROVINCE_CODES",
    "Entity",
    "PiiConfig",
    "PiiDetector",
    "count_types",
    "load_config",
    "resolve_overlaps",
    "split_pieces",
    "value_hash",
]
