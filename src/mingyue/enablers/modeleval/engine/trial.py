"""Pure pieces of the trial chat: counting tokens when an endpoint reports none, the cost of a
reply, and the categories a reply may be flagged with (TC260-003 plus two of our own)."""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache

from mingyue.enablers.modeleval.engine.items import load_probes
from mingyue.enablers.modeleval.engine.suites import DATA

# Extra feedback categories beside the TC260-003 ones: a wrong answer, anything else.
INACCURATE = "inaccurate"
OTHER = "other"

_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
_WORD = re.compile(r"[A-Za-z0-9]+|[^\sA-Za-z0-9]")


def estimate_tokens(text: str) -> int:
    """Count the tokens of a text the way BPE tokenizers roughly do (an endpoint sent no usage).

    A Chinese character is one token (Qwen, GLM and Llama-3 tokenizers give 0.7-1.5 per
    character); a Latin word is one token per four characters, rounded up; punctuation is one.
    """
    cjk = len(_CJK.findall(text))
    rest = _CJK.sub(" ", text)
    words = _WORD.findall(rest)
    return cjk + sum(max(1, -(-len(w) // 4)) if w[0].isalnum() else 1 for w in words)


def reply_cost(tokens: int, price_1k: Decimal | None) -> Decimal | None:
    """Return the CNY cost of ``tokens`` at ``price_1k`` per 1,000 tokens (exact; None unpriced)."""
    if price_1k is None:
        return None
    return price_1k * tokens / 1000


@lru_cache(maxsize=1)
def tc260_categories() -> tuple[str, ...]:
    """Return the TC260-003 categories of the shipped probe set, in file order."""
    seen: dict[str, None] = {}
    for probe in load_probes(DATA / "probes_tc260.jsonl"):
        seen.setdefault(probe.category, None)
    return tuple(seen)


def feedback_categories() -> tuple[str, ...]:
    """Return the categories a reply may be flagged with: TC260-003's, inaccurate, other."""
    return (*tc260_categories(), INACCURATE, OTHER)
