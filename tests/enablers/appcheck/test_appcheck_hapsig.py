"""HarmonyOS HAP signatures verified: a package signed here as hapsigner lays it out, then tampered.

The signer below follows OpenHarmony ``developtools_hapsigner`` (``SignHap``/``HapUtils``): the
content digest over 1 MiB chunks of the entries, the central directory and the EOCD (CD offset set
to the block), extended with the optional blocks' values; a PKCS#7 SignedData embedding
``version | count | {len, alg id, size, digest}``; a signed profile naming the signer's
certificate. It is written independently of the verifier.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import io
import json
import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from mingyue.enablers.appcheck.engine import analyze_apk, load_rulesets
from mingyue.enablers.appcheck.engine.bundlesig import verify_hap_signature

from .test_appcheck_hap import module_json

BUNDLE = "com.example.district.weather"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, issuer: x509.Name, pub: Any, signer_key: Any, ca: bool) -> x509.Certificate:
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signer_key, hashes.SHA256())
    )


@functools.cache
def pki() -> dict[str, Any]:
    """Root CA → app signing leaf, root CA → profile signing leaf (OpenHarmony's layout)."""
    root_key = ec.generate_private_key(ec.SECP384R1())
    root = _cert(
        "OpenHarmony Application Root CA",
        _name("OpenHarmony Application Root CA"),
        root_key.public_key(),
        root_key,
        True,
    )
    app_key = ec.generate_private_key(ec.SECP256R1())
    app = _cert("District Weather Release", root.subject, app_key.public_key(), root_key, False)
    prof_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    prof = _cert(
        "OpenHarmony Profile Release", root.subject, prof_key.public_key(), root_key, False
    )
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = _cert("Someone Else", _name("Someone Else"), other_key.public_key(), other_key, False)
    return {
        "root": root,
        "app": app,
        "app_key": app_key,
        "prof": prof,
        "prof_key": prof_key,
        "other": other,
        "other_key": other_key,
    }


def _pkcs7(data: bytes, cert: x509.Certificate, key: Any, extra: list[x509.Certificate]) -> bytes:
    b = pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(cert, key, hashes.SHA256())
    for c in extra:
        b = b.add_certificate(c)
    return b.sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])


def profile(*, ptype: str = "release", bundle: str = BUNDLE, cert: Any = None) -> bytes:
    p = pki()
    pem = (cert or p["app"]).public_bytes(serialization.Encoding.PEM).decode()
    key = "distribution-certificate" if ptype == "release" else "development-certificate"
    doc = {
        "version-code": 2,
        "type": ptype,
        "uuid": "1c1a2a9b-4d6b-4b8e-8f60-3b2f2f6c9d01",
        "bundle-info": {
            "bundle-name": bundle,
            "developer-id": "OH-DEV-1",
            "apl": "normal",
            "app-feature": "hos_normal_app",
            key: pem,
        },
        "validity": {"not-before": 1767225600, "not-after": 1798761600},
    }
    return _pkcs7(json.dumps(doc).encode(), p["prof"], p["prof_key"], [p["root"]])


def unsigned_hap(extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("module.json", json.dumps(module_json()))
        zf.writestr(zipfile.ZipInfo("resources.index"), b"\x01" * 2048)  # stored
        zf.writestr("ets/modules.abc", b"PANDA\x00\x00\x00" + b"\x00" * 200)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


def _digest(alg: str, parts: list[bytes], optional: list[bytes]) -> bytes:
    chunks = []
    for part in parts:
        for i in range(0, len(part), 1 << 20):
            piece = part[i : i + (1 << 20)]
            chunks.append(
                hashlib.new(alg, b"\xa5" + struct.pack("<I", len(piece)) + piece).digest()
            )
    top = hashlib.new(alg, b"\x5a" + struct.pack("<I", len(chunks)) + b"".join(chunks))
    for v in optional:
        top.update(v)
    return top.digest()


def sign_hap(
    raw: bytes,
    *,
    prof: bytes | None = None,
    alg_id: int = 0x201,
    version: int = 3,
    signer: tuple[Any, Any] | None = None,
) -> bytes:
    """Insert a hapsigner signing block: [profile] + signature, footer, CD offset moved."""
    p = pki()
    prof = profile() if prof is None else prof
    eocd = raw.rfind(b"PK\x05\x06")
    (cd_off,) = struct.unpack_from("<I", raw, eocd + 16)
    optional = [(0x20000002, prof)] if prof else []
    alg = {0x201: "sha256", 0x202: "sha384", 0x104: "sha256", 0x106: "sha512"}[alg_id]
    # the EOCD as digested already points at the block (the block starts at the old CD offset)
    digest = _digest(alg, [raw[:cd_off], raw[cd_off:eocd], raw[eocd:]], [v for _, v in optional])
    content = struct.pack("<IIIII", 2, 1, len(digest) + 8, alg_id, len(digest)) + digest
    cert, key = signer or (p["app"], p["app_key"])
    sig = _pkcs7(content, cert, key, [p["root"]])
    blocks = [*optional, (0x20000000, sig)]
    heads, body, off = b"", b"", 12 * len(blocks)
    for btype, value in blocks:
        heads += struct.pack("<III", btype, len(value), off)
        body += value
        off += len(value)
    size = len(heads) + len(body) + 32
    magic = b"<hap sign block>" if version >= 3 else b"HAP Sig Block 42"
    block = (
        heads + body + struct.pack("<IQ", len(blocks), size) + magic + struct.pack("<I", version)
    )
    out = bytearray(raw[:cd_off] + block + raw[cd_off:])
    struct.pack_into("<I", out, eocd + len(block) + 16, cd_off + len(block))
    return bytes(out)


def test_signed_hap_verifies_with_profile_and_chain(tmp_path: Path) -> None:
    path = tmp_path / "weather.hap"
    path.write_bytes(sign_hap(unsigned_hap()))
    d = analyze_apk(path).to_dict(load_rulesets())
    sig = d["signature"]
    assert sig["verified"] is True, sig["problem_details"]
    assert sig["problems"] == [] and sig["verified_schemes"] == {"hap-sign-block-v3": True}
    assert sig["scheme"] == "hap-sign-block-v3"
    assert sig["profile"]["bundle_name"] == BUNDLE and sig["profile"]["type"] == "release"
    chain = sig["signer_chain"]
    assert [c["subject"].rsplit(": ", 1)[-1] for c in chain] == [
        "District Weather Release",
        "OpenHarmony Application Root CA",
    ]
    assert all(c["signature_valid"] for c in chain) and sig["chain_complete"] is True
    assert sig["trusted_root"] is False
    assert sig["profile_signer"][0]["subject"].endswith("OpenHarmony Profile Release")
    assert d["hap"]["signing_profile"]["bundle_name"] == BUNDLE


@pytest.mark.parametrize(("alg_id", "version"), [(0x202, 3), (0x104, 2), (0x106, 3)])
def test_other_algorithms_and_the_v2_magic(alg_id: int, version: int) -> None:
    v = verify_hap_signature(sign_hap(unsigned_hap(), alg_id=alg_id, version=version))
    assert v["verified"] is True, v["problem_details"]
    assert list(v["verified_schemes"]) == [f"hap-sign-block-v{version}"]


def test_debug_profile_is_reported() -> None:
    raw = sign_hap(unsigned_hap(), prof=profile(ptype="debug"))
    v = verify_hap_signature(raw)
    assert v["verified"] is True, v["problem_details"]


def test_changed_byte_fails_the_content_digest() -> None:
    raw = bytearray(sign_hap(unsigned_hap()))
    pos = raw.find(b"\x01" * 2048)
    raw[pos + 100] = 0x02
    v = verify_hap_signature(bytes(raw))
    assert v["verified"] is False and v["problems"] == ["content_digest_mismatch"]


def test_added_file_fails_the_content_digest(tmp_path: Path) -> None:
    signed = sign_hap(unsigned_hap())
    # transplant the signing block onto the same package with one more entry
    eocd = signed.rfind(b"PK\x05\x06")
    (cd_off,) = struct.unpack_from("<I", signed, eocd + 16)
    size = struct.unpack_from("<Q", signed, cd_off - 28)[0]
    block = signed[cd_off - size : cd_off]
    bigger = unsigned_hap({"libs/arm64-v8a/libevil.so": b"\x7fELF" + b"\0" * 60})
    e2 = bigger.rfind(b"PK\x05\x06")
    (c2,) = struct.unpack_from("<I", bigger, e2 + 16)
    forged = bytearray(bigger[:c2] + block + bigger[c2:])
    struct.pack_into("<I", forged, e2 + len(block) + 16, c2 + len(block))
    path = tmp_path / "forged.hap"
    path.write_bytes(bytes(forged))
    d = analyze_apk(path).to_dict(load_rulesets())
    assert d["signature"]["signed"] is True
    assert d["signature"]["verified"] is False
    assert d["signature"]["problems"] == ["content_digest_mismatch"]


def test_stripped_signature(tmp_path: Path) -> None:
    path = tmp_path / "stripped.hap"
    path.write_bytes(unsigned_hap())
    d = analyze_apk(path).to_dict(load_rulesets())
    assert d["signature"]["signed"] is False and d["signature"]["verified"] is False
    assert d["signature"]["problems"] == ["not_signed"]
    assert any(f["rule"] == "SEC_UNSIGNED" for f in d["findings"])


def test_profile_is_covered_by_the_signature() -> None:
    raw = sign_hap(unsigned_hap())
    swapped = raw.replace(b'"type": "release"', b'"type": "debugxx"')
    assert swapped != raw
    v = verify_hap_signature(swapped)
    assert v["verified"] is False and "content_digest_mismatch" in v["problems"]


def test_profile_must_name_the_signer_certificate() -> None:
    p = pki()
    v = verify_hap_signature(sign_hap(unsigned_hap(), prof=profile(cert=p["other"])))
    assert v["problems"] == ["profile_certificate_mismatch"]


def test_profile_must_name_the_module_bundle(tmp_path: Path) -> None:
    path = tmp_path / "other.hap"
    path.write_bytes(sign_hap(unsigned_hap(), prof=profile(bundle="com.example.other")))
    sig = analyze_apk(path).to_dict(load_rulesets())["signature"]
    assert sig["verified"] is False and sig["problems"] == ["profile_bundle_mismatch"]


def test_wrong_key_breaks_the_pkcs7_signature() -> None:
    p = pki()
    # signer info names the app certificate but the signature comes from another key
    v = verify_hap_signature(sign_hap(unsigned_hap(), signer=(p["app"], p["other_key"])))
    assert v["verified"] is False and v["problems"] == ["cms_signature_invalid"]


def test_unsigned_profile_is_a_warning() -> None:
    raw = sign_hap(
        unsigned_hap(),
        prof=json.dumps({"type": "debug", "bundle-info": {"bundle-name": BUNDLE}}).encode(),
    )
    v = verify_hap_signature(raw)
    assert v["verified"] is True and "profile_unsigned" in v["signature_warnings"]


def test_malformed_blocks_never_crash_the_scan(tmp_path: Path) -> None:
    good = sign_hap(unsigned_hap())
    eocd = good.rfind(b"PK\x05\x06")
    (cd_off,) = struct.unpack_from("<I", good, eocd + 16)
    foot = cd_off - 32
    count, size = struct.unpack_from("<IQ", good, foot)
    start = cd_off - size
    _, _, off = struct.unpack_from("<III", good, start + 12 * (count - 1))  # the signature
    sig_pos = start + off
    variants = {
        "count": (good[:foot] + struct.pack("<I", 9999) + good[foot + 4 :], "sign_block_malformed"),
        "size": (
            good[: foot + 4] + struct.pack("<Q", 1 << 40) + good[foot + 12 :],
            "sign_block_malformed",
        ),
        "cms": (good[:sig_pos] + b"\x31" + good[sig_pos + 1 :], "cms_malformed"),
    }
    rules = load_rulesets()
    for name, (bad, key) in variants.items():
        assert verify_hap_signature(bad)["problems"] == [key], name
        path = tmp_path / f"{name}.hap"
        path.write_bytes(bad)
        d = analyze_apk(path).to_dict(rules)
        assert d["signature"]["verified"] is False, name


def test_version_magic_mismatch_is_only_a_warning() -> None:
    good = sign_hap(unsigned_hap(), version=3)
    (cd_off,) = struct.unpack_from("<I", good, good.rfind(b"PK\x05\x06") + 16)
    odd = good[: cd_off - 4] + struct.pack("<I", 2) + good[cd_off:]
    v = verify_hap_signature(odd)
    assert v["verified"] is True and v["signature_warnings"] == [
        "sign_block_version_magic_mismatch"
    ]
