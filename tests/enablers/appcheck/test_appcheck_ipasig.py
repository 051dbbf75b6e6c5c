"""iOS code signatures verified: a Mach-O signed here the way codesign lays it out, then tampered.

The signer below follows Apple's published layout (cs_blobs.h: SuperBlob, CodeDirectory 0x20400
with SHA-1 + SHA-256 CodeDirectories, special slots, a detached CMS over the first CodeDirectory;
TN2206 CodeResources ``files``/``files2``/``rules2``) and is written independently of the verifier.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import io
import plistlib
import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import algos, core
from asn1crypto import cms as acms
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from mingyue.enablers.appcheck.engine import analyze_apk, load_rulesets
from mingyue.enablers.appcheck.engine.bundlesig import macho, verify_ipa_signature
from mingyue.enablers.appcheck.engine.bundlesig.chain import check_cms

pytest.importorskip("lief", reason="LIEF is part of the appcheck extra")

APP = "Payload/Weather.app/"
RESERVED = 16384
RULES2 = {
    "^.*": True,
    "^.*\\.lproj/": {"optional": True, "weight": 1000.0},
    "^.*\\.lproj/locversion.plist$": {"omit": True, "weight": 1100.0},
    "^(.*/)?\\.DS_Store$": {"omit": True, "weight": 2000.0},
    "^Info\\.plist$": {"omit": True, "weight": 20.0},
    "^PkgInfo$": {"omit": True, "weight": 20.0},
    "^embedded\\.provisionprofile$": {"weight": 20.0},
    "^(Frameworks|SharedFrameworks|PlugIns|Plug-ins|XPCServices|Helpers|MacOS|Library/(Automator"
    "|Spotlight|LoginItems))/": {"nested": True, "weight": 0.0},
}


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@functools.cache
def signer() -> tuple[Any, x509.Certificate, x509.Certificate]:
    """A two-level chain (root CA → leaf), like Apple WWDR → "Apple Distribution: …"."""
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root = (
        x509.CertificateBuilder()
        .subject_name(_name("Test Root CA"))
        .issuer_name(_name("Test Root CA"))
        .public_key(root_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("Apple Distribution: Example Team (ABCDE12345)"))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(root_key, hashes.SHA256())
    )
    return key, leaf, root


def _blob(magic: int, payload: bytes) -> bytes:
    return struct.pack(">II", magic, 8 + len(payload)) + payload


def code_directory(
    code: bytes, limit: int, hash_type: int, specials: list[bytes | None], ident: str
) -> bytes:
    """CodeDirectory 0x20400: header, identifier, team id, special slots, 4 KiB page hashes."""
    name, size = {1: ("sha1", 20), 2: ("sha256", 32)}[hash_type]

    def h(data: bytes) -> bytes:
        return hashlib.new(name, data).digest()[:size]

    pages = [h(code[i : min(i + 4096, limit)]) for i in range(0, limit, 4096)]
    ident_b, team_b = ident.encode() + b"\0", b"ABCDE12345\0"
    ident_off = 88
    team_off = ident_off + len(ident_b)
    n_special = len(specials)
    hash_off = team_off + len(team_b) + n_special * size
    slots = b"".join(b"\0" * size if s is None else h(s) for s in reversed(specials))
    length = hash_off + len(pages) * size
    head = struct.pack(
        ">9I4BIIIIQQQQ",
        0xFADE0C02,
        length,
        0x20400,
        0,
        hash_off,
        ident_off,
        n_special,
        len(pages),
        limit,
        size,
        hash_type,
        0,
        12,
        0,
        0,
        team_off,
        0,
        0,
        0,
        limit,
        1,
    )
    return head + ident_b + team_b + slots + b"".join(pages)


def base_macho(strings: bytes) -> bytes:
    """arm64 MH_EXECUTE: __LINKEDIT + LC_CODE_SIGNATURE (space reserved), text, no signature."""
    data_off = 4096
    cs_off = data_off + (len(strings) + 15) // 16 * 16
    seg = struct.pack(
        "<II16sQQQQIIII",
        0x19,
        72,
        b"__LINKEDIT",
        0x100000000,
        cs_off + RESERVED - data_off,
        data_off,
        cs_off + RESERVED - data_off,
        1,
        1,
        0,
        0,
    )
    cs = struct.pack("<IIII", 0x1D, 16, cs_off, RESERVED)
    cmds = seg + cs
    out = bytearray(struct.pack("<IiiIIIII", 0xFEEDFACF, 0x0100000C, 0, 2, 2, len(cmds), 0, 0))
    out += cmds
    out += b"\0" * (data_off - len(out)) + strings
    out += b"\0" * (cs_off - len(out))
    return bytes(out)


def sign_macho(
    base: bytes,
    *,
    info: bytes,
    seal: bytes,
    entitlements: dict[str, Any],
    adhoc: bool = False,
    apple_hashes: Any = None,
) -> bytes:
    """Append a SuperBlob: SHA-1 CD (slot 0), SHA-256 CD (0x1000), requirements, ents, CMS."""
    limit = len(base)
    reqs = _blob(0xFADE0C01, struct.pack(">I", 0))
    ents = _blob(0xFADE7171, plistlib.dumps(entitlements))
    specials: list[bytes | None] = [info, reqs, seal, None, ents]
    cd1 = code_directory(base, limit, 1, specials, "com.example.district.weather")
    cd2 = code_directory(base, limit, 2, specials, "com.example.district.weather")
    if adhoc:
        cms = b""
    elif apple_hashes is not None:
        cms = apple_cms(cd1, apple_hashes([cd1, cd2]))
    else:
        key, leaf, root = signer()
        cms = (
            pkcs7.PKCS7SignatureBuilder()
            .set_data(cd1)
            .add_signer(leaf, key, hashes.SHA256())
            .add_certificate(root)
            .sign(
                serialization.Encoding.DER,
                [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
            )
        )
    blobs = [(0, cd1), (2, reqs), (5, ents), (0x1000, cd2), (0x10000, _blob(0xFADE0B01, cms))]
    off = 12 + 8 * len(blobs)
    index, body = b"", b""
    for btype, blob in blobs:
        index += struct.pack(">II", btype, off + len(body))
        body += blob
    sb = struct.pack(">III", 0xFADE0CC0, off + len(body), len(blobs)) + index + body
    assert len(sb) <= RESERVED
    return base + sb + b"\0" * (RESERVED - len(sb))


def apple_cms(cd: bytes, cdhashes: list[bytes]) -> bytes:
    """CMS as codesign writes it: signed attributes incl. Apple's CDHash plist (100.9.1)."""
    key, leaf, root = signer()
    leaf_a = ax509.Certificate.load(leaf.public_bytes(serialization.Encoding.DER))
    root_a = ax509.Certificate.load(root.public_bytes(serialization.Encoding.DER))
    attrs = acms.CMSAttributes(
        [
            acms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            acms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(cd).digest()]}),
            acms.CMSAttribute(
                {
                    "type": "1.2.840.113635.100.9.1",
                    "values": [core.OctetString(plistlib.dumps({"cdhashes": cdhashes}))],
                }
            ),
        ]
    )
    si = acms.SignerInfo(
        {
            "version": "v1",
            "sid": acms.SignerIdentifier(
                {
                    "issuer_and_serial_number": acms.IssuerAndSerialNumber(
                        {"issuer": leaf_a.issuer, "serial_number": leaf_a.serial_number}
                    )
                }
            ),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signed_attrs": attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
            "signature": key.sign(attrs.dump(), ec.ECDSA(hashes.SHA256())),
        }
    )
    sd = acms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {"content_type": "data"},
            "certificates": [leaf_a, root_a],
            "signer_infos": [si],
        }
    )
    return bytes(acms.ContentInfo({"content_type": "signed_data", "content": sd}).dump())


def code_resources(files: dict[str, bytes], nested: dict[str, bytes]) -> bytes:
    """CodeResources with files (SHA-1), files2 (SHA-1 + SHA-256), rules2; lproj optional."""
    files1: dict[str, Any] = {}
    files2: dict[str, Any] = {}
    for path, data in files.items():
        if path in ("Info.plist",):
            continue
        s1, s2 = hashlib.sha1(data).digest(), hashlib.sha256(data).digest()  # noqa: S324
        opt = ".lproj/" in path
        files1[path] = {"hash": s1, "optional": True} if opt else s1
        files2[path] = {"hash": s1, "hash2": s2, **({"optional": True} if opt else {})}
    for path, cdhash in nested.items():
        files2[path] = {"cdhash": cdhash, "requirement": 'identifier "com.tencent.Bugly"'}
    return plistlib.dumps(
        {"files": files1, "files2": files2, "rules": {"^.*": True}, "rules2": RULES2}
    )


def bundle_files() -> dict[str, bytes]:
    info = plistlib.dumps(
        {
            "CFBundleIdentifier": "com.example.district.weather",
            "CFBundleExecutable": "Weather",
            "CFBundleDisplayName": "区天气",
            "CFBundleShortVersionString": "2.1.0",
            "CFBundleVersion": "210",
            "NSCameraUsageDescription": "扫描二维码",
        },
        fmt=plistlib.FMT_BINARY,
    )
    return {
        "Info.plist": info,
        "Assets.car": b"CTSI" + bytes(range(256)) * 8,
        "en.lproj/Localizable.strings": b'"hello" = "Hello";\n',
        "zh-Hans.lproj/Localizable.strings": '"hello" = "你好";\n'.encode(),
        "PrivacyInfo.xcprivacy": plistlib.dumps({"NSPrivacyTracking": False}),
        "PkgInfo": b"APPL????",
    }


def build_signed_ipa(
    *,
    tamper_files: dict[str, bytes | None] | None = None,
    tamper_exe: Any = None,
    adhoc: bool = False,
    seal_override: bytes | None = None,
    apple_hashes: Any = None,
) -> bytes:
    """A signed IPA; ``tamper_files`` changes (bytes), adds, or removes (None) members later."""
    files = bundle_files()
    nested_exe = b"\xcf\xfa\xed\xfe" + b"\0" * 60
    seal = code_resources(files, {"Frameworks/Bugly.framework": b"\x11" * 20})
    exe = sign_macho(
        base_macho(b"https://api.example-weather.cn/v2\0Privacy Policy\0" * 200),
        info=files["Info.plist"],
        seal=seal,
        entitlements={"application-identifier": "ABCDE12345.com.example.district.weather"},
        adhoc=adhoc,
        apple_hashes=apple_hashes,
    )
    if tamper_exe is not None:
        exe = tamper_exe(exe)
    members = {**files, "Weather": exe, "_CodeSignature/CodeResources": seal_override or seal}
    members["Frameworks/Bugly.framework/Bugly"] = nested_exe
    members["Frameworks/Bugly.framework/Info.plist"] = plistlib.dumps(
        {"CFBundleIdentifier": "com.tencent.Bugly"}
    )
    for path, data in (tamper_files or {}).items():
        if data is None:
            members.pop(path, None)
        else:
            members[path] = data
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in members.items():
            zf.writestr(APP + path, data)
    return buf.getvalue()


def verdict(raw: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        exe = zf.read(APP + "Weather") if APP + "Weather" in zf.namelist() else None
        return verify_ipa_signature(zf, APP, APP + "Weather", exe, 64 * 1024 * 1024)


def test_signed_ipa_verifies_and_reports_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "weather.ipa"
    path.write_bytes(build_signed_ipa())
    d = analyze_apk(path).to_dict(load_rulesets())
    sig = d["signature"]
    assert sig["verified"] is True, sig["problem_details"]
    assert sig["problems"] == []
    assert sig["verified_schemes"] == {"code-directory": True, "cms": True, "code-resources": True}
    assert sig["signed"] and sig["scheme"] == "apple-code-signature"
    # the CMS signer, not the provisioning profile's signer, names the certificates
    subjects = [c["subject"] for c in sig["certificates"]]
    assert any("Apple Distribution: Example Team" in s for s in subjects)
    chain = sig["signer_chain"]
    assert [c["subject"].split(": ", 1)[-1] for c in chain][-1].endswith("Test Root CA")
    assert all(c["signature_valid"] for c in chain) and sig["chain_complete"] is True
    assert sig["trusted_root"] is False  # Apple roots are never claimed
    cds = sig["code_directories"]
    assert [c["hash"] for c in cds] == ["sha1", "sha256"]
    assert {c["identifier"] for c in cds} == {"com.example.district.weather"}
    assert {c["team_id"] for c in cds} == {"ABCDE12345"}
    assert "nested_code_not_checked" in sig["signature_warnings"]
    # the entitlements read from the same SuperBlob still reach the report
    assert d["ipa"]["entitlements"]["application-identifier"].startswith("ABCDE12345.")


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        ({"Assets.car": b"CTSI changed"}, "resource_modified"),
        ({"Extra.bundle/evil.js": b"alert(1)"}, "resource_added"),
        ({"PrivacyInfo.xcprivacy": None}, "resource_missing"),
        ({"Info.plist": plistlib.dumps({"CFBundleExecutable": "Weather"})}, "info_plist_modified"),
        (
            {
                "Frameworks/Bugly.framework/Bugly": None,
                "Frameworks/Bugly.framework/Info.plist": None,
            },
            "resource_missing",
        ),
    ],
)
def test_tampered_bundle_fails(tamper: dict[str, bytes | None], problem: str) -> None:
    v = verdict(build_signed_ipa(tamper_files=tamper))
    assert v["verified"] is False
    assert problem in v["problems"], v["problem_details"]


def test_optional_and_omitted_files_do_not_fail() -> None:
    # an .lproj file is optional (may be removed); .DS_Store is omitted (may be added)
    v = verdict(
        build_signed_ipa(
            tamper_files={"zh-Hans.lproj/Localizable.strings": None, ".DS_Store": b"\0\0\0\1Bud1"}
        )
    )
    assert v["verified"] is True, v["problem_details"]


def test_changed_code_byte_fails_the_page_hash() -> None:
    def flip(exe: bytes) -> bytes:
        b = bytearray(exe)
        b[4096 + 10] ^= 0x20
        return bytes(b)

    v = verdict(build_signed_ipa(tamper_exe=flip))
    assert v["verified"] is False
    assert v["problems"] == ["code_page_hash_mismatch"]
    assert any("page 1" in p["detail"] for p in v["problem_details"])


def test_changed_code_directory_breaks_the_cms_signature() -> None:
    def rename(exe: bytes) -> bytes:
        return exe.replace(
            b"com.example.district.weather\0ABCDE", b"com.example.district.weathex\0ABCDE"
        )

    v = verdict(build_signed_ipa(tamper_exe=rename))
    assert v["verified"] is False and "cms_signature_invalid" in v["problems"]


def test_reissued_seal_is_caught_by_the_special_slot() -> None:
    # the attacker changes a file AND rewrites CodeResources to match: slot -3 still differs
    files = bundle_files()
    files["Assets.car"] = b"CTSI evil"
    seal = code_resources(files, {"Frameworks/Bugly.framework": b"\x11" * 20})
    v = verdict(
        build_signed_ipa(tamper_files={"Assets.car": files["Assets.car"]}, seal_override=seal)
    )
    assert v["problems"] == ["code_resources_modified"]


def test_adhoc_and_stripped_signatures() -> None:
    adhoc = verdict(build_signed_ipa(adhoc=True))
    assert adhoc["verified"] is False and adhoc["problems"] == ["adhoc_signed"]
    assert adhoc["verified_schemes"]["code-directory"] is True

    def strip(exe: bytes) -> bytes:
        # what `codesign --remove-signature` leaves: no LC_CODE_SIGNATURE, no SuperBlob
        b = bytearray(base_macho(b"x" * 64))
        struct.pack_into("<II", b, 16, 1, 72)
        return bytes(b)

    stripped = verdict(
        build_signed_ipa(tamper_files={"_CodeSignature/CodeResources": None}, tamper_exe=strip)
    )
    assert stripped["verified"] is False
    assert stripped["problems"] == ["not_signed", "code_resources_missing"]


def test_malformed_signatures_never_crash_the_scan(tmp_path: Path) -> None:
    good = build_signed_ipa()
    with zipfile.ZipFile(io.BytesIO(good)) as zf:
        exe = zf.read(APP + "Weather")
    cs_off = exe.find(b"\xfa\xde\x0c\xc0")
    variants = {
        "garbage-superblob": (
            exe[:cs_off] + b"\xfa\xde\x0c\xc0" + b"\xff" * 64 + exe[cs_off + 68 :],
            "code_signature_malformed",
        ),
        "huge-count": (
            exe[: cs_off + 8] + b"\xff\xff\xff\xff" + exe[cs_off + 12 :],
            "code_signature_malformed",
        ),
        "truncated-cd": (
            exe[: cs_off + 200] + b"\0" * (len(exe) - cs_off - 200),
            "code_signature_malformed",
        ),
        "bad-cms": (
            exe[:cs_off] + exe[cs_off:].replace(b"\x30\x82", b"\x31\x82", 1),
            "cms_malformed",
        ),
    }
    rules = load_rulesets()
    for name, (bad, key) in variants.items():
        path = tmp_path / f"{name}.ipa"
        path.write_bytes(build_signed_ipa(tamper_exe=lambda _e, b=bad: b))
        d = analyze_apk(path).to_dict(rules)
        assert d["signature"]["verified"] is False, name
        assert d["signature"]["problems"] == [key], (name, d["signature"]["problem_details"])


def _cdhash(cd: bytes) -> bytes:
    name = "sha1" if cd[37] == 1 else "sha256"
    return hashlib.new(name, cd).digest()[:20]


def test_apple_cdhash_attribute_is_checked() -> None:
    ok = verdict(build_signed_ipa(apple_hashes=lambda cds: [_cdhash(c) for c in cds]))
    assert ok["verified"] is True, ok["problem_details"]
    assert [c["cdhash"] for c in ok["code_directories"]] == [
        c["cdhash"] for c in verdict(build_signed_ipa())["code_directories"]
    ]
    # a CMS that lists another SHA-256 CodeDirectory than the one embedded (downgrade / swap)
    bad = verdict(build_signed_ipa(apple_hashes=lambda cds: [_cdhash(cds[0]), b"\x00" * 20]))
    assert bad["problems"] == ["cdhash_mismatch"]


FIXTURES = Path(__file__).parent / "fixtures"


def test_real_linker_signed_macho_page_hashes() -> None:
    """A real ld64 ad-hoc signature (MarkupSafe's macOS arm64 wheel): every page verifies."""
    raw = (FIXTURES / "markupsafe-3.0.2-speedups-darwin-arm64.so").read_bytes()
    ((off, data),) = macho.slices(raw)
    sl = macho.read_slice(off, data)
    cd = macho.code_directory(sl.blobs[0])
    assert (cd.version, cd.hash_name, cd.page_size, cd.n_code) == (0x20400, "sha256", 4096, 13)
    assert cd.flags & 0x2  # CS_ADHOC
    assert cd.code_limit == sl.sig_offset and macho.CMS_SLOT not in sl.blobs
    assert macho.bad_pages(cd, sl) == ([], 0)
    flipped = bytearray(data)
    flipped[5000] ^= 1
    assert macho.bad_pages(cd, macho.read_slice(0, bytes(flipped)))[0] == [1]


def test_real_developer_id_signature() -> None:
    """A real Developer ID signature (sentry-cli): CMS over the CodeDirectory, Apple's chain."""
    blobs = macho.superblob((FIXTURES / "sentry-cli-3.8.0-darwin-slice0.codesig").read_bytes())
    cd = macho.code_directory(blobs[0])
    assert (cd.identifier, cd.team_id) == ("sentry-cli-Darwin-universal", "97JCY7859U")
    assert cd.hash(blobs[2]) == cd.slot(-2) and cd.hash(blobs[5]) == cd.slot(-5)
    cms_block = blobs[macho.CMS_SLOT][8:]
    check = check_cms(cms_block, cd.blob)
    assert check.problem == "", check.detail
    assert [c["subject"].split("Common Name: ")[1].split(",")[0] for c in check.chain] == [
        "Developer ID Application: GetSentry LLC (97JCY7859U)",
        "Developer ID Certification Authority",
        "Apple Root CA",  # self-signed with SHA-1, checked all the same
    ]
    assert all(c["signature_valid"] for c in check.chain) and check.chain_complete
    assert macho.apple_cdhashes(cms_block) == [cd.cdhash()[:20]]
    # one changed byte of the CodeDirectory: the CMS no longer verifies
    tampered = bytearray(cd.blob)
    tampered[-1] ^= 1
    assert check_cms(cms_block, bytes(tampered)).problem == "cms_signature_invalid"
