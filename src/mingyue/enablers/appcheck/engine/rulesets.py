"""Load the rule tables shipped in ``rules/`` (each carries its version and legal/public source)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from .errors import UnknownAppType


def _load(name: str) -> dict[str, Any]:
    text = resources.files("mingyue.enablers.appcheck.rules").joinpath(name).read_text("utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise TypeError(f"rule file {name} is not a mapping")
    return data


@dataclass(frozen=True)
class AppType:
    """One of the 39 App types of the 2021 necessary-PI rule."""

    n: int
    key: str
    zh: str
    en: str
    necessary: str
    permissions: frozenset[str]
    no_pi: bool

    @property
    def article(self) -> str:
        """Return the citation of this type's item (Article 5, item n)."""
        return f"第五条第（{_CN_NUM[self.n]}）项"


_DIGITS = "零一二三四五六七八九"


def _cn(n: int) -> str:
    if n < 10:
        return _DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _DIGITS[tens]) + "十" + (_DIGITS[ones] if ones else "")


_CN_NUM = {n: _cn(n) for n in range(1, 40)}


@dataclass(frozen=True)
class RuleSets:
    """All rule tables: findings, App types, dangerous permissions."""

    findings: dict[str, Any]
    app_types: dict[str, Any]
    permissions: dict[str, Any]

    def rule(self, rule_id: str) -> dict[str, Any]:
        """Return the definition of a finding rule."""
        return dict(self.findings["rules"][rule_id])

    def category(self, cat: str) -> dict[str, Any]:
        """Return a report category's titles and source."""
        return dict(self.findings["categories"][cat])

    def types(self) -> list[AppType]:
        """Return the 39 App types in article order."""
        return [
            AppType(
                n=int(t["n"]),
                key=t["key"],
                zh=t["zh"],
                en=t["en"],
                necessary=t["necessary"],
                permissions=frozenset(t.get("permissions") or []),
                no_pi=bool(t.get("no_pi")),
            )
            for t in self.app_types["types"]
        ]

    def app_type(self, value: str) -> AppType:
        """Find an App type by key, number, or Chinese/English name; raise UnknownAppType."""
        v = str(value).strip()
        for t in self.types():
            if v in (t.key, str(t.n), t.zh, t.zh.removesuffix("类"), t.en) or v.lower() in (
                t.key.lower(),
                t.en.lower(),
            ):
                return t
        raise UnknownAppType(
            f"Unknown App type {value!r}; use one of the 39 type keys (e.g. map_navigation) "
            "or numbers 1-39.",
            app_type=str(value),
        )

    def dangerous(self) -> dict[str, dict[str, Any]]:
        """Return the dangerous-permission table keyed by permission name."""
        return dict(self.permissions["permissions"])

    def summary(self) -> list[dict[str, str]]:
        """Return each rule table's name, version and source (for ``mingyue appcheck rules``)."""
        return [
            {
                "name": "findings",
                "version": str(self.findings["version"]),
                "source": "国信办秘字〔2019〕191号; 工信部信管函〔2020〕164号; "
                "TC260-PG-20205A; OWASP MASVS",
            },
            {
                "name": "app_types",
                "version": str(self.app_types["version"]),
                "source": self.app_types["regulation"]["zh"],
            },
            {
                "name": "dangerous_permissions",
                "version": str(self.permissions["version"]),
                "source": str(self.permissions["source"]),
            },
        ]


@cache
def load_rulesets() -> RuleSets:
    """Load (once per process) the shipped rule tables."""
    return RuleSets(
        findings=_load("findings.yaml"),
        app_types=_load("app_types.yaml"),
        permissions=_load("dangerous_permissions.yaml"),
    )
