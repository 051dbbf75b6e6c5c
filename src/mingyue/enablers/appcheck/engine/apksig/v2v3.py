"""APK Signature Scheme v2, v3 and v3.1: parse the signer blocks and verify them cryptographically.

Follows the format of source.android.com/docs/security/features/apksigning/v2 and /v3 and AOSP
``apksig`` (``V2SchemeVerifier``, ``V3SchemeVerifier``, ``SigningCertificateLineage``): each signer's
signature over its signed data, the public key against the first certificate, the signature
algorithms against the digest list, the content digests over 1 MiB chunks of the three signed
sections, v3 min/max SDK consistency and the proof-of-rotation lineage.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from asn1crypto import x509

from .algorithms import ALGORITHMS, CHUNKED_SHA256, CHUNKED_SHA512, VERITY_SHA256, verify_raw
from .zipsections import ZipSections

V2_ID, V3_ID, V31_ID = 0x7109871A, 0xF05368C0, 0x1B93AD61
STRIPPING_PROTECTION_ATTR = 0xBEEFF00D
PROOF_OF_ROTATION_ATTR = 0x3BA06F8C
ROTATION_MIN_SDK_ATTR = 0x559F8B02
CHUNK = 1024 * 1024
SCHEME_NAMES = {V2_ID: "v2", V3_ID: "v3", V31_ID: "v3.1"}


class FormatError(ValueError):
    """A length-prefixed structure is truncated or inconsistent."""


def _take(buf: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 4 > len(buf):
        raise FormatError("truncated length prefix")
    (n,) = struct.unpack_from("<I", buf, pos)
    if pos + 4 + n > len(buf):
        raise FormatError(f"length-prefixed item of {n} bytes runs past its container")
    return buf[pos + 4 : pos + 4 + n], pos + 4 + n


def _u32(buf: bytes, pos: int) -> tuple[int, int]:
    if pos + 4 > len(buf):
        raise FormatError("truncated uint32")
    return int(struct.unpack_from("<I", buf, pos)[0]), pos + 4


def _seq(buf: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(buf):
        item, pos = _take(buf, pos)
        out.append(item)
    return out


def _id_value(item: bytes) -> tuple[int, bytes]:
    if len(item) < 4:
        raise FormatError("id-value item shorter than its id")
    return int(struct.unpack_from("<I", item, 0)[0]), item[4:]


@dataclass
class SchemeResult:
    """What one scheme's verification found."""

    scheme: str
    verified: bool = False
    problems: list[str] = field(default_factory=list)
    certificates: list[bytes] = field(default_factory=list)
    lineage: list[dict[str, Any]] = field(default_factory=list)
    digests: dict[str, bytes] = field(default_factory=dict)
    stripping_ids: set[int] = field(default_factory=set)
    sdk_ranges: list[tuple[int, int]] = field(default_factory=list)


def content_digests(fh: BinaryIO, sec: ZipSections, kinds: set[str]) -> dict[str, bytes]:
    """Compute the chunked (and verity) digests of the signed sections, streaming the file."""
    if sec.block_offset is None:
        raise FormatError("no APK Signing Block")
    eocd = bytearray(sec.eocd)
    # the EOCD is digested with the central directory offset pointing at the signing block
    struct.pack_into("<I", eocd, 16, sec.block_offset)
    regions: list[tuple[int, int] | bytes] = [
        (0, sec.block_offset),
        (sec.cd_offset, sec.cd_size),
        bytes(eocd),
    ]
    algos = {CHUNKED_SHA256: "sha256", CHUNKED_SHA512: "sha512"}
    chunk_sums: dict[str, list[bytes]] = {k: [] for k in kinds if k in algos}
    verity: _Verity | None = _Verity() if VERITY_SHA256 in kinds else None

    def chunks() -> Any:
        for r in regions:
            if isinstance(r, bytes):
                for i in range(0, len(r), CHUNK):
                    yield r[i : i + CHUNK]
                continue
            start, length = r
            fh.seek(start)
            while length > 0:
                data = fh.read(min(CHUNK, length))
                if not data:
                    raise FormatError("file ends inside a signed section")
                length -= len(data)
                yield data

    for data in chunks():
        head = b"\xa5" + struct.pack("<I", len(data))
        for kind, sums in chunk_sums.items():
            h = hashlib.new(algos[kind], head)
            h.update(data)
            sums.append(h.digest())
        if verity is not None:
            verity.update(data)
    out: dict[str, bytes] = {}
    for kind, sums in chunk_sums.items():
        top = hashlib.new(algos[kind], b"\x5a" + struct.pack("<I", len(sums)))
        for s in sums:
            top.update(s)
        out[kind] = top.digest()
    if verity is not None:
        out[VERITY_SHA256] = verity.digest()
    return out


class _Verity:
    """SHA-256 Merkle tree over 4 KiB blocks, 8 zero bytes of salt (apksig ``VerityTreeBuilder``)."""

    BLOCK = 4096
    SALT = b"\0" * 8

    def __init__(self) -> None:
        self._buf = b""
        self._leaves: list[bytes] = []
        self._size = 0

    def update(self, data: bytes) -> None:
        self._size += len(data)
        buf = self._buf + data
        n = len(buf) // self.BLOCK * self.BLOCK
        for i in range(0, n, self.BLOCK):
            self._leaves.append(self._h(buf[i : i + self.BLOCK]))
        self._buf = buf[n:]

    def _h(self, block: bytes) -> bytes:
        return hashlib.sha256(self.SALT + block.ljust(self.BLOCK, b"\0")).digest()

    def digest(self) -> bytes:
        if self._buf:
            self._leaves.append(self._h(self._buf))
        level = b"".join(self._leaves)
        while len(level) > self.BLOCK:
            level = b"".join(
                self._h(level[i : i + self.BLOCK]) for i in range(0, len(level), self.BLOCK)
            )
        root = self._h(level)
        return root + struct.pack("<Q", self._size)


def _spki(cert_der: bytes) -> bytes:
    return bytes(x509.Certificate.load(cert_der).public_key.dump())


def parse_lineage(value: bytes) -> tuple[list[dict[str, Any]], list[bytes], list[str]]:
    """Verify a proof-of-rotation lineage; return its levels, their certificates and problems."""
    problems: list[str] = []
    levels: list[dict[str, Any]] = []
    certs: list[bytes] = []
    version, pos = _u32(value, 0)
    if version != 1:
        return levels, certs, [f"proof-of-rotation: unsupported lineage version {version}"]
    last_cert: bytes | None = None
    last_alg = 0
    while pos < len(value):
        node, pos = _take(value, pos)
        signed, npos = _take(node, 0)
        flags, npos = _u32(node, npos)
        alg_id, npos = _u32(node, npos)
        signature, npos = _take(node, npos)
        cert, spos = _take(signed, 0)
        signed_alg, spos = _u32(signed, spos)
        n = len(levels) + 1
        if last_cert is not None:
            alg = ALGORITHMS.get(last_alg)
            if alg is None:
                problems.append(f"proof-of-rotation level {n}: unknown algorithm {last_alg:#x}")
            elif not verify_raw(_spki(last_cert), alg.key, alg.hash, signature, signed):
                problems.append(
                    f"proof-of-rotation level {n}: signature by the previous certificate does "
                    "not verify"
                )
            if signed_alg != last_alg:
                problems.append(f"proof-of-rotation level {n}: signing algorithm ID mismatch")
        levels.append(
            {
                "sha256": hashlib.sha256(cert).hexdigest(),
                "flags": flags,
                "signature_algorithm": ALGORITHMS[alg_id].name if alg_id in ALGORITHMS else "",
            }
        )
        certs.append(cert)
        last_cert, last_alg = cert, alg_id
    return levels, certs, problems


def verify_scheme(pid: int, value: bytes) -> SchemeResult:
    """Verify every signer of one v2/v3/v3.1 block except the content digests (done once)."""
    res = SchemeResult(SCHEME_NAMES[pid])
    v3 = pid != V2_ID
    try:
        signers = _seq(_take(value, 0)[0])
        if not signers:
            res.problems.append(f"{res.scheme}: no signers")
        for i, signer in enumerate(signers, 1):
            _verify_signer(res, i, signer, v3)
    except (FormatError, ValueError) as exc:
        res.problems.append(f"{res.scheme}: malformed signer block ({exc})")
    res.verified = not res.problems and bool(res.certificates)
    return res


def _verify_signer(res: SchemeResult, i: int, signer: bytes, v3: bool) -> None:
    who = f"{res.scheme} signer #{i}"
    signed, pos = _take(signer, 0)
    if v3:
        min_sdk, pos = _u32(signer, pos)
        max_sdk, pos = _u32(signer, pos)
    sigs_raw, pos = _take(signer, pos)
    public_key, pos = _take(signer, pos)
    digests_raw, spos = _take(signed, 0)
    certs_raw, spos = _take(signed, spos)
    if v3:
        s_min, spos = _u32(signed, spos)
        s_max, spos = _u32(signed, spos)
        if (s_min, s_max) != (min_sdk, max_sdk):
            res.problems.append(f"{who}: min/max SDK in signed data differ from the signer record")
        if min_sdk > max_sdk:
            res.problems.append(f"{who}: minSdkVersion {min_sdk} > maxSdkVersion {max_sdk}")
        res.sdk_ranges.append((min_sdk, max_sdk))
    attrs_raw, spos = _take(signed, spos)
    signatures = [_id_value(x) for x in _seq(sigs_raw)]
    digests = [_id_value(x) for x in _seq(digests_raw)]
    certs = _seq(certs_raw)
    supported = [(a, s) for a, s in signatures if a in ALGORITHMS]
    if not signatures:
        res.problems.append(f"{who}: no signatures")
        return
    if not supported:
        res.problems.append(f"{who}: no supported signature algorithm")
        return
    for alg_id, sig in supported:
        alg = ALGORITHMS[alg_id]
        sig_bytes, _ = _take(sig, 0)
        if not verify_raw(public_key, alg.key, alg.hash, sig_bytes, signed):
            res.problems.append(f"{who}: {alg.name} signature over signed data does not verify")
    if [a for a, _ in signatures] != [a for a, _ in digests]:
        res.problems.append(f"{who}: signature algorithms differ between signatures and digests")
    if not certs:
        res.problems.append(f"{who}: no certificates")
        return
    try:
        if _spki(certs[0]) != public_key:
            res.problems.append(f"{who}: public key does not match the first certificate")
    except ValueError as exc:
        res.problems.append(f"{who}: unreadable certificate ({exc})")
        return
    res.certificates.append(certs[0])
    for alg_id, d in digests:
        known = ALGORITHMS.get(alg_id)
        if known is None:
            continue
        digest, _ = _take(d, 0)
        prev = res.digests.get(known.digest)
        if prev is not None and prev != digest:
            res.problems.append(f"{who}: {known.digest} content digest differs between signers")
        res.digests[known.digest] = digest
    for item in _seq(attrs_raw):
        aid, aval = _id_value(item)
        if aid == STRIPPING_PROTECTION_ATTR and len(aval) >= 4:
            res.stripping_ids.add(int(struct.unpack_from("<I", aval, 0)[0]))
        elif aid == PROOF_OF_ROTATION_ATTR and v3:
            levels, lcerts, problems = parse_lineage(aval)
            res.lineage = levels
            res.problems += [f"{who}: {p}" for p in problems]
            if lcerts and lcerts[-1] != certs[0]:
                res.problems.append(
                    f"{who}: last proof-of-rotation certificate is not the signing certificate"
                )
