"""File store: streaming with a cap, SHA-256 addressing, sniffing, sanitized names, scoping."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from mingyue.core import files
from mingyue.core.config import Settings
from mingyue.core.db import system_session
from mingyue.core.errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge
from mingyue.core.files.store import StoredFileRow, sanitize_filename, sniff
from mingyue.core.ledger.audit import AuditEntry
from mingyue.core.tenancy.access import SYSTEM, Actor
from mingyue.core.uow import unit_of_work


@pytest.fixture
def two(
    make_org: Callable[..., Any], make_user: Callable[..., Any], actor_of: Callable[[Any], Actor]
) -> tuple[Actor, Actor]:
    a, b = make_org(), make_org()
    return actor_of(make_user(a)), actor_of(make_user(b))


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_store_streams_hashes_sniffs_and_audits(
    settings: Settings, two: tuple[Actor, Actor]
) -> None:
    a, _ = two
    data = b"%PDF-1.7\n" + b"x" * 3_000_000  # more than one chunk
    with unit_of_work(a, settings) as uow:
        out = files.store(
            uow=uow, data=io.BytesIO(data), filename="../../report.pdf", purpose="report"
        )
    sha = hashlib.sha256(data).hexdigest()
    assert (out.sha256, out.size, out.mime, out.filename, out.purpose) == (
        sha,
        len(data),
        "application/pdf",
        "report.pdf",
        "report",
    )
    assert out.organization_id == a.organization_id and out.uploaded_by == a.label()
    assert out.path == settings.data_dir.resolve() / "files" / sha[:2] / sha
    assert out.path.read_bytes() == data
    assert not any((settings.data_dir / "files" / "tmp").iterdir())
    with system_session(settings, "test") as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "core.file.stored")).one()
        assert entry.subject == f"core_file:{out.id}" and entry.payload["sha256"] == sha
        assert entry.organization_id == a.organization_id


def test_size_cap_refuses_and_leaves_nothing(settings: Settings, two: tuple[Actor, Actor]) -> None:
    a, _ = two
    with pytest.raises(PayloadTooLarge) as exc, unit_of_work(a, settings) as uow:
        files.store(uow=uow, data=b"z" * 5000, filename="big.bin", max_bytes=4096)
    assert exc.value.status == 413 and exc.value.key == "core.file.too_large"
    settings.max_upload_bytes = 1000
    with pytest.raises(PayloadTooLarge), unit_of_work(a, settings) as uow:
        files.store(uow=uow, data=io.BytesIO(b"z" * 1001), filename="big.bin")
    assert not any((settings.data_dir / "files" / "tmp").iterdir())
    with system_session(settings, "test") as s:
        assert s.scalar(select(func.count()).select_from(StoredFileRow)) == 0
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_same_content_is_stored_once(settings: Settings, two: tuple[Actor, Actor]) -> None:
    a, b = two
    with unit_of_work(a, settings) as uow:
        first = files.store(uow=uow, data=b'{"a": 1}', filename="a.json")
    with unit_of_work(b, settings) as uow:
        second = files.store(uow=uow, data=b'{"a": 1}', filename="b.json")
    assert first.id != second.id and first.path == second.path
    assert first.mime == "application/json"


def test_files_are_tenant_scoped(settings: Settings, two: tuple[Actor, Actor]) -> None:
    a, b = two
    with unit_of_work(a, settings) as uow:
        fid = files.store(uow=uow, data=b"hello", filename="h.txt").id
    with unit_of_work(a, settings) as uow:
        assert files.path_of(uow=uow, file_id=fid).read_bytes() == b"hello"
        assert files.get_file(uow=uow, actor=a, file_id=fid).mime == "text/plain"
    with unit_of_work(b, settings) as uow:
        with pytest.raises(NotFound):
            files.path_of(uow=uow, file_id=fid)
        with pytest.raises(NotFound):
            files.get_file(uow=uow, actor=b, file_id=fid)


def test_store_needs_an_organization_and_a_sane_purpose(
    settings: Settings, two: tuple[Actor, Actor]
) -> None:
    a, b = two
    with pytest.raises(InvalidInput), unit_of_work(SYSTEM, settings) as uow:
        files.store(uow=uow, data=b"x", filename="x")
    with pytest.raises(InvalidInput), unit_of_work(a, settings) as uow:
        files.store(uow=uow, data=b"x", filename="x", purpose="../etc")
    for bad_org in (999_999, 2**70):
        with pytest.raises(InvalidInput), unit_of_work(SYSTEM, settings) as uow:
            files.store(uow=uow, data=b"x", filename="x", organization_id=bad_org)
    with pytest.raises(Forbidden), unit_of_work(a, settings) as uow:
        files.store(uow=uow, data=b"x", filename="x", organization_id=b.organization_id)
    assert not any((settings.data_dir / "files").glob("??/*"))  # refused before writing
    with unit_of_work(SYSTEM, settings) as uow:
        assert (
            files.store(
                uow=uow, data=b"x", filename="x", organization_id=a.organization_id
            ).organization_id
            == a.organization_id
        )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\evil.exe", "evil.exe"),
        ("/abs/path/report.pdf", "report.pdf"),
        ("rep\x00ort\r\n.pdf", "report.pdf"),
        ("..", "upload.bin"),
        ("", "upload.bin"),
        (None, "upload.bin"),
        (".bashrc", "bashrc"),
        ("检测报告 2024.pdf", "检测报告 2024.pdf"),
    ],
)
def test_filenames_are_sanitized(name: str | None, expected: str) -> None:
    assert sanitize_filename(name) == expected


def test_long_filenames_keep_their_extension() -> None:
    out = sanitize_filename("报" * 200 + ".pdf")
    assert len(out.encode()) <= 255 and out.endswith(".pdf")


PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


@pytest.mark.parametrize(
    ("content", "mime"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 20, "image/jpeg"),
        (b"%PDF-1.4 ...", "application/pdf"),
        (gzip.compress(b"hello", mtime=0), "application/gzip"),
        (b"PAR1" + b"\0" * 20 + b"PAR1", "application/vnd.apache.parquet"),
        (b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + b"\0" * 16, "application/vnd.tcpdump.pcap"),
        (b"\x0a\x0d\x0d\x0a" + b"\0" * 24, "application/x-pcapng"),
        (b"SQLite format 3\x00" + b"\0" * 84, "application/vnd.sqlite3"),
        (b"\x7fELF\x02\x01\x01", "application/x-elf"),
        (json.dumps({"k": [1, 2.5, "三"]}, ensure_ascii=False).encode(), "application/json"),
        (b'{"a": 1}\n{"a": 2}\n{"a": 3}\n', "application/x-ndjson"),
        (b"name,qty,price\nwidget,3,9.50\ngadget,1,12.00\n", "text/csv"),
        ("明月湖\n两江新区\n".encode(), "text/plain"),
        (b'<?xml version="1.0"?><a/>', "application/xml"),
        (bytes(range(256)), "application/octet-stream"),
        (_zip_bytes({"a.txt": b"x"}), "application/zip"),
        (
            _zip_bytes({"AndroidManifest.xml": b"x", "classes.dex": b"dex\n035"}),
            "application/vnd.android.package-archive",
        ),
        (
            _zip_bytes({"[Content_Types].xml": b"x", "word/document.xml": b"x"}),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
    ],
)
def test_sniffing_by_content(tmp_path: Path, content: bytes, mime: str) -> None:
    path = tmp_path / "blob"
    path.write_bytes(content)
    assert sniff(content[:8192], path) == mime


def test_the_filename_is_never_trusted(settings: Settings, two: tuple[Actor, Actor]) -> None:
    a, _ = two
    with unit_of_work(a, settings) as uow:
        out = files.store(uow=uow, data=PNG, filename="invoice.pdf")
    assert out.mime == "image/png" and out.filename == "invoice.pdf"


class _Zeros(io.RawIOBase):
    """A stream of zeros that never exists in memory as a whole."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return b"\0" * n


def test_store_streams_with_bounded_memory(settings: Settings, two: tuple[Actor, Actor]) -> None:
    import tracemalloc

    a, _ = two
    size = 48 * 1024 * 1024
    tracemalloc.start()
    with unit_of_work(a, settings) as uow:
        out = files.store(uow=uow, data=_Zeros(size), filename="zeros.bin")  # type: ignore[arg-type]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert out.size == size and out.path.stat().st_size == size
    assert out.sha256 == hashlib.sha256(b"\0" * size).hexdigest()
    assert out.mime == "application/octet-stream"
    assert peak < 8 * 1024 * 1024


def test_storage_quota_per_organization(settings: Settings, two: tuple[Actor, Actor]) -> None:
    a, b = two
    s = settings.model_copy(update={"storage_quota_bytes": 3_000})
    with unit_of_work(a, s) as uow:
        files.store(uow=uow, data=b"a" * 2_000, filename="one.txt")
    with pytest.raises(PayloadTooLarge) as exc, unit_of_work(a, s) as uow:
        files.store(uow=uow, data=io.BytesIO(b"b" * 1_500), filename="two.txt")
    assert exc.value.key == "core.file.quota_exceeded"
    with unit_of_work(b, s) as uow:  # another organization has its own quota
        files.store(uow=uow, data=b"c" * 2_500, filename="three.txt")
    with unit_of_work(a, s) as uow:  # what is left still fits
        files.store(uow=uow, data=b"d" * 1_000, filename="four.txt")
    with pytest.raises(PayloadTooLarge), unit_of_work(a, s) as uow:
        files.store(uow=uow, data=b"e", filename="five.txt")
    with system_session(s, "test") as ses:
        names = set(ses.scalars(select(StoredFileRow.filename)))
    assert "two.txt" not in names and "five.txt" not in names
