"""Cryptographic verification of APK signatures (JAR v1, APK Signature Scheme v2, v3, v3.1).

``verify_apk(path, min_sdk)`` decides the way ``apksigner verify`` does for the range
``[min_sdk, ∞)``: v2/v3/v3.1 blocks are verified when present (signatures, public keys, content
digests, v3 SDK ranges, the proof-of-rotation lineage); the JAR signature is verified when the
App also runs below Android 7.0 (API 24) or when no v2+ block exists; stripping protection
(``X-Android-APK-Signed`` in the .SF, the v2 stripping-protection attribute) is enforced.
Every problem is a sentence; nothing raises for a hostile file.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import os
import zipfile
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from .v1 import verify_pkcs7, verify_v1
from .v2v3 import V2_ID, V3_ID, V31_ID, FormatError, SchemeResult, content_digests, verify_scheme
from .zipsections import ZipSections, ZipSectionsError, find_sections

API_N = 24  # Android 7.0: first release that verifies v2 signatures
DEFAULT_CAP = 512 * 1024 * 1024


@dataclass
class Verification:
    """The verdict of :func:`verify_apk`."""

    verified: bool
    schemes: dict[str, bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lineage: list[dict[str, Any]] = field(default_factory=list)
    signer_sha256: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (merged into the report's ``signature`` object)."""
        return {
            "verified": self.verified,
            "verified_schemes": self.schemes,
            "problems": self.problems,
            "signature_warnings": self.warnings[:50],
            "lineage": self.lineage,
        }


def verify_apk(
    path: str,
    min_sdk: int | None,
    cap: int = DEFAULT_CAP,
    inflated: dict[str, bytes] | None = None,
) -> Verification:
    """Verify every signature scheme of the APK at ``path`` that applies from ``min_sdk`` up.

    ``min_sdk`` is the manifest's minSdkVersion (None when the manifest cannot be read, which
    apksigner also refuses: then the result is never ``verified``). ``inflated`` may hold members
    the caller has already inflated (name -> bytes) so they are not inflated twice.
    """
    out = Verification(False)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            sec = find_sections(fh, size)
            results = _block_schemes(fh, sec, out)
    except (OSError, ZipSectionsError) as exc:
        out.problems.append(f"Malformed APK: {exc}")
        return out
    present = {pid for pid in (V2_ID, V3_ID, V31_ID) if pid in sec.pairs}
    if min_sdk is None:
        out.problems.append("minSdkVersion unknown: AndroidManifest.xml missing or unreadable")
    sdk = max(1, min_sdk or 1)
    v1: SchemeResult | None = None
    if sdk < API_N or not present:
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
            with zipfile.ZipFile(io.BytesIO(raw)) as zf:
                v1, warns = verify_v1(zf, present, cap, raw, inflated)
            out.warnings += warns
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            v1 = SchemeResult("v1", problems=[f"Malformed APK: {exc}"])
        results.insert(0, v1)
    for r in results:
        out.schemes[r.scheme] = r.verified
        out.problems += r.problems
        if r.lineage:
            out.lineage = r.lineage
    v2 = next((r for r in results if r.scheme == "v2"), None)
    if v2 is not None and V3_ID in v2.stripping_ids and V3_ID not in present:
        out.problems.append(
            "v2 signature says the APK was also signed with v3, but the v3 block is missing "
            "(stripped?)"
        )
    if V31_ID in present and V3_ID not in present:
        out.problems.append("v3.1 signature present without a v3 signature")
    if (
        v1 is not None
        and v1.verified
        and v2 is not None
        and v2.verified
        and {_fp(c) for c in v1.certificates} != {_fp(c) for c in v2.certificates}
    ):
        out.problems.append("v1 and v2 signers differ")
    signers = next((r for r in reversed(results) if r.verified), None)
    out.signer_sha256 = [_fp(c) for c in signers.certificates] if signers else []
    out.verified = not out.problems and any(r.verified for r in results)
    if not results and not out.problems:
        out.problems.append("APK is not signed")
    return out


def warm_up() -> None:
    """Initialise OpenSSL and asn1crypto's parsers once (~10 ms), before the zygote forks.

    Forked parser children then verify without paying the first-use set-up per APK.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "warm-up")])
    when = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(when)
        .not_valid_after(when)
        .sign(key, hashes.SHA256())
    )
    block = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(b"warm-up")
        .add_signer(cert, key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature])
    )
    verify_pkcs7(block, b"warm-up")
    "warm-up".encode("cp437")  # the codec ZIP entry names are decoded with


def _fp(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def _block_schemes(fh: Any, sec: ZipSections, out: Verification) -> list[SchemeResult]:
    if sec.block_problem:
        out.warnings.append(sec.block_problem)
    results = [
        verify_scheme(pid, sec.pairs[pid]) for pid in (V2_ID, V3_ID, V31_ID) if pid in sec.pairs
    ]
    kinds = {k for r in results for k in r.digests}
    if not kinds:
        return results
    try:
        actual = content_digests(fh, sec, kinds)
    except FormatError as exc:
        for r in results:
            r.problems.append(f"{r.scheme}: cannot digest the APK contents ({exc})")
            r.verified = False
        return results
    for r in results:
        for kind, want in r.digests.items():
            if actual.get(kind) != want:
                r.problems.append(
                    f"{r.scheme}: {kind} content digest does not match (modified APK)"
                )
                r.verified = False
    return results


__all__ = ["Verification", "verify_apk", "warm_up"]
