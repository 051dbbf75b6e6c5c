"""SDK detection for HarmonyOS and iOS packages by library, framework and class names.

APKs are matched by Java package prefixes, components, native libraries and domains
(:meth:`.catalogue.Catalogue.match`). iOS frameworks (``Bugly.framework``), their bundle
identifiers (``com.tencent.Bugly``), Objective-C class prefixes (``JPUSHService``) and HarmonyOS
native libraries carry the same vendor names, so each catalogue entry is indexed by name tokens
taken from its name, aliases, code prefixes (``cn.jpush.android`` -> ``jpush``) and native library
names (``libBugly.so`` -> ``bugly``); generic words never count as a token.
"""

from __future__ import annotations

import re
from typing import Any

from .catalogue import Catalogue, SdkHit

MIN_TOKEN = 4
STOP = frozenset(
    [
        "android",
        "androidx",
        "sdk",
        "core",
        "common",
        "base",
        "utils",
        "util",
        "library",
        "lib",
        "api",
        "app",
        "apps",
        "analytics",
        "push",
        "ads",
        "share",
        "google",
        "apple",
        "swift",
        "foundation",
        "kit",
        "framework",
        "frameworks",
        "support",
        "service",
        "services",
        "client",
        "main",
        "java",
        "test",
        "debug",
        "network",
        "http",
        "https",
        "model",
        "view",
        "data",
        "json",
        "image",
        "images",
        "player",
        "video",
        "audio",
        "map",
        "maps",
        "location",
        "login",
        "account",
        "pay",
        "payment",
        "cloud",
        "open",
        "mobile",
        "plugin",
        "plugins",
        "module",
        "modules",
        "runtime",
        "engine",
        "helper",
        "tools",
        "tool",
        "event",
        "events",
        "log",
        "logger",
        "logging",
        "crash",
        "report",
        "stat",
        "stats",
        "sdkcore",
        "internal",
        "impl",
        "manager",
        "media",
        "camera",
        "chat",
        "message",
        "messages",
        "share",
        "social",
        "web",
        "webview",
        "update",
        "security",
        "crypto",
        "storage",
        "cache",
        "config",
        "react",
        "flutter",
        "unity",
        "native",
        "bridge",
        "widget",
        "widgets",
    ]
)
_NORM = re.compile(r"[^a-z0-9]")


def norm(s: str) -> str:
    """Lower-case, alphanumerics only, a trailing 'sdk' dropped."""
    n = _NORM.sub("", s.lower())
    return n[:-3] if n.endswith("sdk") and len(n) > 3 + MIN_TOKEN else n


def _ok(token: str) -> bool:
    return len(token) >= MIN_TOKEN and token not in STOP and not token.isdigit()


_CACHE: dict[int, tuple[Catalogue, dict[str, list[dict[str, Any]]]]] = {}


def _index(catalogue: Catalogue) -> dict[str, list[dict[str, Any]]]:
    hit = _CACHE.get(id(catalogue))
    if hit is not None and hit[0] is catalogue:
        return hit[1]
    strong: dict[str, list[dict[str, Any]]] = {}
    weak: dict[str, list[dict[str, Any]]] = {}

    def add(into: dict[str, list[dict[str, Any]]], token: str, e: dict[str, Any]) -> None:
        if _ok(token) and e not in into.setdefault(token, []):
            into[token].append(e)

    for e in catalogue.sdks:
        if e.get("packer"):
            continue
        for name in [e["name"], *e.get("aliases", [])]:
            add(strong, norm(name), e)
        for lib in e.get("native_lib", []):
            stem = str(lib).rsplit("/", 1)[-1]
            stem = stem[3:] if stem.startswith("lib") else stem
            add(strong, norm(stem.split(".so")[0]), e)
        for prefix in e.get("code", []):
            for seg in str(prefix).split(".")[1:]:
                add(weak, norm(seg), e)
    # a code segment shared by several SDKs is a vendor name ("tencent"), not an SDK's
    idx = {t: es for t, es in weak.items() if len(es) == 1}
    for t, es in strong.items():
        idx[t] = es
    _CACHE[id(catalogue)] = (catalogue, idx)
    return idx


def name_tokens(kind: str, value: str) -> list[str]:
    """The tokens a bundle name yields (framework/library stem, bundle id segments, class prefix)."""
    if kind == "class":
        m = re.match(r"[A-Z]{2,}(?=[A-Z][a-z])|[A-Z][a-z0-9]+|[A-Z]{3,}", value)
        return [norm(m.group(0))] if m else []
    if kind == "bundle_id":
        return [norm(seg) for seg in value.split(".")[1:]]
    stem = value.rsplit("/", 1)[-1]
    stem = re.sub(r"\.(framework|so|dylib|bundle|a)$", "", stem)
    stem = stem[3:] if kind == "native_lib" and stem.startswith("lib") else stem
    return [norm(stem)]


def match_bundle_names(catalogue: Catalogue, names: list[dict[str, str]]) -> list[SdkHit]:
    """Catalogue SDKs named by ``names`` ([{"kind", "value"}]); evidence says which name matched."""
    if not names:
        return []
    idx = _index(catalogue)
    found: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for item in names:
        kind, value = item.get("kind", ""), item.get("value", "")
        for token in name_tokens(kind, value):
            for e in idx.get(token, []) if _ok(token) else []:
                slot = found.setdefault(e["key"], (e, []))
                ev = f"{kind} {value}"
                if ev not in slot[1] and len(slot[1]) < 5:
                    slot[1].append(ev)
    return [
        SdkHit(
            name=e["name"],
            vendor=e["vendor"],
            category=e["category"],
            matched_by=("native_lib",)
            if all(v.startswith("native_lib") for v in ev)
            else ("code",),
            evidence=tuple(ev),
            sources=tuple(e["sources"]),
            key=e["key"],
            aliases=tuple(e["aliases"]),
            exodus_id=e["exodus_id"],
            packer=e["packer"],
        )
        for e, ev in found.values()
    ]
