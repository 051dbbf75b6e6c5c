"""Compare the SDKs found in an APK with the App's privacy policy or third-party SDK list.

TC260-PG-20205A (《网络安全标准实践指南—移动互联网应用程序（App）使用软件开发工具包（SDK）安全
指引》) 5.2 asks App operators to disclose each embedded SDK (name, vendor, purpose, PI collected).
An SDK counts as disclosed when one of its distinctive names, its vendor name or one of its package
prefixes appears in the uploaded text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

from .catalogue import SdkHit
from .errors import BadSdkList

MAX_TEXT_BYTES = 5 * 1024 * 1024
_GENERIC = {
    "sdk",
    "push",
    "ads",
    "ad",
    "analytics",
    "the",
    "google",
    "tencent",
    "baidu",
    "alibaba",
    "huawei",
    "xiaomi",
    "services",
    "service",
    "mobile",
    "android",
    "library",
    "api",
    "open",
    "app",
    "and",
    "for",
    "kit",
    "core",
    "login",
    "share",
    "pay",
    "map",
    "maps",
    "location",
    "cloud",
    "stat",
    "bytedance",
    "facebook",
    "firebase",
    "support",
    "jetpack",
    "oppo",
    "vivo",
}
_SPLIT = re.compile(r"[\s()（）/·\-_,，、:：;；\[\]【】|]+")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def read_policy_text(raw: bytes) -> str:
    """Decode an uploaded privacy policy / SDK list (UTF-8 or GB18030; HTML, text, CSV, JSON)."""
    if len(raw) > MAX_TEXT_BYTES:
        raise BadSdkList(
            f"The privacy policy / SDK list is over {MAX_TEXT_BYTES} bytes.",
            key="appcheck.sdk_list_too_large",
        )
    if b"\x00" in raw[:4096]:
        raise BadSdkList(
            "The privacy policy / SDK list is not a text file.", key="appcheck.sdk_list_binary"
        )
    text: str | None = None
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    if text is None:
        raise BadSdkList("The privacy policy / SDK list is not UTF-8 or GB18030 text.")
    if re.search(r"<(html|body|p|div|table|br)\b", text, re.IGNORECASE):
        p = _Text()
        p.feed(text)
        text = " ".join(p.parts)
    if not text.strip():
        raise BadSdkList("The privacy policy / SDK list is empty.", key="appcheck.sdk_list_empty")
    return text


def _norm(s: str) -> str:
    return re.sub(r"\s+", "", s).lower()


def sdk_terms(hit: SdkHit, code_prefixes: list[str]) -> list[str]:
    """Return the terms whose presence in a policy discloses ``hit``."""
    terms = {_norm(hit.name), *(_norm(a) for a in hit.aliases)}
    for name in (hit.name, *hit.aliases, hit.vendor):
        for tok in _SPLIT.split(name):
            t = _norm(tok)
            if not t or t in _GENERIC:
                continue
            if (re.search(r"[\u4e00-\u9fff]", t) and len(t) >= 2) or len(t) >= 4:
                terms.add(t)
    terms.update(_norm(p) for p in code_prefixes if p.count(".") >= 1)
    return sorted(t for t in terms if t)


@dataclass(frozen=True)
class DisclosureResult:
    """Which detected SDKs the text discloses and which it does not."""

    disclosed: list[str]
    undisclosed: list[str]


def compare(hits: list[SdkHit], text: str, prefixes: dict[str, list[str]]) -> DisclosureResult:
    """Diff detected SDKs (code/component/native-lib evidence) against a policy text."""
    body = _norm(text)
    disclosed: list[str] = []
    undisclosed: list[str] = []
    for h in hits:
        if h.matched_by == ("domain",):
            continue  # a URL alone is weak evidence of an embedded SDK
        terms = sdk_terms(h, prefixes.get(h.key, []))
        (disclosed if any(t in body for t in terms) else undisclosed).append(h.name)
    return DisclosureResult(disclosed, undisclosed)
