"""Solidity version pragmas: which installed solc-js a file compiles with, and a relaxed copy.

``pragma solidity ^0.4.24;`` admits 0.4.24 … 0.4.x; we take the highest installed version the
pragma admits. A pin to a version we lack (``pragma solidity 0.4.23;``) falls back to the highest
installed version of the same minor line, and the analysed copy's pragma is relaxed to
``^0.<minor>.0`` on the same line (line numbers never move). A file without a pragma is tried with
the oldest line first (pre-0.5 sources rarely declared one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Version = tuple[int, int, int]
_PRAGMA = re.compile(r"pragma\s+solidity\s+([^;]+);")
_CONSTRAINT = re.compile(r"(\^|~|>=|<=|>|<|=)?\s*v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?")


@dataclass(frozen=True, slots=True)
class Choice:
    """The compiler chosen for a file and whether its pragma had to be relaxed."""

    version: Version
    relaxed: bool
    pragma: str | None


def parse_version(text: str) -> Version:
    """Parse ``0.4.26`` (or ``0.4.26+commit...``) into a tuple."""
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", text)
    if not m:
        raise ValueError(f"not a version: {text!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def fmt(v: Version) -> str:
    """Format a version tuple."""
    return ".".join(map(str, v))


def find_pragma(source: str) -> str | None:
    """Return the first ``pragma solidity`` expression of a source (comments ignored)."""
    m = _PRAGMA.search(_strip_comments(source))
    return m.group(1).strip() if m else None


def _strip_comments(source: str) -> str:
    """Blank comments, keeping every newline (so offsets of lines stay put)."""
    out = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), source, flags=re.S)
    return re.sub(r"//[^\n]*", "", out)


def _admits_one(op: str, want: Version, v: Version, parts: int) -> bool:
    if op == "^":
        if want[0] > 0:
            return v >= want and v[0] == want[0]
        if parts >= 2 and want[1] > 0:
            return v >= want and v[:2] == want[:2]
        return v >= want and v[:2] == want[:2]
    if op == "~":
        return v >= want and (v[:2] == want[:2] if parts >= 2 else v[0] == want[0])
    if op == ">=":
        return v >= want
    if op == ">":
        return v > want
    if op == "<=":
        return v <= want
    if op == "<":
        return v < want
    # "=" or bare: a pinned version, or x-ranges when parts are missing
    return v[:parts] == want[:parts]


def admits(expr: str, v: Version) -> bool:
    """Whether a pragma expression admits version ``v`` (``||`` alternatives, space = and)."""
    for alt in expr.split("||"):
        ok = True
        found = False
        for m in _CONSTRAINT.finditer(alt):
            if not m.group(0).strip():
                continue
            found = True
            op = m.group(1) or "="
            nums = [m.group(2), m.group(3), m.group(4)]
            parts = sum(1 for n in nums if n is not None and n not in ("x", "*"))
            want = tuple(int(n) if n and n not in ("x", "*") else 0 for n in nums)
            if not _admits_one(op, (want[0], want[1], want[2]), v, parts):
                ok = False
                break
        if found and ok:
            return True
    return False


def choose(source: str, installed: list[Version]) -> list[Choice]:
    """Return the compilers to try, best first (empty when none is installed)."""
    if not installed:
        return []
    ordered = sorted(installed, reverse=True)
    expr = find_pragma(source)
    if expr is None:
        lines = sorted({v[:2] for v in installed})
        return [Choice(max(v for v in installed if v[:2] == ln), True, None) for ln in lines]
    good = [v for v in ordered if admits(expr, v)]
    if good:
        return [Choice(good[0], False, expr)]
    m = _CONSTRAINT.search(expr)
    if m and m.group(3) and m.group(3).isdigit():
        line = (int(m.group(2)), int(m.group(3)))
        same = [v for v in ordered if v[:2] == line]
        if same:
            return [Choice(same[0], True, expr)]
    return [Choice(ordered[0], True, expr)]


def relax(source: str, version: Version) -> str:
    """Rewrite every version pragma to ``^<major>.<minor>.0`` of ``version``, lines unchanged."""
    target = f"^{version[0]}.{version[1]}.0"
    return _PRAGMA.sub(lambda m: f"pragma solidity {target};", source)
