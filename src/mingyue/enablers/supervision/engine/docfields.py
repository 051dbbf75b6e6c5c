"""Typed reads from a published document (YAML/JSON mapping); errors name the field's path."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from .errors import DocumentError

RULE_ID = re.compile(r"^[a-z][a-z0-9_]*\.[a-z0-9_.]+$")


def mapping(raw: Any, path: str) -> Mapping[str, Any]:
    """Return ``raw`` if it is a mapping, else raise DocumentError at ``path``."""
    if not isinstance(raw, Mapping):
        raise DocumentError(path or "(root)", "must be a mapping")
    return raw


def seq(doc: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> list[Any]:
    """Return the list at ``key``."""
    value = doc.get(key, None if required else [])
    if not isinstance(value, list):
        raise DocumentError(_at(path, key), "must be a list")
    return value


def text(doc: Mapping[str, Any], key: str, path: str) -> str:
    """Return the non-empty string at ``key`` (YAML dates are read back as ISO text)."""
    value = doc.get(key)
    if isinstance(value, date):
        return value.isoformat()
    if not isinstance(value, str) or not value.strip():
        raise DocumentError(_at(path, key), "must be a non-empty string")
    return value


def day(doc: Mapping[str, Any], key: str, path: str) -> date:
    """Return the date at ``key`` (a YAML date or an ISO string)."""
    value = doc.get(key)
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise DocumentError(_at(path, key), "must be a date (YYYY-MM-DD)")


def bilingual(doc: Mapping[str, Any], key: str, path: str) -> tuple[str, str]:
    """Return ``(zh, en)`` of the ``{zh, en}`` mapping at ``key``."""
    where = _at(path, key)
    inner = mapping(doc.get(key), where)
    return text(inner, "zh", where), text(inner, "en", where)


def strings(
    doc: Mapping[str, Any], key: str, path: str, *, required: bool = True
) -> tuple[str, ...]:
    """Return the list of non-empty strings at ``key``."""
    items = seq(doc, key, path, required=required)
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise DocumentError(f"{_at(path, key)}[{i}]", "must be a non-empty string")
        out.append(item)
    return tuple(out)


def rule_id(value: Any, path: str) -> str:
    """Return a finding rule id such as ``appcheck.over_collection``."""
    if not isinstance(value, str) or not RULE_ID.match(value):
        raise DocumentError(path, f"not a rule id (<enabler>.<name>): {value!r}")
    return value


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
