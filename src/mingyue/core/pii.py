"""Find and redact personal information in free text (PIPL Art. 28, 51; GB/T 35273-2020 §3.2).

Each kind is matched by a pattern and then validated, so an ordinary number is left alone:

- ``id_card``: the 18-character resident identity number of GB 11643-1999 (region, a real birth
  date, the ISO 7064 MOD 11-2 check character);
- ``phone``: a mainland mobile number (``1[3-9]`` + 9 digits, optionally ``+86``/``86`` and
  3-4-4 spacing);
- ``email``: an e-mail address with a dotted domain;
- ``bank_card``: 13 to 19 digits (optionally grouped by spaces or hyphens) that pass the Luhn
  check and start with a card scheme's prefix (UnionPay 62, Visa 4, Mastercard 51-55/22-27,
  American Express 34/37, JCB 35, Discover 6011/65);
- ``passport``: a PRC passport number (``E``+8 digits, ``E``+letter+7 digits, ``G``+8 digits,
  ``DE``/``SE``/``PE``+7 digits: diplomatic, service, public affairs).

Overlaps are resolved in that order (an e-mail address's digits are not a phone number).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

_EDGE_L = r"(?<![0-9A-Za-z])"
_EDGE_R = r"(?![0-9A-Za-z])"

_ID_CARD = re.compile(_EDGE_L + r"[1-8]\d{5}(?:18|19|20)\d{2}\d{4}\d{3}[\dXx]" + _EDGE_R)
_PHONE = re.compile(
    r"(?<![0-9A-Za-z+])(?:\+?86[ -]?)?1[3-9]\d(?:\d{8}|[ -]\d{4}[ -]\d{4})" + _EDGE_R
)
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)
_CARD = re.compile(_EDGE_L + r"\d{4}(?:[ -]?\d{4}){2,3}(?:[ -]?\d{1,3})?" + _EDGE_R)
_PASSPORT = re.compile(_EDGE_L + r"(?:E\d{8}|E[A-HJ-NP-Z]\d{7}|G\d{8}|[DSP]E\d{7})" + _EDGE_R)

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_CARD_PREFIXES = re.compile(r"^(?:62|4|5[1-5]|2[2-7]|3[47]|35|6011|65)")

PLACEHOLDER = {
    "id_card": "[ID_CARD]",
    "phone": "[PHONE]",
    "email": "[EMAIL]",
    "bank_card": "[BANK_CARD]",
    "passport": "[PASSPORT]",
}


@dataclass(frozen=True, order=True)
class PiiSpan:
    """One piece of personal information in a text: ``text[start:end]`` is of ``kind``."""

    start: int
    end: int
    kind: str


def id_card_valid(value: str) -> bool:
    """Tell whether an 18-character resident identity number is valid (GB 11643-1999 §6)."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17].upper()


def luhn_valid(digits: str) -> bool:
    """Tell whether a digit string passes the Luhn (ISO/IEC 7812-1 Annex B) check."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _bank_card(value: str) -> bool:
    digits = re.sub(r"[ -]", "", value)
    return 13 <= len(digits) <= 19 and bool(_CARD_PREFIXES.match(digits)) and luhn_valid(digits)


_KINDS: tuple[tuple[str, re.Pattern[str], Callable[[str], bool] | None], ...] = (
    ("email", _EMAIL, None),
    ("id_card", _ID_CARD, id_card_valid),
    ("bank_card", _CARD, _bank_card),
    ("phone", _PHONE, None),
    ("passport", _PASSPORT, None),
)


def find_pii(text: str) -> list[PiiSpan]:
    """Return the personal information found in ``text``, in order, without overlaps."""
    found: list[PiiSpan] = []
    for kind, pattern, valid in _KINDS:
        for m in pattern.finditer(text):
            if valid is not None and not valid(m.group(0)):
                continue
            if any(m.start() < s.end and s.start < m.end() for s in found):
                continue
            found.append(PiiSpan(m.start(), m.end(), kind))
    return sorted(found)


def redact_pii(text: str) -> str:
    """Return ``text`` with every piece of personal information replaced by its kind's marker."""
    out: list[str] = []
    at = 0
    for span in find_pii(text):
        out.append(text[at : span.start])
        out.append(PLACEHOLDER[span.kind])
        at = span.end
    out.append(text[at:])
    return "".join(out)
