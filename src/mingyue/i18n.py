"""Message catalogues (zh_CN, en): the core's and every enabler's ``i18n/*.toml``."""

from __future__ import annotations

import tomllib
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from mingyue.core import registries
from mingyue.core.clock import now, zone
from mingyue.core.plugins import registry

LOCALES = ("zh_CN", "en")
_CORE_DIR = Path(__file__).parent / "web" / "i18n"


def catalogue_dirs() -> list[Path]:
    """Return every folder holding catalogues (core first)."""

    dirs = [_CORE_DIR]
    for en in registry().ordered():
        if en.package_dir and (en.package_dir / "i18n").is_dir():
            dirs.append(en.package_dir / "i18n")
    return dirs


def load_catalogue(path: Path) -> dict[str, str]:
    """Read one flat TOML catalogue (nested tables are flattened with dots)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out: dict[str, str] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            out[prefix] = str(node)

    walk("", data)
    return out


@lru_cache(maxsize=4)
def catalogue(locale: str) -> dict[str, str]:
    """Return the merged catalogue of one locale."""
    merged: dict[str, str] = {}
    for d in catalogue_dirs():
        f = d / f"{locale}.toml"
        if f.exists():
            merged.update(load_catalogue(f))
    return merged


def t(key: str, locale: str = "zh_CN", **params: Any) -> str:
    """Translate a message key; fall back to English, then to the key itself."""
    loc = locale if locale in LOCALES else "zh_CN"
    text = catalogue(loc).get(key) or catalogue("en").get(key) or key
    if params:
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return text
    return text


EVENT_PREFIX = "event."
"""Catalogue key of an audit event's label: ``event.<event name>`` (``event.core.login.failed``)."""


def event_label(name: str, locale: str = "zh_CN") -> str:
    """Return the label of an audit event kind for people.

    The catalogue's ``event.<name>`` in the locale, else in English; else the description its
    Enabler declaration gave (``audit_events``, English); a name nobody registered (an entry of
    an enabler since removed) is shown as it is.
    """
    key = EVENT_PREFIX + name
    loc = locale if locale in LOCALES else "zh_CN"
    found = catalogue(loc).get(key) or catalogue("en").get(key)
    if found:
        return found
    registry()  # discovery registers every declared event with its description
    return registries.events().get(name) or name


def missing_event_labels(locale: str) -> list[str]:
    """Return the registered audit events without a label in the locale's catalogue."""
    registry()
    labels = catalogue(locale if locale in LOCALES else "zh_CN")
    return sorted(n for n in registries.events() if EVENT_PREFIX + n not in labels)


def zone_label(tz: str, locale: str = "zh_CN", at: datetime | None = None) -> str:
    """Return a display time zone as people read it: its UTC offset and name ("UTC+8 北京时间").

    The name is the catalogue's ``core.tz.<zone, lower case, / as _>``, else the zone's own name.
    """
    offset = (at or now()).astimezone(zone(tz)).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    hours, rest = divmod(abs(minutes), 60)
    utc = f"UTC{'+' if minutes >= 0 else '-'}{hours}" + (f":{rest:02d}" if rest else "")
    key = "core.tz." + tz.lower().replace("/", "_")
    name = t(key, locale)
    return f"{utc} {tz if name == key else name}"
