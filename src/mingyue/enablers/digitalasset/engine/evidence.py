"""Evidence packages (存证包) for IP pledge financing: documents, Merkle tree, anchor, zip.

A package holds the work's registration certificate (a signed W3C VC), its registration record,
the rights statement, optional further documents, ``manifest.json`` (leaves, root, the anchoring
transaction), ``proofs.json`` (an inclusion proof per document) and ``verify.py`` — the module
:mod:`.evidence_verify`, standard library only — so a bank or a court verifies it offline.
Built in two steps: :func:`prepare` fixes the documents and the root (to anchor on the chain),
:func:`seal` writes the zip once the anchor is known.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mingyue.enablers.digitalasset.engine import evidence_verify as ev
from mingyue.sdk.errors import InvalidInput

FORMAT = ev.FORMAT
VERIFY_SOURCE = Path(ev.__file__)
_README = """mingyue 存证包 / evidence package

离线验证 (offline verification, Python 3.9+ standard library only):
    python3 verify.py
Files: manifest.json (leaves, Merkle root, anchoring transaction), proofs.json (inclusion proofs),
certificate.json (registration certificate, W3C Verifiable Credential), the documents it names.
"""
# Fixed zip timestamps: the same documents and anchor give the same bytes.
_ZIP_TIME = (2022, 4, 13, 0, 0, 0)


def _json_bytes(doc: Any) -> bytes:
    return (json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


@dataclass(frozen=True)
class Prepared:
    """A package's documents with their Merkle root, before anchoring."""

    files: dict[str, bytes]
    leaves: list[dict[str, str]]
    root: str
    proofs: dict[str, dict[str, Any]]
    work: dict[str, Any]


def prepare(
    *,
    certificate: Mapping[str, Any],
    registration: Mapping[str, Any],
    rights_statement: str,
    extra: Mapping[str, bytes] | None = None,
) -> Prepared:
    """Fix a package's documents and compute their Merkle root and inclusion proofs."""
    subject = certificate.get("credentialSubject")
    if not isinstance(subject, Mapping) or "sha256" not in subject or "sm3" not in subject:
        raise InvalidInput(
            "digitalasset.evidence.bad_certificate",
            "the certificate does not name the work's content hashes",
        )
    files: dict[str, bytes] = {
        "certificate.json": _json_bytes(dict(certificate)),
        "registration.json": _json_bytes(dict(registration)),
        "rights_statement.txt": rights_statement.encode("utf-8"),
    }
    for name, data in (extra or {}).items():
        if "/" in name or "\\" in name or name in files or name.startswith("."):
            raise InvalidInput("digitalasset.evidence.bad_name", f"bad document name {name!r}")
        files[f"documents/{name}"] = bytes(data)
    names = sorted(files)
    leaves = [{"name": n, "sha256": hashlib.sha256(files[n]).hexdigest()} for n in names]
    leaf_hashes = [ev.leaf_hash(leaf["name"], leaf["sha256"]) for leaf in leaves]
    root = ev.merkle_root(leaf_hashes).hex()
    proofs = {
        leaf["name"]: {
            "index": i,
            "size": len(leaves),
            "path": ev.inclusion_proof(i, leaf_hashes),
        }
        for i, leaf in enumerate(leaves)
    }
    work = {
        "sha256": subject["sha256"],
        "sm3": subject["sm3"],
        "title": subject.get("title"),
        "size": subject.get("size"),
    }
    return Prepared(files=files, leaves=leaves, root=root, proofs=proofs, work=work)


def seal(prepared: Prepared, *, anchor: Mapping[str, Any], issued_at: str) -> bytes:
    """Write the package zip: documents, manifest with the anchor, proofs, verify.py."""
    if anchor.get("root") != prepared.root:
        raise InvalidInput("digitalasset.evidence.anchor_mismatch", "anchor names another root")
    manifest = {
        "format": FORMAT,
        "issued_at": issued_at,
        "work": prepared.work,
        "leaves": prepared.leaves,
        "root": prepared.root,
        "hash": "sha256, RFC 6962 tree: leaf = H(0x00||H(name)||H(content)), "
        "node = H(0x01||left||right)",
        "anchor": dict(anchor),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        entries = {
            **prepared.files,
            "manifest.json": _json_bytes(manifest),
            "proofs.json": _json_bytes(prepared.proofs),
            "verify.py": VERIFY_SOURCE.read_bytes(),
            "README.txt": _README.encode("utf-8"),
        }
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, entries[name])
    return out.getvalue()


def verify(path: Path) -> dict[str, Any]:
    """Verify a package (zip or folder) offline; ``{"ok", "checks", "root", "anchor"}``."""
    return ev.verify_package(path)
