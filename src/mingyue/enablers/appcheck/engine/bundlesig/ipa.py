"""Verify an iOS App's code signature and resource seal the way ``codesign --verify --deep`` does.

For every slice of the main executable: each CodeDirectory's page hashes over the binary (pages
inside a FairPlay-encrypted range are skipped and reported, since Apple hashes the decrypted
pages), its special slots (Info.plist, requirements, CodeResources, entitlements), the CMS
signature over the first CodeDirectory with its signer chain, and Apple's CDHash list attribute.
Then ``_CodeSignature/CodeResources`` against every file of the bundle (:mod:`.resources`).
Trust in Apple's roots is not evaluated (they are not available offline): ``trusted_root`` is
false and the chain is reported as found.
"""

from __future__ import annotations

import hashlib
import plistlib
import zipfile
from typing import Any

from .chain import CmsCheck, check_cms
from .macho import (
    CD_SLOTS,
    CMS_SLOT,
    CodeDirectory,
    CodeSignError,
    apple_cdhashes,
    bad_pages,
    code_directory,
    read_slice,
    slices,
)
from .resources import FileFacts, check_seal

SEAL = "_CodeSignature/CodeResources"
SLOT_KEYS = {
    1: "info_plist_modified",
    2: "requirements_modified",
    3: "code_resources_modified",
    5: "entitlements_modified",
    7: "entitlements_modified",
}
MUST_BIND = {3, 5, 7}  # an unbound seal or entitlements blob would be open to tampering
SCHEMES = {
    "code-directory": {
        "not_signed",
        "macho_malformed",
        "code_signature_malformed",
        "code_directory_missing",
        "code_directory_malformed",
        "code_directory_unsupported",
        "unsupported_algorithm",
        "code_page_hash_mismatch",
        "code_limit_mismatch",
        "special_slot_unbound",
        *SLOT_KEYS.values(),
    },
    "cms": {
        "adhoc_signed",
        "cms_malformed",
        "cms_no_content",
        "cms_signature_invalid",
        "chain_signature_invalid",
        "cdhash_mismatch",
    },
    "code-resources": {
        "code_resources_missing",
        "code_resources_malformed",
        "resource_added",
        "resource_modified",
        "resource_missing",
        "resource_unreadable",
    },
}


def _facts(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> FileFacts | None:
    if info.file_size > cap:
        return None
    s1, s256 = hashlib.sha1(), hashlib.sha256()  # noqa: S324 - CodeResources' legacy hash
    data = b""
    with zf.open(info) as fh:
        while chunk := fh.read(1 << 20):
            s1.update(chunk)
            s256.update(chunk)
            if len(data) < 4096:
                data += chunk[:4096]
    if (info.external_attr >> 16) & 0o170000 == 0o120000:
        return FileFacts(s1.digest(), s256.digest(), data.decode("utf-8", "replace"))
    return FileFacts(s1.digest(), s256.digest())


class _Out:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.details: list[dict[str, str]] = []
        self.warnings: list[str] = []

    def add(self, key: str, detail: str) -> None:
        if key not in self.problems:
            self.problems.append(key)
        if len(self.details) < 50:
            self.details.append({"key": key, "detail": detail})

    def warn(self, key: str) -> None:
        if key not in self.warnings:
            self.warnings.append(key)


def _special_slots(
    cd: CodeDirectory, items: dict[int, bytes | None], where: str, out: _Out
) -> None:
    for k, data in items.items():
        stored = cd.slot(-k) if k <= cd.n_special else None
        bound = stored is not None and any(stored)
        if data is None:
            if bound:
                out.add(SLOT_KEYS[k], f"{where}: special slot -{k} bound but the item is missing")
        elif bound:
            if cd.hash(data) != stored:
                out.add(SLOT_KEYS[k], f"{where}: special slot -{k} hash differs")
        elif k in MUST_BIND:
            out.add("special_slot_unbound", f"{where}: special slot -{k} not bound")


def _slice(
    index: int, off: int, data: bytes, info: bytes | None, seal: bytes | None, out: _Out
) -> tuple[list[CodeDirectory], CmsCheck | None]:
    where = f"slice {index}"
    sl = read_slice(off, data)
    cds = [code_directory(sl.blobs[t]) for t in CD_SLOTS if t in sl.blobs]
    if not cds:
        raise CodeSignError("code_directory_missing", "no CodeDirectory")
    items = {1: info, 2: sl.blobs.get(2), 3: seal, 5: sl.blobs.get(5), 7: sl.blobs.get(7)}
    for cd in cds:
        bad, skipped = bad_pages(cd, sl)
        if bad:
            out.add("code_page_hash_mismatch", f"{where} {cd.hash_name}: page {bad[0]} differs")
        if skipped:
            out.warn("encrypted_pages_not_checked")
        if cd.code_limit != sl.sig_offset:
            out.add("code_limit_mismatch", f"{where}: codeLimit {cd.code_limit} != signature")
        _special_slots(cd, items, where, out)
    wrapper = sl.blobs.get(CMS_SLOT)
    if wrapper is None or len(wrapper) <= 8:
        out.add("adhoc_signed", f"{where}: ad-hoc signature (no CMS signer)")
        return cds, None
    cms_block = wrapper[8:]
    check = check_cms(cms_block, cds[0].blob)
    if check.problem:
        out.add(check.problem, f"{where}: {check.detail}")
    listed = apple_cdhashes(cms_block)
    if listed is not None and listed != [cd.cdhash()[:20] for cd in cds]:
        out.add("cdhash_mismatch", f"{where}: CMS CDHash list differs from the CodeDirectories")
    return cds, check


def verify_ipa_signature(
    zf: zipfile.ZipFile, app_dir: str, executable: str, exe_raw: bytes | None, cap: int
) -> dict[str, Any]:
    """Verify the main executable's signature and the bundle's resource seal; never raises."""
    out = _Out()
    result: dict[str, Any] = {"signer_chain": [], "chain_complete": False, "trusted_root": False}
    result["code_directories"] = []
    certs: list[bytes] = []
    try:
        files: dict[str, FileFacts] = {}
        for zi in zf.infolist():
            if zi.is_dir() or not zi.filename.startswith(app_dir) or zi.filename == executable:
                continue  # the executable is sealed by its CodeDirectory, not CodeResources
            facts = _facts(zf, zi, cap)
            rel = zi.filename[len(app_dir) :]
            if facts is None:
                out.add("resource_unreadable", rel)
                continue
            files[rel] = facts
        names = set(zf.namelist())
        info = zf.read(app_dir + "Info.plist") if app_dir + "Info.plist" in names else None
        seal = zf.read(app_dir + SEAL) if app_dir + SEAL in names else None
        exe_rel = executable[len(app_dir) :]
        if exe_raw is None:
            out.add("not_signed", "main executable missing")
        else:
            for i, (off, data) in enumerate(slices(exe_raw)):
                try:
                    cds, check = _slice(i, off, data, info, seal, out)
                except CodeSignError as exc:
                    out.add(exc.key, f"slice {i}: {exc.detail}")
                    continue
                except (ValueError, IndexError, OverflowError) as exc:
                    out.add("code_signature_malformed", f"slice {i}: {exc}")
                    continue
                for cd in cds:
                    result["code_directories"].append(
                        {
                            "slice": i,
                            "identifier": cd.identifier,
                            "team_id": cd.team_id,
                            "hash": cd.hash_name
                            if cd.hash_size > 20 or cd.hash_name == "sha1"
                            else f"{cd.hash_name}-truncated",
                            "cdhash": cd.cdhash()[:20].hex(),
                        }
                    )
                if check is not None and check.signers and not result["signer_chain"]:
                    result["signer_chain"] = check.chain
                    result["chain_complete"] = check.chain_complete
                    certs = check.certificates
        if seal is None:
            out.add("code_resources_missing", SEAL)
        else:
            try:
                doc = plistlib.loads(seal)
            except (plistlib.InvalidFileException, ValueError, TypeError, KeyError) as exc:
                out.add("code_resources_malformed", str(exc))
                doc = None
            if isinstance(doc, dict):
                found, warns = check_seal(doc, files, exe_rel)
                for key, path in found:
                    out.add(key, path)
                for w in warns:
                    out.warn(w)
            elif doc is not None:
                out.add("code_resources_malformed", "CodeResources is not a dictionary")
    except CodeSignError as exc:
        out.add(exc.key, exc.detail)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        out.add("code_signature_malformed", f"unreadable bundle member ({exc})")
    schemes = {name: not any(p in keys for p in out.problems) for name, keys in SCHEMES.items()}
    schemes["cms"] = schemes["cms"] and bool(result["signer_chain"])
    result.update(
        verified=not out.problems,
        verified_schemes=schemes,
        problems=out.problems,
        problem_details=out.details,
        signature_warnings=out.warnings,
        signer_certificates=certs,
    )
    return result


__all__ = ["verify_ipa_signature"]
