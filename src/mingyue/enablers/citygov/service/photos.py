"""Photos of reports, cases and feedback: metadata stripped before storing, read back only by
someone who may see the report, task or case they belong to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from mingyue.enablers.citygov.engine.photo import FORMATS, strip_metadata
from mingyue.enablers.citygov.models_cases import CitygovCase, CitygovReport, CitygovTask
from mingyue.sdk import UnitOfWork, store_upload, stored_path
from mingyue.sdk.errors import NotFound, PayloadTooLarge

from .common import opts, platform_scope

ALLOWED = frozenset(FORMATS.values())
_CHUNK = 1024 * 1024


def read_capped(upload: Any, cap: int) -> bytes:
    """Read an upload (bytes, a file, or a web upload) refusing more than ``cap`` bytes (413)."""
    if isinstance(upload, bytes | bytearray):
        data = bytes(upload)
    else:
        stream = getattr(upload, "file", upload)
        parts: list[bytes] = []
        size = 0
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            if size > cap:
                break
            parts.append(chunk)
        data = b"".join(parts) if size <= cap else b"x" * (cap + 1)
    if len(data) > cap:
        raise PayloadTooLarge(
            "citygov.photo.too_large", f"the photo exceeds {cap} bytes", field="photo", max=cap
        )
    return data


def store_photo(uow: UnitOfWork, upload: Any, *, organization_id: int, purpose: str) -> int:
    """Strip a photo's metadata, store it for the organization and return its file id."""
    o = opts(uow)
    clean = strip_metadata(read_capped(upload, o.max_photo_bytes), max_pixels=o.max_photo_pixels)
    stored = store_upload(
        uow=uow,
        upload=clean.data,
        filename=f"photo{clean.suffix}",
        purpose=purpose,
        max_bytes=o.max_photo_bytes,
        organization_id=organization_id,
        allowed_types=ALLOWED,
    )
    return int(stored.id)


def _owner_photos(uow: UnitOfWork, owner: str, owner_id: int) -> list[int]:
    # Each read runs in the caller's scope: a reporter sees their organization's reports, a unit
    # its tasks, the centre and oversight roles every case; anything else is not found.
    if owner == "report":
        report = uow.session.get(CitygovReport, owner_id)
        return [report.photo_file_id] if report is not None and report.photo_file_id else []
    if owner == "task":
        task = uow.session.get(CitygovTask, owner_id)
        if task is None:
            return []
        return [*(task.snapshot or {}).get("photo_file_ids", []), *(task.feedback_photo_ids or [])]
    if owner == "case":
        row = uow.session.get(CitygovCase, owner_id)
        if row is None:
            return []
        ids: list[int] = list(row.photo_file_ids or [])
        feedback: list[list[int] | None] = list(
            uow.session.scalars(
                select(CitygovTask.feedback_photo_ids).where(CitygovTask.city_case_id == row.id)
            )
        )
        return ids + [i for photos in feedback for i in photos or []]
    return []


def photo_path(uow: UnitOfWork, *, owner: str, owner_id: int, file_id: int) -> tuple[Path, str]:
    """Return a photo's local path and type if it belongs to a report, task or case the caller
    may see (NotFound otherwise)."""
    if file_id not in _owner_photos(uow, owner, owner_id):
        raise NotFound("core.not_found", "not found")
    with platform_scope(uow, "read a photo of a visible report, task or case", record=False):
        path = stored_path(uow=uow, file_id=file_id)
    with path.open("rb") as fh:
        head = fh.read(16)
    if head.startswith(b"\x89PNG"):
        mime = "image/png"
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        mime = "image/webp"
    else:
        mime = "image/jpeg"
    return path, mime
