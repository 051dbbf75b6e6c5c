"""JAR signing (APK signature scheme v1): MANIFEST.MF, the .SF files and their PKCS#7 blocks.

Follows the JAR File Specification (docs.oracle.com/en/java/javase/17/docs/specs/jar/jar.html,
"Signed JAR File") and AOSP ``apksig`` ``V1SchemeVerifier``: every entry outside ``META-INF/`` must
have a digest in MANIFEST.MF that matches its uncompressed bytes and be named by every signer's
.SF; each .SF must match the manifest (whole-file digest, or the main section and every named
section) and be signed by its PKCS#7 block (RFC 2315 / RFC 5652 SignedData, signed attributes
checked when present); ``X-Android-APK-Signed`` names the v2+ schemes a stripping attack removed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field

from asn1crypto import cms

from .algorithms import verify_raw
from .v2v3 import V2_ID, V3_ID, SchemeResult

MANIFEST = "META-INF/MANIFEST.MF"
SIG_BLOCK_RE = re.compile(r"^META-INF/([^/]+)\.(RSA|DSA|EC)$", re.IGNORECASE)
DIGEST_NAMES = {
    "SHA1": "sha1",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
    "MD5": "md5",
}
APK_SIGNED_IDS = {2: V2_ID, 3: V3_ID}


@dataclass
class Section:
    """One manifest section: attributes (lower-case names) and its exact bytes."""

    attrs: dict[str, str]
    raw: bytes
    name: str | None = None


@dataclass
class ManifestDoc:
    """A parsed MANIFEST.MF or .SF file."""

    main: Section
    sections: list[Section] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


_EOL = rb"(?:\r\n|\n|\r(?!\n))"
_SECTION_END_RE = re.compile(_EOL + _EOL)
_CONTINUATION_RE = re.compile(_EOL + b" ")
_SPLIT_RE = re.compile(_EOL)


def _attrs(raw: bytes, what: str, index: int, problems: list[str]) -> dict[str, str]:
    attrs: dict[str, str] = {}
    text = _CONTINUATION_RE.sub(b"", raw)
    for line in _SPLIT_RE.split(text):
        if not line:
            continue
        key, sep, value = line.decode("utf-8", "replace").partition(":")
        if not sep:
            problems.append(f"Malformed {what}: line without ':' in section #{index}")
            continue
        attrs[key.strip().lower()] = value[1:] if value.startswith(" ") else value
    return attrs


def parse_manifest(data: bytes, what: str) -> ManifestDoc:
    """Parse manifest-format bytes into sections (continuation lines, CR/LF/CRLF endings).

    A section ends with an empty line; its bytes (what .SF digests cover) include that line.
    """
    problems: list[str] = []
    raws: list[bytes] = []
    start = 0
    for m in _SECTION_END_RE.finditer(data):
        # the first terminator ends the section's last line, the second is the empty line
        raws.append(data[start : m.end()])
        start = m.end()
    if start < len(data):
        raws.append(data[start:])
    if not raws:
        raws = [b""]
    main = Section(_attrs(raws[0], what, 0, problems), raws[0])
    sections: list[Section] = []
    n = 0
    for raw in raws[1:]:
        if not _SPLIT_RE.sub(b"", raw):
            continue  # extra empty lines between sections
        # leading empty lines belong before the section, not to it
        lead = len(raw) - len(raw.lstrip(b"\r\n"))
        raw = raw[lead:]
        n += 1
        sec = Section(_attrs(raw, what, n, problems), raw)
        sec.name = sec.attrs.get("name")
        if sec.name is None:
            problems.append(f"Malformed {what}: individual section #{n} does not have a name")
            continue
        sections.append(sec)
    return ManifestDoc(main, sections, problems)


def _digests(attrs: dict[str, str], suffix: str) -> list[tuple[str, bytes]]:
    out = []
    for key, value in attrs.items():
        if key.endswith(suffix.lower()):
            alg = DIGEST_NAMES.get(key[: -len(suffix)].upper())
            if alg:
                try:
                    out.append((alg, base64.b64decode(value.strip(), validate=True)))
                except (binascii.Error, ValueError):
                    out.append((alg, b""))
    return out


def _matches(attrs: dict[str, str], suffix: str, data: bytes) -> bool | None:
    """True/False when digests with ``suffix`` exist, None when there is none."""
    ds = _digests(attrs, suffix)
    if not ds:
        return None
    return all(hashlib.new(alg, data).digest() == want for alg, want in ds)


def _key_kind(algo: str) -> str:
    if "pss" in algo:
        return "rsa-pss"
    if "ecdsa" in algo or algo == "ec":
        return "ec"
    if "dsa" in algo:
        return "dsa"
    return "rsa"


def verify_pkcs7(block: bytes, signed: bytes) -> tuple[list[bytes], str]:
    """Verify a detached PKCS#7 SignedData over ``signed``; return (signer certs, problem)."""
    try:
        ci = cms.ContentInfo.load(block)
        if ci["content_type"].native != "signed_data":
            return [], "not a PKCS#7 SignedData block"
        sd = ci["content"]
        certs = [c.chosen for c in (sd["certificates"] or []) if c.name == "certificate"]
        signers: list[bytes] = []
        infos = list(sd["signer_infos"])
        if not infos:
            return [], "no SignerInfo"
        for si in infos:
            sid = si["sid"]
            cert = None
            if sid.name == "issuer_and_serial_number":
                want = sid.chosen
                cert = next(
                    (
                        c
                        for c in certs
                        if c.serial_number == want["serial_number"].native
                        and c.issuer == want["issuer"]
                    ),
                    None,
                )
            else:
                cert = next((c for c in certs if c.key_identifier == sid.chosen.native), None)
            if cert is None:
                return [], "signer certificate not in the block"
            digest_alg = str(si["digest_algorithm"]["algorithm"].native)
            sig_alg = str(si["signature_algorithm"]["algorithm"].native)
            data = signed
            attrs = si["signed_attrs"]
            if attrs.native is not None and len(attrs):
                md = next(
                    (a["values"][0].native for a in attrs if a["type"].native == "message_digest"),
                    None,
                )
                if md != hashlib.new(digest_alg, signed).digest():
                    return [], "signed attributes' message digest does not match the .SF file"
                data = b"\x31" + attrs.dump()[1:]  # signed over the SET OF encoding
            ok = verify_raw(
                cert.public_key.dump(),
                _key_kind(sig_alg),
                digest_alg,
                si["signature"].native,
                data,
            )
            if not ok:
                return [], "signature does not verify"
            signers.append(cert.dump())
        return signers, ""
    except (ValueError, TypeError, KeyError) as exc:
        return [], f"unreadable PKCS#7 block ({exc})"


def _entry_name(info: zipfile.ZipInfo) -> str:
    if info.flag_bits & 0x800:
        return info.orig_filename
    try:
        return info.orig_filename.encode("cp437").decode("utf-8")
    except UnicodeError:
        return info.orig_filename


def _entry_data(raw: bytes, info: zipfile.ZipInfo, cap: int) -> bytes:
    """The uncompressed bytes of a member, straight from the file image (no per-member reopen).

    As in apksig, the central directory's method and sizes are used; any method other than
    STORED is inflated as DEFLATE; the CRC is not what a signature vouches for, the digest is.
    """
    off = info.header_offset
    if raw[off : off + 4] != b"PK\x03\x04":
        raise ValueError("bad local file header")
    name_len, extra_len = struct.unpack_from("<HH", raw, off + 26)
    start = off + 30 + name_len + extra_len
    data = raw[start : start + info.compress_size]
    if len(data) != info.compress_size:
        raise ValueError("member data runs past the end of the file")
    if info.compress_type == zipfile.ZIP_STORED:
        return data
    inflater = zlib.decompressobj(-15)
    out = inflater.decompress(data, cap + 1)
    if len(out) > cap:
        raise ValueError("entry inflates past the per-entry cap")
    return out


def _is_signature_file(name: str) -> bool:
    if not name.startswith("META-INF/") or "/" in name[9:]:
        return False
    low = name[9:].lower()
    return (
        low == "manifest.mf"
        or low.endswith((".sf", ".rsa", ".dsa", ".ec"))
        or low.startswith("sig-")
    )


def verify_v1(
    zf: zipfile.ZipFile,
    present: set[int],
    cap: int,
    raw: bytes,
    inflated: dict[str, bytes] | None = None,
) -> tuple[SchemeResult, list[str]]:
    """Verify the JAR signature of an open APK (``raw``: the file's bytes); result and warnings."""
    res = SchemeResult("v1")
    warnings: list[str] = []
    infos = [i for i in zf.infolist()]
    by_name: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        by_name.setdefault(_entry_name(info), info)
    if MANIFEST not in by_name:
        res.problems.append("Missing META-INF/MANIFEST.MF")
        return res, warnings

    def read(name: str) -> bytes:
        return _entry_data(raw, by_name[name], cap)

    manifest_bytes = read(MANIFEST)
    manifest = parse_manifest(manifest_bytes, "META-INF/MANIFEST.MF")
    res.problems += manifest.problems
    msections: dict[str, Section] = {}
    for s in manifest.sections:
        if s.name in msections:
            res.problems.append(f"Duplicate section in META-INF/MANIFEST.MF: {s.name}")
        msections[str(s.name)] = s
    blocks: dict[str, str] = {}
    sfs = {
        n[9:-3].upper(): n for n in by_name if _is_signature_file(n) and n.upper().endswith(".SF")
    }
    for n in by_name:
        m = SIG_BLOCK_RE.match(n)
        if m:
            blocks[m.group(1).upper()] = n
    for base, block in sorted(blocks.items()):
        if base not in sfs:
            warnings.append(f"Partial JAR signature. Found: {block}, missing its .SF file")
    for base, sf_file in sorted(sfs.items()):
        if base not in blocks:
            warnings.append(f"Partial JAR signature. Found: {sf_file}, missing its signature block")
    signer_names: list[set[str]] = []
    for base in sorted(set(blocks) & set(sfs)):
        sf_name, block_name = sfs[base], blocks[base]
        sf_bytes = read(sf_name)
        signer_certs, why = verify_pkcs7(read(block_name), sf_bytes)
        if why:
            res.problems.append(f"{block_name}: {why}")
            continue
        res.certificates += signer_certs[:1]
        sf = parse_manifest(sf_bytes, sf_name)
        res.problems += sf.problems
        signed_ids = sf.main.attrs.get("x-android-apk-signed", "")
        for tok in signed_ids.split(","):
            tok = tok.strip()
            if (
                tok.isdigit()
                and int(tok) in APK_SIGNED_IDS
                and APK_SIGNED_IDS[int(tok)] not in present
            ):
                res.problems.append(
                    f"{sf_name} says the APK is signed with APK Signature Scheme v{tok} but that "
                    "signature is missing (stripped?)"
                )
        whole = _matches(sf.main.attrs, "-Digest-Manifest", manifest_bytes)
        if whole is not True:
            main_ok = _matches(sf.main.attrs, "-Digest-Manifest-Main-Attributes", manifest.main.raw)
            if main_ok is False:
                res.problems.append(f"{sf_name}: digest of MANIFEST.MF main section does not match")
        names: set[str] = set()
        for s in sf.sections:
            name = str(s.name)
            names.add(name)
            ms = msections.get(name)
            if ms is None:
                res.problems.append(f"{sf_name}: section {name!r} not in META-INF/MANIFEST.MF")
                continue
            if whole is not True:
                ok = _matches(s.attrs, "-Digest", ms.raw)
                if ok is not True:
                    res.problems.append(
                        f"{sf_name}: digest of MANIFEST.MF section {name!r} does not match"
                        if ok is False
                        else f"{sf_name}: no supported digest for section {name!r}"
                    )
        signer_names.append(names)
    if not signer_names:
        if not res.problems:
            res.problems.append("No JAR signatures")
        return res, warnings
    for name, info in by_name.items():
        if name.endswith("/") or _is_signature_file(name):
            continue
        section = msections.get(name)
        if section is None:
            if name.startswith("META-INF/"):
                warnings.append(f"{name} not protected by signature")
            else:
                res.problems.append(f"No digest for {name} in META-INF/MANIFEST.MF")
            continue
        wanted = _digests(section.attrs, "-Digest")
        if not wanted:
            res.problems.append(f"No supported digest for {name} in META-INF/MANIFEST.MF")
            continue
        try:
            cached = (inflated or {}).get(name)
            data = cached if cached is not None else _entry_data(raw, info, cap)
        except (ValueError, zlib.error, struct.error) as exc:
            res.problems.append(f"{name}: cannot read entry ({exc})")
            continue
        if any(hashlib.new(a, data).digest() != d for a, d in wanted):
            res.problems.append(f"{name}: digest does not match META-INF/MANIFEST.MF (modified?)")
        if any(name not in names for names in signer_names):
            res.problems.append(f"{name} is not signed by every signer")
    for name in msections:
        if name not in by_name:
            res.problems.append(
                f"{name} entry referenced by META-INF/MANIFEST.MF not found in the APK"
            )
    res.verified = not res.problems
    return res, warnings
