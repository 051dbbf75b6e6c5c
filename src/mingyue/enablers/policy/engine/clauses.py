"""Split a Chinese policy document into clauses following its legal numbering.

The numbering levels of Chinese normative documents (GB/T 9704-2012 §7.3.3 for the order of
headings inside official documents: 一、 → （一） → 1. → （1）; laws add 第X编/章/节/条) are
recognised at the start of a line. Each level nests under the levels above it; a marker whose
number does not continue its siblings' sequence (a sentence that happens to start with "1.")
stays plain text. Lines cut by the page layout (a paragraph ending mid-sentence, continued on a
later line) are joined back; page numbers and layout spaces between Chinese characters go.

A clause's ``path`` is stable for a given document version: ``二.（五）`` is measure (五) of part
二; articles of a law are numbered through the whole law, so ``第三条`` carries no chapter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
CN_DIGITS |= {"六": 6, "七": 7, "八": 8, "九": 9}
CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN = "[零〇一二两三四五六七八九十百千]+"

# Rank of each numbering kind: a marker closes every open level of equal or lower rank.
KINDS: tuple[str, ...] = ("book", "chapter", "section", "article", "part", "item", "point", "sub")
_RANK = {k: i for i, k in enumerate(KINDS)}
# Kinds whose label leaves the path of the articles below them (articles are law-wide).
_CONTAINERS = ("book", "chapter", "section")

_MARKERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("book", re.compile(rf"^第({_CN}|\d+)编")),
    ("chapter", re.compile(rf"^第({_CN}|\d+)章")),
    ("section", re.compile(rf"^第({_CN}|\d+)节")),
    ("article", re.compile(rf"^第({_CN}|\d+)条")),
    ("part", re.compile(rf"^({_CN})[、．]")),
    ("item", re.compile(rf"^[（(]\s*({_CN})\s*[）)]")),
    ("point", re.compile(r"^(\d{1,3})(?:[、．]|\.(?!\d))")),
    ("sub", re.compile(r"^(?:[（(]\s*(\d{1,3})\s*[）)]|([①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳]))")),
)
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"

_TERMINAL = "。！？；：…”」』!?;:"
_HAN = r"\u3400-\u9fff\uf900-\ufaff"
_HAN_GAP = re.compile(
    rf"(?<=[{_HAN}，。、；：（）《》“”])[ \t\u3000]+(?=[{_HAN}，。、；：（）《》“”])"
)
_PAGE_NO = re.compile(
    r"^(?:[-—–－\s]*\d{1,4}[-—–－\s]*|第\s*\d+\s*页(?:\s*[/，,]?\s*共\s*\d+\s*页)?)$"
)


def cn_number(text: str) -> int:
    """Return the value of a Chinese (一百二十三) or Arabic numeral; ValueError if neither."""
    if text.isdigit():
        return int(text)
    total, current = 0, 0
    for ch in text:
        if ch in CN_DIGITS:
            current = CN_DIGITS[ch]
        elif ch in CN_UNITS:
            total += (current or 1) * CN_UNITS[ch]
            current = 0
        else:
            raise ValueError(f"not a numeral: {text!r}")
    return total + current


@dataclass(frozen=True)
class Marker:
    """A numbering marker at the start of a line."""

    kind: str
    number: int
    label: str  # normalised: 二, （五）, 第三条, 1, （1）
    rest: str  # the line after the marker


def find_marker(line: str) -> Marker | None:
    """Return the numbering marker a line starts with, if any."""
    for kind, pattern in _MARKERS:
        m = pattern.match(line)
        if not m:
            continue
        raw = next(g for g in m.groups() if g)
        number = _CIRCLED.index(raw) + 1 if raw in _CIRCLED else cn_number(raw)
        if number <= 0:
            continue
        if kind in ("book", "chapter", "section", "article"):
            label = f"第{raw}{m.group(0)[-1]}"
        elif kind == "part":
            label = raw
        elif kind == "item":
            label = f"（{raw}）"
        elif kind == "point":
            label = raw
        else:
            label = f"（{number}）"
        return Marker(kind, number, label, line[m.end() :].strip())
    return None


def normalise_line(line: str) -> str:
    """Strip a line, drop layout spaces between Chinese characters, collapse other runs."""
    line = line.replace("\u3000", " ").replace("\xa0", " ").strip()
    line = _HAN_GAP.sub("", line)
    return re.sub(r"[ \t]{2,}", " ", line)


def clean_lines(lines: list[str]) -> list[str]:
    """Normalise lines and drop blank ones and bare page numbers (``— 3 —``, ``第3页``)."""
    out = []
    for raw in lines:
        line = normalise_line(raw)
        if line and not _PAGE_NO.match(line):
            out.append(line)
    return out


def _joins(prev: str, line: str, prev_is_heading: bool) -> bool:
    """Tell whether ``line`` continues ``prev`` (cut by the page layout)."""
    if prev_is_heading or not prev or prev[-1] in _TERMINAL:
        return False
    return find_marker(line) is None


def _glue(a: str, b: str) -> str:
    if re.search(rf"[{_HAN}，。、；：（）“”]$", a) or re.match(rf"^[{_HAN}，。、；：（）“”]", b):
        return a + b
    return f"{a} {b}"


def is_heading(text: str) -> bool:
    """Tell whether a marker line is a bare heading (short, no sentence punctuation)."""
    return len(text) <= 60 and not re.search(r"[。！？；]", text)


def full_width(lines: list[str]) -> int:
    """Return the length of a full line of the layout (the 90th percentile of line lengths)."""
    if not lines:
        return 0
    lengths = sorted(len(line) for line in lines)
    return lengths[min(len(lengths) - 1, int(len(lengths) * 0.9))]


def join_broken_lines(lines: list[str]) -> list[str]:
    """Join lines the page layout cut mid-sentence; keep headings and numbered lines apart.

    A numbered line is a heading when it is short, has no sentence punctuation and stops well
    short of a full line of the layout (a PDF wraps a long measure at the full width, ending its
    first line mid-sentence without punctuation); a line ending in a comma never ends a heading.
    """
    out: list[str] = []
    heading = True
    width = full_width(lines)
    for line in lines:
        if out and _joins(out[-1], line, heading):
            out[-1] = _glue(out[-1], line)
            continue
        out.append(line)
        marker = find_marker(line)
        heading = (
            marker is not None
            and is_heading(marker.rest)
            and len(line) < 0.85 * width
            and not line.endswith(("，", "、", ","))
        )
    return out


@dataclass
class Clause:
    """One numbered unit of a document (or its preamble)."""

    path: str
    kind: str
    label: str
    number: int
    heading: str
    text: str
    parent: str | None
    ordinal: int
    depth: int
    context: tuple[str, ...] = field(default_factory=tuple)  # headings of the levels above


def _heading_of(kind: str, rest: str) -> str:
    if is_heading(rest):
        return rest
    first = re.split(r"[。！？；]", rest, maxsplit=1)[0]
    if kind != "article" and len(first) <= 30 and "，" not in first:
        return first
    return ""


@dataclass
class _Open:
    kind: str
    clause: Clause


def _visible(stack: list[_Open], kind: str) -> list[_Open]:
    """Return the open levels that name a clause of ``kind`` (articles skip their chapters)."""
    in_article = kind == "article" or any(o.kind == "article" for o in stack)
    return [o for o in stack if not (in_article and o.kind in _CONTAINERS)]


def segment(lines: list[str], *, preamble_path: str = "序言") -> list[Clause]:
    """Split a document body (already cleaned and joined) into clauses with their hierarchy.

    Text before the first marker becomes one ``preamble`` clause; a marker that breaks its
    level's sequence is kept as text of the clause it appears in. Numbering may restart under
    each parent or run on through the document (measures (一)…(二十四) across parts).
    """
    clauses: list[Clause] = []
    stack: list[_Open] = []
    last_under: dict[tuple[str, str | None], int] = {}
    last_any: dict[str, int] = {}
    preamble: list[str] = []

    for line in lines:
        marker = find_marker(line)
        if marker is not None:
            rank = _RANK[marker.kind]
            kept = [o for o in stack if _RANK[o.kind] < rank]
            visible = _visible(kept, marker.kind)
            parent = visible[-1].clause.path if visible else None
            ok = marker.number in (
                1,
                last_under.get((marker.kind, parent), 0) + 1,
                last_any.get(marker.kind, 0) + 1,
            )
            if ok:
                stack[:] = kept
            else:
                marker = None
        if marker is None:
            if stack:
                stack[-1].clause.text += "\n" + line
            else:
                preamble.append(line)
            continue
        last_under[(marker.kind, parent)] = marker.number
        last_any[marker.kind] = marker.number
        labels = [o.clause.label for o in visible]
        clause = Clause(
            path=".".join([*labels, marker.label]),
            kind=marker.kind,
            label=marker.label,
            number=marker.number,
            heading=_heading_of(marker.kind, marker.rest),
            text=line,
            parent=parent,
            ordinal=len(clauses) + 1,
            depth=len(labels),
            context=tuple(o.clause.heading for o in stack if o.clause.heading),
        )
        clauses.append(clause)
        stack.append(_Open(marker.kind, clause))
    if preamble:
        clauses.insert(
            0,
            Clause(
                path=preamble_path,
                kind="preamble",
                label=preamble_path,
                number=0,
                heading="",
                text="\n".join(preamble),
                parent=None,
                ordinal=0,
                depth=0,
            ),
        )
    return clauses


def _same(a: str, b: str) -> bool:
    return re.sub(r"\s+", "", a) == re.sub(r"\s+", "", b)


def compare(old: dict[str, str], new: dict[str, str]) -> dict[str, str]:
    """Compare two versions' clause texts by path: ``unchanged``, ``changed``, ``added``, ``removed``."""
    out = {}
    for path, text in new.items():
        if path not in old:
            out[path] = "added"
        else:
            out[path] = "unchanged" if _same(old[path], text) else "changed"
    for path in old:
        if path not in new:
            out[path] = "removed"
    return out
