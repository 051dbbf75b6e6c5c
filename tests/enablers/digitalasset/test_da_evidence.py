"""Evidence packages and their offline verifier (standard library only): Merkle tree and proofs,
Ed25519 (RFC 8032) and JCS (RFC 8785) checks of the certificate, tampering of any part fails.
Also the content hashes: SHA-256 and SM3 (GB/T 32905-2016 vector), one changed byte fails."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mingyue.enablers.digitalasset.engine import evidence, evidence_verify, hashing
from mingyue.sdk.errors import InvalidInput

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _b58(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\x00"))) + out


def _vc(key: Ed25519PrivateKey, subject: dict[str, Any]) -> dict[str, Any]:
    """A credential signed as the core signs them (eddsa-jcs-2022), built independently here."""
    pub = key.public_key().public_bytes_raw()
    did = "did:key:z" + _b58(b"\xed\x01" + pub)
    doc = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": "urn:uuid:1",
        "type": ["VerifiableCredential", "DigitalWorkRegistration"],
        "issuer": did,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": subject,
    }
    proof = {
        "@context": doc["@context"],
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-jcs-2022",
        "created": "2026-01-01T00:00:00Z",
        "verificationMethod": f"{did}#{did[8:]}",
        "proofPurpose": "assertionMethod",
    }
    data = (
        hashlib.sha256(evidence_verify.jcs(proof)).digest()
        + hashlib.sha256(evidence_verify.jcs(doc)).digest()
    )
    proof["proofValue"] = "z" + _b58(key.sign(data))
    return {**doc, "proof": proof}


@pytest.fixture
def package(tmp_path: Path) -> Path:
    key = Ed25519PrivateKey.generate()
    h = hashing.hash_bytes(b"the work")
    vc = _vc(
        key,
        {"id": "did:web:x", "title": "明月图", "sha256": h.sha256, "sm3": h.sm3, "size": h.size},
    )
    prepared = evidence.prepare(
        certificate=vc,
        registration={"work_id": 1, "title": "明月图"},
        rights_statement="著作权归作者所有",
        extra={"contract.txt": "质押".encode()},
    )
    anchor = {
        "root": prepared.root,
        "tx_hash": "0x" + "ab" * 32,
        "block_number": 7,
        "chain_id": 1,
        "contract": "0x" + "cd" * 20,
        "block_time": "2026-01-01T00:00:00+00:00",
    }
    path = tmp_path / "p.zip"
    path.write_bytes(evidence.seal(prepared, anchor=anchor, issued_at="2026-01-01T00:00:00+00:00"))
    return path


def _rewrite(src: Path, dst: Path, name: str, change: Any) -> Path:
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, "w") as b:
        for item in a.infolist():
            data = a.read(item.filename)
            b.writestr(item, change(data) if item.filename == name else data)
    return dst


def test_package_verifies_and_names_its_anchor(package: Path) -> None:
    result = evidence.verify(package)
    assert result["ok"], result["checks"]
    assert {c["check"] for c in result["checks"]} >= {
        "files",
        "merkle root",
        "inclusion proofs",
        "registration certificate",
        "anchor",
    }
    with zipfile.ZipFile(package) as zf:
        names = set(zf.namelist())
    assert {
        "verify.py",
        "manifest.json",
        "proofs.json",
        "certificate.json",
        "documents/contract.txt",
    } <= names


@pytest.mark.parametrize(
    ("name", "change", "failing"),
    [
        ("rights_statement.txt", lambda d: d + b" ", "file rights_statement.txt"),
        ("documents/contract.txt", lambda d: b"X" + d[1:], "file documents/contract.txt"),
        (
            "certificate.json",
            lambda d: d.replace("明月图".encode(), "伪造".encode()),
            "registration certificate",
        ),
        ("proofs.json", lambda d: d.replace(b'"index": 0', b'"index": 1', 1), "inclusion proofs"),
    ],
)
def test_tampering_fails(
    package: Path, tmp_path: Path, name: str, change: Any, failing: str | None
) -> None:
    bad = _rewrite(package, tmp_path / "bad.zip", name, change)
    result = evidence.verify(bad)
    failed = [c["check"] for c in result["checks"] if not c["ok"]]
    assert not result["ok"] and failing in failed, result["checks"]


def test_a_forged_root_or_anchor_fails(package: Path, tmp_path: Path) -> None:
    def other_root(d: bytes) -> bytes:
        doc = json.loads(d)
        doc["root"] = "00" * 32
        return json.dumps(doc).encode()

    result = evidence.verify(_rewrite(package, tmp_path / "r.zip", "manifest.json", other_root))
    assert not result["ok"]
    assert [c["check"] for c in result["checks"] if not c["ok"]] == [
        "merkle root",
        "inclusion proofs",
        "anchor",
    ]


def test_merkle_proofs_for_every_size() -> None:
    for n in range(1, 20):
        leaves = [hashlib.sha256(bytes([i])).digest() for i in range(n)]
        root = evidence_verify.merkle_root(leaves)
        for i in range(n):
            path = evidence_verify.inclusion_proof(i, leaves)
            assert evidence_verify.root_from_proof(i, n, leaves[i], path) == root
            if path:
                with pytest.raises(ValueError):
                    evidence_verify.root_from_proof(i, n, leaves[i], path[:-1])


def test_ed25519_verify_matches_cryptography() -> None:
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes_raw()
    for msg in (b"", b"abc", os.urandom(100)):
        sig = key.sign(msg)
        assert evidence_verify.ed25519_verify(pub, msg, sig)
        assert not evidence_verify.ed25519_verify(pub, msg + b"x", sig)
        assert not evidence_verify.ed25519_verify(pub, msg, sig[:-1] + bytes([sig[-1] ^ 1]))


def test_not_a_package() -> None:
    result = evidence_verify.verify_package(Path("/nonexistent.zip"))
    assert not result["ok"] and result["checks"][0]["check"] == "package"
    with pytest.raises(InvalidInput):
        evidence.prepare(
            certificate={"credentialSubject": {}}, registration={}, rights_statement="x"
        )


def test_sm3_reference_vector_and_both_implementations() -> None:
    # GB/T 32905-2016 Appendix A: SM3("abc")
    assert (
        hashing.hash_bytes(b"abc").sm3
        == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )
    assert hashing.hash_bytes(b"abc").sha256 == hashlib.sha256(b"abc").hexdigest()
    for n in (0, 55, 56, 64, 65, 1000):
        data = os.urandom(n)
        fast, slow = hashing.new_sm3(), hashing.new_sm3(fallback=True)
        fast.update(data)
        slow.update(data[: n // 3])
        slow.update(data[n // 3 :])
        assert fast.hexdigest() == slow.hexdigest()


def test_one_changed_byte_fails_reverification() -> None:
    data = bytearray(os.urandom(5000))
    registered = hashing.hash_stream(io.BytesIO(bytes(data)))
    assert hashing.matches(registered, hashing.hash_bytes(bytes(data)))
    data[4321] ^= 0x01
    assert not hashing.matches(registered, hashing.hash_bytes(bytes(data)))
