"""When a streamed multiple-choice reply may be cut: once no continuation can change the option
``extract_letter`` reads from it."""

from __future__ import annotations

import unicodedata

from mingyue.enablers.modeleval.engine.client import Settled
from mingyue.enablers.modeleval.engine.scoring import _MARKED, LETTERS


def letter_settled(reply: str, n_choices: int) -> bool:
    """Say whether no continuation of ``reply`` can change the option ``extract_letter`` reads.

    ``extract_letter`` takes the first valid letter marked by 答案/Answer, so once such a
    match is followed by a non-letter the pick is final: a later mark comes second, and no earlier
    match can appear (between a mark and its letter only spaces, 是/is, a colon or a bracket may
    stand, never another mark). The character after the letter must be a starter: a combining
    mark there could, with marks still to come, recompose the letter under NFKC (C + U+0323 +
    U+0301 reads as Ć). An unmarked letter ("B. Paris") is never settled: an "Answer: C" later in
    the reply would overrule it.
    """
    text = unicodedata.normalize("NFKC", reply)
    valid = LETTERS[:n_choices]
    for m in _MARKED.finditer(text):
        if m.group(1).upper() in valid:
            return m.end() < len(text) and unicodedata.combining(text[m.end()]) == 0
    return False


def settler(n_choices: int) -> Settled:
    """Return the ``settled`` test of a question with ``n_choices`` options."""
    return lambda text: letter_settled(text, n_choices)
