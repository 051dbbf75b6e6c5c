"""Apple code signatures embedded in Mach-O files: SuperBlob, CodeDirectories, CMS.

Layout (Apple ``xnu/osfmk/kern/cs_blobs.h`` and ``Security/codesign`` sources, all big-endian):
``LC_CODE_SIGNATURE`` (0x1D) points at a SuperBlob 0xfade0cc0 ``{magic, length, count, [type,
offset]…}``; slot 0 and 0x1000–0x1004 hold CodeDirectories 0xfade0c02, slot 2 the requirements
0xfade0c01, 5 the entitlements 0xfade7171, 7 the DER entitlements 0xfade7172, 0x10000 the CMS
wrapper 0xfade0b01. A CodeDirectory hashes every ``2**pageSize`` page of the slice up to
``codeLimit`` (slots 0…n-1 at ``hashOffset``) and, counting down before ``hashOffset``, the
special slots -1 Info.plist, -2 requirements, -3 ``_CodeSignature/CodeResources``, -5
entitlements, -7 DER entitlements (all-zero when unbound). The CDHash is the CodeDirectory's hash
truncated to 20 bytes; the CMS signs the first CodeDirectory (signed attribute messageDigest) and
lists every CDHash in Apple's attribute 1.2.840.113635.100.9.1 (a plist ``cdhashes``).
"""

from __future__ import annotations

import hashlib
import plistlib
import struct
from dataclasses import dataclass, field

SUPERBLOB, CODEDIR, REQUIREMENTS, ENTITLEMENTS, DER_ENTS, WRAPPER = (
    0xFADE0CC0,
    0xFADE0C02,
    0xFADE0C01,
    0xFADE7171,
    0xFADE7172,
    0xFADE0B01,
)
CD_SLOTS = (0, 0x1000, 0x1001, 0x1002, 0x1003, 0x1004)
CMS_SLOT = 0x10000
LC_CODE_SIGNATURE, LC_ENCRYPTION_INFO, LC_ENCRYPTION_INFO_64 = 0x1D, 0x21, 0x2C
HASHES = {1: ("sha1", 20), 2: ("sha256", 32), 3: ("sha256", 20), 4: ("sha384", 48)}
APPLE_CDHASHES_OID = "1.2.840.113635.100.9.1"
MAX_BLOBS = 64


class CodeSignError(ValueError):
    """The embedded code signature is malformed (a problem key and a sentence)."""

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(detail)
        self.key, self.detail = key, detail


@dataclass
class CodeDirectory:
    """One parsed CodeDirectory blob."""

    blob: bytes
    version: int
    flags: int
    hash_name: str
    hash_size: int
    page_size: int
    code_limit: int
    n_special: int
    n_code: int
    hash_offset: int
    identifier: str
    team_id: str

    def slot(self, index: int) -> bytes:
        """Hash stored in slot ``index`` (negative: special slots)."""
        pos = self.hash_offset + index * self.hash_size
        return self.blob[pos : pos + self.hash_size]

    def cdhash(self) -> bytes:
        """The full hash of this CodeDirectory (truncate to 20 bytes for a CDHash)."""
        return hashlib.new(self.hash_name, self.blob).digest()

    def hash(self, data: bytes) -> bytes:
        """Hash ``data`` the way this CodeDirectory's slots are hashed."""
        return hashlib.new(self.hash_name, data).digest()[: self.hash_size]


@dataclass
class Slice:
    """One Mach-O slice with its code signature blobs."""

    offset: int
    data: bytes
    sig_offset: int = 0
    blobs: dict[int, bytes] = field(default_factory=dict)
    encrypted: tuple[int, int] | None = None


def slices(raw: bytes) -> list[tuple[int, bytes]]:
    """(offset, bytes) of each slice of a thin or universal (fat) Mach-O."""
    magic = raw[:4]
    if magic in (b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf"):
        wide = magic == b"\xca\xfe\xba\xbf"
        (n,) = struct.unpack_from(">I", raw, 4)
        if n == 0 or n > 32:
            raise CodeSignError("macho_malformed", f"universal binary with {n} slices")
        out = []
        for i in range(n):
            if wide:
                _, _, off, size, _, _ = struct.unpack_from(">iiQQII", raw, 8 + 32 * i)
            else:
                _, _, off, size, _ = struct.unpack_from(">iiIII", raw, 8 + 20 * i)
            if off + size > len(raw) or size < 32:
                raise CodeSignError("macho_malformed", f"slice {i} lies outside the file")
            out.append((off, raw[off : off + size]))
        return out
    if magic in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe"):
        return [(0, raw)]
    raise CodeSignError("macho_malformed", "not a little-endian Mach-O")


def read_slice(offset: int, data: bytes) -> Slice:
    """Find LC_CODE_SIGNATURE / LC_ENCRYPTION_INFO of a thin slice and split its SuperBlob."""
    head = 32 if data[:4] == b"\xcf\xfa\xed\xfe" else 28
    ncmds, sizeofcmds = struct.unpack_from("<II", data, 16)
    if head + sizeofcmds > len(data):
        raise CodeSignError("macho_malformed", "load commands overrun the slice")
    out = Slice(offset, data)
    pos, end = head, head + sizeofcmds
    sig: tuple[int, int] | None = None
    for _ in range(ncmds):
        if pos + 8 > end:
            raise CodeSignError("macho_malformed", "load command list is truncated")
        cmd, size = struct.unpack_from("<II", data, pos)
        if size < 8 or pos + size > end:
            raise CodeSignError("macho_malformed", f"load command 0x{cmd:x} has size {size}")
        if cmd == LC_CODE_SIGNATURE and size >= 16:
            sig = struct.unpack_from("<II", data, pos + 8)
        elif cmd in (LC_ENCRYPTION_INFO, LC_ENCRYPTION_INFO_64) and size >= 20:
            c_off, c_size, c_id = struct.unpack_from("<III", data, pos + 8)
            if c_id:
                out.encrypted = (c_off, c_off + c_size)
        pos += size
    if sig is None:
        raise CodeSignError("not_signed", "main executable has no LC_CODE_SIGNATURE")
    s_off, s_size = sig
    if s_off + s_size > len(data) or s_size < 12:
        raise CodeSignError("macho_malformed", "code signature lies outside the slice")
    out.sig_offset = s_off
    out.blobs = superblob(data[s_off : s_off + s_size])
    return out


def superblob(sb: bytes) -> dict[int, bytes]:
    """Split an embedded-signature SuperBlob into slot type -> whole blob (header included)."""
    magic, length, count = struct.unpack_from(">III", sb, 0)
    if magic != SUPERBLOB or length > len(sb) or count > MAX_BLOBS or 12 + 8 * count > length:
        raise CodeSignError("code_signature_malformed", "bad SuperBlob header")
    blobs: dict[int, bytes] = {}
    for i in range(count):
        btype, off = struct.unpack_from(">II", sb, 12 + 8 * i)
        if off + 8 > length:
            raise CodeSignError(
                "code_signature_malformed", f"blob {btype:#x} outside the SuperBlob"
            )
        _, blen = struct.unpack_from(">II", sb, off)
        if blen < 8 or off + blen > length:
            raise CodeSignError("code_signature_malformed", f"blob {btype:#x} length {blen}")
        blobs[btype] = sb[off : off + blen]
    return blobs


def code_directory(blob: bytes) -> CodeDirectory:
    """Parse a CodeDirectory blob (versions 0x20001 … 0x20600; scatter lists unsupported)."""
    if len(blob) < 44:
        raise CodeSignError("code_directory_malformed", "CodeDirectory shorter than its header")
    magic, length, version, flags, h_off, ident_off, n_special, n_code, limit = struct.unpack_from(
        ">9I", blob, 0
    )
    h_size, h_type, _platform, page_log = struct.unpack_from(">4B", blob, 36)
    if magic != CODEDIR or length != len(blob):
        raise CodeSignError("code_directory_malformed", "bad CodeDirectory magic/length")
    if h_type not in HASHES or HASHES[h_type][1] != h_size:
        raise CodeSignError("unsupported_algorithm", f"CodeDirectory hash type {h_type}/{h_size}")
    if version >= 0x20100 and len(blob) >= 48 and struct.unpack_from(">I", blob, 44)[0]:
        raise CodeSignError("code_directory_unsupported", "scatter-vector CodeDirectory")
    team = ""
    if version >= 0x20200 and len(blob) >= 52:
        (t_off,) = struct.unpack_from(">I", blob, 48)
        team = _cstr(blob, t_off) if t_off else ""
    if limit == 0 and version >= 0x20300 and len(blob) >= 64:
        (limit,) = struct.unpack_from(">Q", blob, 56)
    if h_off < h_size * n_special or h_off + h_size * n_code > length:
        raise CodeSignError("code_directory_malformed", "hash slots overrun the CodeDirectory")
    return CodeDirectory(
        blob=blob,
        version=version,
        flags=flags,
        hash_name=HASHES[h_type][0],
        hash_size=h_size,
        page_size=(1 << page_log) if page_log else 0,
        code_limit=limit,
        n_special=n_special,
        n_code=n_code,
        hash_offset=h_off,
        identifier=_cstr(blob, ident_off),
        team_id=team,
    )


def _cstr(blob: bytes, off: int) -> str:
    if off <= 0 or off >= len(blob):
        return ""
    end = blob.find(b"\x00", off)
    return blob[off : end if end >= 0 else len(blob)].decode("utf-8", "replace")


def bad_pages(cd: CodeDirectory, sl: Slice) -> tuple[list[int], int]:
    """Return (indices of code pages whose hash differs, pages skipped as FairPlay-encrypted)."""
    limit = cd.code_limit
    page = cd.page_size or max(limit, 1)
    want = (limit + page - 1) // page if limit else 0
    if limit > len(sl.data) or cd.n_code != want:
        raise CodeSignError("code_directory_malformed", f"{cd.n_code} code slots for {limit} bytes")
    bad: list[int] = []
    skipped = 0
    for i in range(cd.n_code):
        lo, hi = i * page, min((i + 1) * page, limit)
        if sl.encrypted and lo < sl.encrypted[1] and hi > sl.encrypted[0]:
            skipped += 1
            continue
        if cd.hash(sl.data[lo:hi]) != cd.slot(i):
            bad.append(i)
    return bad, skipped


def apple_cdhashes(cms_block: bytes) -> list[bytes] | None:
    """The CDHash list of Apple's signed attribute 1.2.840.113635.100.9.1 (None when absent)."""
    from asn1crypto import cms, core  # lazy: appcheck extra, sandbox only

    try:
        infos = list(cms.ContentInfo.load(cms_block)["content"]["signer_infos"])
    except (ValueError, TypeError, KeyError):
        return None  # the CMS itself is unreadable: reported as such, not as a CDHash mismatch
    try:
        for si in infos:
            for attr in si["signed_attrs"] or []:
                if attr["type"].dotted != APPLE_CDHASHES_OID:
                    continue
                raw = core.OctetString.load(attr["values"][0].dump()).native
                doc = plistlib.loads(raw)
                hashes = doc.get("cdhashes") if isinstance(doc, dict) else None
                return (
                    [h for h in hashes if isinstance(h, bytes)] if isinstance(hashes, list) else []
                )
    except (ValueError, TypeError, KeyError, plistlib.InvalidFileException):
        return []
    return None
