"""iOS packages (``.ipa``): Info.plist, usage descriptions, entitlements, frameworks, Mach-O names.

``Payload/<name>.app/Info.plist`` (binary or XML, :mod:`plistlib`) gives the bundle id, versions,
``MinimumOSVersion`` and the ``NS*UsageDescription`` strings, which are the App's permission list
with their purposes (Apple "Protected resources"). Entitlements come from the main executable's
code signature (SuperBlob 0xfade0cc0, entitlements blob 0xfade7171) read with LIEF, else from
``embedded.mobileprovision`` (CMS SignedData around a plist, read with asn1crypto). Linked
libraries, ``Frameworks/*.framework`` (and their bundle ids) and Objective-C class symbols
(``_OBJC_CLASS_$_…``) name the SDKs; ``PrivacyInfo.xcprivacy`` privacy manifests (Apple "Privacy
manifest files") are summarised. The code signature and the resource seal are verified by
:mod:`.bundlesig.ipa`. The output is the APK facts shape (:mod:`.extract`).
"""

from __future__ import annotations

import datetime
import io
import plistlib
import re
import struct
import zipfile
from typing import Any

from asn1crypto import cms

from .archive import ArchiveCaps
from .bundlesig import verify_ipa_signature
from .formats import IPA_INFO_RE
from .secrets import MAX_HITS, is_text_member, scan_bytes
from .signing import describe

MAX_PLIST = 8 * 1024 * 1024
MAX_SCAN_MEMBER = 8 * 1024 * 1024
MAX_CLASSES = 5000
URL_RE = re.compile(rb"https?://[A-Za-z0-9\-._~%]+(?::\d+)?(?:/[^\s\"'<>\x00]*)?")
PRIVACY_RE = re.compile(r"隐私政策|隐私协议|个人信息保护|privacy[ _-]?policy", re.I)
SUPERBLOB, ENTITLEMENTS_BLOB = 0xFADE0CC0, 0xFADE7171


class IpaError(ValueError):
    """The iOS package is malformed (reported as one line, never a traceback)."""


def _read(zf: zipfile.ZipFile, name: str, cap: int) -> bytes:
    with zf.open(name) as fh:
        data = fh.read(cap + 1)
    if len(data) > cap:
        raise IpaError(f"{name} is larger than {cap} bytes")
    return data


def _plist(data: bytes, what: str) -> dict[str, Any]:
    try:
        doc = plistlib.loads(data)
    except (plistlib.InvalidFileException, ValueError, TypeError, KeyError, IndexError) as exc:
        raise IpaError(f"{what} is not a valid property list ({exc})") from None
    if not isinstance(doc, dict):
        raise IpaError(f"{what} is not a dictionary property list")
    return doc


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, bytes):
        return f"<{len(v)} bytes>"
    if isinstance(v, datetime.datetime):
        return v.isoformat()
    return v


def superblob_entitlements(blob: bytes) -> dict[str, Any]:
    """Entitlements plist from a code-signature SuperBlob (empty when there is none)."""
    if len(blob) < 12 or struct.unpack_from(">I", blob, 0)[0] != SUPERBLOB:
        return {}
    (count,) = struct.unpack_from(">I", blob, 8)
    for i in range(min(count, 64)):
        if 12 + 8 * i + 8 > len(blob):
            break
        _, off = struct.unpack_from(">II", blob, 12 + 8 * i)
        if off + 8 > len(blob):
            continue
        magic, length = struct.unpack_from(">II", blob, off)
        if magic == ENTITLEMENTS_BLOB and 8 <= length <= len(blob) - off:
            try:
                return _plist(blob[off + 8 : off + length], "entitlements")
            except IpaError:
                return {}
    return {}


def provisioning_profile(data: bytes) -> dict[str, Any]:
    """The embedded.mobileprovision plist (CMS SignedData content) and its signer certificates."""
    try:
        ci = cms.ContentInfo.load(data)
        payload = ci["content"]["encap_content_info"]["content"].native or b""
        certs = [c.chosen.dump() for c in (ci["content"]["certificates"] or [])]
    except (ValueError, TypeError, KeyError):
        return {}
    try:
        doc = _plist(payload, "embedded.mobileprovision")
    except IpaError:
        return {}
    devices = doc.get("ProvisionedDevices")
    raw_ents = doc.get("Entitlements")
    ents: dict[str, Any] = raw_ents if isinstance(raw_ents, dict) else {}
    if doc.get("ProvisionsAllDevices"):
        kind = "enterprise"
    elif devices:
        kind = "development" if ents.get("get-task-allow") else "ad-hoc"
    else:
        kind = "app-store"
    exp = doc.get("ExpirationDate")
    return {
        "name": str(doc.get("Name", "")),
        "team": str(doc.get("TeamName", "")),
        "type": kind,
        "expires": exp.isoformat() if isinstance(exp, datetime.datetime) else "",
        "get_task_allow": ents.get("get-task-allow") is True,
        "entitlements": _jsonable(ents),
        "_certs": certs,
    }


def macho_names(raw: bytes) -> dict[str, Any]:
    """Linked libraries, ObjC classes, entitlements and encryption of a Mach-O (thin or fat)."""
    import lief  # lazy: appcheck extra, heavy native module; runs in the parser sandbox only

    lief.logging.disable()
    magic = raw[:4]
    if magic in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe"):
        head = 32 if magic[0] == 0xCF else 28
        if len(raw) < head:
            raise IpaError("main executable is a truncated Mach-O header")
        ncmds, sizeofcmds = struct.unpack_from("<II", raw, 16)
        if ncmds == 0 or head + sizeofcmds > len(raw) or ncmds * 8 > sizeofcmds:
            raise IpaError("main executable is a malformed Mach-O (load commands out of range)")
    elif magic not in (b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf"):
        raise IpaError("main executable is not a Mach-O binary")
    fat = lief.MachO.parse(io.BytesIO(raw))
    if fat is None or fat.size == 0:
        raise IpaError("main executable is not a Mach-O binary")
    binary = fat.at(0)
    if binary is None:
        raise IpaError("main executable has no Mach-O slice")
    classes: list[str] = []
    for sym in binary.symbols:
        name = str(sym.name)
        if name.startswith("_OBJC_CLASS_$_") and len(classes) < MAX_CLASSES:
            classes.append(name[len("_OBJC_CLASS_$_") :])
    ents: dict[str, Any] = {}
    sig = binary.code_signature if binary.has_code_signature else None
    if sig is not None:
        ents = superblob_entitlements(bytes(sig.content))
    enc = binary.encryption_info if binary.has_encryption_info else None
    encrypted = bool(enc is not None and enc.crypt_id != 0)
    return {
        "libraries": [str(lib.name) for lib in binary.libraries],
        "classes": sorted(set(classes)),
        "entitlements": _jsonable(ents),
        "encrypted": encrypted,
        "arch": str(binary.header.cpu_type).rsplit(".", 1)[-1],
        "signed": bool(binary.has_code_signature),
    }


def _privacy_manifest(doc: dict[str, Any]) -> dict[str, Any]:
    collected = []
    for item in doc.get("NSPrivacyCollectedDataTypes") or []:
        if isinstance(item, dict):
            collected.append(
                {
                    "type": str(item.get("NSPrivacyCollectedDataType", "")),
                    "linked": item.get("NSPrivacyCollectedDataTypeLinked") is True,
                    "tracking": item.get("NSPrivacyCollectedDataTypeTracking") is True,
                    "purposes": [
                        str(p) for p in item.get("NSPrivacyCollectedDataTypePurposes") or []
                    ],
                }
            )
    apis = []
    for item in doc.get("NSPrivacyAccessedAPITypes") or []:
        if isinstance(item, dict):
            apis.append(
                {
                    "type": str(item.get("NSPrivacyAccessedAPIType", "")),
                    "reasons": [str(r) for r in item.get("NSPrivacyAccessedAPITypeReasons") or []],
                }
            )
    return {
        "tracking": doc.get("NSPrivacyTracking") is True,
        "tracking_domains": [str(d) for d in doc.get("NSPrivacyTrackingDomains") or []],
        "collected_data_types": collected,
        "accessed_api_types": apis,
    }


def extract_ipa_facts(path: str, caps: ArchiveCaps) -> dict[str, Any]:
    """Facts of an ``.ipa``, in the APK facts shape."""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        info_name = next((n for n in names if IPA_INFO_RE.match(n)), None)
        if info_name is None:
            raise IpaError("no Payload/*.app/Info.plist: not an iOS App")
        app_dir = info_name[: -len("Info.plist")]
        info = _plist(_read(zf, info_name, MAX_PLIST), info_name)
        exe_name = app_dir + str(info.get("CFBundleExecutable") or "")
        usage = {
            str(k): str(v)
            for k, v in info.items()
            if str(k).startswith("NS") and str(k).endswith("UsageDescription")
        }
        warnings: list[str] = []
        seen: set[tuple[str, str]] = set()
        secrets = scan_bytes(plistlib.dumps(_jsonable(info)), info_name, seen)
        urls: set[str] = set()
        privacy: list[str] = []
        macho: dict[str, Any] = {}
        exe_raw: bytes | None = None
        if exe_name != app_dir and exe_name in names:
            raw = exe_raw = _read(zf, exe_name, caps.max_entry_uncompressed)
            macho = macho_names(raw)
            secrets += scan_bytes(raw, f"{exe_name} (Mach-O strings)", seen)
            urls.update(u.decode("utf-8", "replace") for u in URL_RE.findall(raw)[:2000])
        else:
            warnings.append("main executable (CFBundleExecutable) not found in the bundle")
        profile: dict[str, Any] = {}
        if app_dir + "embedded.mobileprovision" in names:
            profile = provisioning_profile(
                _read(zf, app_dir + "embedded.mobileprovision", MAX_PLIST)
            )
        frameworks: list[str] = []
        bundle_ids: list[str] = []
        manifests: dict[str, Any] = {}
        for n in names:
            if not n.startswith(app_dir):
                continue
            rel = n[len(app_dir) :]
            m = re.match(r"Frameworks/([^/]+\.(?:framework|dylib))(?:/|$)", rel)
            if m and m.group(1) not in frameworks:
                frameworks.append(m.group(1))
            if re.match(r"Frameworks/[^/]+\.framework/Info\.plist$", rel):
                try:
                    fw = _plist(_read(zf, n, MAX_PLIST), n)
                    if fw.get("CFBundleIdentifier"):
                        bundle_ids.append(str(fw["CFBundleIdentifier"]))
                except IpaError as exc:
                    warnings.append(str(exc))
            if rel.endswith("PrivacyInfo.xcprivacy"):
                try:
                    manifests[rel] = _privacy_manifest(_plist(_read(zf, n, MAX_PLIST), n))
                except IpaError as exc:
                    warnings.append(str(exc))
            elif is_text_member(rel) and len(secrets) < MAX_HITS and n != info_name:
                info_n = zf.getinfo(n)
                if info_n.file_size <= MAX_SCAN_MEMBER:
                    data = _read(zf, n, MAX_SCAN_MEMBER)
                    if data.startswith(b"bplist"):
                        try:
                            data = plistlib.dumps(_jsonable(plistlib.loads(data)))
                        except (plistlib.InvalidFileException, ValueError, TypeError):
                            continue
                    secrets += scan_bytes(data, n, seen)
                    text = data.decode("utf-8", "ignore")
                    privacy += [m.group(0) for m in PRIVACY_RE.finditer(text)][:5]
        verdict = verify_ipa_signature(zf, app_dir, exe_name, exe_raw, caps.max_entry_uncompressed)
    ents = macho.get("entitlements") or profile.get("entitlements") or {}
    raw_ats = info.get("NSAppTransportSecurity")
    ats: dict[str, Any] = raw_ats if isinstance(raw_ats, dict) else {}
    names_out: list[dict[str, str]] = [{"kind": "framework", "value": f} for f in frameworks]
    names_out += [{"kind": "bundle_id", "value": b} for b in bundle_ids]
    names_out += [
        {"kind": "framework", "value": lib.split("/")[-2]}
        for lib in macho.get("libraries", [])
        if lib.startswith("@rpath/") and lib.count("/") >= 2
    ]
    names_out += [{"kind": "class", "value": c} for c in macho.get("classes", [])]
    certs = profile.pop("_certs", []) if profile else []
    signer_certs = verdict.pop("signer_certificates")
    reasons_incomplete = ["main executable is FairPlay-encrypted"] if macho.get("encrypted") else []
    return {
        "platform": "ipa",
        "package": str(info.get("CFBundleIdentifier", "")),
        "app_name": str(info.get("CFBundleDisplayName") or info.get("CFBundleName") or ""),
        "version_name": str(info.get("CFBundleShortVersionString", "")),
        "version_code": str(info.get("CFBundleVersion", "")),
        "min_sdk": 0,
        "target_sdk": 0,
        "permissions": sorted(usage),
        "application": {
            "debuggable": ents.get("get-task-allow") is True,
            "uses_cleartext_traffic": ats.get("NSAllowsArbitraryLoads") is True or None,
        },
        "components": [],
        "signature": {
            "v1": False,
            "v2": False,
            "v3": False,
            "signed": bool(macho.get("signed")),
            "scheme": "apple-code-signature" if macho.get("signed") else "",
            "certificates": describe(signer_certs or certs),
            "profile": {k: v for k, v in profile.items() if k != "entitlements"},
            **verdict,
        },
        "native_libs": frameworks,
        "dex_members": [],
        "packages": [],
        "class_count": len(macho.get("classes", [])),
        "urls": sorted(urls)[:2000],
        "privacy_evidence": privacy[:40],
        "sdk_list_evidence": [],
        "assets": [],
        "privacy_assets": sorted(manifests),
        "exodus_tracker_ids": [],
        "warnings": warnings + reasons_incomplete,
        "secrets": [s.to_dict() for s in secrets[:MAX_HITS]],
        "bundle_names": names_out,
        "platform_facts": {
            "minimum_os_version": str(info.get("MinimumOSVersion", "")),
            "usage_descriptions": usage,
            "entitlements": ents,
            "frameworks": frameworks,
            "linked_libraries": macho.get("libraries", []),
            "objc_class_count": len(macho.get("classes", [])),
            "arch": macho.get("arch", ""),
            "encrypted": macho.get("encrypted", False),
            "privacy_manifests": manifests,
            "provisioning_profile": {k: v for k, v in profile.items() if k != "entitlements"},
        },
    }
