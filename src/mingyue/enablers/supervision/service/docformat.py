"""How the service reads a published document's content (the engine validates it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from mingyue.sdk import InvalidInput


@dataclass(frozen=True)
class Meta:
    """What the register keeps of a document besides its content."""

    slug: str
    title: dict[str, str]
    effective_from: date
    label: str  # the document's own version label ("2026-07-01")


def meta(content: Mapping[str, Any], default_slug: str) -> Meta:
    """Return slug, title, effective date and version label of a shipped document."""
    raw = content.get("title")
    title: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    eff = content.get("effective") or content.get("effective_from")
    try:
        day = eff if isinstance(eff, date) else date.fromisoformat(str(eff))
    except ValueError:
        raise InvalidInput(
            "supervision.document.bad_date", f"{eff!r} is not a date", field="effective"
        ) from None
    return Meta(
        slug=str(content.get("id") or content.get("key") or default_slug),
        title={"zh": str(title.get("zh", default_slug)), "en": str(title.get("en", default_slug))},
        effective_from=day,
        label=str(content.get("version") or day.isoformat()),
    )


def correction_days(item: Mapping[str, Any] | None) -> int | None:
    """Return the longest correction period (working days) an exemption list item sets."""
    if item is None:
        return None
    days = item.get("max_correction_working_days")
    return days if isinstance(days, int) and not isinstance(days, bool) and days > 0 else None
