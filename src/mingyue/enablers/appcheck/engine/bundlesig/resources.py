"""The resource seal of an iOS bundle: ``_CodeSignature/CodeResources`` against the bundle's files.

CodeResources is a plist (Apple TN2206 "macOS Code Signing In Depth", codesign's ResourceBuilder):
``files2``/``rules2`` (version 2, SHA-256 ``hash2`` beside SHA-1 ``hash``) and the legacy
``files``/``rules`` (SHA-1 only). Each file of the bundle, except the main executable and
``_CodeSignature/`` itself, takes the matching rule of highest ``weight``: ``omit`` leaves it out,
``optional`` lets it be absent, no rule leaves it unsealed; every sealed file must be listed with
an equal hash (symlinks by their target). Entries with ``cdhash``/``requirement`` are nested code
(frameworks, plug-ins) sealed by their own signature; their files are not listed one by one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FileFacts:
    """One bundle member: its SHA-1 and SHA-256, or the target when it is a symlink."""

    sha1: bytes
    sha256: bytes
    symlink: str | None = None


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    weight: float
    omit: bool
    optional: bool
    nested: bool


def _rules(raw: Any) -> tuple[list[_Rule], list[str]]:
    rules: list[_Rule] = []
    warnings: list[str] = []
    for key, spec in (raw or {}).items() if isinstance(raw, dict) else []:
        if spec is False:
            continue
        opts = spec if isinstance(spec, dict) else {}
        try:
            pat = re.compile(str(key))
        except re.error:
            warnings.append("resource_rule_unreadable")
            continue
        weight = opts.get("weight", 1)
        rules.append(
            _Rule(
                pat,
                float(weight) if isinstance(weight, int | float) else 1.0,
                opts.get("omit") is True,
                opts.get("optional") is True,
                opts.get("nested") is True,
            )
        )
    return rules, warnings


def _match(rules: list[_Rule], path: str) -> _Rule | None:
    best: _Rule | None = None
    for r in rules:
        if r.pattern.search(path) and (best is None or r.weight > best.weight):
            best = r
    return best


def _entry_matches(entry: Any, facts: FileFacts) -> bool:
    if isinstance(entry, bytes):
        return entry == facts.sha1
    if not isinstance(entry, dict):
        return False
    if "symlink" in entry:
        return facts.symlink is not None and entry["symlink"] == facts.symlink
    if facts.symlink is not None:
        return False
    if isinstance(entry.get("hash2"), bytes):
        return bool(entry["hash2"] == facts.sha256)
    return isinstance(entry.get("hash"), bytes) and entry["hash"] == facts.sha1


def _nested(entry: Any) -> bool:
    return isinstance(entry, dict) and ("cdhash" in entry or "requirement" in entry)


def check_seal(
    doc: dict[str, Any], files: dict[str, FileFacts], executable: str
) -> tuple[list[tuple[str, str]], list[str]]:
    """Compare the seal with the bundle; return ([(problem key, path)], warning keys)."""
    v2 = isinstance(doc.get("files2"), dict)
    listed_raw = doc.get("files2") if v2 else doc.get("files")
    listed: dict[str, Any] = listed_raw if isinstance(listed_raw, dict) else {}
    rules, warnings = _rules(doc.get("rules2") if v2 else doc.get("rules"))
    if not listed and not rules:
        return [("code_resources_malformed", "no files/rules in CodeResources")], warnings
    nested = [p.rstrip("/") + "/" for p, e in listed.items() if _nested(e)]
    problems: list[tuple[str, str]] = []
    for path in sorted(files):
        if path == executable or path.startswith("_CodeSignature/"):
            continue
        if any(path.startswith(n) for n in nested):
            continue
        rule = _match(rules, path)
        if rule is None or rule.omit:
            continue
        if rule.nested and path not in listed:
            continue
        entry = listed.get(path)
        if entry is None:
            problems.append(("resource_added", path))
        elif not _entry_matches(entry, files[path]):
            problems.append(("resource_modified", path))
    for path, entry in sorted(listed.items()):
        if _nested(entry):
            if not any(f.startswith(path.rstrip("/") + "/") for f in files) and path not in files:
                problems.append(("resource_missing", path))
            elif "nested_code_not_checked" not in warnings:
                warnings.append("nested_code_not_checked")
            continue
        if path in files:
            continue
        rule = _match(rules, path)
        optional = (isinstance(entry, dict) and entry.get("optional") is True) or (
            rule is not None and rule.optional
        )
        if not optional:
            problems.append(("resource_missing", path))
    return problems, warnings
