"""Uploads and artifacts: size caps, SHA-256 content addressing, type sniffing, safe archives.

Bytes live at ``data_dir/files/<sha256[:2]>/<sha256>`` (one copy per content); the row in
``core_file`` says which organization stored it, under which sanitized name and for what.
The type comes from the content's magic bytes, never from the client's filename.

A blob is written to ``files/tmp/``, flushed to disk, then renamed into place, so a process killed
mid-write (or a full disk) leaves at most a temporary file that no row names; a full disk answers
507 and keeps nothing (docs/reliability.md).
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import tempfile
import time
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel
from sqlalchemy import BigInteger, Integer, String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from mingyue.core.config import ensure_data_dir
from mingyue.core.db import Base, TenantMixin, utcnow
from mingyue.core.errors import Forbidden, InvalidInput, MingyueError, NotFound, PayloadTooLarge
from mingyue.core.files.archives import (
    ArchiveCaps,
    ArchiveReport,
    UnsafeArchive,
    caps_from_settings,
    check_archive,
    safe_extract,
)
from mingyue.core.files.sniff import sniff
from mingyue.core.tenancy.access import Actor, check, scope_for
from mingyue.core.tenancy.identity import Organization
from mingyue.core.uow import UnitOfWork

__all__ = [
    "ArchiveCaps",
    "ArchiveReport",
    "StorageFull",
    "StoredFile",
    "StoredFileRow",
    "UnsafeArchive",
    "caps_from_settings",
    "check_archive",
    "get_file",
    "path_of",
    "safe_extract",
    "sanitize_filename",
    "sniff",
    "store",
    "sweep_partial",
]

CHUNK = 1024 * 1024
_PURPOSE_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,39}$")
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


class StorageFull(MingyueError):
    """The data directory's file system is full (or over its disk quota): 507, nothing kept."""

    status = 507


class StoredFileRow(TenantMixin, Base):
    """One stored upload or artifact of an organization."""

    __tablename__ = "core_file"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mime: Mapped[str] = mapped_column(String(120))
    filename: Mapped[str] = mapped_column(String(255))
    purpose: Mapped[str] = mapped_column(String(40), default="upload")
    uploaded_by: Mapped[str] = mapped_column(String(120), default="system")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoredFile(BaseModel):
    """A stored file as services, the API and the CLI see it (``path`` is server-side only)."""

    id: int
    organization_id: int
    sha256: str
    size: int
    mime: str
    filename: str
    purpose: str
    uploaded_by: str
    created_at: datetime
    path: Path


def sanitize_filename(name: str | None) -> str:
    """Return a display-safe file name: last path part, no control chars, at most 255 bytes."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"\s+", " ", name).strip().lstrip(".").strip()
    if not name:
        return "upload.bin"
    while len(name.encode("utf-8")) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:-1] + dot + ext) if dot and len(ext) <= 16 and stem else name[:-1]
    return name


def _blob_path(root: Path, sha256: str) -> Path:
    return root / "files" / sha256[:2] / sha256


def _out(row: StoredFileRow, root: Path) -> StoredFile:
    return StoredFile(
        id=row.id,
        organization_id=row.organization_id,
        sha256=row.sha256,
        size=row.size,
        mime=row.mime,
        filename=row.filename,
        purpose=row.purpose,
        uploaded_by=row.uploaded_by,
        created_at=row.created_at,
        path=_blob_path(root, row.sha256),
    )


def store(
    *,
    uow: UnitOfWork,
    data: bytes | BinaryIO,
    filename: str | None,
    max_bytes: int | None = None,
    purpose: str = "upload",
    organization_id: int | None = None,
) -> StoredFile:
    """Stream the data to the content store under a size cap, sniff its type, record it."""
    actor = uow.actor
    check(actor, "core.file.upload")
    org = organization_id if organization_id is not None else actor.organization_id
    if org is None or not 0 < org < 2**31 or uow.session.get(Organization, org) is None:
        raise InvalidInput(
            "core.file.no_organization",
            "a file belongs to an organization",
            field="organization_id",
        )
    if not scope_for(actor).allows(org):
        raise Forbidden("core.forbidden", "cannot store a file for another organization")
    if not _PURPOSE_RE.match(purpose):
        raise InvalidInput(
            "core.file.bad_purpose", "purpose must be a short lowercase word", field="purpose"
        )
    cap = uow.settings.max_upload_bytes if max_bytes is None else max_bytes
    room = _storage_room(uow, org)
    if room is not None and room <= 0:
        raise _quota_exceeded(uow)
    root = ensure_data_dir(uow.settings)
    stream: BinaryIO = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    digest, size, head = hashlib.sha256(), 0, b""
    tmp_dir = root / "files" / "tmp"
    try:
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="up-")
    except OSError as exc:
        if exc.errno in _NO_SPACE:  # not even an inode left
            raise StorageFull(
                "core.file.no_space",
                "the server's file storage is full; nothing was kept — try again later",
                field="file",
            ) from exc
        raise
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > cap:
                    raise PayloadTooLarge(
                        "core.file.too_large",
                        f"file exceeds the cap of {cap} bytes",
                        field="file",
                        max_bytes=cap,
                    )
                if room is not None and size > room:
                    raise _quota_exceeded(uow)
                if len(head) < 8192:
                    head += chunk[: 8192 - len(head)]
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            # On disk before the rename and before the row commits: after a power cut the row
            # never names a blob that is shorter than its recorded size.
            os.fsync(out.fileno())
        sha = digest.hexdigest()
        mime = sniff(head, Path(tmp_name))
        final = _blob_path(root, sha)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            os.unlink(tmp_name)
        else:
            os.chmod(tmp_name, 0o640)
            os.replace(tmp_name, final)
            _fsync_dir(final.parent)
    except BaseException as exc:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
            raise StorageFull(
                "core.file.no_space",
                "the server's file storage is full; nothing was kept — try again later",
                field="file",
            ) from exc
        raise
    row = StoredFileRow(
        organization_id=org,
        sha256=sha,
        size=size,
        mime=mime,
        filename=sanitize_filename(filename),
        purpose=purpose,
        uploaded_by=actor.label(),
    )
    uow.session.add(row)
    uow.flush()
    uow.audit(
        "core.file.stored",
        f"core_file:{row.id}",
        {"sha256": sha, "size": size, "mime": mime, "filename": row.filename, "purpose": purpose},
        organization_id=org,
    )
    return _out(row, root)


PARTIAL_MAX_AGE_S = 24 * 3600


def sweep_partial(data_dir: Path, *, older_than_s: float = PARTIAL_MAX_AGE_S) -> list[str]:
    """Delete temporary upload files older than ``older_than_s``; return their names.

    What a process killed mid-write leaves behind: never named by a row, never served, only
    taking space. A day is far longer than any upload takes to write.
    """
    tmp_dir = data_dir / "files" / "tmp"
    if not tmp_dir.is_dir():
        return []
    cutoff = time.time() - older_than_s
    gone = []
    for entry in os.scandir(tmp_dir):
        try:
            if entry.name.startswith("up-") and entry.stat().st_mtime <= cutoff:
                os.unlink(entry.path)
                gone.append(entry.name)
        except FileNotFoundError:  # finished or swept by another process meanwhile
            continue
    return sorted(gone)


def _fsync_dir(path: Path) -> None:
    # The rename itself is durable only once its directory is flushed (POSIX).
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _storage_room(uow: UnitOfWork, organization_id: int) -> int | None:
    """Return the bytes the organization may still store (None: no quota)."""
    quota = uow.settings.storage_quota_bytes
    if quota <= 0:
        return None
    used = uow.session.scalar(
        select(func.coalesce(func.sum(StoredFileRow.size), 0)).where(
            StoredFileRow.organization_id == organization_id
        )
    )
    return quota - int(used or 0)


def _quota_exceeded(uow: UnitOfWork) -> PayloadTooLarge:
    quota = uow.settings.storage_quota_bytes
    return PayloadTooLarge(
        "core.file.quota_exceeded",
        f"the organization's storage quota of {quota} bytes is used up",
        field="file",
        quota_bytes=quota,
    )


def _load(uow: UnitOfWork, file_id: int) -> StoredFileRow:
    if not 0 < file_id < 2**63:
        raise NotFound("core.file.not_found", "no such file")
    row = uow.session.scalars(select(StoredFileRow).where(StoredFileRow.id == file_id)).first()
    if row is None:
        raise NotFound("core.file.not_found", "no such file")
    return row


def get_file(*, uow: UnitOfWork, actor: Actor, file_id: int) -> StoredFile:
    """Return the metadata of one file the actor may see."""
    check(actor, "core.file.read")
    return _out(_load(uow, file_id), uow.settings.data_dir.resolve())


def path_of(*, uow: UnitOfWork, file_id: int) -> Path:
    """Return where a visible file's bytes are (NotFound if absent, foreign or missing on disk)."""
    row = _load(uow, file_id)
    path = _blob_path(uow.settings.data_dir.resolve(), row.sha256)
    # A blob shorter or longer than its row says is never handed out (a damaged store).
    if not path.is_file() or path.stat().st_size != row.size:
        raise NotFound("core.file.missing", "the file's content is missing from the store")
    return path
