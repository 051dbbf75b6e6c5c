"""εxodus tracker detection with exodus-core's exact semantics, without running ``dexdump``.

exodus-core 1.3.x (``StaticAnalysis._get_embedded_classes`` / ``detect_trackers_in_list``):

1. for every archive member whose name matches ``classes.*\\.dex`` (``re.search``; members matching
   ``.*\\.apk`` are opened as nested APKs instead, depth <= 10) it runs ``dexdump`` and collects
   ``re.findall(r'[A-Z]+((?:\\w+\\/)+\\w+)', output)`` into a set of "classes";
2. a tracker is present when ``re.search(code_signature, cls)`` hits any class, for every tracker
   whose ``code_signature`` is longer than 3 characters.

Every token dexdump prints is a string of the DEX string table, and the regex cannot match across
the quotes/spaces that separate tokens, so the regex over *all strings* yields a superset of
exodus' class set; the class descriptors alone yield a subset. We match the superset, confirm a
candidate on the subset, and only when that fails rebuild dexdump's exact token set
(:meth:`DexFile.dexdump_tokens`). The result equals exodus-core's tracker set.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

CLASS_RE = re.compile(r"[A-Z]+((?:\w+\/)+\w+)")
APK_MEMBER_RE = re.compile(r".*\.apk")
DEX_MEMBER_RE = re.compile(r"classes.*\.dex")
MAX_NESTED_APK_DEPTH = 10

# constructs whose meaning changes when classes are joined by "\n" into one text
_JOIN_UNSAFE = re.compile(r"\^|\$|\\[AZzbBsSWDn]|\(\?|\[\^")


def classes_in(tokens: Iterable[bytes]) -> set[str]:
    """Apply exodus-core's class regex to dexdump tokens (raw bytes, decoded like exodus does)."""
    # One pass over the joined tokens equals one pass per token: "\n" is neither a word
    # character nor "/", and it ends any broken UTF-8 sequence, so no match can span two tokens.
    blob = b"\n".join(t for t in tokens if b"/" in t)
    return set(CLASS_RE.findall(blob.decode("utf-8", "ignore")))


def header_classes(member_name: str) -> set[str]:
    """Classes exodus picks up from dexdump's own header lines (the member's path)."""
    text = f"Processing '/tmp/tmpdir/{member_name}'...\nOpened '/tmp/tmpdir/{member_name}'"
    return set(CLASS_RE.findall(text))


@dataclass(frozen=True)
class Tracker:
    """One εxodus tracker (fields as in the εxodus API / ETIP export)."""

    id: int
    name: str
    code_signature: str
    network_signature: str = ""
    categories: tuple[str, ...] = ()
    website: str = ""


_SIMPLE = re.compile(r"[A-Za-z0-9_\-.|]+")


def _required_literals(signature: str) -> tuple[str, ...] | None:
    """For a signature made of literals, "." and "|" only: one literal each alternative needs.

    A text in which none of them occurs cannot match, so a plain substring test (fast, in C)
    rules most trackers out before any regex runs. ``None`` for other signatures.
    """
    if not _SIMPLE.fullmatch(signature):
        return None
    out = []
    for alt in signature.split("|"):
        frags = [f for f in alt.split(".") if f]
        if not frags:
            return None  # an alternative of dots only matches almost anything
        out.append(max(frags, key=len))
    return tuple(out)


@dataclass
class _Compiled:
    tracker: Tracker
    rx: re.Pattern[str]
    join_safe: bool
    literals: tuple[str, ...] | None = None


@dataclass
class ExodusMatcher:
    """Match tracker code signatures against class sets, exodus-core style."""

    trackers: list[Tracker]
    _compiled: list[_Compiled] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._compiled = [
            _Compiled(
                t,
                re.compile(t.code_signature),
                not _JOIN_UNSAFE.search(t.code_signature),
                _required_literals(t.code_signature),
            )
            for t in self.trackers
            if len(t.code_signature) > 3
        ]

    @property
    def all_simple(self) -> bool:
        """True when every signature is literals, "." and "|" (no anchors, no lookarounds)."""
        return all(c.literals is not None and c.join_safe for c in self._compiled)

    def match(self, classes: Iterable[str]) -> list[Tracker]:
        """Return the trackers whose signature ``re.search``-es at least one class."""
        cls_list = list(classes)
        joined = "\n".join(cls_list)
        segments = _segments(cls_list)
        return [c.tracker for c in self._compiled if _hits(c, joined, cls_list, segments)]

    def detect(
        self,
        superset: set[str],
        subset: set[str],
        exact: Callable[[], set[str]],
    ) -> list[Tracker]:
        """Return exodus-core's tracker set given a superset/subset of its class set.

        ``exact`` is called (at most once) only if a candidate is not confirmed by ``subset``.
        """
        candidates = self.match(superset)
        if not candidates:
            return []
        sub_list = list(subset)
        sub_joined = "\n".join(sub_list)
        sub_segments = _segments(sub_list)
        by_id = {c.tracker.id: c for c in self._compiled}
        confirmed: list[Tracker] = []
        pending: list[_Compiled] = []
        for t in candidates:
            comp = by_id[t.id]
            if _hits(comp, sub_joined, sub_list, sub_segments):
                confirmed.append(t)
            else:
                pending.append(comp)
        if pending:
            full = list(exact())
            full_joined = "\n".join(full)
            full_segments = _segments(full)
            confirmed.extend(
                c.tracker for c in pending if _hits(c, full_joined, full, full_segments)
            )
        order = {c.tracker.id: i for i, c in enumerate(self._compiled)}
        return sorted(confirmed, key=lambda t: order[t.id])


def _segments(classes: list[str]) -> str:
    """Return the distinct path segments of the classes, one per line.

    A required literal has no "/" or newline, so it occurs in some class iff it occurs in one of
    its segments; the distinct segments are a small fraction of the joined class list.
    """
    return "\n".join({seg for cls in classes for seg in cls.split("/")})


def _hits(c: _Compiled, joined: str, classes: list[str], segments: str) -> bool:
    if not classes:
        return False
    if c.literals is not None and not any(lit in segments for lit in c.literals):
        return False
    if c.join_safe:
        m = c.rx.search(joined)
        if m is None:
            return False
        if "\n" not in m.group(0):
            return True
    search = c.rx.search
    return any(search(cls) for cls in classes)
