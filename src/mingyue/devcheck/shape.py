"""One key names everything, every enabler has the same shape, and every message is a key.

CONVENTIONS rules 1, 2, 6 and 10, read off one enabler's declaration and folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mingyue.core.db import Base
from mingyue.core.plugins import Enabler, load_ref
from mingyue.devcheck.extras import distribution_extras, explain_import_error
from mingyue.i18n import load_catalogue

REQUIRED_FILES = ("__init__.py", "README.md", "i18n/zh_CN.toml", "i18n/en.toml")
# Each may be a module (``service.py``) or a package (``service/__init__.py``).
REQUIRED_MODULES = ("service", "api", "cli", "engine")
STATES = ("experimental", "ready")

_ERR_KEY = re.compile(
    r"\b(?:[A-Z]\w*(?:Error|Input|Found|Forbidden|Conflict|Refused|Exceeded|"
    r"Large|Archive|Authenticated))\(\s*[\"']([a-z_]+\.[a-z0-9_.]+)[\"']"
)
_T_KEY = re.compile(r"\bt\(\s*[\"']([a-z_]+\.[a-z0-9_.]+)[\"']")
_PLATFORM = Path(__file__).resolve().parent.parent


def _catalogue(path: Path) -> dict[str, str]:
    return load_catalogue(path) if path.exists() else {}


def core_catalogue(locale: str) -> dict[str, str]:
    """Return the core's own catalogue plus every core app's."""
    merged = _catalogue(_PLATFORM / "web" / "i18n" / f"{locale}.toml")
    for d in sorted((_PLATFORM / "coreapps").glob("*/i18n")):
        merged.update(_catalogue(d / f"{locale}.toml"))
    return merged


def used_keys(folder: Path) -> set[str]:
    """Return the i18n keys used by errors in Python files and t() in templates of a folder."""
    keys: set[str] = set()
    for f in folder.rglob("*.py"):
        keys.update(_ERR_KEY.findall(f.read_text(encoding="utf-8")))
    for f in folder.rglob("*.html"):
        keys.update(_T_KEY.findall(f.read_text(encoding="utf-8")))
    return {k for k in keys if not k.endswith(".")}


def check_declaration(en: Enabler) -> list[str]:
    """Check the declaration's own fields: state, extras, quality and titles."""
    p: list[str] = []
    key = en.key
    if en.state not in STATES:
        p.append(f"{key}: state {en.state!r} must be one of {', '.join(STATES)}")
    if not en.core and not en.quality.strip():
        p.append(f"{key}: declare quality= (one line: what is tested, against what)")
    known = distribution_extras()
    for extra in en.extras:
        if known and extra not in known:
            p.append(f"{key}: extra {extra!r} is not an optional dependency of the distribution")
    for title in (en.title, *(n.title for n in en.nav)):
        if not title.get("zh") or not title.get("en"):
            p.append(f"{key}: a title lacks zh or en")
    return p


def check_folder(en: Enabler, d: Path) -> list[str]:
    """Check the folder: its name is the key and it has the shape of CONVENTIONS rule 2."""
    p: list[str] = []
    key = en.key
    if d.name != key:
        p.append(f"{key}: folder is {d.name!r}, not the key")
    if en.core:
        return p
    for f in REQUIRED_FILES:
        if not (d / f).exists():
            p.append(f"{key}: missing {f} (CONVENTIONS rule 2)")
    for m in REQUIRED_MODULES:
        if not ((d / f"{m}.py").exists() or (d / m / "__init__.py").exists()):
            p.append(f"{key}: missing {m}.py or {m}/ (CONVENTIONS rule 2)")
    if en.console and not (d / "templates" / key).is_dir():
        p.append(f"{key}: console pages but no templates/{key}/ folder")
    return p


def _check_tables(en: Enabler, models_ref: str) -> list[str]:
    prefix = "core_" if en.core else f"{en.key}_"
    package = models_ref.rsplit(".", 1)[0]
    p: list[str] = []
    for mapper in Base.registry.mappers:
        cls = mapper.class_
        table = getattr(cls, "__tablename__", None)
        if cls.__module__.startswith(package) and table and not str(table).startswith(prefix):
            p.append(f"{en.key}: table {table} lacks prefix {prefix!r}")
    return p


def _check_routes(en: Enabler, router: Any) -> list[str]:
    p: list[str] = []
    key = en.key
    for route in getattr(router, "routes", []):
        tags = list(getattr(route, "tags", []) or []) or list(getattr(router, "tags", []))
        if tags and tags[0] != key:
            p.append(f"{key}: route {route.path} has tag {tags[0]!r}")
        oid = getattr(route, "operation_id", None)
        if oid and not oid.startswith(f"{key}-"):
            p.append(f"{key}: operation id {oid!r} must start with '{key}-'")
    return p


def check_entry_refs(en: Enabler) -> list[str]:
    """Import the router, console, CLI and models and check their names (rule 1)."""
    p: list[str] = []
    for label in ("router", "console", "cli", "models"):
        ref = getattr(en, label)
        if not ref:
            continue
        try:
            obj = load_ref(ref)
        except Exception as exc:
            p.append(f"{en.key}: {label} {ref} fails to import: {explain_import_error(en, exc)}")
            continue
        if label == "models":
            p.extend(_check_tables(en, ref))
        elif label == "router" and not en.core:
            p.extend(_check_routes(en, obj))
    return p


def check_i18n(en: Enabler, d: Path) -> list[str]:
    """Check both languages are present and every key used exists in both (rule 10)."""
    p: list[str] = []
    key = en.key
    if en.core:
        zh, enc = core_catalogue("zh_CN"), core_catalogue("en")
    else:
        own_zh = _catalogue(d / "i18n" / "zh_CN.toml")
        own_en = _catalogue(d / "i18n" / "en.toml")
        zh = {**core_catalogue("zh_CN"), **own_zh}
        enc = {**core_catalogue("en"), **own_en}
        for k in sorted(set(own_zh) ^ set(own_en)):
            p.append(f"{key}: i18n key {k!r} is in one language only")
    for k in sorted(used_keys(d)):
        miss = [loc for loc, cat in (("zh_CN", zh), ("en", enc)) if k not in cat]
        if miss:
            p.append(f"{key}: i18n key {k!r} missing in {', '.join(miss)}")
    return p
