"""APK signature verification (v1 JAR, v2, v3, lineage, stripping) against real signed APKs."""

from __future__ import annotations

import datetime
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mingyue.enablers.appcheck import report_view
from mingyue.enablers.appcheck.engine import analyze_apk, load_rulesets
from mingyue.enablers.appcheck.engine.apksig import verify_apk
from mingyue.enablers.appcheck.engine.apksig.v1 import parse_manifest
from mingyue.enablers.appcheck.engine.apksig.v2v3 import parse_lineage
from mingyue.enablers.appcheck.engine.apksig.zipsections import find_sections

REPO = Path(__file__).resolve().parents[3]


def test_v1_v2_v3_golden_apk_verifies(find_apk) -> None:
    v = verify_apk(str(find_apk("golden-aligned-v1v2v3-out")), 23)
    assert v.verified, v.problems
    assert v.schemes == {"v1": True, "v2": True, "v3": True}


def test_v2_only_apk_with_min_sdk_24_skips_v1(find_apk) -> None:
    path = str(find_apk("HomeAssistantLauncher"))
    assert verify_apk(path, 24).verified
    # below Android 7.0 the JAR signature is required and this APK has none
    low = verify_apk(path, 23)
    assert not low.verified and "Missing META-INF/MANIFEST.MF" in low.problems


def test_unknown_min_sdk_never_verifies(find_apk) -> None:
    v = verify_apk(str(find_apk("golden-aligned-v1v2v3-out")), None)
    assert not v.verified and any("minSdkVersion unknown" in p for p in v.problems)


def test_changed_entry_breaks_v1(find_apk, tmp_path: Path) -> None:
    src = find_apk("politedroid")
    dst = tmp_path / "changed.apk"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "classes.dex":
                data = data[:-1] + bytes([data[-1] ^ 1])
            zout.writestr(info, data)
    assert verify_apk(str(src), 3).verified
    v = verify_apk(str(dst), 3)
    assert not v.verified
    assert any("classes.dex: digest does not match" in p for p in v.problems)


def test_flipped_byte_breaks_v2_content_digest(find_apk, tmp_path: Path) -> None:
    src = find_apk("HomeAssistantLauncher")
    raw = bytearray(src.read_bytes())
    with src.open("rb") as fh:
        sec = find_sections(fh, len(raw))
    assert sec.block_offset is not None
    raw[sec.block_offset // 2] ^= 1
    dst = tmp_path / "flipped.apk"
    dst.write_bytes(raw)
    v = verify_apk(str(dst), 24)
    assert not v.verified
    assert any("content digest does not match" in p for p in v.problems)


def test_stripped_v2_block_is_detected(find_apk, tmp_path: Path) -> None:
    src = find_apk("golden-aligned-v1v2v3-out")
    raw = bytearray(src.read_bytes())
    with src.open("rb") as fh:
        sec = find_sections(fh, len(raw))
    assert sec.block_offset is not None
    stripped = raw[: sec.block_offset] + raw[sec.cd_offset :]
    struct.pack_into(
        "<I", stripped, sec.eocd_offset - (sec.cd_offset - sec.block_offset) + 16, sec.block_offset
    )
    dst = tmp_path / "stripped.apk"
    dst.write_bytes(stripped)
    v = verify_apk(str(dst), 23)
    assert not v.verified
    assert any("stripped" in p for p in v.problems)


def test_manifest_parser_keeps_exact_section_bytes() -> None:
    data = b"Manifest-Version: 1.0\r\n\r\nName: a/very/long/na\r\n me.txt\r\nSHA1-Digest: x\r\n\r\n"
    doc = parse_manifest(data, "MANIFEST.MF")
    assert doc.main.raw == b"Manifest-Version: 1.0\r\n\r\n"
    assert [s.name for s in doc.sections] == ["a/very/long/name.txt"]
    assert doc.sections[0].raw.endswith(b"SHA1-Digest: x\r\n\r\n")
    assert "section #1" in parse_manifest(b"A: 1\n\nB: 2\n\n", "X").problems[0]


def _cert(key: ec.EllipticCurvePrivateKey, cn: str) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def _lp(b: bytes) -> bytes:
    return struct.pack("<I", len(b)) + b


def test_rotation_lineage_is_verified_level_by_level() -> None:
    ecdsa = 0x0201
    k1, k2 = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    c1, c2 = _cert(k1, "old"), _cert(k2, "new")
    signed1 = _lp(c1) + struct.pack("<I", 0)
    node1 = _lp(signed1) + struct.pack("<II", 0, ecdsa) + _lp(b"")
    signed2 = _lp(c2) + struct.pack("<I", ecdsa)
    sig2 = k1.sign(signed2, ec.ECDSA(hashes.SHA256()))  # the old key vouches for the new one
    node2 = _lp(signed2) + struct.pack("<II", 0, ecdsa) + _lp(sig2)
    levels, certs, problems = parse_lineage(struct.pack("<I", 1) + _lp(node1) + _lp(node2))
    assert problems == [] and certs == [c1, c2] and len(levels) == 2
    forged = k2.sign(signed2, ec.ECDSA(hashes.SHA256()))  # self-signed: not a rotation proof
    node2b = _lp(signed2) + struct.pack("<II", 0, ecdsa) + _lp(forged)
    _, _, problems = parse_lineage(struct.pack("<I", 1) + _lp(node1) + _lp(node2b))
    assert problems and "does not verify" in problems[0]


def test_scan_report_carries_the_verdict(find_apk) -> None:
    sig = analyze_apk(find_apk("cn__AlipLog")).to_dict(load_rulesets())["signature"]
    for key in ("v1", "v2", "v3", "certificates", "verified", "problems"):
        assert key in sig
    assert sig["verified"] is True and sig["problems"] == []


def test_unverified_signature_is_a_finding(find_apk, tmp_path: Path) -> None:
    src = find_apk("politedroid")
    dst = tmp_path / "changed.apk"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "classes.dex":
                data = data[:-1] + bytes([data[-1] ^ 1])
            zout.writestr(info, data)
    rep = analyze_apk(dst)
    assert rep.signature["verified"] is False
    (bad,) = [f.to_dict() for f in rep.findings if f.rule == "SEC_SIGNATURE_INVALID"]
    assert report_view.known_evidence(bad)
    assert report_view.evidence_text(bad, "zh_CN").startswith("签名校验未通过")


@pytest.mark.slow
def test_verdicts_equal_apksigner_on_the_corpus(apk_dir: Path) -> None:
    if shutil.which("apksigner") is None:
        pytest.skip("apksigner not installed (scripts/appcheck-peers.sh installs it)")
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "appcheck_signatures.py"), str(apk_dir)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "verdicts equal" in proc.stdout
