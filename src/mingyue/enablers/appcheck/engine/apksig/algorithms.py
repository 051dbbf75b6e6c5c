"""Signature algorithms of APK Signature Scheme v2/v3 and their verification with ``cryptography``.

IDs from AOSP ``apksig`` ``SignatureAlgorithm`` (and the v2 format page): 0x0101/0x0102 RSASSA-PSS
SHA-256/512, 0x0103/0x0104 RSASSA-PKCS1-v1_5 SHA-256/512, 0x0201/0x0202 ECDSA SHA-256/512,
0x0301 DSA SHA-256, 0x0421/0x0423/0x0425 the verity variants (RSA/ECDSA/DSA over SHA-256,
content digest = a 4 KiB SHA-256 Merkle tree root).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa

CHUNKED_SHA256, CHUNKED_SHA512, VERITY_SHA256 = "chunked-sha256", "chunked-sha512", "verity-sha256"


@dataclass(frozen=True)
class SigAlgorithm:
    """One v2/v3 signature algorithm: key type, hash, padding and content-digest kind."""

    id: int
    name: str
    key: str  # rsa-pss | rsa | ec | dsa
    hash: str  # sha256 | sha512
    digest: str  # content digest kind
    strength: int  # apksig's preference order (higher wins)


ALGORITHMS: dict[int, SigAlgorithm] = {
    a.id: a
    for a in (
        SigAlgorithm(0x0101, "RSA_PSS_WITH_SHA256", "rsa-pss", "sha256", CHUNKED_SHA256, 2),
        SigAlgorithm(0x0102, "RSA_PSS_WITH_SHA512", "rsa-pss", "sha512", CHUNKED_SHA512, 3),
        SigAlgorithm(0x0103, "RSA_PKCS1_V1_5_WITH_SHA256", "rsa", "sha256", CHUNKED_SHA256, 2),
        SigAlgorithm(0x0104, "RSA_PKCS1_V1_5_WITH_SHA512", "rsa", "sha512", CHUNKED_SHA512, 3),
        SigAlgorithm(0x0201, "ECDSA_WITH_SHA256", "ec", "sha256", CHUNKED_SHA256, 2),
        SigAlgorithm(0x0202, "ECDSA_WITH_SHA512", "ec", "sha512", CHUNKED_SHA512, 3),
        SigAlgorithm(0x0301, "DSA_WITH_SHA256", "dsa", "sha256", CHUNKED_SHA256, 2),
        SigAlgorithm(
            0x0421, "VERITY_RSA_PKCS1_V1_5_WITH_SHA256", "rsa", "sha256", VERITY_SHA256, 1
        ),
        SigAlgorithm(0x0423, "VERITY_ECDSA_WITH_SHA256", "ec", "sha256", VERITY_SHA256, 1),
        SigAlgorithm(0x0425, "VERITY_DSA_WITH_SHA256", "dsa", "sha256", VERITY_SHA256, 1),
    )
}


def _hash(name: str) -> hashes.HashAlgorithm:
    return {
        # JAR signatures still use them; verifying what the file claims is not choosing them
        "md5": hashes.MD5(),  # noqa: S303
        "sha1": hashes.SHA1(),  # noqa: S303
        "sha224": hashes.SHA224(),
        "sha256": hashes.SHA256(),
        "sha384": hashes.SHA384(),
        "sha512": hashes.SHA512(),
    }[name]


def verify_raw(
    public_key_der: bytes, key_kind: str, hash_name: str, signature: bytes, data: bytes
) -> bool:
    """Verify ``signature`` over ``data``; False for a bad signature or an unusable key."""
    try:
        key = serialization.load_der_public_key(public_key_der)
        h = _hash(hash_name)
        if isinstance(key, rsa.RSAPublicKey) and key_kind == "rsa-pss":
            salt = h.digest_size
            key.verify(signature, data, padding.PSS(padding.MGF1(h), salt), h)
        elif isinstance(key, rsa.RSAPublicKey) and key_kind == "rsa":
            key.verify(signature, data, padding.PKCS1v15(), h)
        elif isinstance(key, ec.EllipticCurvePublicKey) and key_kind == "ec":
            key.verify(signature, data, ec.ECDSA(h))
        elif isinstance(key, dsa.DSAPublicKey) and key_kind == "dsa":
            key.verify(signature, data, h)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, KeyError, TypeError):
        return False
    return True
