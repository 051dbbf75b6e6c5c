"""HarmonyOS packages: ``.hap`` modules and ``.app`` bundles (a ZIP of ``.hap`` files + pack.info).

Stage model modules carry ``module.json`` (``app``: bundleName, versionCode/Name, min/target API
version, ``debug``; ``module``: abilities, extensionAbilities, requestPermissions with ``reason``
and ``usedScene``); FA model modules carry ``config.json`` (``module.reqPermissions``,
``module.abilities``, ``app.version``/``apiVersion``). Source: HarmonyOS / OpenHarmony developer
docs "module.json5 configuration file" and "config.json configuration file"; the signing block
(``HAP Sig Block 42`` v2 / ``<hap sign block>`` v3: 12-byte type/length/offset headers, then a
32-byte footer count|size|magic|version right before the central directory; 0x20000000 = the
PKCS#7 signature, 0x20000002 = the provisioning profile (.p7b)) follows OpenHarmony
``developtools_hapsigner``; :mod:`.bundlesig.hap` verifies it (content digest, PKCS#7, profile
signature and certificate, signer chain) and the profile's bundle name is checked against the
module's. The output is the same facts dict :mod:`.extract` makes for an APK,
so the report, the SDK catalogue and the necessity rules are shared.
"""

from __future__ import annotations

import io
import json
import re
import struct
import zipfile
from typing import Any

from asn1crypto import cms

from .archive import ArchiveCaps
from .bundlesig import verify_hap_signature
from .formats import MODULE_FILES, is_app_bundle, is_hap
from .secrets import MAX_HITS, is_text_member, scan_bytes
from .signing import describe

HAP_MAGICS = {b"HAP Sig Block 42": "hap-sign-block-v2", b"<hap sign block>": "hap-sign-block-v3"}
SIGNATURE_BLOCK, PROFILE_BLOCK = 0x20000000, 0x20000002
MAX_JSON = 4 * 1024 * 1024
MAX_SCAN_MEMBER = 8 * 1024 * 1024
URL_RE = re.compile(rb"https?://[A-Za-z0-9\-._~%]+(?::\d+)?(?:/[^\s\"'<>\x00]*)?")
PRIVACY_RE = re.compile(r"隐私政策|隐私协议|隐私权政策|个人信息保护|privacy[ _-]?policy", re.I)
LAUNCHER_ACTIONS = {"action.system.home", "ohos.want.action.home"}


class HapError(ValueError):
    """The HarmonyOS package is malformed (reported as one line, never a traceback)."""


def _read(zf: zipfile.ZipFile, name: str, cap: int) -> bytes:
    with zf.open(name) as fh:
        data = fh.read(cap + 1)
    if len(data) > cap:
        raise HapError(f"{name} is larger than {cap} bytes")
    return data


def _json(zf: zipfile.ZipFile, name: str) -> dict[str, Any]:
    try:
        data = json.loads(_read(zf, name, MAX_JSON).decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HapError(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise HapError(f"{name} is not a JSON object")
    return data


def _d(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _l(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _s(v: Any) -> str:
    return v if isinstance(v, str) else ("" if v is None else str(v))


def _i(v: Any) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return 0


def signing_block(raw: bytes) -> dict[str, Any]:
    """Parse the HAP signing block of a whole file's bytes (empty dict when unsigned)."""
    pos = raw.rfind(b"PK\x05\x06", max(0, len(raw) - 0xFFFF - 22))
    if pos < 0 or pos + 22 > len(raw):
        return {}
    (cd,) = struct.unpack_from("<I", raw, pos + 16)
    if cd < 32 or cd > len(raw):
        return {}
    footer = raw[cd - 32 : cd]
    scheme = HAP_MAGICS.get(footer[12:28])
    if scheme is None:
        return {}
    count, size = struct.unpack_from("<IQ", footer, 0)
    start = cd - size
    if size < 32 or start < 0 or count > 64:
        return {"scheme": scheme, "problems": ["HAP signing block size out of range"]}
    block = raw[start:cd]
    values: dict[int, bytes] = {}
    for i in range(count):
        if 12 * i + 12 > len(block):
            break
        btype, length, off = struct.unpack_from("<III", block, 12 * i)
        if off + length <= len(block):
            values.setdefault(btype, block[off : off + length])
    return {"scheme": scheme, "values": values, "problems": []}


def _profile(data: bytes) -> dict[str, Any]:
    """The provisioning profile: a CMS SignedData wrapping JSON, or the raw JSON."""
    payload = data
    try:
        ci = cms.ContentInfo.load(data)
        if ci["content_type"].native == "signed_data":
            payload = ci["content"]["encap_content_info"]["content"].native or b""
    except (ValueError, TypeError, KeyError):
        payload = data
    try:
        prof = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return {}
    if not isinstance(prof, dict):
        return {}
    info = _d(prof.get("bundle-info"))
    validity = _d(prof.get("validity"))
    return {
        "type": _s(prof.get("type")),
        "bundle_name": _s(info.get("bundle-name")),
        "developer_id": _s(info.get("developer-id")),
        "apl": _s(info.get("apl")),
        "app_feature": _s(info.get("app-feature")),
        "not_before": _i(validity.get("not-before")),
        "not_after": _i(validity.get("not-after")),
        "restricted_permissions": [
            _s(p) for p in _l(_d(prof.get("permissions")).get("restricted-permissions"))
        ],
    }


def _certs(data: bytes) -> list[bytes]:
    try:
        ci = cms.ContentInfo.load(data)
        return [c.chosen.dump() for c in (ci["content"]["certificates"] or [])]
    except (ValueError, TypeError, KeyError):
        return []


def hap_signature(raw: bytes) -> dict[str, Any]:
    """The ``signature`` object of a HAP (same keys as an APK's, verified cryptographically)."""
    blk = signing_block(raw)
    values: dict[int, bytes] = blk.get("values", {})
    ders = _certs(values[SIGNATURE_BLOCK]) if SIGNATURE_BLOCK in values else []
    verdict = verify_hap_signature(raw)
    return {
        "v1": False,
        "v2": False,
        "v3": False,
        "signed": bool(blk) and SIGNATURE_BLOCK in values,
        "scheme": blk.get("scheme", ""),
        "certificates": describe(ders),
        "profile": _profile(values[PROFILE_BLOCK]) if PROFILE_BLOCK in values else {},
        **verdict,
    }


def _check_profile_bundle(sig: dict[str, Any], bundle: str) -> None:
    """The profile must name the module's bundle (the bundle manager refuses it otherwise)."""
    named = sig.get("profile", {}).get("bundle_name")
    if named and bundle and named != bundle:
        sig["verified"] = False
        if "profile_bundle_mismatch" not in sig["problems"]:
            sig["problems"].append("profile_bundle_mismatch")
        sig["problem_details"].append(
            {"key": "profile_bundle_mismatch", "detail": f"profile names {named}, module {bundle}"}
        )


def _skills(ab: dict[str, Any]) -> tuple[list[str], list[str]]:
    actions: list[str] = []
    entities: list[str] = []
    for sk in _l(ab.get("skills")):
        actions += [_s(a) for a in _l(_d(sk).get("actions"))]
        entities += [_s(e) for e in _l(_d(sk).get("entities"))]
    return sorted(set(filter(None, actions))), sorted(set(filter(None, entities)))


def _module_facts(zf: zipfile.ZipFile, names: list[str]) -> dict[str, Any]:
    stage = "module.json" in names
    doc = _json(zf, "module.json" if stage else "config.json")
    app, module = _d(doc.get("app")), _d(doc.get("module"))
    if not module:
        raise HapError("module.json/config.json has no 'module' object")
    abilities: list[dict[str, Any]] = []
    components: list[dict[str, Any]] = []
    kinds = [("ability", a) for a in _l(module.get("abilities"))] + [
        ("extension", a) for a in _l(module.get("extensionAbilities"))
    ]
    for kind, raw_ab in kinds:
        ab = _d(raw_ab)
        actions, entities = _skills(ab)
        exported = ab.get("exported", ab.get("visible", False)) is True
        perms = [_s(p) for p in _l(ab.get("permissions"))]
        etype = _s(ab.get("type"))
        abilities.append(
            {
                "name": _s(ab.get("name")),
                "kind": kind if kind == "ability" else f"extension:{etype}",
                "exported": exported,
                "permissions": perms,
                "actions": actions,
                "entities": entities,
            }
        )
        components.append(
            {
                "kind": "activity" if kind == "ability" else "service",
                "name": _s(ab.get("name")),
                "exported": exported,
                "permission": perms[0] if perms else "",
                "actions": actions,
                "categories": entities,
                "enabled": True,
                "process": "",
            }
        )
    req_key = "requestPermissions" if stage else "reqPermissions"
    requested: list[dict[str, Any]] = []
    for rp in _l(module.get(req_key)):
        rp = _d(rp)
        scene = _d(rp.get("usedScene"))
        requested.append(
            {
                "name": _s(rp.get("name")),
                "reason": _s(rp.get("reason")),
                "used_scene": {
                    "abilities": [_s(a) for a in _l(scene.get("abilities", scene.get("ability")))],
                    "when": _s(scene.get("when")),
                },
            }
        )
    if stage:
        version_name, version_code = _s(app.get("versionName")), _s(app.get("versionCode"))
        min_api, target_api = _i(app.get("minAPIVersion")), _i(app.get("targetAPIVersion"))
        bundle = _s(app.get("bundleName"))
    else:
        ver, api = _d(app.get("version")), _d(app.get("apiVersion"))
        version_name, version_code = _s(ver.get("name")), _s(ver.get("code"))
        min_api, target_api = _i(api.get("compatible")), _i(api.get("target"))
        bundle = _s(app.get("bundleName"))
    label = _s(app.get("label"))
    return {
        "package": bundle,
        "app_name": "" if label.startswith("$") else label,
        "version_name": version_name,
        "version_code": version_code,
        "min_sdk": min_api,
        "target_sdk": target_api or min_api,
        "debuggable": app.get("debug") is True or module.get("debug") is True,
        "components": components,
        "module": {
            "name": _s(module.get("name") or module.get("package")),
            "type": _s(module.get("type") or _d(module.get("distro")).get("moduleType")),
            "model": "stage" if stage else "fa",
            "device_types": [_s(d) for d in _l(module.get("deviceTypes"))],
            "abilities": abilities,
            "request_permissions": requested,
        },
    }


def _content_facts(
    zf: zipfile.ZipFile, names: list[str], seen: set[tuple[str, str]]
) -> dict[str, Any]:
    urls: set[str] = set()
    privacy: list[str] = []
    secrets: list[Any] = []
    for info in zf.infolist():
        name = info.filename
        low = name.lower()
        if info.is_dir() or info.file_size > MAX_SCAN_MEMBER:
            continue
        if not (low.endswith(".abc") or is_text_member(name) or low in MODULE_FILES):
            continue
        try:
            data = _read(zf, name, MAX_SCAN_MEMBER)
        except (HapError, zipfile.BadZipFile, OSError, EOFError, NotImplementedError):
            continue
        if len(urls) < 2000:
            urls.update(u.decode("utf-8", "replace") for u in URL_RE.findall(data))
        text = data.decode("utf-8", "ignore")
        for m in PRIVACY_RE.finditer(text):
            if len(privacy) >= 20:
                break
            privacy.append(text[max(0, m.start() - 40) : m.end() + 40].replace("\x00", " "))
        if len(secrets) < MAX_HITS:
            secrets += scan_bytes(data, name, seen)
    libs = sorted(
        {n.rsplit("/", 1)[-1] for n in names if n.startswith("libs/") and n.endswith(".so")}
    )
    assets = [n for n in names if n.startswith(("resources/rawfile/", "resources/base/"))][:5000]
    return {
        "urls": sorted(urls),
        "privacy_evidence": privacy,
        "secrets": [s.to_dict() for s in secrets],
        "native_libs": libs,
        "assets": assets,
        "code_members": [n for n in names if n.lower().endswith(".abc")],
    }


def _one_hap(raw: bytes, where: str, seen: set[tuple[str, str]]) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            names = zf.namelist()
            if not is_hap(names):
                raise HapError(f"{where}: no module.json or config.json: not a HarmonyOS module")
            facts = _module_facts(zf, names)
            facts.update(_content_facts(zf, names, seen))
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, ValueError) as exc:
        if isinstance(exc, HapError):
            raise
        raise HapError(f"{where}: malformed ZIP ({exc})") from None
    facts["signature"] = hap_signature(raw)
    _check_profile_bundle(facts["signature"], facts["package"])
    return facts


def extract_hap_facts(path: str, caps: ArchiveCaps) -> dict[str, Any]:
    """Facts of a ``.hap`` module or an ``.app`` bundle, in the APK facts shape."""
    with open(path, "rb") as fh:
        raw = fh.read(caps.max_file_bytes + 1)
    seen: set[tuple[str, str]] = set()
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        names = zf.namelist()
        if is_hap(names):
            modules = [("", _one_hap(raw, "module", seen))]
            kind = "hap"
            bundle_sig: dict[str, Any] | None = None
        elif is_app_bundle(names):
            kind = "app"
            modules = []
            budget = caps.max_total_uncompressed
            for n in [n for n in names if n.lower().endswith(".hap")][: caps.max_inner_apks]:
                inner = _read(zf, n, caps.max_entry_uncompressed)
                budget -= len(inner)
                if budget < 0:
                    raise HapError("inner .hap files inflate past the total cap")
                modules.append((n, _one_hap(inner, n, seen)))
            bundle_sig = hap_signature(raw)
            if bundle_sig["signed"]:
                _check_profile_bundle(bundle_sig, modules[0][1]["package"] if modules else "")
        else:
            raise HapError("no module.json, config.json or .hap member: not a HarmonyOS package")
    entry = next((f for _, f in modules if f["module"]["type"] == "entry"), modules[0][1])
    perms: dict[str, dict[str, Any]] = {}
    comps: list[dict[str, Any]] = []
    libs: set[str] = set()
    urls: set[str] = set()
    privacy: list[str] = []
    secrets: list[dict[str, Any]] = []
    assets: list[str] = []
    code: list[str] = []
    for where, f in modules:
        for rp in f["module"]["request_permissions"]:
            perms.setdefault(rp["name"], rp)
        comps += f["components"]
        libs.update(f["native_libs"])
        urls.update(f["urls"])
        privacy += f["privacy_evidence"]
        secrets += f["secrets"]
        assets += f["assets"]
        code += [f"{where}!{c}" if where else c for c in f["code_members"]]
    sig = entry["signature"] if bundle_sig is None or not bundle_sig["signed"] else bundle_sig
    return {
        "platform": kind,
        "package": entry["package"],
        "app_name": entry["app_name"],
        "version_name": entry["version_name"],
        "version_code": entry["version_code"],
        "min_sdk": entry["min_sdk"],
        "target_sdk": entry["target_sdk"],
        "permissions": sorted(p for p in perms if p),
        "application": {"debuggable": any(f["debuggable"] for _, f in modules)},
        "components": comps,
        "signature": sig,
        "native_libs": sorted(libs),
        "dex_members": [],
        "code_members": code,
        "packages": [],
        "class_count": 0,
        "urls": sorted(urls)[:2000],
        "privacy_evidence": privacy[:40],
        "sdk_list_evidence": [],
        "assets": assets[:200],
        "privacy_assets": [
            a for a in assets if re.search(r"privacy|隐私|policy|agreement", a, re.I)
        ][:50],
        "exodus_tracker_ids": [],
        "bundle_names": [{"kind": "native_lib", "value": lib} for lib in sorted(libs)],
        "warnings": [],
        "secrets": secrets[:MAX_HITS],
        "platform_facts": {
            "modules": [dict(f["module"], file=where or None) for where, f in modules],
            "request_permissions": list(perms.values()),
            "permissions_without_reason": sorted(
                n for n, rp in perms.items() if n and not rp["reason"]
            ),
            "signing_profile": sig.get("profile", {}),
        },
    }
