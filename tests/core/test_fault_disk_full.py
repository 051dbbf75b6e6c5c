"""A full disk during an upload: 507 with a message, and nothing partial kept.

The file store (``data_dir/files``) sits on a real 2 MiB tmpfs mounted for the test, so the
kernel answers ENOSPC part-way through the write, as a full volume does. A size cap (RLIMIT_FSIZE)
would not do: it raises EFBIG/SIGXFSZ, not ENOSPC. Without the right to mount (not root, or a
container without CAP_SYS_ADMIN) the test is skipped and says so.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from mingyue.core.cases import CaseAttachment
from mingyue.core.config import Settings
from mingyue.core.db import system_session
from mingyue.core.files.store import StoredFileRow
from mingyue.core.ledger.audit import AuditEntry

SIZE = 2 * 1024 * 1024


@pytest.fixture
def small_store(settings: Settings) -> Iterator[Path]:
    """Mount a 2 MiB tmpfs over the data directory's file store."""
    files = settings.data_dir / "files"
    files.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0755", "tmpfs", str(files)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield files
    finally:
        subprocess.run(["umount", "-l", str(files)], check=False)


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _counts(settings: Settings) -> tuple[int, int, int]:
    with system_session(settings, "test: count") as s:
        rows = s.scalar(select(func.count()).select_from(StoredFileRow))
        stored = s.scalar(select(func.count()).where(AuditEntry.action == "core.file.stored"))
        attached = s.scalar(select(func.count()).select_from(CaseAttachment))
    return int(rows or 0), int(stored or 0), int(attached or 0)


def _leftovers(files: Path) -> list[str]:
    return sorted(str(p.relative_to(files)) for p in files.rglob("*") if p.is_file())


def test_upload_on_full_disk_is_507_and_keeps_nothing(
    client: Any, tenants: Any, settings: Settings, small_store: Path
) -> None:
    headers = tenants.a.headers()
    free_before = _free(small_store)
    before = _counts(settings)
    big = os.urandom(3 * 1024 * 1024)  # more than the whole volume
    r = client.post("/api/files", files={"file": ("big.bin", big)}, headers=headers)
    assert r.status_code == 507, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["key"] == "core.file.no_space" and body["field"] == "file"
    assert "full" in body["detail"]
    # Nothing partial: no temporary file, no blob, no row, no ledger entry; the space is back.
    assert _leftovers(small_store) == []
    assert _counts(settings) == before
    assert _free(small_store) == free_before

    # The same through a case attachment, in Chinese: the case is left as it was.
    r = client.post("/api/cases", json={"title": "附件"}, headers=headers)
    cid = r.json()["id"]
    r = client.post(
        f"/api/cases/{cid}/files",
        files={"file": ("证明.pdf", big)},
        headers={**headers, "Accept-Language": "zh-CN"},
    )
    assert r.status_code == 507 and r.json()["detail"].startswith("服务器文件存储空间已满")
    detail = client.get(f"/api/cases/{cid}", headers=headers).json()
    assert detail["attachments"] == [] and [e["kind"] for e in detail["events"]] == ["open"]
    assert _leftovers(small_store) == [] and _counts(settings) == before

    # Once there is room the next upload is stored whole.
    small = os.urandom(100 * 1024)
    r = client.post("/api/files", files={"file": ("small.bin", small)}, headers=headers)
    assert r.status_code == 201, r.text
    sha = hashlib.sha256(small).hexdigest()
    assert r.json()["sha256"] == sha and r.json()["size"] == len(small)
    assert _leftovers(small_store) == [f"{sha[:2]}/{sha}"]
    assert (small_store / sha[:2] / sha).read_bytes() == small


def test_disk_filled_by_earlier_files(
    client: Any, tenants: Any, settings: Settings, small_store: Path
) -> None:
    headers = tenants.a.headers()
    kept = []
    for i in range(3):  # 3 × 600 KiB fit; the fourth does not
        r = client.post(
            "/api/files", files={"file": (f"f{i}.bin", os.urandom(600 * 1024))}, headers=headers
        )
        assert r.status_code == 201, r.text
        kept.append(r.json()["sha256"])
    before = _counts(settings)
    r = client.post(
        "/api/files", files={"file": ("f3.bin", os.urandom(600 * 1024))}, headers=headers
    )
    assert r.status_code == 507 and r.json()["key"] == "core.file.no_space"
    assert _counts(settings) == before
    assert _leftovers(small_store) == sorted(f"{h[:2]}/{h}" for h in kept)
