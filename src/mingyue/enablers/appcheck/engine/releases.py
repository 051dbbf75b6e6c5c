"""Release history (SDK 应用服务监测): SDK versions, diffs between releases, watch-list matches.

Pure: two scan reports of one package go in (older, newer); the difference in SDKs (added,
removed, version changed), permissions and failed findings comes out, with the alerts the newer
release raises. SDK versions come from version markers (``rules/sdk_watchlist.yaml``
``markers``: native library names that carry a version); an SDK without a marker has no version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from .listing import load_rules


def sdk_versions(report: dict[str, Any], rules: dict[str, Any] | None = None) -> dict[str, str]:
    """Return ``{sdk name: version}`` for the report's SDKs whose version a marker shows."""
    rules = rules or load_rules("sdk_watchlist.yaml")
    names = [str(s.get("name", "")) for s in report.get("sdks", [])]
    libs = [str(x) for x in report.get("native_libs", [])]
    out: dict[str, str] = {}
    for marker in rules.get("markers", []):
        sdk_rx = re.compile(str(marker["sdk"]), re.IGNORECASE)
        lib_rx = re.compile(str(marker["lib"]))
        owners = [n for n in names if sdk_rx.search(n)]
        for lib in libs:
            m = lib_rx.match(lib)
            if m and owners:
                version = ".".join(g for g in m.groups() if g)
                for n in owners:
                    out.setdefault(n, version)
    return out


def _failed_rules(report: dict[str, Any]) -> set[str]:
    return {str(f["rule"]) for f in report.get("findings", []) if f.get("status") == "fail"}


def _undisclosed(report: dict[str, Any]) -> set[str] | None:
    disclosure = report.get("disclosure")
    if not disclosure:
        return None
    return {str(x) for x in disclosure.get("undisclosed") or []}


@dataclass
class ReleaseDiff:
    """What changed from one release of a package to the next."""

    sdks_added: list[str] = field(default_factory=list)
    sdks_removed: list[str] = field(default_factory=list)
    sdk_versions_changed: list[dict[str, str]] = field(default_factory=list)
    permissions_added: list[str] = field(default_factory=list)
    permissions_removed: list[str] = field(default_factory=list)
    findings_added: list[str] = field(default_factory=list)
    findings_removed: list[str] = field(default_factory=list)
    #: added SDKs the newer release's privacy policy / SDK list does not name (all, with none)
    undisclosed_added: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)

    @property
    def changed(self) -> bool:
        """Whether anything differs."""
        return any(bool(v) for v in self.__dict__.values())


def diff(older: dict[str, Any], newer: dict[str, Any]) -> ReleaseDiff:
    """Return the difference between two reports of one package (older first)."""
    old_sdks = {str(s["name"]) for s in older.get("sdks", [])}
    new_sdks = {str(s["name"]) for s in newer.get("sdks", [])}
    old_v, new_v = sdk_versions(older), sdk_versions(newer)
    added = sorted(new_sdks - old_sdks)
    und = _undisclosed(newer)
    # without a privacy policy / SDK list nothing names the new SDK: it is undisclosed
    undisclosed_added = [s for s in added if und is None or s in und]
    old_p, new_p = set(older.get("permissions", [])), set(newer.get("permissions", []))
    old_f, new_f = _failed_rules(older), _failed_rules(newer)
    return ReleaseDiff(
        sdks_added=added,
        sdks_removed=sorted(old_sdks - new_sdks),
        sdk_versions_changed=[
            {"sdk": n, "from": old_v[n], "to": new_v[n]}
            for n in sorted(old_sdks & new_sdks)
            if n in old_v and n in new_v and old_v[n] != new_v[n]
        ],
        permissions_added=sorted(new_p - old_p),
        permissions_removed=sorted(old_p - new_p),
        findings_added=sorted(new_f - old_f),
        findings_removed=sorted(old_f - new_f),
        undisclosed_added=undisclosed_added,
    )


def watchlisted(
    report: dict[str, Any], rules: dict[str, Any] | None = None
) -> list[dict[str, str]]:
    """Return the report's SDK versions on the watch list (name, version, reason, source).

    An entry with a version range matches only an SDK whose version a marker shows; an entry
    without one (``versions: ""``) matches the SDK whatever its version.
    """
    rules = rules or load_rules("sdk_watchlist.yaml")
    versions = sdk_versions(report, rules)
    out: list[dict[str, str]] = []
    for s in report.get("sdks", []):
        name = str(s.get("name", ""))
        for e in rules.get("entries", []):
            if not re.search(str(e["sdk"]), name, re.IGNORECASE):
                continue
            spec = str(e.get("versions") or "")
            version = versions.get(name, "")
            if spec:
                if not version:
                    continue
                try:
                    if Version(version) not in SpecifierSet(spec):
                        continue
                except (InvalidVersion, InvalidSpecifier):
                    continue
            out.append(
                {
                    "sdk": name,
                    "version": version,
                    "versions": spec,
                    "zh": str(e.get("zh", "")),
                    "en": str(e.get("en", "")),
                    "source": str(e.get("source", "")),
                }
            )
    return out


__all__ = ["ReleaseDiff", "diff", "sdk_versions", "watchlisted"]
