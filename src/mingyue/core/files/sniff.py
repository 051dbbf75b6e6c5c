"""Content type sniffing by magic bytes (never the client's filename or Content-Type)."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

# (offset, magic, mime): checked in order, first match wins.
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"%PDF-", "application/pdf"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"BZh", "application/x-bzip2"),
    (0, b"\xfd7zXZ\x00", "application/x-xz"),
    (0, b"\x28\xb5\x2f\xfd", "application/zstd"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (0, b"PAR1", "application/vnd.apache.parquet"),
    (0, b"\xd4\xc3\xb2\xa1", "application/vnd.tcpdump.pcap"),
    (0, b"\xa1\xb2\xc3\xd4", "application/vnd.tcpdump.pcap"),
    (0, b"\x4d\x3c\xb2\xa1", "application/vnd.tcpdump.pcap"),
    (0, b"\xa1\xb2\x3c\x4d", "application/vnd.tcpdump.pcap"),
    (0, b"\x0a\x0d\x0d\x0a", "application/x-pcapng"),
    (0, b"SQLite format 3\x00", "application/vnd.sqlite3"),
    (0, b"dex\n", "application/vnd.android.dex"),
    (0, b"\x7fELF", "application/x-elf"),
    (0, b"MZ", "application/vnd.microsoft.portable-executable"),
    (0, b"\x00asm", "application/wasm"),
    (257, b"ustar", "application/x-tar"),
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_JSON_FULL_PARSE_MAX = 20 * 1024 * 1024


def sniff(head: bytes, path: Path | None = None) -> str:
    """Return the MIME type of content from its first bytes (and the file, for zip/JSON)."""
    if head.startswith(_ZIP_MAGIC):
        return _zip_kind(path)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    for offset, magic, mime in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return mime
    return _text_kind(head, path)


def _zip_kind(path: Path | None) -> str:
    if path is None:
        return "application/zip"
    try:
        # Reads the central directory only; nothing is inflated.
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return "application/zip"
    if "AndroidManifest.xml" in names and any(
        n.startswith("classes") and n.endswith(".dex") for n in names
    ):
        return "application/vnd.android.package-archive"
    if any(n.startswith("Payload/") and ".app/" in n for n in names):
        return "application/x-ios-app"
    if "[Content_Types].xml" in names:
        if any(n.startswith("word/") for n in names):
            return "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        if any(n.startswith("xl/") for n in names):
            return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        if any(n.startswith("ppt/") for n in names):
            return "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    if "META-INF/MANIFEST.MF" in names:
        return "application/java-archive"
    return "application/zip"


def _decode_text(head: bytes) -> str | None:
    if b"\x00" in head:
        return None
    head = head.removeprefix(b"\xef\xbb\xbf")
    for cut in range(4):  # the head may end inside a multi-byte character
        try:
            return head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


def _text_kind(head: bytes, path: Path | None) -> str:
    text = _decode_text(head)
    if text is None or not text.strip():
        return "application/octet-stream" if text is None else "text/plain"
    if any(ord(c) < 0x20 and c not in "\t\n\r\f" for c in text):
        return "application/octet-stream"
    stripped = text.lstrip()
    if stripped[:1] in "{[" and _is_json(path, head):
        return "application/json"
    if stripped[:1] == "{" and _is_ndjson(text):
        return "application/x-ndjson"
    if stripped.startswith("<?xml"):
        return "application/xml"
    if _is_csv(text):
        return "text/csv"
    return "text/plain"


def _is_json(path: Path | None, head: bytes) -> bool:
    try:
        if path is not None and path.stat().st_size <= _JSON_FULL_PARSE_MAX:
            json.loads(path.read_bytes())
            return True
        if path is None:
            json.loads(head)
            return True
    except (ValueError, OSError):
        return False
    return False


def _is_ndjson(text: str) -> bool:
    lines = [ln for ln in text.splitlines()[:-1] if ln.strip()]  # the last line may be cut
    if len(lines) < 2:
        return False
    try:
        return all(isinstance(json.loads(ln), dict) for ln in lines)
    except ValueError:
        return False


def _is_csv(text: str) -> bool:
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if len(lines) > 2:
        lines = lines[:-1]  # the last line may be cut
    if len(lines) < 2:
        return False
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines[:20]), delimiters=",;\t|")
    except csv.Error:
        return False
    widths = {len(row) for row in csv.reader(lines, dialect)}
    return len(widths) == 1 and widths.pop() >= 2
