"""The SDK catalogue: εxodus trackers + LibChecker-Rules + mingyue's Chinese SDK rules, merged.

``build_catalogue`` merges the three public rule sets into ``data/sdk_catalogue.json`` (shipped as
package data, regenerated with ``python -m mingyue.enablers.appcheck.engine.catalogue SRC_DIR``);
``load_catalogue`` reads it; :meth:`Catalogue.match` finds SDKs in an APK's facts by DEX package
prefix, manifest component, native library and network domain.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .exodus import Tracker

CATALOGUE_FILE = "sdk_catalogue.json"
LIBCHECKER_DB_KINDS = {
    0: "native_lib",
    1: "service",
    2: "activity",
    3: "receiver",
    4: "provider",
    5: "dex",
    6: "static_lib",
}
COMPONENT_KINDS = ("activity", "service", "receiver", "provider")
#: LibChecker labels that name an App hardening/packing service (the DEX is encrypted)
PACKER_LABELS = frozenset(
    {"360 加固", "梆梆安全", "爱加密", "百度应用加固", "腾讯乐固", "腾讯御安全", "阿里聚安全"}
)
_CATEGORY_WORDS = [
    (re.compile(r"推送|push", re.IGNORECASE), "Push"),
    (re.compile(r"广告|ads?\b|advert|mediation|联盟", re.IGNORECASE), "Advertisement"),
    (re.compile(r"统计|analytics|埋点|数据分析", re.IGNORECASE), "Analytics"),
    (re.compile(r"支付|pay", re.IGNORECASE), "Payment"),
    (re.compile(r"分享|share|登录|login|微博|QQ", re.IGNORECASE), "Social / login"),
    (re.compile(r"地图|定位|map|location|导航", re.IGNORECASE), "Location"),
    (re.compile(r"崩溃|crash|bugly|apm|性能", re.IGNORECASE), "Crash reporting"),
    (re.compile(r"加固|安全|protect|guard|风控|验证", re.IGNORECASE), "Security / hardening"),
    (re.compile(r"oaid|设备标识|identifier", re.IGNORECASE), "Identification"),
]


def _guess_category(label: str) -> str:
    for rx, cat in _CATEGORY_WORDS:
        if rx.search(label):
            return cat
    return "Library"


def _host(url: str) -> str:
    m = re.match(r"https?://([^/]+)", url)
    return (m.group(1).split(":")[0] if m else urlsplit(url).hostname or "").lower()


# -- building -------------------------------------------------------------------------------
def build_catalogue(src_dir: Path, cn_rules: Path | None = None) -> dict[str, Any]:
    """Merge the εxodus list, LibChecker-Rules and our CN rules into one catalogue dict."""
    src_dir = Path(src_dir)
    cn_rules = cn_rules or Path(__file__).resolve().parent.parent / "rules" / "cn_sdks.yaml"
    exo = json.loads((src_dir / "exodus_trackers.json").read_text(encoding="utf-8"))
    lc = json.loads((src_dir / "libchecker_rules.json").read_text(encoding="utf-8"))
    lcdb = json.loads((src_dir / "libchecker_rules_db.json").read_text(encoding="utf-8"))
    cn = yaml.safe_load(cn_rules.read_text(encoding="utf-8"))

    entries: dict[str, dict[str, Any]] = {}

    def new(key: str, name: str, vendor: str, category: str, source: str) -> dict[str, Any]:
        e = {
            "key": key,
            "name": name,
            "aliases": [],
            "vendor": vendor,
            "category": category,
            "sources": [source],
            "refs": [],
            "exodus_id": None,
            "packer": False,
            "code": [],
            "component": [],
            "native_lib": [],
            "native_lib_regex": [],
            "domain": [],
            "domain_regex": [],
        }
        entries[key] = e
        return e

    trackers = []
    for t in sorted(exo["trackers"].values(), key=lambda t: int(t["id"])):
        trackers.append(
            {
                "id": int(t["id"]),
                "name": t["name"],
                "code_signature": t.get("code_signature") or "",
                "network_signature": t.get("network_signature") or "",
                "categories": list(t.get("categories") or []),
                "website": t.get("website") or "",
            }
        )
        e = new(
            f"exodus:{t['id']}",
            t["name"],
            _host(t.get("website") or ""),
            ", ".join(t.get("categories") or []) or "Tracker",
            "exodus",
        )
        e["exodus_id"] = int(t["id"])
        e["refs"].append(f"https://reports.exodus-privacy.eu.org/trackers/{t['id']}/")
        if t.get("network_signature"):
            e["domain_regex"].append(t["network_signature"])
    by_name = {e["name"].lower(): e for e in entries.values()}

    teams: dict[str, str] = {}
    urls: dict[str, str] = {}
    rules: list[tuple[str, str, str]] = []  # (label, kind, match)
    for r in lc["rules"]:
        rules.append((r["label"], r["kind"], r["match"]))
        if r.get("team"):
            teams.setdefault(r["label"], r["team"])
        if r.get("url"):
            urls.setdefault(r["label"], r["url"])
    for row in lcdb["rows"]:
        kind = LIBCHECKER_DB_KINDS.get(int(row["type"]), "other")
        if row.get("isRegex"):
            kind = "native_lib_regex" if kind == "native_lib" else kind + "_regex"
        rules.append((row["label"], kind, row["name"]))
    for label, kind, match in rules:
        if match.startswith("regex/"):
            continue  # placeholder in rules.json; the DB row carries the actual regex
        found = by_name.get(label.lower())
        if found is None:
            e = new(
                f"libchecker:{label}",
                label,
                teams.get(label, ""),
                _guess_category(label),
                "libchecker",
            )
            by_name[label.lower()] = e
        else:
            e = found
            if "libchecker" not in e["sources"]:
                e["sources"].append("libchecker")
        if label in urls and urls[label] not in e["refs"]:
            e["refs"].append(urls[label])
        if label in PACKER_LABELS:
            e["packer"] = True
            e["category"] = "Packer / hardening"
        slot = {
            "dex": "code",
            "native_lib": "native_lib",
            "native_lib_regex": "native_lib_regex",
            "static_lib": "native_lib",
        }.get(kind, "component" if kind in COMPONENT_KINDS else None)
        if slot and match not in e[slot]:
            e[slot].append(match)

    for s in cn["sdks"]:
        e = new(
            f"mingyue:{s['name']}",
            s["name"],
            s.get("vendor", ""),
            s.get("category", ""),
            "mingyue-cn",
        )
        e["refs"].append(s["source"])
        for slot in ("code", "component", "native_lib", "domain"):
            e[slot] = list(dict.fromkeys(s.get(slot) or []))
        merge = s.get("merge_with") or {}
        absorbed = [f"exodus:{i}" for i in merge.get("exodus", [])]
        absorbed += [f"libchecker:{lab}" for lab in merge.get("libchecker", [])]
        for key in absorbed:
            other = entries.pop(key, None)
            if other is None:
                continue
            e["aliases"].append(other["name"])
            e["sources"] = list(dict.fromkeys(e["sources"] + other["sources"]))
            e["refs"] += [r for r in other["refs"] if r not in e["refs"]]
            e["exodus_id"] = e["exodus_id"] or other["exodus_id"]
            e["packer"] = e["packer"] or other["packer"]
            for slot in (
                "code",
                "component",
                "native_lib",
                "native_lib_regex",
                "domain",
                "domain_regex",
            ):
                e[slot] += [v for v in other[slot] if v not in e[slot]]

    return {
        "version": f"exodus-2025-08-30+libchecker-3ec8753+mingyue-cn-{cn['version']}",
        "sources": [
            {
                "id": "exodus",
                "name": "εxodus tracker list (ETIP), 432 trackers",
                "origin": "MobSF/Mobile-Security-Framework-MobSF mobsf/signatures/exodus_trackers "
                "@de7bf03656020bec3fb19dc4f8e4fc140da1e548 (snapshot 2025-08-30)",
                "licence": "Exodus Privacy (AGPL-3.0 project); "
                "treat as copyleft data, attribute εxodus",
                "url": "https://reports.exodus-privacy.eu.org/en/trackers/",
            },
            {
                "id": "libchecker",
                "name": "LibChecker-Rules",
                "origin": "LibChecker/LibChecker-Rules @3ec8753a0bb53843793e19537bcaf7cd73b9a05d",
                "licence": "Apache-2.0",
                "url": "https://github.com/LibChecker/LibChecker-Rules",
            },
            {
                "id": "mingyue-cn",
                "name": "mingyue Chinese SDK rules",
                "origin": "src/mingyue/enablers/appcheck/rules/cn_sdks.yaml",
                "licence": cn.get("licence", "Apache-2.0"),
                "version": cn["version"],
            },
        ],
        "exodus_trackers": trackers,
        "sdks": sorted(entries.values(), key=lambda e: e["key"]),
    }


# -- loading and matching ------------------------------------------------------------------
@dataclass(frozen=True)
class SdkHit:
    """One SDK found in an APK."""

    name: str
    vendor: str
    category: str
    matched_by: tuple[str, ...]
    evidence: tuple[str, ...]
    sources: tuple[str, ...]
    key: str
    aliases: tuple[str, ...] = ()
    exodus_id: int | None = None
    packer: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the hit as a JSON-ready dict."""
        return {
            "name": self.name,
            "vendor": self.vendor,
            "category": self.category,
            "matched_by": list(self.matched_by),
            "evidence": list(self.evidence),
            "sources": list(self.sources),
            "key": self.key,
            "aliases": list(self.aliases),
            "exodus_id": self.exodus_id,
            "packer": self.packer,
        }


@dataclass
class Catalogue:
    """The loaded catalogue with indexes for fast matching."""

    data: dict[str, Any]
    trackers: list[Tracker] = field(init=False)

    def __post_init__(self) -> None:
        self.trackers = [
            Tracker(
                t["id"],
                t["name"],
                t["code_signature"],
                t["network_signature"],
                tuple(t["categories"]),
                t["website"],
            )
            for t in self.data["exodus_trackers"]
        ]
        self.sdks: list[dict[str, Any]] = self.data["sdks"]
        self._by_exodus = {e["exodus_id"]: e for e in self.sdks if e["exodus_id"] is not None}
        self._component: dict[str, list[dict[str, Any]]] = {}
        self._native: dict[str, list[dict[str, Any]]] = {}
        self._code: dict[str, list[dict[str, Any]]] = {}
        self._native_rx: list[tuple[re.Pattern[str], dict[str, Any]]] = []
        self._domain: dict[str, list[dict[str, Any]]] = {}
        self._domain_rx: list[tuple[re.Pattern[str], dict[str, Any]]] = []
        for e in self.sdks:
            for v in e["component"]:
                self._component.setdefault(v, []).append(e)
            for v in e["native_lib"]:
                self._native.setdefault(v, []).append(e)
            for v in e["code"]:
                self._code.setdefault(v, []).append(e)
            for v in e["domain"]:
                self._domain.setdefault(v.lower(), []).append(e)
            for v in e["native_lib_regex"]:
                try:
                    self._native_rx.append((re.compile(v), e))
                except re.error:
                    continue
            for v in e["domain_regex"]:
                try:
                    self._domain_rx.append((re.compile(v), e))
                except re.error:
                    continue

    @property
    def version(self) -> str:
        """Return the catalogue version (the versions of its three sources)."""
        return str(self.data["version"])

    @property
    def sources(self) -> list[dict[str, Any]]:
        """Return the catalogue's sources with origin and licence."""
        return list(self.data["sources"])

    def tracker_signatures(self) -> list[tuple[int, str]]:
        """Return (id, code_signature) pairs for the sandboxed worker."""
        return [(t.id, t.code_signature) for t in self.trackers]

    def tracker(self, tracker_id: int) -> Tracker | None:
        """Return the εxodus tracker with this id."""
        return next((t for t in self.trackers if t.id == tracker_id), None)

    def match(self, facts: dict[str, Any]) -> list[SdkHit]:
        """Find the SDKs in an APK's facts (see :func:`.extract.extract_facts`)."""
        found: dict[str, tuple[dict[str, Any], set[str], list[str]]] = {}

        def hit(e: dict[str, Any], how: str, ev: str) -> None:
            slot = found.setdefault(e["key"], (e, set(), []))
            slot[1].add(how)
            if len(slot[2]) < 5 and ev not in slot[2]:
                slot[2].append(ev)

        for tid in facts.get("exodus_tracker_ids", []):
            e = self._by_exodus.get(tid)
            tr = self.tracker(tid)
            if e is not None and tr is not None:
                hit(e, "code", f"εxodus code signature {tr.code_signature}")
        for pkg in facts.get("packages", []):
            parts = pkg.split(".")
            for i in range(1, len(parts) + 1):
                for e in self._code.get(".".join(parts[:i]), ()):
                    hit(e, "code", pkg)
        for comp in facts.get("components", []):
            for e in self._component.get(comp["name"], ()):
                hit(e, "component", f"{comp['kind']} {comp['name']}")
        for lib in facts.get("native_libs", []):
            for e in self._native.get(lib, ()):
                hit(e, "native_lib", lib)
            for rx, e in self._native_rx:
                if rx.fullmatch(lib):
                    hit(e, "native_lib", lib)
        hosts = sorted({_host(u) for u in facts.get("urls", [])} - {""})
        for host in hosts:
            labels = host.split(".")
            for i in range(len(labels) - 1):
                for e in self._domain.get(".".join(labels[i:]), ()):
                    hit(e, "domain", host)
            for rx, e in self._domain_rx:
                if rx.search(host):
                    hit(e, "domain", host)
        order = ("code", "component", "native_lib", "domain")
        return sorted(
            (
                SdkHit(
                    name=e["name"],
                    vendor=e["vendor"],
                    category=e["category"],
                    matched_by=tuple(h for h in order if h in hows),
                    evidence=tuple(ev),
                    sources=tuple(e["sources"]),
                    key=e["key"],
                    aliases=tuple(e["aliases"]),
                    exodus_id=e["exodus_id"],
                    packer=e["packer"],
                )
                for e, hows, ev in found.values()
            ),
            key=lambda h: h.name.lower(),
        )


@cache
def _load_default() -> Catalogue:
    text = (
        resources.files("mingyue.enablers.appcheck.data")
        .joinpath(CATALOGUE_FILE)
        .read_text(encoding="utf-8")
    )
    return Catalogue(json.loads(text))


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Load the shipped catalogue (or one at ``path``)."""
    if path is None:
        return _load_default()
    return Catalogue(json.loads(Path(path).read_text(encoding="utf-8")))


def main(argv: list[str]) -> int:
    """Rebuild ``data/sdk_catalogue.json`` from a directory holding the two public rule sets."""
    if not argv:
        print("usage: python -m mingyue.enablers.appcheck.engine.catalogue SRC_DIR [OUT]")
        return 2
    cat = build_catalogue(Path(argv[0]))
    out = (
        Path(argv[1])
        if len(argv) > 1
        else Path(__file__).resolve().parent.parent / "data" / CATALOGUE_FILE
    )
    out.write_text(
        json.dumps(cat, ensure_ascii=False, indent=0, sort_keys=True) + "\n", encoding="utf-8"
    )
    print(f"{out}: {len(cat['sdks'])} SDKs, {len(cat['exodus_trackers'])} εxodus trackers")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
