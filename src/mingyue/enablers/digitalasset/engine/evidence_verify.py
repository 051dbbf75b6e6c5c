#!/usr/bin/env python3
"""Verify a mingyue evidence package (存证包) offline, with the Python standard library only.

Shipped inside every package as ``verify.py``; the platform verifies with this same module. Run
``python3 verify.py`` in the unpacked folder (or ``python3 verify.py PACKAGE.zip``). It checks:

1. every file named in ``manifest.json`` hashes (SHA-256) to its leaf, and no file is missing;
2. the Merkle root over the leaves (RFC 6962: leaf = H(0x00 || name-hash || content-hash),
   node = H(0x01 || left || right)) equals the manifest's root, and each inclusion proof in
   ``proofs.json`` leads from its leaf to that root;
3. the registration certificate (a W3C Verifiable Credential, Data Integrity ``eddsa-jcs-2022``)
   verifies with its issuer's ``did:key`` (Ed25519, RFC 8032; JSON canonicalisation, RFC 8785),
   and names the work whose SHA-256 and SM3 the manifest records;
4. the manifest's anchor names that root: whoever checks the chain finds the same root in the
   anchor contract's ``Anchored`` event at the transaction and block printed.

It prints one line per check and ``VERIFIED`` or ``FAILED``; exit status 0 or 1. Trust: compare
the issuer DID it prints with the platform's published DID, and the anchor with the chain.
"""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

FORMAT = "mingyue-evidence-package/1"

# -- Merkle tree (RFC 6962 shape) --------------------------------------------------------------


def leaf_hash(name: str, content_sha256_hex: str) -> bytes:
    """Hash one leaf: the file's name and its content's SHA-256."""
    name_hash = hashlib.sha256(name.encode("utf-8")).digest()
    return hashlib.sha256(b"\x00" + name_hash + bytes.fromhex(content_sha256_hex)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash an inner node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Return the root over leaf hashes (the empty tree hashes to SHA-256 of nothing)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[str]:
    """Return the audit path (hex) of leaf ``index``."""
    if len(leaves) <= 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*inclusion_proof(index, leaves[:k]), merkle_root(leaves[k:]).hex()]
    return [*inclusion_proof(index - k, leaves[k:]), merkle_root(leaves[:k]).hex()]


def root_from_proof(index: int, size: int, leaf: bytes, path: Sequence[str]) -> bytes:
    """Recompute the root from a leaf and its audit path."""
    if size <= 1:
        if path:
            raise ValueError("path too long")
        return leaf
    if not path:
        raise ValueError("path too short")
    k = _split(size)
    last = bytes.fromhex(path[-1])
    if index < k:
        return node_hash(root_from_proof(index, k, leaf, path[:-1]), last)
    return node_hash(last, root_from_proof(index - k, size - k, leaf, path[:-1]))


# -- Ed25519 verification (RFC 8032 §5.1.7, reference arithmetic) ------------------------------

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_Point = tuple[int, int, int, int]


def _add(a: _Point, b: _Point) -> _Point:
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % _P
    bb = (y1 + x1) * (y2 + x2) % _P
    cc = t1 * 2 * _D * t2 % _P
    dd = z1 * 2 * z2 % _P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(s: int, p: _Point) -> _Point:
    q: _Point = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _equal(a: _Point, b: _Point) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _decompress(s: bytes) -> _Point | None:
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0) or 0
_G: _Point = (_GX, _GY, 1, _GX * _GY % _P)


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """Tell whether ``signature`` is a valid Ed25519 signature of ``message`` by ``public``."""
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _decompress(public)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % _L
    return _equal(_mul(s, _G), _add(r, _mul(h, a)))


# -- did:key, multibase, JSON canonicalisation -------------------------------------------------

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58decode(text: str) -> bytes:
    """Decode base58btc (Bitcoin alphabet)."""
    n = 0
    for ch in text:
        idx = _B58.find(ch)
        if idx < 0:
            raise ValueError(f"not base58: {ch!r}")
        n = n * 58 + idx
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    pad = len(text) - len(text.lstrip("1"))
    return b"\x00" * pad + body


def public_from_did_key(did_or_vm: str) -> bytes:
    """Return the Ed25519 public key a ``did:key:z6Mk…`` (or its verification method) names."""
    did = did_or_vm.split("#", 1)[0]
    if not did.startswith("did:key:z"):
        raise ValueError("not a base58btc did:key")
    raw = b58decode(did[len("did:key:z") :])
    if raw[:2] != b"\xed\x01" or len(raw) != 34:
        raise ValueError("did:key is not an Ed25519 key")
    return raw[2:]


def _jcs_string(s: str) -> str:
    out = ['"']
    escapes = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r"}
    escapes["\t"] = "\\t"
    for ch in s:
        if ch in escapes:
            out.append(escapes[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def jcs(value: Any) -> bytes:
    """Return RFC 8785 canonical JSON for the values a credential holds (no floats)."""
    parts: list[str] = []

    def write(v: Any) -> None:
        if v is None:
            parts.append("null")
        elif v is True:
            parts.append("true")
        elif v is False:
            parts.append("false")
        elif isinstance(v, str):
            parts.append(_jcs_string(v))
        elif isinstance(v, int):
            parts.append(str(v))
        elif isinstance(v, float):
            parts.append(repr(int(v)) if v.is_integer() else repr(v))
        elif isinstance(v, Mapping):
            parts.append("{")
            for i, k in enumerate(sorted(v, key=lambda k: k.encode("utf-16-be", "surrogatepass"))):
                if i:
                    parts.append(",")
                parts.append(_jcs_string(k) + ":")
                write(v[k])
            parts.append("}")
        elif isinstance(v, list):
            parts.append("[")
            for i, item in enumerate(v):
                if i:
                    parts.append(",")
                write(item)
            parts.append("]")
        else:
            raise ValueError(f"not a JSON value: {type(v).__name__}")

    write(value)
    return "".join(parts).encode("utf-8")


def verify_credential_proof(vc: Mapping[str, Any]) -> tuple[bool, str]:
    """Check a credential's eddsa-jcs-2022 proof against its own verification method."""
    proof = vc.get("proof")
    if not isinstance(proof, Mapping) or proof.get("cryptosuite") != "eddsa-jcs-2022":
        return False, "no eddsa-jcs-2022 proof"
    vm, value = proof.get("verificationMethod"), proof.get("proofValue")
    if not isinstance(vm, str) or not isinstance(value, str) or not value.startswith("z"):
        return False, "proof lacks its verification method or value"
    try:
        public = public_from_did_key(vm)
        signature = b58decode(value[1:])
    except ValueError as exc:
        return False, f"bad proof encoding: {exc}"
    if vc.get("issuer") != vm.split("#", 1)[0]:
        return False, "the proof's key is not the issuer's"
    unsecured = {k: v for k, v in vc.items() if k != "proof"}
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    data = hashlib.sha256(jcs(options)).digest() + hashlib.sha256(jcs(unsecured)).digest()
    if not ed25519_verify(public, data, signature):
        return False, "signature does not verify"
    return True, f"signed by {vc['issuer']}"


# -- the package -------------------------------------------------------------------------------


class _Reader:
    """Files of a package: an unpacked folder or the zip itself."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip = zipfile.ZipFile(path) if path.is_file() else None

    def names(self) -> set[str]:
        if self.zip is not None:
            return {n for n in self.zip.namelist() if not n.endswith("/")}
        return {p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file()}

    def read(self, name: str) -> bytes:
        if "\\" in name or name.startswith("/") or ".." in name.split("/"):
            raise ValueError(f"unsafe name in the manifest: {name}")
        if self.zip is not None:
            return self.zip.read(name)
        return (self.path / name).read_bytes()


def verify_package(path: Path, emit: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Verify a package (folder or zip); return ``{"ok", "checks": [{"check","ok","detail"}]}``."""
    checks: list[dict[str, Any]] = []

    def note(check: str, ok: bool, detail: str) -> None:
        checks.append({"check": check, "ok": ok, "detail": detail})
        if emit is not None:
            emit(f"[{'OK' if ok else 'FAIL'}] {check}: {detail}")

    try:
        reader = _Reader(path)
        manifest = json.loads(reader.read("manifest.json"))
        proofs = json.loads(reader.read("proofs.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        note("package", False, f"not a readable evidence package: {exc}")
        return {"ok": False, "checks": checks, "root": None}
    if manifest.get("format") != FORMAT:
        note("format", False, f"not {FORMAT}")
        return {"ok": False, "checks": checks, "root": None}
    entries = manifest.get("leaves", [])
    leaves: list[bytes] = []
    files_ok = True
    for entry in entries:
        name, expected = str(entry["name"]), str(entry["sha256"])
        try:
            actual = hashlib.sha256(reader.read(name)).hexdigest()
        except (KeyError, OSError, ValueError) as exc:
            note(f"file {name}", False, f"missing or unreadable: {exc}")
            files_ok = False
            leaves.append(leaf_hash(name, expected))
            continue
        if actual != expected:
            note(f"file {name}", False, "content differs from the manifest")
            files_ok = False
        leaves.append(leaf_hash(name, expected))
    if files_ok:
        note("files", True, f"{len(entries)} files match the manifest")
    root = merkle_root(leaves).hex()
    note(
        "merkle root",
        root == manifest.get("root"),
        root if root == manifest.get("root") else f"recomputed {root}",
    )
    proof_ok = True
    for i, entry in enumerate(entries):
        p = proofs.get(str(entry["name"]))
        try:
            got = root_from_proof(int(p["index"]), int(p["size"]), leaves[i], p["path"])
            if got.hex() != manifest.get("root") or int(p["index"]) != i:
                proof_ok = False
        except (TypeError, KeyError, ValueError):
            proof_ok = False
    note("inclusion proofs", proof_ok, f"{len(entries)} proofs lead to the root")
    try:
        vc = json.loads(reader.read("certificate.json"))
        vc_ok, vc_detail = verify_credential_proof(vc)
        subject = vc.get("credentialSubject", {})
        work = manifest.get("work", {})
        if vc_ok and (subject.get("sha256"), subject.get("sm3")) != (
            work.get("sha256"),
            work.get("sm3"),
        ):
            vc_ok, vc_detail = False, "the certificate names other content hashes"
    except (KeyError, ValueError) as exc:
        vc_ok, vc_detail = False, f"no readable certificate: {exc}"
    note("registration certificate", vc_ok, vc_detail)
    anchor = manifest.get("anchor") or {}
    anchor_ok = anchor.get("root") == manifest.get("root") and bool(anchor.get("tx_hash"))
    note(
        "anchor",
        anchor_ok,
        (
            f"root anchored in tx {anchor.get('tx_hash')} block {anchor.get('block_number')} "
            f"at {anchor.get('block_time')} (chain {anchor.get('chain_id')}, contract "
            f"{anchor.get('contract')})"
        )
        if anchor_ok
        else "the manifest's anchor does not name this root",
    )
    ok = all(c["ok"] for c in checks)
    return {"ok": ok, "checks": checks, "root": manifest.get("root"), "anchor": anchor}


def main(argv: Sequence[str]) -> int:
    """Verify the package named on the command line (default: this folder)."""
    target = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent

    def emit(line: str) -> None:
        sys.stdout.write(line + "\n")

    result = verify_package(target, emit)
    sys.stdout.write("VERIFIED\n" if result["ok"] else "FAILED\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
