"""The enabler contract (CONVENTIONS rules 1, 2, 6, 10), checked for every installed enabler."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from mingyue.core.plugins import Enabler, load_ref, registry

REQUIRED_FILES = (
    "__init__.py",
    "manifest.toml",
    "service.py",
    "api.py",
    "cli.py",
    "README.md",
    "i18n/zh_CN.toml",
    "i18n/en.toml",
)
MANIFEST_KEYS = ("key", "title", "summary", "state", "extras", "quality")
_ERR_KEY = re.compile(
    r"\b(?:[A-Z]\w*(?:Error|Input|Found|Forbidden|Conflict|Refused|Exceeded|"
    r"Large|Archive|Authenticated))\(\s*[\"']([a-z_]+\.[a-z0-9_.]+)[\"']"
)
_T_KEY = re.compile(r"\bt\(\s*[\"']([a-z_]+\.[a-z0-9_.]+)[\"']")


def _catalogue(path: Path) -> dict[str, str]:
    from mingyue.i18n import load_catalogue

    return load_catalogue(path) if path.exists() else {}


def core_catalogue(locale: str) -> dict[str, str]:
    """Return the core's own catalogue plus every core app's."""
    base = Path(__file__).parent
    merged = _catalogue(base / "web" / "i18n" / f"{locale}.toml")
    for d in sorted((base / "coreapps").glob("*/i18n")):
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


def check_enabler(en: Enabler) -> list[str]:
    """Return the contract violations of one enabler (empty when it honours the contract)."""
    p: list[str] = []
    key = en.key
    d = en.package_dir
    if d is None:
        return [f"{key}: package folder unknown"]
    # rule 1: one key names everything
    if d.name != key:
        p.append(f"{key}: folder is {d.name!r}, not the key")
    if not en.core:
        for f in REQUIRED_FILES:
            if not (d / f).exists():
                p.append(f"{key}: missing {f} (CONVENTIONS rule 2)")
        if not ((d / "engine").is_dir() or (d / "engine.py").exists()):
            p.append(f"{key}: missing engine/ (CONVENTIONS rule 2)")
        man = d / "manifest.toml"
        if man.exists():
            m = tomllib.loads(man.read_text(encoding="utf-8"))
            for k in MANIFEST_KEYS:
                if k not in m:
                    p.append(f"{key}: manifest.toml lacks {k!r}")
            if m.get("key") != key:
                p.append(f"{key}: manifest key is {m.get('key')!r}")
            if m.get("state") not in ("experimental", "ready"):
                p.append(f"{key}: manifest state must be experimental|ready")
    for label in ("router", "console", "cli", "models"):
        ref = getattr(en, label)
        if not ref:
            continue
        try:
            obj = load_ref(ref)
        except Exception as exc:
            p.append(f"{key}: {label} {ref} fails to import: {type(exc).__name__}: {exc}")
            continue
        if label == "models":
            from mingyue.core.db import Base

            prefix = "core_" if en.core else f"{key}_"
            mod_name = ref
            for mapper in Base.registry.mappers:
                cls = mapper.class_
                if cls.__module__.startswith(mod_name.rsplit(".", 1)[0]) and hasattr(
                    cls, "__tablename__"
                ):
                    if not str(cls.__tablename__).startswith(prefix):
                        p.append(f"{key}: table {cls.__tablename__} lacks prefix {prefix!r}")
        if label == "router" and not en.core:
            for route in getattr(obj, "routes", []):
                tags = list(getattr(route, "tags", []) or []) or list(getattr(obj, "tags", []))
                if tags and tags[0] != key:
                    p.append(f"{key}: route {route.path} has tag {tags[0]!r}")
                oid = getattr(route, "operation_id", None)
                if oid and not oid.startswith(f"{key}-"):
                    p.append(f"{key}: operation id {oid!r} must start with '{key}-'")
    if en.console and not en.core and not (d / "templates" / key).is_dir():
        p.append(f"{key}: console pages but no templates/{key}/ folder")
    for ck_name, ref in en.case_kinds.items():
        try:
            ck = load_ref(ref)
        except Exception as exc:
            p.append(f"{key}: case kind {ck_name} fails to import: {exc}")
            continue
        if getattr(ck, "name", None) != ck_name:
            p.append(
                f"{key}: case kind registered as {ck_name} is named {getattr(ck, 'name', None)}"
            )
    # rule 10: both languages present, and every key used exists in both
    if en.core:
        zh, enc = core_catalogue("zh_CN"), core_catalogue("en")
    else:
        zh = {**core_catalogue("zh_CN"), **_catalogue(d / "i18n" / "zh_CN.toml")}
        enc = {**core_catalogue("en"), **_catalogue(d / "i18n" / "en.toml")}
        own_zh = set(_catalogue(d / "i18n" / "zh_CN.toml"))
        own_en = set(_catalogue(d / "i18n" / "en.toml"))
        for k in sorted(own_zh ^ own_en):
            p.append(f"{key}: i18n key {k!r} is in one language only")
    for k in sorted(used_keys(d)):
        if k not in zh or k not in enc:
            miss = [loc for loc, cat in (("zh_CN", zh), ("en", enc)) if k not in cat]
            p.append(f"{key}: i18n key {k!r} missing in {', '.join(miss)}")
    for title in (en.title, *(n.title for n in en.nav)):
        if not title.get("zh") or not title.get("en"):
            p.append(f"{key}: a title lacks zh or en")
    return p


def check_all() -> list[str]:
    """Return the contract violations of every installed enabler and core app."""
    reg = registry()
    problems = [f"{name}: entry point failed to load: {err}" for name, err in reg.errors.items()]
    for en in reg.ordered():
        problems.extend(check_enabler(en))
    from mingyue.core.cases.kinds import check_declared

    problems.extend(p for p in check_declared(reg.ordered()) if p not in problems)
    return problems
