"""Turn one APK into plain facts (runs inside the sandboxed worker, never in the server).

androguard 4.1.x reads the manifest, resources, signatures and certificates; :mod:`.dex` reads the
DEX tables. The result is a JSON-ready dict (:func:`extract_facts`) the parent turns into a report.
Members are read in memory with a size bound; nothing is ever extracted to disk.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from .apksig import warm_up
from .archive import ArchiveCaps
from .arsc import string_pool
from .dex import DexError, DexFile
from .exodus import (
    APK_MEMBER_RE,
    CLASS_RE,
    DEX_MEMBER_RE,
    MAX_NESTED_APK_DEPTH,
    ExodusMatcher,
    Tracker,
    classes_in,
    header_classes,
)
from .formats import is_app_bundle, is_hap, is_ipa
from .hap import extract_hap_facts
from .ipa import extract_ipa_facts
from .secrets import MAX_HITS, is_text_member, scan_bytes
from .signing import signature_info

# the parser zygote imports this module before it forks: set up the signature crypto once there
warm_up()

ANDROID_NS = "{http://schemas.android.com/apk/res/android}"
URL_RE = re.compile(rb"https?://[A-Za-z0-9\-._~%]+(?::\d+)?(?:/[^\s\"'<>]*)?")
PRIVACY_RE = re.compile(
    r"隐私政策|隐私协议|隐私权政策|个人信息保护|privacy[ _-]?policy", re.IGNORECASE
)
PACKAGE_RE = re.compile(rb"^L([^\n;]*)/[^/\n;]*;", re.MULTILINE)
PRIVACY_KEY_RE = re.compile(
    (
        "隐私政策|隐私协议|隐私权政策|个人信息保护|[Pp]rivacy[ _-]?[Pp]olicy|PRIVACY[ _-]?POLICY"
    ).encode()
)
SDK_LIST_RE = re.compile(r"第三方SDK|第三方信息共享|SDK目录|third[- ]party SDK", re.IGNORECASE)
MAX_URLS = 2000
MAX_SECRET_MEMBERS = 400
MAX_SECRET_MEMBER_BYTES = 2 * 1024 * 1024
MAX_EVIDENCE = 20
COMPONENT_TAGS = ("activity", "activity-alias", "service", "receiver", "provider")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, caps: ArchiveCaps) -> bytes:
    """Read one member, never more than the per-entry cap (declared sizes can lie)."""
    with zf.open(info) as fh:
        data = fh.read(caps.max_entry_uncompressed + 1)
    if len(data) > caps.max_entry_uncompressed:
        raise ValueError(f"member {info.filename!r} inflates past the per-entry cap")
    return data


def _dex_sets(
    zf: zipfile.ZipFile, caps: ArchiveCaps, depth: int, budget: list[int]
) -> tuple[list[tuple[str, DexFile]], list[str]]:
    """Collect the DEX images exodus-core would dump (same member rules, nested APKs included)."""
    dexes: list[tuple[str, DexFile]] = []
    warnings: list[str] = []
    if depth > MAX_NESTED_APK_DEPTH:
        return dexes, warnings
    for info in zf.infolist():
        name = info.filename
        if APK_MEMBER_RE.search(name):
            if info.is_dir():
                continue
            try:
                raw = _read_member(zf, info, caps)
                budget[0] -= len(raw)
                if budget[0] < 0:
                    raise ValueError("nested archives inflate past the total cap")
                with zipfile.ZipFile(io.BytesIO(raw)) as inner:
                    d, w = _dex_sets(inner, caps, depth + 1, budget)
                dexes += [(f"{name}!{n}", dx) for n, dx in d]
                warnings += w
            except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
                warnings.append(f"nested APK {name!r} skipped: {exc}")
        elif DEX_MEMBER_RE.search(name):
            try:
                raw = _read_member(zf, info, caps)
                budget[0] -= len(raw)
                if budget[0] < 0:
                    raise ValueError("DEX files inflate past the total cap")
                dexes.append((name, DexFile(raw)))
            except (DexError, zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
                warnings.append(f"DEX member {name!r} unreadable: {exc}")
    return dexes, warnings


def _member_secrets(
    zf: zipfile.ZipFile, caps: ArchiveCaps, seen: set[tuple[str, str]]
) -> list[Any]:
    """Scan the text-like members (assets, res/raw, configuration files) for hard-coded secrets."""
    hits: list[Any] = []
    scanned = 0
    for info in zf.infolist():
        name = info.filename
        if info.is_dir() or info.file_size > MAX_SECRET_MEMBER_BYTES:
            continue
        # assets, raw resources and root-level files hold text; res/**/*.xml is compiled AXML
        if not (name.startswith(("assets/", "res/raw/")) or "/" not in name):
            continue
        if not (is_text_member(name) or name.startswith("res/raw/")):
            continue
        scanned += 1
        if scanned > MAX_SECRET_MEMBERS or len(hits) >= MAX_HITS:
            break
        try:
            data = _read_member(zf, info, caps)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError):
            continue
        hits += scan_bytes(data, name, seen)
    return hits


def _bool_attr(el: Any, attr: str) -> bool | None:
    v = el.get(ANDROID_NS + attr)
    if v is None:
        return None
    return str(v).strip().lower() in ("true", "1", "-1", "0xffffffff")


def _components(manifest: Any, package: str, target_sdk: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    app = manifest.find("application")
    if app is None:
        return out
    for el in app:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag not in COMPONENT_TAGS:
            continue
        name = str(el.get(ANDROID_NS + "name") or el.get(ANDROID_NS + "targetActivity") or "")
        if name.startswith("."):
            name = package + name
        elif name and "." not in name:
            name = f"{package}.{name}"
        actions: list[str] = []
        categories: list[str] = []
        for f in el.findall("intent-filter"):
            actions += [str(a.get(ANDROID_NS + "name") or "") for a in f.findall("action")]
            categories += [str(c.get(ANDROID_NS + "name") or "") for c in f.findall("category")]
        exported = _bool_attr(el, "exported")
        if exported is None:
            # Platform defaults: a component with an intent filter is exported (API < 31 apps);
            # a provider is exported by default up to API 16.
            exported = bool(actions) if tag != "provider" else (0 < target_sdk <= 16)
        kind = "activity" if tag == "activity-alias" else tag
        out.append(
            {
                "kind": kind,
                "name": name,
                "exported": exported,
                "permission": str(el.get(ANDROID_NS + "permission") or "")
                or str(el.get(ANDROID_NS + "readPermission") or ""),
                "actions": sorted(set(filter(None, actions))),
                "categories": sorted(set(filter(None, categories))),
                "enabled": _bool_attr(el, "enabled") is not False,
                "process": str(el.get(ANDROID_NS + "process") or ""),
            }
        )
    return out


def _int(v: Any) -> int:
    try:
        return int(str(v), 0)
    except (TypeError, ValueError):
        return 0


def _manifest(zf: zipfile.ZipFile, caps: ArchiveCaps) -> Any:
    """Decode AndroidManifest.xml with androguard's AXML parser; return the lxml root."""
    from androguard.core.axml import AXMLPrinter  # lazy: appcheck extra, heavy; sandbox only

    try:
        info = zf.getinfo("AndroidManifest.xml")
    except KeyError:
        raise LookupError("AndroidManifest.xml missing") from None
    ap = AXMLPrinter(_read_member(zf, info, caps))
    if not ap.is_valid():
        raise LookupError("AndroidManifest.xml is not valid binary XML")
    root = ap.get_xml_obj()
    if root is None or root.tag != "manifest":
        raise LookupError("AndroidManifest.xml does not start with <manifest>")
    return root


def make_matcher(trackers: list[tuple[int, str]]) -> ExodusMatcher:
    """Compile the εxodus code signatures (id, regex) once."""
    return ExodusMatcher([Tracker(id=i, name="", code_signature=s) for i, s in trackers])


def extract_facts(
    path: str, caps: ArchiveCaps, trackers: list[tuple[int, str]] | ExodusMatcher
) -> dict[str, Any]:
    """Parse the APK at ``path`` and return its facts plus the εxodus tracker ids it carries."""
    from loguru import logger  # lazy: appcheck extra (androguard logs through it)

    logger.remove()
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        if "AndroidManifest.xml" not in names:
            # HarmonyOS and iOS packages share the report; their parsers run in this sandbox too
            if is_hap(names) or is_app_bundle(names):
                return extract_hap_facts(path, caps)
            if is_ipa(names):
                return extract_ipa_facts(path, caps)
        manifest = _manifest(zf, caps)
        package = str(manifest.get("package") or "")
        sdk = manifest.find("uses-sdk")
        min_sdk = _int(sdk.get(ANDROID_NS + "minSdkVersion")) if sdk is not None else 0
        target_sdk = _int(sdk.get(ANDROID_NS + "targetSdkVersion")) if sdk is not None else 0
        target_sdk = target_sdk or min_sdk
        permissions = sorted(
            {
                str(el.get(ANDROID_NS + "name"))
                for tag in ("uses-permission", "uses-permission-sdk-23", "uses-permission-sdk-m")
                for el in manifest.findall(tag)
                if el.get(ANDROID_NS + "name")
            }
        )
        app_el = manifest.find("application")
        app_attrs: dict[str, Any] = {}
        label = ""
        if app_el is not None:
            app_attrs = {
                "name": str(app_el.get(ANDROID_NS + "name") or ""),
                "debuggable": _bool_attr(app_el, "debuggable") is True,
                "allow_backup": _bool_attr(app_el, "allowBackup"),
                "uses_cleartext_traffic": _bool_attr(app_el, "usesCleartextTraffic"),
                "network_security_config": str(
                    app_el.get(ANDROID_NS + "networkSecurityConfig") or ""
                ),
            }
            label = str(app_el.get(ANDROID_NS + "label") or "")
            if label.startswith("@"):
                label = ""  # a resource reference; resolving it needs the full resource table
        pool: list[str] = []
        inflated: dict[str, bytes] = {}
        if "resources.arsc" in names:
            inflated["resources.arsc"] = _read_member(zf, zf.getinfo("resources.arsc"), caps)
            pool = string_pool(inflated["resources.arsc"])
        budget = [caps.max_total_uncompressed]
        dexes, warnings = _dex_sets(zf, caps, 0, budget)
        # members already inflated are hashed from memory by the v1 verifier
        inflated.update({m: dx.buf for m, dx in dexes if "!" not in m})
        signature = signature_info(
            path, zf, names, caps.max_entry_uncompressed, max(min_sdk, 1), inflated
        )
        del inflated
        secret_seen: set[tuple[str, str]] = set()
        secrets = _member_secrets(zf, caps, secret_seen)

    matcher = trackers if isinstance(trackers, ExodusMatcher) else make_matcher(trackers)
    superset: set[str] = set()
    subset: set[str] = set()
    packages: set[str] = set()
    urls: set[str] = set()
    privacy: list[str] = []
    sdk_list_hits: list[str] = []
    for member, dx in dexes:
        head = header_classes(member.split("!")[-1])
        superset |= head
        subset |= head
        blob = dx.string_region()
        if len(secrets) < MAX_HITS:
            secrets += scan_bytes(blob, f"{member} (DEX strings)", secret_seen)
        if matcher.all_simple:
            superset |= set(CLASS_RE.findall(blob.decode("utf-8", "ignore")))
        else:  # anchored signatures need exact token boundaries
            superset |= classes_in(dx.strings())
        descs = dx.class_descriptors()
        subset |= classes_in(descs)
        joined_descs = b"\n".join(descs)
        packages.update(
            p.decode("utf-8", "replace").replace("/", ".")
            for p in set(PACKAGE_RE.findall(joined_descs))
        )
        if len(urls) < MAX_URLS:
            urls.update(u.decode("utf-8", "replace") for u in URL_RE.findall(blob))
        for m in PRIVACY_KEY_RE.finditer(blob):
            if len(privacy) >= MAX_EVIDENCE:
                break
            a = blob.rfind(b"\x00", 0, m.start()) + 1
            while a < m.start() and blob[a] & 0x80:  # skip the string's uleb128 length prefix
                a += 1
            a = min(a + 1, m.start())
            b = blob.find(b"\x00", m.end())
            line = blob[a : b if b >= 0 else len(blob)]
            if len(line) < 400:
                privacy.append(line.decode("utf-8", "replace"))
    pool_text = "\n".join(s.replace("\n", " ") for s in pool)
    if pool_text and len(secrets) < MAX_HITS:
        secrets += scan_bytes(pool_text.encode(), "resources.arsc (string pool)", secret_seen)
    for rx, sink, cap in (
        (PRIVACY_RE, privacy, 2 * MAX_EVIDENCE),
        (SDK_LIST_RE, sdk_list_hits, MAX_EVIDENCE),
    ):
        for pm in rx.finditer(pool_text):
            if len(sink) >= cap:
                break
            a = pool_text.rfind("\n", 0, pm.start()) + 1
            b = pool_text.find("\n", pm.end())
            sink.append(pool_text[a : b if b >= 0 else len(pool_text)][:200])
    if len(urls) < MAX_URLS:
        urls.update(u.decode("utf-8", "replace") for u in URL_RE.findall(pool_text.encode()))

    def exact() -> set[str]:
        out: set[str] = set()
        for member, dx in dexes:
            out |= header_classes(member.split("!")[-1])
            try:
                out |= classes_in(dx.dexdump_tokens())
            except DexError as exc:
                warnings.append(f"DEX {member!r}: {exc}")
        return out

    found = matcher.detect(superset, subset, exact)

    native_libs = sorted(
        {n.rsplit("/", 1)[-1] for n in names if n.startswith("lib/") and n.endswith(".so")}
    )
    assets = [n for n in names if n.startswith("assets/")][:5000]
    privacy_assets = [
        n for n in assets if re.search(r"privacy|隐私|policy|agreement", n, re.IGNORECASE)
    ]
    return {
        "package": package,
        "app_name": label,
        "version_name": str(manifest.get(ANDROID_NS + "versionName") or ""),
        "version_code": str(manifest.get(ANDROID_NS + "versionCode") or ""),
        "min_sdk": min_sdk,
        "target_sdk": target_sdk,
        "permissions": permissions,
        "application": app_attrs,
        "components": _components(manifest, package, target_sdk),
        "signature": signature,
        "native_libs": native_libs,
        "dex_members": [m for m, _ in dexes],
        "packages": sorted(packages),
        "class_count": sum(dx.class_defs_size for _, dx in dexes),
        "urls": sorted(urls)[:MAX_URLS],
        "privacy_evidence": privacy,
        "sdk_list_evidence": sdk_list_hits,
        "assets": assets[:200],
        "privacy_assets": privacy_assets[:50],
        "exodus_tracker_ids": [t.id for t in found],
        "secrets": [h.to_dict() for h in secrets[:MAX_HITS]],
        "warnings": warnings,
    }


__all__ = ["CLASS_RE", "extract_facts"]
