"""The archive guard refuses hostile ZIPs from the central directory alone."""

from __future__ import annotations

import resource
import struct
import time
import zipfile
from pathlib import Path

import pytest

from mingyue.enablers.appcheck.engine import ArchiveCaps, analyze_apk, inspect_archive
from mingyue.enablers.appcheck.engine.errors import (
    AppcheckError,
    ArchiveRefused,
    MalformedArchive,
    NotAnAndroidApp,
    NotAnApk,
)


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~400 KB APK whose classes.dex inflates to 400 MB of zeros (written in 1 MB chunks)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.apk"
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("AndroidManifest.xml", b"\x03\x00\x08\x00")
        with zf.open("classes.dex", "w", force_zip64=True) as fh:
            for _ in range(400):
                fh.write(chunk)
    return path


def test_zip_bomb_is_refused_fast_with_bounded_memory(zip_bomb: Path) -> None:
    assert zip_bomb.stat().st_size < 2 * 1024 * 1024
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with pytest.raises(ArchiveRefused) as exc:
        analyze_apk(zip_bomb)
    elapsed = time.perf_counter() - t0
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert exc.value.key == "appcheck.ratio_too_high"
    assert "classes.dex" in exc.value.message
    assert elapsed < 0.5, elapsed
    assert grown_kb < 20 * 1024, grown_kb  # never inflated: far below the 400 MB it hides


def test_total_size_cap(zip_bomb: Path) -> None:
    caps = ArchiveCaps(max_ratio=10_000, max_total_uncompressed=100 * 1024 * 1024)
    with pytest.raises(ArchiveRefused) as exc:
        inspect_archive(zip_bomb, caps)
    assert exc.value.key in ("appcheck.entry_too_large", "appcheck.total_too_large")


def test_entry_count_cap(tmp_path: Path) -> None:
    path = tmp_path / "many.apk"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(50):
            zf.writestr(f"res/{i}.txt", b"x")
    with pytest.raises(ArchiveRefused) as exc:
        inspect_archive(path, ArchiveCaps(max_entries=10))
    assert exc.value.key == "appcheck.too_many_entries"
    assert exc.value.params["entries"] == 50


@pytest.mark.parametrize(
    ("payload", "error", "key"),
    [
        (b"", NotAnApk, "appcheck.empty_file"),
        (b"hello, not an apk at all" * 10, NotAnApk, "appcheck.not_a_zip"),
        (b"PK\x03\x04" + bytes(30), NotAnApk, "appcheck.not_a_zip"),
    ],
)
def test_not_a_zip(tmp_path: Path, payload: bytes, error: type[AppcheckError], key: str) -> None:
    path = tmp_path / "x.apk"
    path.write_bytes(payload)
    with pytest.raises(error) as exc:
        analyze_apk(path)
    assert exc.value.key == key
    assert exc.value.message


def test_truncated_archive(tmp_path: Path, apk_dir: Path) -> None:
    src = (apk_dir / "ag__APK_TC-debug.apk").read_bytes()
    path = tmp_path / "trunc.apk"
    path.write_bytes(src[: len(src) // 2])
    with pytest.raises((NotAnApk, MalformedArchive)):
        analyze_apk(path)


def test_duplicate_entries_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.apk"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("AndroidManifest.xml", b"a")
        with pytest.warns(UserWarning, match="Duplicate name"):
            zf.writestr("AndroidManifest.xml", b"b")
    with pytest.raises(MalformedArchive) as exc:
        inspect_archive(path)
    assert exc.value.key == "appcheck.duplicate_entry"


def test_zip_without_manifest(tmp_path: Path) -> None:
    path = tmp_path / "plain.apk"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", b"hi")
    with pytest.raises(NotAnAndroidApp):
        analyze_apk(path)


def test_suspicious_names_are_recorded_not_extracted(tmp_path: Path) -> None:
    path = tmp_path / "evil.apk"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("AndroidManifest.xml", b"a")
        zf.writestr("../../etc/evil", b"b")
    info = inspect_archive(path)
    assert info.suspicious_names == ["../../etc/evil"]
    assert not (tmp_path.parent.parent / "etc" / "evil").exists()


def test_zip64_entry_count_read_from_eocd(tmp_path: Path) -> None:
    path = tmp_path / "z.apk"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a", b"a")
    data = bytearray(path.read_bytes())
    eocd = data.rfind(b"PK\x05\x06")
    struct.pack_into("<H", data, eocd + 10, 0xFFFF)  # declares 65535 entries
    path.write_bytes(bytes(data))
    with pytest.raises(ArchiveRefused):
        inspect_archive(path, ArchiveCaps(max_entries=1000))
