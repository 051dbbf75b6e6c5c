"""The exemption list (合规免责清单) as published, versioned documents; which version governs a date.

A list is data (``data/exemption_lists/<version>.yaml`` as shipped, or a version the service stored):
articles that give it effect (Art. 2: listed matters meeting the conditions are not punished, the
"may" of 行政处罚法 Art. 33(1) second sentence made a waiver) and items that name the finding rules
they cover, their condition and the longest correction period in working days.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from . import docfields as f
from .errors import DocumentError

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
LISTS_DIR = DATA_DIR / "exemption_lists"
MAX_CORRECTION_DAYS = 90


@dataclass(frozen=True)
class ListArticle:
    """One article of the list's general provisions."""

    number: int
    zh: str
    en: str


@dataclass(frozen=True)
class ExemptionItem:
    """One listed matter: the finding rules it covers, its condition and its correction period."""

    id: str
    rule_ids: tuple[str, ...]
    matter_zh: str
    matter_en: str
    condition_zh: str
    condition_en: str
    max_correction_working_days: int
    basis: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the item in its published shape."""
        return {
            "id": self.id,
            "rule_ids": list(self.rule_ids),
            "matter": {"zh": self.matter_zh, "en": self.matter_en},
            "basis": list(self.basis),
            "condition": {"zh": self.condition_zh, "en": self.condition_en},
            "max_correction_working_days": self.max_correction_working_days,
        }


@dataclass(frozen=True)
class ExemptionList:
    """One version of the exemption list, in force from ``effective`` until a later version."""

    id: str
    version: str
    effective: date
    supersedes: str | None
    title_zh: str
    title_en: str
    issued_by_zh: str
    issued_by_en: str
    basis: tuple[str, ...]
    articles: tuple[ListArticle, ...]
    items: tuple[ExemptionItem, ...]
    changes: tuple[dict[str, str], ...] = ()
    sample: bool = False

    @classmethod
    def from_dict(cls, doc: Any) -> ExemptionList:
        """Validate a published document; raise DocumentError naming the field's path."""
        d = f.mapping(doc, "")
        if d.get("kind") != "exemption_list":
            raise DocumentError("kind", "must be 'exemption_list'")
        supersedes = d.get("supersedes")
        if supersedes is not None and not isinstance(supersedes, str):
            raise DocumentError("supersedes", "must be null or a version string")
        articles = []
        for i, raw in enumerate(f.seq(d, "articles", "")):
            where = f"articles[{i}]"
            a = f.mapping(raw, where)
            number = a.get("number")
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                raise DocumentError(f"{where}.number", "must be a positive integer")
            articles.append(ListArticle(number, f.text(a, "zh", where), f.text(a, "en", where)))
        if [a.number for a in articles] != list(range(1, len(articles) + 1)):
            raise DocumentError("articles", "must be numbered 1, 2, 3 … in order")
        items = [_item(raw, f"items[{i}]") for i, raw in enumerate(f.seq(d, "items", ""))]
        seen: dict[str, str] = {}
        for i, item in enumerate(items):
            for rid in item.rule_ids:
                if rid in seen:
                    raise DocumentError(
                        f"items[{i}].rule_ids", f"{rid} is already covered by item {seen[rid]}"
                    )
                seen[rid] = item.id
        if len({it.id for it in items}) != len(items):
            raise DocumentError("items", "item ids must be unique")
        changes = []
        for i, raw in enumerate(f.seq(d, "changes", "", required=False)):
            c = f.mapping(raw, f"changes[{i}]")
            changes.append({k: f.text(c, k, f"changes[{i}]") for k in ("item", "zh", "en")})
        title = f.bilingual(d, "title", "")
        issuer = f.bilingual(d, "issued_by", "")
        return cls(
            id=f.text(d, "id", ""),
            version=f.text(d, "version", ""),
            effective=f.day(d, "effective", ""),
            supersedes=supersedes,
            title_zh=title[0],
            title_en=title[1],
            issued_by_zh=issuer[0],
            issued_by_en=issuer[1],
            basis=f.strings(d, "basis", ""),
            articles=tuple(articles),
            items=tuple(items),
            changes=tuple(changes),
            sample=bool(d.get("sample", False)),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the document in its published shape (``from_dict`` reads it back)."""
        return {
            "kind": "exemption_list",
            "id": self.id,
            "version": self.version,
            "effective": self.effective.isoformat(),
            "supersedes": self.supersedes,
            "changes": [dict(c) for c in self.changes],
            "sample": self.sample,
            "title": {"zh": self.title_zh, "en": self.title_en},
            "issued_by": {"zh": self.issued_by_zh, "en": self.issued_by_en},
            "basis": list(self.basis),
            "articles": [{"number": a.number, "zh": a.zh, "en": a.en} for a in self.articles],
            "items": [it.to_dict() for it in self.items],
        }


def _item(raw: Any, where: str) -> ExemptionItem:
    d = f.mapping(raw, where)
    rule_ids = tuple(
        f.rule_id(r, f"{where}.rule_ids[{j}]") for j, r in enumerate(f.seq(d, "rule_ids", where))
    )
    if not rule_ids:
        raise DocumentError(f"{where}.rule_ids", "must name at least one rule id")
    days = d.get("max_correction_working_days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_CORRECTION_DAYS:
        raise DocumentError(
            f"{where}.max_correction_working_days",
            f"must be an integer from 1 to {MAX_CORRECTION_DAYS}",
        )
    matter = f.bilingual(d, "matter", where)
    condition = f.bilingual(d, "condition", where)
    return ExemptionItem(
        id=f.text(d, "id", where),
        rule_ids=rule_ids,
        matter_zh=matter[0],
        matter_en=matter[1],
        condition_zh=condition[0],
        condition_en=condition[1],
        max_correction_working_days=days,
        basis=f.strings(d, "basis", where),
    )


def load_exemption_lists(lists_dir: Path = LISTS_DIR) -> list[ExemptionList]:
    """Load the shipped versions of the list, oldest first; two versions on one date are refused."""
    lists = []
    for path in sorted(lists_dir.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        try:
            lists.append(ExemptionList.from_dict(doc))
        except DocumentError as exc:
            raise DocumentError(f"{path.name}: {exc.field}", exc.message) from None
    return sort_lists(lists)


def sort_lists(lists: Iterable[ExemptionList]) -> list[ExemptionList]:
    """Return the versions oldest first; refuse two versions effective on the same day."""
    out = sorted(lists, key=lambda x: x.effective)
    for a, b in itertools.pairwise(out):
        if a.effective == b.effective:
            raise DocumentError(
                "effective", f"versions {a.version} and {b.version} take effect the same day"
            )
    return out


def list_in_force(lists: Iterable[ExemptionList], at: date) -> ExemptionList | None:
    """Return the version in force on ``at``: the latest effective on or before it (None: none yet)."""
    best: ExemptionList | None = None
    for lst in lists:
        if lst.effective <= at and (best is None or lst.effective > best.effective):
            best = lst
    return best


def covers(lst: ExemptionList | None, rule_id: str) -> ExemptionItem | None:
    """Return the item of ``lst`` that covers the finding rule ``rule_id``, or None."""
    if lst is None:
        return None
    for item in lst.items:
        if rule_id in item.rule_ids:
            return item
    return None


@dataclass(frozen=True)
class Applicable:
    """The list version and item that govern a finding, and why that version was chosen."""

    list: ExemptionList
    item: ExemptionItem
    why: str  # "in_force_when_occurred" | "more_favourable_at_decision"


def applicable_item(
    lists: Iterable[ExemptionList], rule_id: str, occurred_on: date, decided_on: date
) -> Applicable | None:
    """Pick the version governing a finding: the one in force when it occurred, unless the one in
    force at the decision is more favourable (covers a matter the old one did not, or allows a
    longer correction period) — the list's Art. 6, after 行政处罚法 Art. 37 (从旧兼从轻).
    """
    pool = list(lists)
    old_list = list_in_force(pool, occurred_on)
    new_list = list_in_force(pool, decided_on)
    old = covers(old_list, rule_id)
    new = covers(new_list, rule_id)
    lighter = new is not None and (
        old is None or new.max_correction_working_days > old.max_correction_working_days
    )
    if lighter and new is not None and new_list is not None and new_list is not old_list:
        return Applicable(new_list, new, "more_favourable_at_decision")
    if old is not None and old_list is not None:
        return Applicable(old_list, old, "in_force_when_occurred")
    return None


def lists_from_documents(docs: Iterable[Mapping[str, Any]]) -> list[ExemptionList]:
    """Parse stored documents (e.g. versions the service published) into sorted lists."""
    return sort_lists(ExemptionList.from_dict(d) for d in docs)
