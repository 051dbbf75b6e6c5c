"""APK signature schemes and signer certificates, read straight from the archive.

v1 (JAR): ``META-INF/*.SF`` plus a PKCS#7 block (``.RSA``/``.DSA``/``.EC``). v2/v3: the "APK Signing
Block" right before the central directory (magic ``APK Sig Block 42``; ids 0x7109871A = v2,
0xF05368C0 = v3, 0x1B93AD61 = v3.1). Format: source.android.com/docs/security/features/apksigning.
Presence and certificates are read here; :mod:`.apksig` verifies every scheme cryptographically
the way ``apksigner verify`` does, and its verdict joins the ``signature`` object
(``verified``, ``problems``, ``verified_schemes``, ``lineage``, ``signature_warnings``).
"""

from __future__ import annotations

import hashlib
import os
import struct
import zipfile
from typing import Any, BinaryIO

from .apksig import verify_apk

V2_ID, V3_ID, V31_ID = 0x7109871A, 0xF05368C0, 0x1B93AD61
MAGIC = b"APK Sig Block 42"
MAX_BLOCK = 64 * 1024 * 1024


def _cd_offset(fh: BinaryIO, size: int) -> int | None:
    tail_len = min(size, 0xFFFF + 22)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    pos = tail.rfind(b"PK\x05\x06")
    if pos < 0 or len(tail) - pos < 22:
        return None
    return int(struct.unpack_from("<I", tail, pos + 16)[0])


def signing_block_pairs(fh: BinaryIO, size: int) -> dict[int, bytes]:
    """Return the id -> value pairs of the APK Signing Block (empty if there is none)."""
    cd = _cd_offset(fh, size)
    if cd is None or cd < 32 or cd > size:
        return {}
    fh.seek(cd - 24)
    footer = fh.read(24)
    if footer[8:] != MAGIC:
        return {}
    (block_size,) = struct.unpack_from("<Q", footer, 0)
    start = cd - block_size - 8
    if block_size > MAX_BLOCK or start < 0:
        return {}
    fh.seek(start)
    block = fh.read(block_size + 8)
    pairs: dict[int, bytes] = {}
    pos, end = 8, len(block) - 24
    while pos + 12 <= end:
        (length,) = struct.unpack_from("<Q", block, pos)
        if length < 4 or pos + 8 + length > end:
            break
        (pid,) = struct.unpack_from("<I", block, pos + 8)
        pairs[pid] = block[pos + 12 : pos + 8 + length]
        pos += 8 + length
    return pairs


def _lp_items(buf: bytes) -> list[bytes]:
    """Split a sequence of uint32-length-prefixed items."""
    out, pos = [], 0
    while pos + 4 <= len(buf):
        (n,) = struct.unpack_from("<I", buf, pos)
        if pos + 4 + n > len(buf):
            break
        out.append(buf[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return out


def _lp(buf: bytes) -> bytes:
    items = _lp_items(buf)
    return items[0] if items else b""


def v2v3_certificates(value: bytes) -> list[bytes]:
    """Return the DER certificates of every signer of a v2/v3 block value."""
    ders: list[bytes] = []
    for signer in _lp_items(_lp(value)):
        signed_data = _lp(signer)
        fields = _lp_items(signed_data)
        if len(fields) >= 2:
            ders += _lp_items(fields[1])
    return ders


def v1_certificates(zf: zipfile.ZipFile, names: list[str], cap: int) -> list[bytes]:
    """Return the DER certificates of the v1 (JAR) PKCS#7 signature blocks."""
    from asn1crypto import cms  # lazy: appcheck extra, sandbox only

    ders: list[bytes] = []
    for name in names:
        upper = name.upper()
        if not (upper.startswith("META-INF/") and upper.endswith((".RSA", ".DSA", ".EC"))):
            continue
        info = zf.getinfo(name)
        if info.file_size > cap:
            continue
        try:
            ci = cms.ContentInfo.load(zf.read(info))
            for c in ci["content"]["certificates"] or []:
                ders.append(c.chosen.dump())
        except Exception:  # noqa: S112 - a broken PKCS#7 block is just "no certificate"
            continue
    return ders


def describe(ders: list[bytes]) -> list[dict[str, str]]:
    """Summarise DER certificates (SHA-256 fingerprint, subject, issuer, validity)."""
    from asn1crypto import x509  # lazy: appcheck extra, sandbox only

    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for der in ders:
        fp = hashlib.sha256(der).hexdigest()
        if fp in seen:
            continue
        seen.add(fp)
        try:
            c = x509.Certificate.load(der)
            out.append(
                {
                    "sha256": fp,
                    "subject": str(c.subject.human_friendly),
                    "issuer": str(c.issuer.human_friendly),
                    "not_after": str(c["tbs_certificate"]["validity"]["not_after"].native),
                    "signature_algorithm": str(c.signature_algo),
                }
            )
        except Exception:
            out.append(
                {
                    "sha256": fp,
                    "subject": "",
                    "issuer": "",
                    "not_after": "",
                    "signature_algorithm": "",
                }
            )
    return out


def signature_info(
    path: str,
    zf: zipfile.ZipFile,
    names: list[str],
    cap: int,
    min_sdk: int | None = 1,
    inflated: dict[str, bytes] | None = None,
) -> dict[str, Any]:
    """Return which schemes sign the APK, the signer certificates and the verification verdict.

    ``min_sdk`` is the manifest's minSdkVersion: it decides, as in apksigner, whether the JAR
    signature must verify too (Apps that also run below Android 7.0).
    """
    v1 = any(n.upper().startswith("META-INF/") and n.upper().endswith(".SF") for n in names)
    v1_ders = v1_certificates(zf, names, cap) if v1 else []
    with open(path, "rb") as fh:
        pairs = signing_block_pairs(fh, os.path.getsize(path))
    ders = list(v1_ders)
    for pid in (V2_ID, V3_ID, V31_ID):
        if pid in pairs:
            ders += v2v3_certificates(pairs[pid])
    return {
        "v1": bool(v1 and v1_ders),
        "v2": V2_ID in pairs,
        "v3": V3_ID in pairs or V31_ID in pairs,
        "certificates": describe(ders),
        **verify_apk(path, min_sdk, cap, inflated).to_dict(),
    }
