"""Check digits of Chinese identifiers and bank cards (pure functions, no I/O)."""

from __future__ import annotations

import datetime as dt
import operator

# GB 11643-1999 §5 / ISO 7064 MOD 11-2: weights 2^(17-i) mod 11 and the check-character table.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

# GB/T 2260 province-level codes (first two digits of the administrative division code), plus
# 71 (Taiwan), 81/82 (Hong Kong / Macao) and 83 (residence permits for Hong Kong, Macao and Taiwan
# residents, 《港澳台居民居住证申领发放办法》 2018 Art. 4).
PROVINCE_CODES = frozenset(
    {
        "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
        "65", "71", "81", "82", "83",
    }
)  # fmt: skip

# GB 32100-2015 §4.3: character set (no I, O, Z, S, V) and weights 3^(i) mod 31.
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(_USCC_CHARS)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# GB 32100-2015 Table 1: registration authority (first character) and the organisation categories
# (second character) each authority may assign.
_USCC_CATEGORIES = {
    "1": "1239", "2": "19", "3": "123459", "4": "19", "5": "1239", "6": "129", "7": "129",
    "8": "19", "9": "123", "A": "19", "N": "1239", "Y": "1",
}  # fmt: skip
_USCC_AUTHORITIES = frozenset(_USCC_CATEGORIES)


_ID_ASCII_BIAS = 48 * sum(_ID_WEIGHTS)
_CHINA = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


def today_in_china() -> dt.date:
    """Return today's date in China (UTC+8), the calendar an ID's birth date is written in."""
    return dt.datetime.now(_CHINA).date()


def id_check_char(first17: str) -> str:
    """Return the GB 11643-1999 check character for 17 digits."""
    if first17.isascii():  # weights times byte values, less the weighted '0's: no int() per digit
        total = sum(map(operator.mul, first17.encode(), _ID_WEIGHTS)) - _ID_ASCII_BIAS
    else:  # other Unicode decimal digits (full-width…) that \d matches
        total = sum(map(operator.mul, map(int, first17), _ID_WEIGHTS))
    return _ID_CHECK[total % 11]


def id_birth_date(value: str) -> dt.date | None:
    """Return the birth date encoded in an 18-character ID, or None if it is not a real date."""
    try:
        return dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None


def id_structure_ok(value: str, today: dt.date | None = None) -> bool:
    """Whether region and birth date are plausible (the part that makes a string ID-like)."""
    if len(value) != 18 or not value[:17].isdigit() or value[17] not in "0123456789Xx":
        return False
    if value[:2] not in PROVINCE_CODES:
        return False
    born = id_birth_date(value)
    if born is None or born.year < 1900:
        return False
    return born <= (today or today_in_china())


def id_valid(value: str, today: dt.date | None = None) -> bool:
    """Validate a resident identity number: region, birth date and GB 11643-1999 check digit."""
    return id_structure_ok(value, today) and id_check_char(value[:17]) == value[17].upper()


def uscc_check_char(first17: str) -> str:
    """Return the GB 32100-2015 check character for the first 17 characters."""
    if len(first17) != 17:
        raise ValueError("uscc_check_char: 17 characters expected")
    total = sum(map(operator.mul, map(_USCC_VALUE.__getitem__, first17), _USCC_WEIGHTS))
    return _USCC_CHARS[(31 - total % 31) % 31]


def uscc_valid(value: str) -> bool:
    """Validate a unified social credit code (GB 32100-2015)."""
    if len(value) != 18 or value[0] not in _USCC_AUTHORITIES:
        return False
    if value[1] not in _USCC_CATEGORIES[value[0]]:
        return False
    if any(c not in _USCC_VALUE for c in value):
        return False
    if not value[2:8].isdigit() or (value[2:4] not in PROVINCE_CODES and value[2:4] != "10"):
        return False
    return uscc_check_char(value[:17]) == value[17]


# GB 11714-1997: organisation code (positions 9-17 of a USCC), weights and MOD 11 check.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def org_code_valid(value: str) -> bool:
    """Validate a 9-character organisation code (GB 11714-1997 check character)."""
    if len(value) != 9:
        return False
    try:
        total = sum(int(c, 36) * w for c, w in zip(value[:8], _ORG_WEIGHTS, strict=True))
    except ValueError:
        return False
    check = 11 - total % 11
    want = "X" if check == 10 else "0" if check == 11 else str(check)
    return value[8] == want


_LUHN_DOUBLE = str.maketrans("0123456789", "0246813579")  # 2d, less 9 when it has two digits


def luhn_valid(digits: str) -> bool:
    """Validate the Luhn (ISO/IEC 7812-1 Annex B) check digit."""
    if digits.isascii() and digits.isdigit():
        # Every other digit from the right doubled through a table, then digit values summed as
        # bytes: the same sum without a Python loop.
        doubled = digits[-2::-2].translate(_LUHN_DOUBLE)
        return (sum(digits[-1::-2].encode()) + sum(doubled.encode()) - 48 * len(digits)) % 10 == 0
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_complete(partial: str) -> str:
    """Append the Luhn check digit to ``partial`` (used by tests and the benchmark corpus)."""
    for d in "0123456789":
        if luhn_valid(partial + d):
            return partial + d
    raise AssertionError("unreachable")
