"""Message catalogues (zh_CN, en): the core's and every enabler's ``i18n/*.toml``."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

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
