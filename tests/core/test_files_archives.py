"""Safe archives: zip bomb, traversal, lying headers, overlap, symlinks, caps, honest extraction."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import time
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import pytest

from mingyue.core.files.archives import ArchiveCaps, UnsafeArchive, check_archive, safe_extract

CAPS = ArchiveCaps(max_ratio=100, max_total_bytes=1024**3, max_entries=100)


def _zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(
                zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data, compress_type=compression
            )
    return path


def _patch_sizes(path: Path, name: bytes, uncompressed: int) -> None:
    """Rewrite the declared uncompressed size of one entry in both headers."""
    data = bytearray(path.read_bytes())
    local = data.find(b"PK\x03\x04")
    assert data[local + 30 : local + 30 + len(name)] == name
    struct.pack_into("<I", data, local + 22, uncompressed)
    central = data.find(b"PK\x01\x02")
    assert data[central + 46 : central + 46 + len(name)] == name
    struct.pack_into("<I", data, central + 24, uncompressed)
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A zip of one member that inflates to 400 MB of zeros (about 1.8 MB on disk)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    chunk = b"\0" * (1 << 20)
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
        zf.open("zeros.bin", "w", force_zip64=True) as out,
    ):
        for _ in range(400):
            out.write(chunk)
    return path


def test_zip_bomb_is_refused_fast_with_bounded_memory(bomb: Path, tmp_path: Path) -> None:
    assert bomb.stat().st_size < 5 * 1024 * 1024
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(UnsafeArchive) as exc:
        check_archive(bomb, CAPS)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert exc.value.key == "core.archive.ratio"
    assert exc.value.params["ratio"] > 100
    assert exc.value.status == 422
    assert elapsed < 1.0
    assert peak < 2 * 1024 * 1024
    dest = tmp_path / "out"
    with pytest.raises(UnsafeArchive):
        safe_extract(bomb, dest, CAPS)
    assert not any(dest.rglob("*")) if dest.exists() else True


def test_total_size_cap_catches_many_honest_looking_members(tmp_path: Path) -> None:
    path = _zip(tmp_path / "a.zip", {f"f{i}.txt": bytes(range(256)) * 64 for i in range(10)})
    with pytest.raises(UnsafeArchive) as exc:
        check_archive(path, ArchiveCaps(max_total_bytes=100_000, max_entries=100))
    assert exc.value.key == "core.archive.too_large"


def test_entry_count_cap(tmp_path: Path) -> None:
    path = _zip(tmp_path / "many.zip", {f"f{i}": b"x" for i in range(50)})
    with pytest.raises(UnsafeArchive) as exc:
        check_archive(path, ArchiveCaps(max_entries=10))
    assert exc.value.key == "core.archive.too_many_entries"
    assert exc.value.params == {"entries": 50, "cap": 10}


@pytest.mark.parametrize(
    "name",
    [
        "../evil.txt",
        "a/../../evil.txt",
        "/etc/cron.d/evil",
        "C:/Windows/evil.dll",
        "..\\evil.txt",
        "a\\b.txt",
    ],
)
def test_path_traversal_names_are_refused(tmp_path: Path, name: str) -> None:
    path = _zip(tmp_path / "t.zip", {"ok.txt": b"fine", name: b"pwned"})
    with pytest.raises(UnsafeArchive) as exc:
        check_archive(path, CAPS)
    assert exc.value.key == "core.archive.unsafe_name"
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchive):
        safe_extract(path, dest, CAPS)
    assert not (tmp_path / "evil.txt").exists()
    assert not dest.exists() or not any(dest.iterdir())


def test_nul_byte_in_name_is_refused(tmp_path: Path) -> None:
    path = _zip(tmp_path / "n.zip", {"evil.txtX.png": b"x"})
    path.write_bytes(path.read_bytes().replace(b"evil.txtX.png", b"evil.txt\x00.png"))
    with pytest.raises(UnsafeArchive) as exc:
        check_archive(path, CAPS)
    assert exc.value.key == "core.archive.unsafe_name"


def test_symlink_member_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchive) as exc:
        check_archive(path, CAPS)
    assert exc.value.key == "core.archive.unsafe_name"


def test_duplicate_entries_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.zip"
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as zf:
        warnings.simplefilter("ignore")
        zf.writestr("AndroidManifest.xml", b"one")
        zf.writestr("AndroidManifest.xml", b"two")
    with pytest.raises(UnsafeArchive) as exc:
        check_archive(path, CAPS)
    assert exc.value.key == "core.archive.duplicate_entry"


def test_member_that_lies_about_its_size_is_caught_while_inflating(tmp_path: Path) -> None:
    path = _zip(tmp_path / "lie.zip", {"big.bin": b"\0" * (64 * 1024 * 1024)})
    _patch_sizes(path, b"big.bin", 10)  # the directory now claims 10 bytes
    report = check_archive(path, CAPS)  # the directory alone looks harmless
    assert report.total_uncompressed == 10
    dest = tmp_path / "dest"
    tracemalloc.start()
    with pytest.raises(UnsafeArchive) as exc:
        safe_extract(path, dest, CAPS)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert exc.value.key == "core.archive.size_mismatch"
    assert peak < 8 * 1024 * 1024  # inflated a megabyte at a time, stopped at once
    assert not (dest / "big.bin").exists()


def test_stored_member_with_two_sizes_is_refused(tmp_path: Path) -> None:
    path = _zip(tmp_path / "st.zip", {"a.bin": b"abcdef" * 100}, compression=zipfile.ZIP_STORED)
    _patch_sizes(path, b"a.bin", 10)
    with pytest.raises(UnsafeArchive) as exc:
        check_archive(path, CAPS)
    assert exc.value.key == "core.archive.size_mismatch"


def test_overlapping_members_are_refused(tmp_path: Path) -> None:
    path = _zip(tmp_path / "o.zip", {"a.bin": b"a" * 5000, "b.bin": b"b" * 5000})
    data = bytearray(path.read_bytes())
    second = data.find(b"PK\x01\x02", data.find(b"PK\x01\x02") + 4)
    struct.pack_into("<I", data, second + 42, 0)  # b.bin's data now points at a.bin's
    path.write_bytes(bytes(data))
    with pytest.raises(UnsafeArchive) as exc:
        check_archive(path, CAPS)
    assert exc.value.key == "core.archive.overlapping"


def test_encrypted_archive_is_reported_and_not_extracted(tmp_path: Path) -> None:
    path = _zip(tmp_path / "e.zip", {"a.txt": b"secret"})
    data = bytearray(path.read_bytes())
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 8, struct.unpack_from("<H", data, central + 8)[0] | 1)
    path.write_bytes(bytes(data))
    assert check_archive(path, CAPS).encrypted
    with pytest.raises(UnsafeArchive) as exc:
        safe_extract(path, tmp_path / "dest", CAPS)
    assert exc.value.key == "core.archive.encrypted"


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    path.write_bytes(b"%PDF-1.7 not a zip")
    with pytest.raises(UnsafeArchive) as exc:
        check_archive(path, CAPS)
    assert exc.value.key == "core.archive.bad_zip"


def test_corrupt_member_is_refused(tmp_path: Path) -> None:
    path = _zip(tmp_path / "c.zip", {"a.txt": b"hello world " * 1000})
    data = bytearray(path.read_bytes())
    local = data.find(b"PK\x03\x04")
    data[local + 30 + 5 + 10] ^= 0xFF  # flip bits inside the deflate stream
    path.write_bytes(bytes(data))
    with pytest.raises(UnsafeArchive) as exc:
        safe_extract(path, tmp_path / "dest", CAPS)
    assert exc.value.key in ("core.archive.corrupt", "core.archive.size_mismatch")
    assert not (tmp_path / "dest" / "a.txt").exists()


def test_honest_archive_is_extracted_exactly(tmp_path: Path) -> None:
    members = {
        "AndroidManifest.xml": b"<manifest/>",
        "res/values/strings.xml": b"<r/>" * 50,
        "assets/": b"",
        "assets/data.json": b'{"k": [1, 2, 3]}',
        "small-zeros.bin": b"\0" * 200_000,
    }  # 200:1 but under the ratio floor
    path = _zip(tmp_path / "ok.zip", members)
    report = check_archive(path, CAPS)
    assert report.entries == 5 and not report.encrypted
    assert report.total_uncompressed == sum(len(v) for v in members.values())
    dest = tmp_path / "dest"
    written = safe_extract(path, dest, CAPS)
    assert sorted(p.relative_to(dest.resolve()).as_posix() for p in written) == sorted(
        n for n in members if not n.endswith("/")
    )
    for name, data in members.items():
        if not name.endswith("/"):
            assert (dest / name).read_bytes() == data
    stored = _zip(tmp_path / "stored.zip", {"a.txt": b"plain"}, compression=zipfile.ZIP_STORED)
    assert [p.read_bytes() for p in safe_extract(stored, tmp_path / "d2", CAPS)] == [b"plain"]


def test_caps_default_from_settings(tmp_path: Path) -> None:
    from mingyue.core.config import Settings
    from mingyue.core.files.archives import caps_from_settings

    caps = caps_from_settings(
        Settings(archive_max_ratio=7, archive_max_entries=3, archive_max_total_bytes=99)
    )
    assert (caps.max_ratio, caps.max_entries, caps.max_total_bytes) == (7, 3, 99)


# --- tar, tar.gz, tar.bz2, tar.xz -------------------------------------------------------------


def _tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_honest_tar_is_extracted_exactly(tmp_path: Path, mode: str) -> None:
    members = {
        "data/": b"",
        "data/a.csv": b"k,v\n1,2\n",
        "data/b.json": b'{"x": 1}',
        "readme.txt": "明月湖".encode(),
    }
    path = _tar(tmp_path / "ok.tar", members, mode)
    report = check_archive(path, CAPS)
    assert report.entries == 4 and report.total_uncompressed == sum(map(len, members.values()))
    dest = tmp_path / "dest"
    written = safe_extract(path, dest, CAPS)
    assert len(written) == 3
    for name, data in members.items():
        if not name.endswith("/"):
            assert (dest / name).read_bytes() == data


def test_tar_gz_bomb_is_refused_while_streaming(tmp_path: Path) -> None:
    path = tmp_path / "bomb.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=6) as tf:
        info = tarfile.TarInfo("zeros.bin")
        info.size = 64 * 1024 * 1024
        tf.addfile(info, io.BytesIO(b"\0" * info.size))
    t0 = time.perf_counter()
    with pytest.raises(UnsafeArchive) as exc:
        check_archive(path, CAPS)
    assert exc.value.key == "core.archive.ratio"
    assert time.perf_counter() - t0 < 1.0
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchive):
        safe_extract(path, dest, CAPS)
    assert not (dest / "zeros.bin").exists()


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/cron.d/evil", "a/../../evil", "..\\x"])
def test_tar_traversal_is_refused(tmp_path: Path, name: str) -> None:
    path = _tar(tmp_path / "t.tar.gz", {"ok.txt": b"fine", name: b"pwned"})
    with pytest.raises(UnsafeArchive) as exc:
        safe_extract(path, tmp_path / "dest", CAPS)
    assert exc.value.key == "core.archive.unsafe_name"
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "dest" / "ok.txt").exists()


@pytest.mark.parametrize(
    "kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE]
)
def test_tar_links_and_devices_are_refused(tmp_path: Path, kind: bytes) -> None:
    path = tmp_path / "l.tar"
    with tarfile.open(path, "w") as tf:
        info = tarfile.TarInfo("innocent")
        info.type = kind
        info.linkname = "/etc/passwd"
        tf.addfile(info)
    with pytest.raises(UnsafeArchive) as exc:
        check_archive(path, CAPS)
    assert exc.value.key == "core.archive.unsafe_name"


def test_tar_caps_on_entries_and_total(tmp_path: Path) -> None:
    many = _tar(tmp_path / "m.tar", {f"f{i}": b"x" for i in range(20)}, "w")
    with pytest.raises(UnsafeArchive) as exc:
        check_archive(many, ArchiveCaps(max_entries=10))
    assert exc.value.key == "core.archive.too_many_entries"
    big = _tar(tmp_path / "b.tar", {"a": bytes(range(256)) * 400}, "w")
    with pytest.raises(UnsafeArchive) as exc:
        check_archive(big, ArchiveCaps(max_total_bytes=50_000))
    assert exc.value.key == "core.archive.too_large"


def test_compressed_non_tar_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.csv.gz"
    path.write_bytes(gzip.compress(b"a,b\n1,2\n" * 100))
    with pytest.raises(UnsafeArchive) as exc:
        check_archive(path, CAPS)
    assert exc.value.key == "core.archive.bad_tar"
