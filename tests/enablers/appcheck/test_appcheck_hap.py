"""HarmonyOS .hap / .app packages built from real structure: module.json, signing block, libs."""

from __future__ import annotations

import datetime
import io
import json
import struct
import zipfile
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from mingyue.enablers.appcheck import report_view
from mingyue.enablers.appcheck.engine import analyze_apk, load_rulesets
from mingyue.enablers.appcheck.engine.hap import signing_block

ALIYUN_KEY = "LTAI5tQ8pHk2ZnWv9RtYxJm3"


def module_json(**over: Any) -> dict[str, Any]:
    doc = {
        "app": {
            "bundleName": "com.example.district.weather",
            "vendor": "example",
            "versionCode": 1000002,
            "versionName": "1.0.2",
            "minAPIVersion": 12,
            "targetAPIVersion": 12,
            "debug": False,
            "label": "$string:app_name",
        },
        "module": {
            "name": "entry",
            "type": "entry",
            "deviceTypes": ["phone", "tablet"],
            "abilities": [
                {
                    "name": "EntryAbility",
                    "srcEntry": "./ets/entryability/EntryAbility.ets",
                    "exported": True,
                    "skills": [
                        {"entities": ["entity.system.home"], "actions": ["ohos.want.action.home"]}
                    ],
                },
                {"name": "ShareAbility", "exported": True, "skills": [{"actions": ["share"]}]},
            ],
            "extensionAbilities": [
                {"name": "PushExt", "type": "service", "exported": False},
            ],
            "requestPermissions": [
                {"name": "ohos.permission.INTERNET"},
                {
                    "name": "ohos.permission.APPROXIMATELY_LOCATION",
                    "reason": "$string:location_reason",
                    "usedScene": {"abilities": ["EntryAbility"], "when": "inuse"},
                },
                {
                    "name": "ohos.permission.CAMERA",
                    "usedScene": {"abilities": ["EntryAbility"], "when": "inuse"},
                },
            ],
        },
    }
    doc["app"].update(over.get("app", {}))
    doc["module"].update(over.get("module", {}))
    return doc


def _cert_and_key() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "District Dev Release")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _sign_block(values: list[tuple[int, bytes]]) -> bytes:
    """OpenHarmony hapsigner layout: 12-byte headers, values, 32-byte footer."""
    heads, body = b"", b""
    off = 12 * len(values)
    for btype, value in values:
        heads += struct.pack("<III", btype, len(value), off)
        body += value
        off += len(value)
    size = len(heads) + len(body) + 32
    footer = struct.pack("<IQ", len(values), size) + b"HAP Sig Block 42" + struct.pack("<I", 2)
    return heads + body + footer


def _insert_before_cd(raw: bytes, block: bytes) -> bytes:
    eocd = raw.rfind(b"PK\x05\x06")
    (cd,) = struct.unpack_from("<I", raw, eocd + 16)
    out = bytearray(raw[:cd] + block + raw[cd:])
    struct.pack_into("<I", out, eocd + len(block) + 16, cd + len(block))
    return bytes(out)


def build_hap(
    doc: dict[str, Any] | None = None,
    *,
    signed: bool = True,
    profile_type: str = "release",
    model: str = "stage",
    extra: dict[str, bytes] | None = None,
) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "module.json" if model == "stage" else "config.json", json.dumps(doc or module_json())
        )
        zf.writestr("resources.index", b"\x00" * 64)
        zf.writestr(
            "ets/modules.abc",
            b"PANDA\x00\x00\x00https://api.example-weather.cn/v1/forecast\x00"
            b"\xe9\x9a\x90\xe7\xa7\x81\xe6\x94\xbf\xe7\xad\x96\x00",  # 隐私政策
        )
        zf.writestr("libs/arm64-v8a/libjcore.so", b"\x7fELF" + b"\x00" * 60)
        zf.writestr(
            "resources/rawfile/config.json",
            json.dumps({"oss": {"accessKeyId": ALIYUN_KEY, "endpoint": "oss-cn-hangzhou"}}),
        )
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    raw = buf.getvalue()
    if not signed:
        return raw
    cert, key = _cert_and_key()
    sig = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(b"content digests")
        .add_signer(cert, key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature])
    )
    profile = json.dumps(
        {
            "type": profile_type,
            "bundle-info": {
                "bundle-name": "com.example.district.weather",
                "developer-id": "OH-DEV-1",
                "apl": "normal",
                "app-feature": "hos_normal_app",
            },
            "validity": {"not-before": 1767225600, "not-after": 1798761600},
        }
    ).encode()
    return _insert_before_cd(raw, _sign_block([(0x20000002, profile), (0x20000000, sig)]))


def test_stage_model_hap_report(tmp_path: Path) -> None:
    path = tmp_path / "weather.hap"
    path.write_bytes(build_hap())
    rep = analyze_apk(path, app_type="map_navigation")
    d = rep.to_dict(load_rulesets())
    assert d["platform"] == "hap"
    assert d["package"] == "com.example.district.weather" and d["version_name"] == "1.0.2"
    assert d["min_sdk"] == 12 and d["target_sdk"] == 12
    assert d["permissions"] == [
        "ohos.permission.APPROXIMATELY_LOCATION",
        "ohos.permission.CAMERA",
        "ohos.permission.INTERNET",
    ]
    # necessity rules through the Android equivalents
    by_name = {x["name"]: x for x in d["dangerous_permissions"]}
    assert by_name["android.permission.CAMERA"]["declared_as"] == "ohos.permission.CAMERA"
    assert by_name["android.permission.ACCESS_COARSE_LOCATION"]["necessary"] is True
    fails = [f for f in d["findings"] if f["rule"] == "PERM_NOT_NECESSARY"]
    assert any("CAMERA" in f["evidence"] for f in fails)
    hap = d["hap"]
    (module,) = hap["modules"]
    assert module["model"] == "stage" and module["type"] == "entry"
    assert [a["name"] for a in module["abilities"]] == ["EntryAbility", "ShareAbility", "PushExt"]
    assert hap["permissions_without_reason"] == [
        "ohos.permission.CAMERA",
        "ohos.permission.INTERNET",
    ]
    loc = next(p for p in hap["request_permissions"] if "LOCATION" in p["name"])
    assert loc["used_scene"] == {"abilities": ["EntryAbility"], "when": "inuse"}
    # SDK by native library name, URL and privacy text found in the Ark bytecode
    assert any("JPush" in s["name"] and s["matched_by"] == ["native_lib"] for s in d["sdks"])
    assert d["native_libs"] == ["libjcore.so"]
    assert not any(f["rule"] == "PP_NOT_FOUND" for f in d["findings"])
    # signing block: certificate and profile
    sig = d["signature"]
    assert sig["signed"] and sig["scheme"] == "hap-sign-block-v2"
    assert sig["certificates"][0]["subject"].endswith("District Dev Release")
    assert sig["profile"]["bundle_name"] == "com.example.district.weather"
    # launcher ability is not flagged, the other exported one is
    exported = [f["evidence"] for f in d["findings"] if f["rule"] == "SEC_EXPORTED_NO_PERMISSION"]
    assert exported == ["activity ShareAbility exported=True, no permission"]
    # hard-coded secret in rawfile, redacted
    (secret,) = d["secrets"]
    assert secret["rule"] == "alibaba-access-key-id" and secret["redacted"] == "LTAI…m3"
    assert secret["location"] == "resources/rawfile/config.json"
    assert ALIYUN_KEY not in json.dumps(d)
    assert not d["incomplete"]


def test_unsigned_debug_hap_findings(tmp_path: Path) -> None:
    path = tmp_path / "dbg.hap"
    path.write_bytes(build_hap(module_json(app={"debug": True}), signed=False))
    d = analyze_apk(path).to_dict()
    rules = {f["rule"] for f in d["findings"]}
    assert {"SEC_UNSIGNED", "SEC_DEBUGGABLE", "SEC_HARDCODED_SECRET"} <= rules
    assert d["signature"]["signed"] is False
    for f in d["findings"]:
        if f["rule"].startswith("SEC_") and f["rule"] != "SEC_EXPORTED_NO_PERMISSION":
            assert report_view.known_evidence(f), f
            assert report_view.evidence_text(f, "zh_CN") != f["evidence"], f


def test_debug_profile_is_flagged(tmp_path: Path) -> None:
    path = tmp_path / "p.hap"
    path.write_bytes(build_hap(profile_type="debug"))
    rules = {f.rule for f in analyze_apk(path).findings}
    assert "SEC_DEBUG_CERT" in rules and "SEC_UNSIGNED" not in rules


def test_fa_model_config_json(tmp_path: Path) -> None:
    doc = {
        "app": {
            "bundleName": "com.example.fa",
            "version": {"code": 3, "name": "3.0"},
            "apiVersion": {"compatible": 8, "target": 9},
        },
        "module": {
            "package": "com.example.fa.entry",
            "distro": {"moduleType": "entry"},
            "abilities": [{"name": ".MainAbility", "type": "page", "visible": True}],
            "reqPermissions": [
                {
                    "name": "ohos.permission.MICROPHONE",
                    "reason": "voice notes",
                    "usedScene": {"ability": [".MainAbility"], "when": "always"},
                }
            ],
        },
    }
    path = tmp_path / "fa.hap"
    path.write_bytes(build_hap(doc, model="fa"))
    d = analyze_apk(path).to_dict()
    assert d["package"] == "com.example.fa" and d["version_code"] == "3"
    assert d["min_sdk"] == 8 and d["target_sdk"] == 9
    assert d["hap"]["modules"][0]["model"] == "fa"
    assert d["dangerous_permissions"][0]["name"] == "android.permission.RECORD_AUDIO"


def test_app_bundle_of_haps(tmp_path: Path) -> None:
    feature = module_json(
        module={
            "name": "camera_feature",
            "type": "feature",
            "abilities": [],
            "requestPermissions": [{"name": "ohos.permission.READ_CONTACTS", "reason": "invite"}],
        }
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("entry-default.hap", build_hap())
        zf.writestr("feature-default.hap", build_hap(feature, signed=False))
        zf.writestr("pack.info", json.dumps({"summary": {"app": {"bundleName": "x"}}}))
    path = tmp_path / "bundle.app"
    path.write_bytes(buf.getvalue())
    d = analyze_apk(path).to_dict()
    assert d["platform"] == "app" and d["package"] == "com.example.district.weather"
    assert [m["file"] for m in d["app"]["modules"]] == ["entry-default.hap", "feature-default.hap"]
    assert "ohos.permission.READ_CONTACTS" in d["permissions"]
    assert d["signature"]["signed"]  # the entry module's signature


def test_signing_block_parser_ignores_plain_zip() -> None:
    assert signing_block(build_hap(signed=False)) == {}
    blk = signing_block(build_hap())
    assert set(blk["values"]) == {0x20000000, 0x20000002}


def test_malformed_haps_exit_2_with_one_line(cli: Any, tmp_path: Path) -> None:
    cases = {
        "badjson.hap": _zip({"module.json": b"{not json"}),
        "nomodule.hap": _zip({"module.json": json.dumps({"app": {}}).encode()}),
        "array.hap": _zip({"module.json": b"[1, 2]"}),
        "badinner.app": _zip({"entry.hap": b"PK\x03\x04 garbage"}),
    }
    raw = build_hap()
    for cut in (len(raw) // 3, len(raw) // 2, len(raw) - 40, len(raw) - 10):
        cases[f"trunc{cut}.hap"] = raw[:cut]
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        r = cli("appcheck", "scan", str(p), "--json")
        assert r.exit_code == 2, (name, r.stdout[:300])
        assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1, (name, r.stderr)
        assert "Traceback" not in r.stderr


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, d in members.items():
            zf.writestr(n, d)
    return buf.getvalue()


def test_cli_scans_a_hap(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "w.hap"
    path.write_bytes(build_hap())
    r = cli("appcheck", "scan", str(path), "--json")
    assert r.exit_code == 0, r.stderr
    d = r.json()
    for key in (
        "sha256",
        "package",
        "permissions",
        "dangerous_permissions",
        "sdks",
        "findings",
        "incomplete",
        "signature",
        "native_libs",
        "categories",
    ):
        assert key in d
