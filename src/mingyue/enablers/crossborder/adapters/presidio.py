"""Use mingyue's Chinese recognizers inside Microsoft Presidio (presidio-analyzer).

Two ways, for teams that already run Presidio:
- ``pattern_recognizers()``: one Presidio ``PatternRecognizer`` per type, with the same patterns
  and the same check-digit validators as the mingyue engine (GB 11643, GB 32100, Luhn + card
  prefixes, mobile segments). Presidio's context words cannot help in Chinese: with a blank Chinese
  spaCy pipeline every character is a token, so multi-character context words never match.
- ``MingyueRecognizer``: one Presidio recognizer that delegates to the mingyue engine (one pass,
  overlaps already resolved to one type, context words applied).

``build_analyzer()`` wires either into an ``AnalyzerEngine`` with a blank ``zh`` spaCy pipeline
created in memory: no model is downloaded.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from mingyue.enablers.crossborder.engine.checksums import (
    id_structure_ok,
    id_valid,
    luhn_valid,
    org_code_valid,
    uscc_valid,
)
from mingyue.enablers.crossborder.engine.pii import PLATE_PROVINCES, PiiDetector, load_config

_G, _E = r"(?<![0-9A-Za-z])", r"(?![0-9A-Za-z])"
_MOBILE_SEGMENTS = ("13", "14", "15", "16", "17", "18", "19")


def _digits(text: str) -> str:
    return text.replace(" ", "").replace("-", "")


def _card_known(digits: str) -> bool:
    cfg = load_config()
    n = len(digits)
    if any(n in lengths and digits.startswith(p) for p, lengths in cfg.card_prefixes):
        return True
    head = int(digits[:4])
    return any(lo <= head <= hi and n in lengths for lo, hi, lengths in cfg.card_ranges)


def _mobile_ok(text: str) -> bool:
    d = _digits(text).removeprefix("+86").removeprefix("0086")
    return len(d) == 11 and d[:2] in _MOBILE_SEGMENTS


def _ip_ok(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _uscc_ok(text: str) -> bool:
    t = text.upper()
    return uscc_valid(t) and (not t.isdigit() or org_code_valid(t[8:17]))


# (entity, regex, validator, score, context words) — the same shapes and checks as engine/pii.py.
SPECS: list[tuple[str, str, Any, float, list[str]]] = [
    ("CN_RESIDENT_ID", rf"{_G}[1-9]\d{{16}}[0-9Xx]{_E}", id_valid, 1.0, ["身份证"]),
    ("CN_RESIDENT_ID_LIKE", rf"{_G}[1-9]\d{{16}}[0-9Xx]{_E}",
     lambda t: id_structure_ok(t) and not id_valid(t), 0.5, ["身份证"]),
    ("CN_USCC", rf"{_G}[0-9A-HJ-NPQRTUWXY]{{2}}\d{{6}}[0-9A-HJ-NPQRTUWXY]{{10}}{_E}", _uscc_ok, 0.9,
     ["信用代码"]),
    ("CN_MOBILE", rf"{_G}(?:\+86[ \-]?|0086[ \-]?)?1[3-9]\d(?:[ \-]?\d{{4}}){{2}}{_E}", _mobile_ok, 0.9,
     ["手机", "电话"]),
    ("BANK_CARD", rf"{_G}(?:\d{{13,19}}|\d{{4}}(?:[ \-]\d{{4}}){{2,3}}(?:[ \-]\d{{1,3}})?){_E}",
     lambda t: luhn_valid(_digits(t)) and _card_known(_digits(t)), 0.85, ["银行卡", "卡号"]),
    ("CN_PASSPORT", rf"{_G}(?:E[0-9A-HJ-NP-Z]\d{{7}}|G\d{{8}}){_E}", None, 0.75, ["护照"]),
    ("HK_MACAU_PERMIT", rf"{_G}(?:C[0-9A-HJ-NP-Z]\d{{7}}|W\d{{8}}|[HM]\d{{8}}(?:\d{{2}})?){_E}", None, 0.75,
     ["通行证"]),
    ("CN_LICENSE_PLATE", (rf"[{PLATE_PROVINCES}][A-Z][·\- ]?(?:[DF][A-HJ-NP-Z0-9]\d{{4}}|\d{{5}}[DF]|"
     rf"[A-HJ-NP-Z0-9]{{4}}[A-HJ-NP-Z0-9挂学警]){_E}"), None, 0.9, ["车牌"]),
    ("EMAIL", rf"{_G}[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{{2,}}{_E}", None, 0.95,
     ["邮箱"]),
    ("IP_ADDRESS", rf"(?<![0-9A-Za-z.])(?:\d{{1,3}}\.){{3}}\d{{1,3}}{_E}(?!\.\d)", _ip_ok, 0.8, []),
    ("IP_ADDRESS", r"(?<![0-9A-Za-z:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Za-z:])", _ip_ok,
     0.8, []),
]  # fmt: skip


def pattern_recognizers() -> list[Any]:
    """Return Presidio PatternRecognizers carrying mingyue's patterns and check-digit validators."""
    from presidio_analyzer import Pattern, PatternRecognizer  # lazy: crossborder extra, heavy

    class _Checked(PatternRecognizer):
        def __init__(self, entity: str, regex: str, check: Any, score: float, context: list[str],
                     idx: int) -> None:  # fmt: skip
            super().__init__(
                supported_entity=entity,
                name=f"mingyue_{entity.lower()}_{idx}",
                supported_language="zh",
                patterns=[Pattern(name=entity.lower(), regex=regex, score=score)],
                context=context,
            )
            self._check = check

        def validate_result(self, pattern_text: str) -> bool | None:
            if self._check is None:
                return None
            return bool(self._check(pattern_text))

    return [_Checked(e, rx, chk, sc, ctx, i) for i, (e, rx, chk, sc, ctx) in enumerate(SPECS)]


def delegating_recognizer(detector: PiiDetector | None = None) -> Any:
    """Return one Presidio recognizer that runs the mingyue engine."""
    from presidio_analyzer import EntityRecognizer, RecognizerResult  # lazy: as above

    det = detector or PiiDetector()
    entities = sorted(det.config.types)

    class MingyueRecognizer(EntityRecognizer):
        def load(self) -> None:
            return None

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            wanted = set(entities or [])
            return [
                RecognizerResult(e.type, e.start, e.end, e.score)
                for e in det.detect(text)
                if not wanted or e.type in wanted
            ]

    return MingyueRecognizer(supported_entities=entities, name="mingyue", supported_language="zh")


def build_analyzer(mode: str = "patterns", detector: PiiDetector | None = None) -> Any:
    """Build a Presidio AnalyzerEngine for Chinese text with only mingyue's recognizers."""
    import spacy  # lazy: crossborder extra, loads a language model
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry  # lazy: as above
    from presidio_analyzer.nlp_engine import SpacyNlpEngine  # lazy: as above

    if mode == "patterns":
        recognizers = pattern_recognizers()
    elif mode == "delegate":
        recognizers = [delegating_recognizer(detector)]
    else:
        raise ValueError(f"unknown mode {mode!r}; one of patterns, delegate")
    nlp_engine = SpacyNlpEngine(models=[{"lang_code": "zh", "model_name": "blank:zh"}])
    nlp_engine.nlp = {"zh": spacy.blank("zh")}  # type: ignore[assignment]  # in memory: no download
    registry = RecognizerRegistry(recognizers=recognizers, supported_languages=["zh"])
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["zh"])
