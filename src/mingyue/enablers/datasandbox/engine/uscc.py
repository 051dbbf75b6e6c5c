"""Unified social credit codes (统一社会信用代码), GB 32100-2015, with the GB 11714-1997 inner check."""

from __future__ import annotations

import random

# GB 32100-2015 §4.1: the code alphabet omits I, O, S, V and Z.
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
# GB 32100-2015 §4.3: weights 3^(i-1) mod 31 for positions 1..17.
_WEIGHTS = [pow(3, i, 31) for i in range(17)]
# GB 11714-1997: organization code check digit weights.
_ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]
# Registration authority + entity type pairs in common use (1 = 机构编制, 5 = 民政, 9 = 工商).
_KINDS = ["91", "92", "93", "12", "11", "51", "52", "53"]
# Administrative division codes of Chongqing (GB/T 2260): 渝北区, 江北区, 北碚区, 两江新区 offices.
CHONGQING_DIVISIONS = ["500112", "500105", "500109", "500106", "500103", "500108"]


def check_char(first17: str) -> str:
    """Return the GB 32100-2015 check character for the first 17 characters."""
    if len(first17) != 17 or any(c not in _VALUE for c in first17):
        raise ValueError("a USCC body is 17 characters of the GB 32100 alphabet")
    total = sum(_VALUE[c] * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def _org_check(body8: str) -> str:
    total = sum(int(c, 36) * w for c, w in zip(body8, _ORG_WEIGHTS, strict=True))
    c9 = 11 - total % 11
    return "X" if c9 == 10 else "0" if c9 == 11 else str(c9)


def is_valid(code: str) -> bool:
    """Tell whether ``code`` is a well-formed USCC with a correct check character."""
    if not isinstance(code, str) or len(code) != 18 or any(c not in _VALUE for c in code):
        return False
    return check_char(code[:17]) == code[17]


def generate(rng: random.Random, division: str | None = None) -> str:
    """Generate a random valid USCC (check characters of GB 11714 and GB 32100 both correct)."""
    kind = rng.choice(_KINDS)
    div = division or rng.choice(CHONGQING_DIVISIONS)
    org_alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    while True:
        body8 = "".join(rng.choice(org_alphabet) for _ in range(8))
        org = body8 + _org_check(body8)
        if all(c in _VALUE for c in org):
            break
    first17 = kind + div + org
    return first17 + check_char(first17)
