"""Verify an OpenHarmony HAP/APP signature the way ``hapsigner verify-app`` does.

Layout (OpenHarmony ``developtools_hapsigner``: ``SignHap``, ``HapUtils``, ``VerifyHap``,
``HapVerify``): right before the ZIP central directory sits the signing block — ``count`` headers of
12 bytes (type, length, offset from the block's start, little-endian), the values, then a 32-byte
footer ``count u32 | size u64 | magic 16 | version u32`` (``HAP Sig Block 42`` below version 3,
``<hap sign block>`` from 3). Type 0x20000000 is a CMS SignedData whose encapsulated content lists
``(algorithm id, content digest)`` pairs (``version u32 | count u32 | {len u32, alg u32, size u32,
digest}``); the content digest is ``H(0x5a | chunk count | H(0xa5 | len | chunk)… | optional
block values…)`` over 1 MiB chunks of the ZIP entries before the block, the central directory and
the EOCD whose CD offset is set to the block's offset. Optional blocks (proof of rotation
0x20000001, profile 0x20000002, property 0x20000003, enterprise re-sign 0x20000004/5) enter the
digest in header order, so the profile is covered by the signature. An enterprise re-signed package
is verified twice, as ``HapVerify.verify`` does.
"""

from __future__ import annotations

import hashlib
import json
import struct
from typing import Any

from .chain import CmsCheck, check_cms

SIGNATURE_ID, ROTATION_ID, PROFILE_ID, PROPERTY_ID = 0x20000000, 0x20000001, 0x20000002, 0x20000003
RESIGN_ID, CODE_RESIGN_ID = 0x20000004, 0x20000005
OPTIONAL_IDS = (ROTATION_ID, PROFILE_ID, PROPERTY_ID, RESIGN_ID, CODE_RESIGN_ID)
MAGIC_V2, MAGIC_V3 = b"HAP Sig Block 42", b"<hap sign block>"
CHUNK = 1024 * 1024
MAX_BLOCKS = 64
# hapsigner SignatureAlgorithm: id -> content digest (0x105 really digests with SHA-256)
DIGESTS = {
    0x101: "sha256",
    0x102: "sha384",
    0x103: "sha512",
    0x104: "sha256",
    0x105: "sha256",
    0x106: "sha512",
    0x201: "sha256",
    0x202: "sha384",
    0x203: "sha512",
    0x301: "sha256",
    0x302: "sha384",
    0x303: "sha512",
}


class _Fail(Exception):
    def __init__(self, key: str, detail: str) -> None:
        super().__init__(key)
        self.key, self.detail = key, detail


def _layout(raw: bytes) -> tuple[int, int, int]:
    """Return (central directory offset, its end, EOCD offset) of a single-disk, non-ZIP64 file."""
    eocd = raw.rfind(b"PK\x05\x06", max(0, len(raw) - 0xFFFF - 22))
    if eocd < 0 or eocd + 22 > len(raw):
        raise _Fail("zip_malformed", "no end of central directory record")
    if eocd >= 20 and raw[eocd - 20 : eocd - 16] == b"PK\x06\x07":
        raise _Fail("zip64_unsupported", "ZIP64 packages are not supported by hapsigner")
    cd_size, cd_off = struct.unpack_from("<II", raw, eocd + 12)
    if cd_off + cd_size != eocd:
        raise _Fail("zip_malformed", "central directory is not followed by the EOCD")
    return cd_off, cd_off + cd_size, eocd


def parse_block(raw: bytes) -> tuple[int, list[tuple[int, bytes]], int, int] | None:
    """Return (block offset, [(type, value)] in header order, version, CD offset); None: unsigned.

    Raises :class:`_Fail` for a block that is present but malformed.
    """
    cd_off, _, _ = _layout(raw)
    if cd_off < 32:
        return None
    count, size = struct.unpack_from("<IQ", raw, cd_off - 32)
    magic = raw[cd_off - 20 : cd_off - 4]
    (version,) = struct.unpack_from("<I", raw, cd_off - 4)
    if magic not in (MAGIC_V2, MAGIC_V3):
        return None
    if size < 32 or size > cd_off or count > MAX_BLOCKS:
        raise _Fail("sign_block_malformed", f"block size {size} / count {count} out of range")
    start = cd_off - size
    values = raw[start : cd_off - 32]
    if 12 * count > len(values):
        raise _Fail("sign_block_malformed", "sub-block headers overrun the block")
    blocks: list[tuple[int, bytes]] = []
    for i in range(count):
        btype, length, off = struct.unpack_from("<III", values, 12 * i)
        if off + length > len(values):
            raise _Fail("sign_block_malformed", f"sub-block 0x{btype:08x} overruns the block")
        blocks.append((btype, values[off : off + length]))
    return start, blocks, version, cd_off


def content_digest(raw: bytes, start: int, alg: str, optional: list[bytes]) -> bytes:
    """hapsigner's chunked digest of the package with the signing block cut out."""
    cd_off, cd_end, eocd = _layout(raw)
    eocd_rec = bytearray(raw[eocd:])
    struct.pack_into("<I", eocd_rec, 16, start)
    parts = [memoryview(raw)[:start], memoryview(raw)[cd_off:cd_end], memoryview(bytes(eocd_rec))]
    chunks: list[bytes] = []
    for part in parts:
        for pos in range(0, len(part), CHUNK):
            piece = part[pos : pos + CHUNK]
            h = hashlib.new(alg, b"\xa5" + struct.pack("<I", len(piece)))
            h.update(piece)
            chunks.append(h.digest())
    top = hashlib.new(alg, b"\x5a" + struct.pack("<I", len(chunks)) + b"".join(chunks))
    for value in optional:
        top.update(value)
    return top.digest()


def digest_pairs(content: bytes) -> list[tuple[int, bytes]]:
    """The (algorithm id, digest) pairs a HAP signature's CMS content carries."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while len(content) - pos > 4:
        if pos + 20 > len(content):
            raise _Fail("content_info_malformed", "truncated digest record")
        _ver, _count, blen, alg, dlen = struct.unpack_from("<IIIII", content, pos)
        pos += 20
        if blen != dlen + 8 or pos + dlen > len(content):
            raise _Fail("content_info_malformed", f"digest record lengths {blen}/{dlen}")
        out.append((alg, content[pos : pos + dlen]))
        pos += dlen
    if not out:
        raise _Fail("content_info_malformed", "no digest record")
    return out


def _verify_signer(raw: bytes, start: int, sig: bytes, optional: list[bytes]) -> CmsCheck:
    check = check_cms(sig, None)
    if check.problem:
        raise _Fail(check.problem, check.detail)
    for alg_id, want in digest_pairs(check.content or b""):
        alg = DIGESTS.get(alg_id)
        if alg is None:
            raise _Fail("unsupported_algorithm", f"signature algorithm id 0x{alg_id:x}")
        if content_digest(raw, start, alg, optional) != want:
            raise _Fail("content_digest_mismatch", f"{alg} content digest differs (modified)")
    return check


def _profile_check(value: bytes, leaf: bytes | None, out: dict[str, Any]) -> None:
    """Check the profile's own signature and that it names the HAP's signer certificate."""
    check = check_cms(value, None)
    if check.problem == "cms_malformed":
        payload = value
        out["signature_warnings"].append("profile_unsigned")
    elif check.problem:
        _add(out, "profile_signature_invalid", check.detail)
        return
    else:
        payload = check.content or b""
        out["profile_signer"] = check.chain
    try:
        prof = json.loads(payload.decode("utf-8"))
        info = prof.get("bundle-info") if isinstance(prof, dict) else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        _add(out, "profile_malformed", "profile is not JSON")
        return
    if not isinstance(info, dict):
        _add(out, "profile_malformed", "profile has no bundle-info")
        return
    key = "distribution-certificate" if prof.get("type") == "release" else "development-certificate"
    pem = info.get(key)
    if isinstance(pem, str) and pem.strip() and leaf is not None:
        from cryptography import x509  # lazy: appcheck extra, sandbox only
        from cryptography.hazmat.primitives.serialization import Encoding

        try:
            named = x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER)
        except ValueError:
            _add(out, "profile_malformed", f"{key} is not a PEM certificate")
            return
        if named != leaf:
            _add(out, "profile_certificate_mismatch", f"{key} is not the signer's certificate")


def _add(out: dict[str, Any], key: str, detail: str) -> None:
    if key not in out["problems"]:
        out["problems"].append(key)
    out["problem_details"].append({"key": key, "detail": detail})


def verify_hap_signature(raw: bytes) -> dict[str, Any]:
    """Verify the HAP/APP signing block of a whole file; never raises for a hostile file."""
    out: dict[str, Any] = {
        "verified": False,
        "verified_schemes": {},
        "problems": [],
        "problem_details": [],
        "signature_warnings": [],
        "signer_chain": [],
        "chain_complete": False,
        "trusted_root": False,
    }
    try:
        parsed = parse_block(raw)
        if parsed is None:
            _add(out, "not_signed", "no HAP signing block before the central directory")
            return out
        start, blocks, version, cd_off = parsed
        magic = raw[cd_off - 20 : cd_off - 4]
        if magic != (MAGIC_V3 if version >= 3 else MAGIC_V2):
            # hapsigner pairs version >= 3 with the new magic; an early signer wrote version 3
            # beside the old magic, and the footer is outside the digest anyway: warn only
            out["signature_warnings"].append("sign_block_version_magic_mismatch")
        scheme = "hap-sign-block-v3" if magic == MAGIC_V3 else "hap-sign-block-v2"
        out["verified_schemes"] = {scheme: False}
        by_type = {t: v for t, v in blocks}
        if SIGNATURE_ID not in by_type:
            raise _Fail("signature_block_missing", "no 0x20000000 signature sub-block")
        optional = [(t, v) for t, v in blocks if t in OPTIONAL_IDS]
        if RESIGN_ID in by_type:
            # enterprise re-signing: the original signer over property+profile, then the
            # re-signer over property+profile+original signature(+code re-sign)
            if PROFILE_ID not in by_type:
                raise _Fail("profile_missing", "enterprise re-signed package without a profile")
            base = [by_type[t] for t in (PROPERTY_ID, PROFILE_ID) if t in by_type]
            _verify_signer(raw, start, by_type[SIGNATURE_ID], base)
            extra = [by_type[CODE_RESIGN_ID]] if CODE_RESIGN_ID in by_type else []
            check = _verify_signer(
                raw, start, by_type[RESIGN_ID], [*base, by_type[SIGNATURE_ID], *extra]
            )
        else:
            check = _verify_signer(raw, start, by_type[SIGNATURE_ID], [v for _, v in optional])
        out["signer_chain"] = check.chain
        out["chain_complete"] = check.chain_complete
        if PROFILE_ID in by_type:
            _profile_check(by_type[PROFILE_ID], check.signers[0] if check.signers else None, out)
        else:
            out["signature_warnings"].append("profile_missing")
        if PROPERTY_ID in by_type:
            out["signature_warnings"].append("code_signature_not_checked")
    except _Fail as exc:
        _add(out, exc.key, exc.detail)
    except (ValueError, TypeError, KeyError, OverflowError, struct.error) as exc:
        _add(out, "sign_block_malformed", f"unreadable signing block ({exc})")
    out["verified"] = not out["problems"]
    for k in out["verified_schemes"]:
        out["verified_schemes"][k] = out["verified"]
    out["problem_details"] = out["problem_details"][:50]
    return out


__all__ = ["content_digest", "digest_pairs", "parse_block", "verify_hap_signature"]
