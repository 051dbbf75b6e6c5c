"""iOS .ipa packages built from real structure: Info.plist, a Mach-O, frameworks, privacy manifest."""

from __future__ import annotations

import datetime
import io
import json
import plistlib
import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from mingyue.enablers.appcheck import report_view
from mingyue.enablers.appcheck.engine import analyze_apk, load_rulesets

pytest.importorskip("lief", reason="LIEF is part of the appcheck extra")

GITHUB_TOKEN = "ghp_1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ"


def macho(
    classes: list[str], dylibs: list[str], entitlements: dict[str, Any], strings: bytes
) -> bytes:
    """A minimal arm64 MH_EXECUTE: __LINKEDIT, LC_LOAD_DYLIBs, LC_SYMTAB, LC_CODE_SIGNATURE."""
    strtab = b"\x00"
    offs = []
    for c in classes:
        offs.append(len(strtab))
        strtab += f"_OBJC_CLASS_$_{c}".encode() + b"\x00"
    cmds = b""
    for d in dylibs:
        name = d.encode() + b"\x00"
        size = (24 + len(name) + 7) // 8 * 8
        cmds += struct.pack("<IIIIII", 0xC, size, 24, 2, 0x10000, 0x10000) + name.ljust(
            size - 24, b"\0"
        )
    data_off = (32 + 72 + len(cmds) + 24 + 16 + 15) // 16 * 16
    nlist = b"".join(struct.pack("<IBBHQ", off, 0x01, 0, 0, 0) for off in offs)
    stroff = data_off + len(nlist)
    cs_off = (stroff + len(strtab) + len(strings) + 15) // 16 * 16
    ent = plistlib.dumps(entitlements)
    ent_blob = struct.pack(">II", 0xFADE7171, 8 + len(ent)) + ent
    superblob = struct.pack(">III", 0xFADE0CC0, 20 + len(ent_blob), 1) + struct.pack(">II", 5, 20)
    superblob += ent_blob
    size = cs_off + len(superblob) - data_off
    seg = struct.pack(
        "<II16sQQQQIIII", 0x19, 72, b"__LINKEDIT", 0x100000000, size, data_off, size, 1, 1, 0, 0
    )
    symtab = struct.pack(
        "<IIIIII", 0x2, 24, data_off, len(offs), stroff, len(strtab) + len(strings)
    )
    cs = struct.pack("<IIII", 0x1D, 16, cs_off, len(superblob))
    allcmds = seg + cmds + symtab + cs
    n = 3 + len(dylibs)
    out = bytearray(struct.pack("<IiiIIIII", 0xFEEDFACF, 0x0100000C, 0, 2, n, len(allcmds), 0, 0))
    out += allcmds
    out += b"\0" * (data_off - len(out)) + nlist + strtab + strings
    out += b"\0" * (cs_off - len(out)) + superblob
    return bytes(out)


def mobileprovision(get_task_allow: bool) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Apple iPhone OS Provisioning")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(3)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    body = plistlib.dumps(
        {
            "Name": "District Weather Dev",
            "TeamName": "Example Team",
            "ExpirationDate": datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC),
            "ProvisionedDevices": ["00008030-000000000000001E"],
            "Entitlements": {"get-task-allow": get_task_allow, "application-identifier": "T.x"},
        }
    )
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(body)
        .add_signer(cert, key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )


def info_plist(**over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "CFBundleIdentifier": "com.example.district.weather",
        "CFBundleExecutable": "Weather",
        "CFBundleDisplayName": "区天气",
        "CFBundleShortVersionString": "2.1.0",
        "CFBundleVersion": "210",
        "MinimumOSVersion": "13.0",
        "NSLocationWhenInUseUsageDescription": "用于显示当前位置的天气",
        "NSCameraUsageDescription": "扫描二维码",
        "NSAppTransportSecurity": {"NSAllowsArbitraryLoads": True},
    }
    d.update(over)
    return d


def build_ipa(
    info: dict[str, Any] | None = None, *, debug: bool = False, with_exe: bool = True
) -> bytes:
    app = "Payload/Weather.app/"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            app + "Info.plist", plistlib.dumps(info or info_plist(), fmt=plistlib.FMT_BINARY)
        )
        if with_exe:
            zf.writestr(
                app + "Weather",
                macho(
                    ["JPUSHService", "WeatherViewController"],
                    ["@rpath/Bugly.framework/Bugly", "/usr/lib/libobjc.A.dylib"],
                    {"get-task-allow": debug, "aps-environment": "production"},
                    b"https://api.example-weather.cn/v2\x00Privacy Policy\x00",
                ),
            )
        zf.writestr(app + "embedded.mobileprovision", mobileprovision(debug))
        zf.writestr(app + "Frameworks/Bugly.framework/Bugly", b"\xcf\xfa\xed\xfe")
        zf.writestr(
            app + "Frameworks/Bugly.framework/Info.plist",
            plistlib.dumps({"CFBundleIdentifier": "com.tencent.Bugly"}),
        )
        zf.writestr(
            app + "PrivacyInfo.xcprivacy",
            plistlib.dumps(
                {
                    "NSPrivacyTracking": False,
                    "NSPrivacyCollectedDataTypes": [
                        {
                            "NSPrivacyCollectedDataType": "NSPrivacyCollectedDataTypePreciseLocation",
                            "NSPrivacyCollectedDataTypeLinked": False,
                            "NSPrivacyCollectedDataTypeTracking": False,
                            "NSPrivacyCollectedDataTypePurposes": [
                                "NSPrivacyCollectedDataTypePurposeAppFunctionality"
                            ],
                        }
                    ],
                    "NSPrivacyAccessedAPITypes": [
                        {
                            "NSPrivacyAccessedAPIType": "NSPrivacyAccessedAPICategoryUserDefaults",
                            "NSPrivacyAccessedAPITypeReasons": ["CA92.1"],
                        }
                    ],
                }
            ),
        )
        zf.writestr(app + "config.json", json.dumps({"github": GITHUB_TOKEN}))
    return buf.getvalue()


def test_ipa_report(tmp_path: Path) -> None:
    path = tmp_path / "weather.ipa"
    path.write_bytes(build_ipa())
    d = analyze_apk(path, app_type="news").to_dict(load_rulesets())
    assert d["platform"] == "ipa" and d["package"] == "com.example.district.weather"
    assert (d["app_name"], d["version_name"], d["version_code"]) == ("区天气", "2.1.0", "210")
    assert d["permissions"] == ["NSCameraUsageDescription", "NSLocationWhenInUseUsageDescription"]
    ios = d["ipa"]
    assert ios["usage_descriptions"]["NSCameraUsageDescription"] == "扫描二维码"
    assert ios["entitlements"]["aps-environment"] == "production"
    assert ios["frameworks"] == ["Bugly.framework"]
    assert ios["arch"] == "ARM64" and ios["objc_class_count"] == 2
    (manifest,) = ios["privacy_manifests"].values()
    assert manifest["collected_data_types"][0]["type"].endswith("PreciseLocation")
    assert manifest["accessed_api_types"][0]["reasons"] == ["CA92.1"]
    # news needs no personal information: camera and location are not necessary
    fails = [f for f in d["findings"] if f["rule"] == "PERM_NOT_NECESSARY"]
    assert len(fails) == 2
    assert {x["name"]: x["necessary"] for x in d["dangerous_permissions"]} == {
        "android.permission.CAMERA": False,
        "android.permission.ACCESS_FINE_LOCATION": False,
    }
    declared = {x["name"]: x["declared_as"] for x in d["dangerous_permissions"]}
    assert declared["android.permission.CAMERA"] == "NSCameraUsageDescription"
    names = {s["name"]: s for s in d["sdks"]}
    assert "Tencent Bugly" in names and any("JPush" in n for n in names)
    jpush = next(s for n, s in names.items() if "JPush" in n)
    assert jpush["evidence"] == ["class JPUSHService"]
    rules = {f["rule"] for f in d["findings"]}
    assert "SEC_CLEARTEXT" in rules and "SEC_UNSIGNED" not in rules
    assert "SEC_DEBUGGABLE" not in rules
    (secret,) = d["secrets"]
    assert secret["rule"] == "github-pat" and secret["redacted"] == "ghp_…yZ"
    assert GITHUB_TOKEN not in json.dumps(d)
    assert d["signature"]["profile"]["type"] == "ad-hoc"
    assert not any(f["rule"] == "PP_NOT_FOUND" for f in d["findings"])


def test_debug_ipa(tmp_path: Path) -> None:
    path = tmp_path / "dbg.ipa"
    path.write_bytes(build_ipa(debug=True))
    d = analyze_apk(path).to_dict()
    rules = {f["rule"] for f in d["findings"]}
    assert {"SEC_DEBUGGABLE", "SEC_DEBUG_CERT", "SEC_CLEARTEXT"} <= rules
    for f in d["findings"]:
        if f["rule"].startswith("SEC_"):
            assert report_view.known_evidence(f), f
            assert report_view.evidence_text(f, "zh_CN") != f["evidence"], f
    assert d["signature"]["profile"]["type"] == "development"


def test_xml_plist_and_missing_executable(tmp_path: Path) -> None:
    app = "Payload/X.app/"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(app + "Info.plist", plistlib.dumps(info_plist(CFBundleExecutable="X")))
    path = tmp_path / "x.ipa"
    path.write_bytes(buf.getvalue())
    d = analyze_apk(path).to_dict()
    assert d["package"] == "com.example.district.weather"
    assert any("main executable" in w for w in d["warnings"])
    assert "SEC_UNSIGNED" in {f["rule"] for f in d["findings"]}


def test_malformed_ipas_exit_2_with_one_line(cli: Any, tmp_path: Path) -> None:
    def z(members: dict[str, bytes]) -> bytes:
        b = io.BytesIO()
        with zipfile.ZipFile(b, "w") as zf:
            for n, data in members.items():
                zf.writestr(n, data)
        return b.getvalue()

    cases = {
        "badplist.ipa": z({"Payload/A.app/Info.plist": b"bplist00\xff\xff garbage"}),
        "listplist.ipa": z({"Payload/A.app/Info.plist": plistlib.dumps([1, 2])}),
        "badmacho.ipa": z(
            {
                "Payload/A.app/Info.plist": plistlib.dumps(info_plist(CFBundleExecutable="A")),
                "Payload/A.app/A": b"\xcf\xfa\xed\xfe" + b"\xff" * 12,
            }
        ),
    }
    raw = build_ipa()
    for cut in (len(raw) // 4, len(raw) // 2, len(raw) - 30):
        cases[f"trunc{cut}.ipa"] = raw[:cut]
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        r = cli("appcheck", "scan", str(p), "--json")
        assert r.exit_code == 2, (name, r.stdout[:300])
        assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1, (name, r.stderr)
        assert "Traceback" not in r.stderr
