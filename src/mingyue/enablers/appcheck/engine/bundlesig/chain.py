"""CMS SignedData of HAP and iOS signatures: the signature's mathematics and the signer's chain.

The signature itself is checked by the APK verifier's ``verify_pkcs7`` (signed attributes,
message digest, RSA / RSA-PSS / ECDSA / DSA). The chain is rebuilt from the certificates the
block carries, leaf → issuer by subject name, and every link's signature is checked; trust is
never claimed: neither Apple's nor OpenHarmony's / Huawei's roots are available offline, so
``trusted_root`` is always false and ``chain_complete`` only says the chain ends in a self-signed
certificate whose own signature verifies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from asn1crypto import cms

from mingyue.enablers.appcheck.engine.apksig.algorithms import verify_raw
from mingyue.enablers.appcheck.engine.apksig.v1 import verify_pkcs7
from mingyue.enablers.appcheck.engine.signing import describe

MAX_CHAIN = 10
KEY_KINDS = {"rsassa_pkcs1v15": "rsa", "rsassa_pss": "rsa-pss", "ecdsa": "ec", "dsa": "dsa"}


@dataclass
class CmsCheck:
    """The verdict on one CMS SignedData block."""

    problem: str = ""
    detail: str = ""
    signers: list[bytes] = field(default_factory=list)
    certificates: list[bytes] = field(default_factory=list)
    content: bytes | None = None
    chain: list[dict[str, Any]] = field(default_factory=list)
    chain_complete: bool = False
    chain_ok: bool = True


def load_signed_data(block: bytes) -> tuple[cms.SignedData | None, str]:
    """Parse a ContentInfo holding SignedData (None and a reason when it is something else)."""
    try:
        ci = cms.ContentInfo.load(block)
        if ci["content_type"].native != "signed_data":
            return None, "not a SignedData ContentInfo"
        sd = ci["content"]
        sd.native  # noqa: B018 - forces the lazy parse so a broken block fails here
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        return None, f"unreadable CMS ({exc})"
    return sd, ""


def check_cms(block: bytes, detached: bytes | None) -> CmsCheck:
    """Verify a CMS block over ``detached`` (or over its own encapsulated content when None)."""
    out = CmsCheck()
    sd, why = load_signed_data(block)
    if sd is None:
        out.problem, out.detail = "cms_malformed", why
        return out
    out.certificates = [
        c.chosen.dump() for c in (sd["certificates"] or []) if c.name == "certificate"
    ]
    if detached is None:
        content = sd["encap_content_info"]["content"]
        data = content.native if content.native is not None else None
        if not isinstance(data, bytes):
            out.problem, out.detail = "cms_no_content", "SignedData encapsulates no content"
            return out
        out.content = data
    else:
        data = detached
    signers, problem = verify_pkcs7(block, data)
    if problem:
        out.problem, out.detail = "cms_signature_invalid", problem
        return out
    out.signers = signers
    out.chain, out.chain_complete, out.chain_ok = signer_chain(signers[0], out.certificates)
    if not out.chain_ok:
        out.problem, out.detail = (
            "chain_signature_invalid",
            "a certificate's issuer signature fails",
        )
    return out


def issued_by(cert_der: bytes, issuer_der: bytes) -> bool:
    """Whether ``issuer``'s key made the signature of ``cert`` (SHA-1 too: Apple Root CA uses it).

    cryptography's ``verify_directly_issued_by`` refuses SHA-1 signatures; the chain of a real
    Developer ID signature ends in Apple Root CA (2006), self-signed with SHA-1.
    """
    from asn1crypto import x509 as ax509  # lazy: appcheck extra, sandbox only

    try:
        cert, issuer = ax509.Certificate.load(cert_der), ax509.Certificate.load(issuer_der)
        algo = cert["signature_algorithm"]
        kind = KEY_KINDS.get(algo.signature_algo, "")
        return verify_raw(
            issuer.public_key.dump(),
            kind,
            algo.hash_algo,
            cert["signature_value"].native,
            cert["tbs_certificate"].dump(),
        )
    except (ValueError, TypeError, KeyError):
        return False


def signer_chain(
    leaf_der: bytes, pool_ders: list[bytes]
) -> tuple[list[dict[str, Any]], bool, bool]:
    """Return (chain leaf → root with each link's verdict, ends self-signed, every link verifies)."""
    from cryptography import x509  # lazy: appcheck extra, sandbox only
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        leaf = x509.load_der_x509_certificate(leaf_der)
        pool = [x509.load_der_x509_certificate(d) for d in pool_ders]
    except ValueError:
        return [dict(c, signature_valid=False) for c in describe([leaf_der])], False, False
    chain: list[tuple[Any, bytes, bool]] = []
    cur, cur_der = leaf, leaf_der
    complete, all_ok = False, True
    while len(chain) < MAX_CHAIN:
        self_signed = cur.issuer == cur.subject
        issuer = cur if self_signed else None
        if issuer is None:
            issuer = next(
                (c for c in pool if c.subject == cur.issuer and c != cur and c not in chain), None
            )
        ok = False
        if issuer is not None:
            ok = issued_by(cur_der, issuer.public_bytes(Encoding.DER))
            all_ok = all_ok and ok
        chain.append((cur, cur_der, ok))
        if self_signed:
            complete = ok
            break
        if issuer is None or any(issuer == c for c, _, _ in chain):
            break
        cur, cur_der = issuer, issuer.public_bytes(Encoding.DER)
    descs = describe([d for _, d, _ in chain])
    out = [dict(desc, signature_valid=ok) for (_, _, ok), desc in zip(chain, descs, strict=False)]
    return out, complete, all_ok
