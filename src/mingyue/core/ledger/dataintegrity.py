"""Data Integrity proofs with the ``eddsa-jcs-2022`` cryptosuite (W3C VC-DI-EdDSA 1.0, §3.3).

hashData = SHA-256(JCS(proof options incl. the document's @context)) || SHA-256(JCS(document
without proof)); the Ed25519 signature over hashData is the multibase base58btc ``proofValue``.
The verification method is the issuer's ``did:key`` (``did:key:z6Mk…#z6Mk…``), so a verifier
needs no resolver: it compares that key with the platform key it trusts.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mingyue.core.ledger.jcs import (
    canonicalize,
    did_key_from_public,
    from_multibase_b58,
    multibase_b58,
    public_from_did_key,
)

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-jcs-2022"


def raw_public(key: Ed25519PublicKey) -> bytes:
    """Return the 32 raw bytes of an Ed25519 public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def did_of(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """Return the did:key of a key pair (or of its public half)."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return did_key_from_public(raw_public(pub))


def verification_method(did: str) -> str:
    """Return the verification method id of a did:key (``did#fingerprint``)."""
    return f"{did}#{did[len('did:key:') :]}"


def format_time(t: datetime) -> str:
    """Write a tz-aware time as an XML Schema dateTimeStamp in UTC, to the second."""
    if t.tzinfo is None:
        raise ValueError("naive datetime")
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hash_data(proof_config: Mapping[str, Any], document: Mapping[str, Any]) -> bytes:
    return (
        hashlib.sha256(canonicalize(proof_config)).digest()
        + hashlib.sha256(canonicalize(document)).digest()
    )


def add_proof(
    document: Mapping[str, Any],
    key: Ed25519PrivateKey,
    created: datetime,
    proof_purpose: str = "assertionMethod",
) -> dict[str, Any]:
    """Return a copy of the document secured with an eddsa-jcs-2022 proof."""
    unsecured = {k: copy.deepcopy(v) for k, v in document.items() if k != "proof"}
    proof: dict[str, Any] = {}
    if "@context" in unsecured:
        proof["@context"] = copy.deepcopy(unsecured["@context"])
    proof.update(
        {
            "type": PROOF_TYPE,
            "cryptosuite": CRYPTOSUITE,
            "created": format_time(created),
            "verificationMethod": verification_method(did_of(key)),
            "proofPurpose": proof_purpose,
        }
    )
    signature = key.sign(_hash_data(proof, unsecured))
    proof["proofValue"] = multibase_b58(signature)
    return {**unsecured, "proof": proof}


@dataclass(frozen=True)
class ProofCheck:
    """Outcome of checking one proof: ``ok``, a reason key, and the signer's did:key."""

    ok: bool
    reason: str
    detail: str
    signer_did: str | None = None


def _bad(reason: str, detail: str, did: str | None = None) -> ProofCheck:
    return ProofCheck(False, reason, detail, did)


def verify_proof(
    secured: Mapping[str, Any],
    expected_public: bytes | None = None,
    proof_purpose: str = "assertionMethod",
) -> ProofCheck:
    """Check the document's eddsa-jcs-2022 proof (against ``expected_public`` when given)."""
    proof = secured.get("proof")
    if not isinstance(proof, Mapping):
        return _bad("core.credential.malformed", "the document has no single proof object")
    if proof.get("type") != PROOF_TYPE or proof.get("cryptosuite") != CRYPTOSUITE:
        return _bad("core.credential.unsupported_proof", f"proof is not {PROOF_TYPE}/{CRYPTOSUITE}")
    if proof.get("proofPurpose") != proof_purpose:
        return _bad("core.credential.malformed", f"proof purpose is not {proof_purpose}")
    vm, value = proof.get("verificationMethod"), proof.get("proofValue")
    if not isinstance(vm, str) or not isinstance(value, str):
        return _bad("core.credential.malformed", "proof lacks verificationMethod or proofValue")
    try:
        signer = public_from_did_key(vm)
        signature = from_multibase_b58(value)
    except ValueError as exc:
        return _bad("core.credential.malformed", f"bad proof encoding: {exc}")
    did = did_key_from_public(signer)
    if vm != verification_method(did):
        return _bad("core.credential.malformed", "verification method fragment does not match")
    if expected_public is not None and signer != expected_public:
        return _bad("core.credential.wrong_key", "signed by a key other than the trusted one", did)
    unsecured = {k: v for k, v in secured.items() if k != "proof"}
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    if "@context" in options:
        ctx, doc_ctx = options["@context"], unsecured.get("@context")
        want = ctx if isinstance(ctx, list) else [ctx]
        have = doc_ctx if isinstance(doc_ctx, list) else [doc_ctx]
        if have[: len(want)] != want:
            return _bad(
                "core.credential.tampered", "document @context differs from the proof's", did
            )
        unsecured["@context"] = ctx
    try:
        Ed25519PublicKey.from_public_bytes(signer).verify(signature, _hash_data(options, unsecured))
    except (InvalidSignature, ValueError, TypeError):
        return _bad(
            "core.credential.tampered",
            "signature does not match: the document was altered after signing",
            did,
        )
    return ProofCheck(True, "core.credential.valid", "signature valid", did)
