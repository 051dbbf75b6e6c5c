"""Store-listing review (上架审核): the pre-listing checklist judged from a scan report and the
package's texts.

Pure: the report dict of a scan (:meth:`.report.Report.to_dict`), the texts of the package
(:func:`package_texts`) and the operator's declarations go in; one result per checklist item of
``rules/listing_rules.yaml`` comes out, each ``pass`` / ``fail`` / ``needs_evidence`` with the
evidence it rests on. Nothing here touches the database or the web.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .archive import ArchiveCaps, inspect_archive
from .arsc import string_pool
from .dex import DexError, DexFile
from .errors import MalformedArchive

PASS, FAIL, NEEDS_EVIDENCE = "pass", "fail", "needs_evidence"
RESULTS = (PASS, FAIL, NEEDS_EVIDENCE)
#: text assets read for the review (HTML/TXT/JSON an App ships: policies, about pages)
TEXT_ASSET_RE = re.compile(r"\.(html?|txt|json|xml|md)$", re.IGNORECASE)
MAX_ASSET_BYTES = 2 * 1024 * 1024
MAX_TEXT_BYTES = 64 * 1024 * 1024
#: DEX strings worth keeping: any CJK text, or an English phrase of a few words
_KEEP_DEX = re.compile(rb"[\xe4-\xe9][\x80-\xbf]{2}|[A-Za-z]+ [A-Za-z]+ [A-Za-z]+")
_TAGS = re.compile(r"<[^>]{0,400}>")


def load_rules(name: str) -> dict[str, Any]:
    """Return one of the review rule files of ``rules/`` (listing, ethics, watch list)."""
    return _load(name)


@lru_cache(maxsize=8)
def _load(name: str) -> dict[str, Any]:
    text = resources.files("mingyue.enablers.appcheck.rules").joinpath(name).read_text("utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{name}: not a mapping")
    return data


@dataclass
class PackageTexts:
    """Human-readable strings of a package: resource strings, text assets, DEX strings."""

    resources: list[str] = field(default_factory=list)
    assets: dict[str, str] = field(default_factory=dict)
    dex: list[str] = field(default_factory=list)
    packages: set[str] = field(default_factory=set)

    def all(self) -> list[str]:
        """Every text, resource strings first."""
        return [*self.resources, *self.assets.values(), *self.dex]

    def search(self, pattern: str | re.Pattern[str], limit: int = 5) -> list[str]:
        """Return up to ``limit`` short snippets around the matches of ``pattern``."""
        rx = re.compile(pattern, re.IGNORECASE) if isinstance(pattern, str) else pattern
        out: list[str] = []
        for text in self.all():
            for m in rx.finditer(text):
                a, b = max(0, m.start() - 40), min(len(text), m.end() + 40)
                snippet = " ".join(text[a:b].split())
                if snippet not in out:
                    out.append(snippet)
                if len(out) >= limit:
                    return out
        return out


def package_texts(path: str | Path, caps: ArchiveCaps | None = None) -> PackageTexts:
    """Read the texts of an APK within ``caps`` (the archive guard runs first; no extraction)."""
    caps = caps or ArchiveCaps()
    inspect_archive(path, caps)
    out = PackageTexts()
    budget = MAX_TEXT_BYTES
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                name = info.filename
                if info.file_size > caps.max_entry_uncompressed or info.file_size > budget:
                    continue
                if name == "resources.arsc":
                    budget -= info.file_size
                    out.resources = [s for s in string_pool(zf.read(info)) if s.strip()]
                elif name.startswith("assets/") and TEXT_ASSET_RE.search(name):
                    if info.file_size > MAX_ASSET_BYTES:
                        continue
                    budget -= info.file_size
                    raw = zf.read(info).decode("utf-8", "replace")
                    out.assets[name] = _TAGS.sub(" ", raw)
                elif re.fullmatch(r"classes\d*\.dex", name):
                    budget -= info.file_size
                    _dex_texts(zf.read(info), out)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise MalformedArchive(f"the package cannot be read: {exc}") from None
    return out


def _dex_texts(buf: bytes, out: PackageTexts) -> None:
    try:
        dx = DexFile(buf)
        for s in dx.strings():
            if _KEEP_DEX.search(s) and len(s) < 2000:
                out.dex.append(s.decode("utf-8", "replace"))
        for desc in dx.class_descriptors():
            d = desc.decode("utf-8", "replace")
            if d.startswith("L") and "/" in d:
                out.packages.add(d[1:].rsplit("/", 1)[0].replace("/", "."))
    except DexError:
        return


@dataclass
class CheckResult:
    """One checklist item's result."""

    id: str
    result: str
    evidence: list[str]
    zh: str = ""
    en: str = ""
    citation: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "result": self.result,
            "evidence": self.evidence,
            "zh": self.zh,
            "en": self.en,
            "citation": self.citation,
            "detail": self.detail,
        }


def _failed(report: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    return [
        f for f in report.get("findings", []) if f.get("rule") == rule and f.get("status") == "fail"
    ]


def check_filing(texts: list[str], rules: dict[str, Any]) -> tuple[str, list[str]]:
    """App filing number: an App number passes, a website number alone fails, none needs evidence."""
    app_rx = re.compile(rules["filing"]["app_number"])
    site_rx = re.compile(rules["filing"]["site_number"])
    apps = sorted({m.group(0) for t in texts for m in app_rx.finditer(t)})
    if apps:
        return PASS, [f"App 备案号 / App filing number: {n}" for n in apps[:5]]
    sites = sorted({m.group(0) for t in texts for m in site_rx.finditer(t)})
    if sites:
        return FAIL, [
            f"仅见网站备案号（无 App 后缀 A）/ website filing number only (no App suffix A): {n}"
            for n in sites[:5]
        ]
    return NEEDS_EVIDENCE, [
        "安装包与隐私政策中未见 App 备案号；请上传备案证明 / no App filing number in the package "
        "or privacy policy; attach the filing certificate"
    ]


def _signing(report: dict[str, Any], at: datetime) -> tuple[str, list[str]]:
    sig = report.get("signature") or {}
    certs = sig.get("certificates") or []
    if not certs or _failed(report, "SEC_UNSIGNED"):
        return FAIL, ["未签名 / not signed"]
    problems: list[str] = []
    if sig.get("verified") is False:
        problems.append(
            "签名验证失败 / signature does not verify: "
            + "; ".join(str(p) for p in sig.get("problems") or [])
        )
    for c in certs:
        subject = str(c.get("subject", ""))
        not_after = str(c.get("not_after") or "")
        try:
            end = datetime.fromisoformat(not_after) if not_after else None
        except ValueError:
            end = None
        if end is not None and end.tzinfo is None:
            end = end.replace(tzinfo=UTC)
        if end is not None and end < at:
            problems.append(f"证书已过期 / certificate expired {not_after}: {subject}")
        if "Android Debug" in subject or _failed(report, "SEC_DEBUG_CERT"):
            problems.append(f"调试证书 / debug certificate: {subject}")
    if problems:
        return FAIL, sorted(set(problems))
    ev = [
        f"{c.get('subject', '')} (SHA-256 {str(c.get('sha256', ''))[:16]}…, "
        f"not after {c.get('not_after', '')})"
        for c in certs
    ]
    if "verified" not in sig:
        ev.append(
            "签名方案已识别，未做密码学验证 / schemes detected, not cryptographically verified"
        )
    return PASS, ev


def review_listing(
    report: dict[str, Any],
    texts: PackageTexts,
    *,
    policy_text: str | None = None,
    content_category: str | None = None,
    at: datetime | None = None,
    rules: dict[str, Any] | None = None,
) -> list[CheckResult]:
    """Judge every checklist item of the listing rules for one scan's report."""
    rules = rules or load_rules("listing_rules.yaml")
    at = at or datetime.now(UTC)
    items = {i["id"]: i for i in rules["items"]}
    corpus = texts.all() + ([policy_text] if policy_text else [])
    out: dict[str, tuple[str, list[str], dict[str, Any]]] = {}

    result, ev = check_filing(corpus, rules)
    out["filing"] = (result, ev, {})

    if _failed(report, "PP_NOT_FOUND"):
        out["privacy_policy"] = (
            FAIL,
            [str(f.get("evidence", "")) for f in _failed(report, "PP_NOT_FOUND")],
            {},
        )
    else:
        snippets = texts.search(r"隐私政策|隐私协议|隐私权政策|privacy[ _-]?policy", 3)
        urls = [u for t in texts.all() for u in re.findall(r"https?://\S*privacy\S*", t)][:3]
        out["privacy_policy"] = (PASS, urls + snippets or ["隐私政策文本 / policy text found"], {})

    sdks = [str(s.get("name")) for s in report.get("sdks", [])]
    disclosure = report.get("disclosure")
    if not sdks:
        out["policy_covers_sdks"] = (PASS, ["未检测到第三方SDK / no third-party SDK found"], {})
    elif not disclosure:
        out["policy_covers_sdks"] = (
            NEEDS_EVIDENCE,
            [
                "未提供隐私政策/SDK清单，无法比对：" + ", ".join(sdks[:20]),
                "no privacy policy / SDK list given to compare against",
            ],
            {"sdks": sdks},
        )
    elif disclosure.get("undisclosed"):
        und = [str(x) for x in disclosure["undisclosed"]]
        out["policy_covers_sdks"] = (
            FAIL,
            ["未披露 / not disclosed: " + ", ".join(und)],
            {"undisclosed": und},
        )
    else:
        out["policy_covers_sdks"] = (PASS, ["已披露 / disclosed: " + ", ".join(sdks[:20])], {})

    purpose_rx = re.compile(str(rules["purpose_words"]), re.IGNORECASE)
    missing: list[str] = []
    found: list[str] = []
    seen_pi: dict[str, list[str]] = {}
    for d in report.get("dangerous_permissions", []):
        pi = d.get("pi")
        if pi:
            seen_pi.setdefault(str(pi), []).append(str(d.get("name")))
    all_texts = corpus
    for pi, perms in sorted(seen_pi.items()):
        words = rules["pi_words"].get(pi)
        hit = None
        if words:
            rx = re.compile(str(words), re.IGNORECASE)
            hit = next(
                (t for t in all_texts if len(t) < 300 and rx.search(t) and purpose_rx.search(t)),
                None,
            )
        if hit:
            found.append(f"{pi}: {' '.join(hit.split())[:120]}")
        else:
            missing.append(f"{pi} ({', '.join(p.rsplit('.', 1)[-1] for p in perms)})")
    if not seen_pi:
        out["permission_purposes"] = (PASS, ["无危险权限 / no dangerous permission"], {})
    elif missing:
        out["permission_purposes"] = (
            NEEDS_EVIDENCE,
            [
                "未找到使用目的说明，请上传权限申请弹窗截图 / no purpose string found; attach "
                "screenshots of the permission prompts: " + "; ".join(missing),
                *found,
            ],
            {"missing": missing},
        )
    else:
        out["permission_purposes"] = (PASS, found, {})

    target = int(report.get("target_sdk") or 0)
    stores: list[dict[str, Any]] = []
    ok = True
    for s in rules["target_sdk_minimums"]:
        meets = target >= int(s["min"])
        stores.append({"store": s["store"], "min": s["min"], "meets": meets, "source": s["source"]})
        if s.get("required") and not meets:
            ok = False
    out["target_sdk"] = (
        PASS if ok else FAIL,
        [
            f"targetSdkVersion {target} {'≥' if s['meets'] else '<'} {s['min']} ({s['store']})"
            for s in stores
        ],
        {"stores": stores},
    )

    app_type = (report.get("app_type") or {}).get("key")
    if app_type in rules["minors_app_types"]:
        hits = (
            texts.search(str(rules["minors_pattern"]), 3)
            + (
                [m.group(0) for m in re.finditer(str(rules["minors_pattern"]), policy_text or "")][
                    :2
                ]
            )
        )
        out["minors"] = (
            (PASS, hits, {})
            if hits
            else (
                NEEDS_EVIDENCE,
                [
                    f"App 类型 {app_type} 需要未成年人保护声明，安装包中未找到；请上传截图 / "
                    "the App type calls for a minors' protection statement; none found"
                ],
                {},
            )
        )
    else:
        out["minors"] = (
            PASS,
            [f"App 类型 {app_type or '—'} 不要求 / not required for the App type"],
            {},
        )

    if app_type or content_category:
        out["content_category"] = (
            PASS,
            [f"App 类型 / type: {app_type or '—'}; 内容分类 / category: {content_category or '—'}"],
            {},
        )
    else:
        out["content_category"] = (
            NEEDS_EVIDENCE,
            ["未声明App类型或内容分类 / neither App type nor content category declared"],
            {},
        )

    result, ev = _signing(report, at)
    out["signing"] = (result, ev, {})

    debug = _failed(report, "SEC_DEBUGGABLE")
    package = str(report.get("package") or "")
    test_name = re.search(r"\.(debug|test)$", package)
    if debug or test_name:
        out["release_build"] = (
            FAIL,
            [str(f.get("evidence", "")) for f in debug]
            + ([f"测试包名 / test package name: {package}"] if test_name else []),
            {},
        )
    else:
        out["release_build"] = (PASS, ["android:debuggable 未开启 / not debuggable"], {})

    return [
        CheckResult(
            id=k,
            result=out[k][0],
            evidence=[e for e in out[k][1] if e][:10],
            zh=str(items[k]["zh"]),
            en=str(items[k]["en"]),
            citation=str(items[k]["citation"]),
            detail=out[k][2],
        )
        for k in items
        if k in out
    ]


__all__ = [
    "FAIL",
    "NEEDS_EVIDENCE",
    "PASS",
    "RESULTS",
    "CheckResult",
    "PackageTexts",
    "check_filing",
    "load_rules",
    "package_texts",
    "review_listing",
]
