"""PII scans of files: a local file for the CLI, an upload for the API (kept as a report of hashes).

An uploaded file is never kept: it is streamed under the upload cap to a private temporary file
(``scratch_upload``), scanned and deleted. Only counts, column verdicts and keyed hashes of the
values are stored; the values themselves are shown once, to the uploader who asks for them.

An upload above ``MINGYUE_CROSSBORDER__SYNC_SCAN_MAX_BYTES`` is not scanned inside the request:
it becomes a ``crossborder.scan`` job (:mod:`.scan_jobs`), whose scratch file lives until the
job ends. Every scan, here or in a job, runs under the same limits (:class:`ScanLimits`): a NER
time budget per document, the platform's archive caps before a DOCX is opened, and a cap on the
text extracted from a PDF or DOCX (GitHub issue 12, item 4).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select

from mingyue.sdk import (
    Actor,
    ArchiveCaps,
    InvalidInput,
    JobOut,
    NotFound,
    PayloadTooLarge,
    Refused,
    ScratchFile,
    Settings,
    UnitOfWork,
    caps_from_settings,
    check,
    check_archive,
    enqueue,
    get_job,
    get_visible,
    record_count,
    require_org,
    scratch_upload,
)

from .engine.ner import make_ner
from .engine.pii import PiiDetector
from .engine.scan import Progress, ScanError, ScanResult, detect_kind, scan_file
from .models import CrossborderScan
from .schemas import ScanOut, ScanQueuedOut
from .settings import options

NER_MAX_UPLOAD_BYTES = 2 << 20  # an API request with ner=true stays within about 30 CPU-seconds
NER_AUTO_MAX_FILE_BYTES = 4 << 20  # the CLI's default NER stays within about a CPU-minute


def hash_key(settings: Settings) -> bytes:
    """Return the key of the text hashes in reports (derived from the platform secret, not kept)."""
    return hmac.new(
        settings.secret_key.encode(), b"mingyue.crossborder.text_hash", hashlib.sha256
    ).digest()


@dataclass(frozen=True)
class ScanLimits:
    """What bounds one scan: NER seconds per document, archive caps, extracted text."""

    ner_budget_s: float | None
    archive: ArchiveCaps
    office_max_bytes: int

    def archive_caps_for(self, path: Path) -> ArchiveCaps:
        """Return the caps of one Office document: it may expand to ``office_max_bytes`` or 4x
        its own size (embedded images), never past the platform's archive cap."""
        budget = max(self.office_max_bytes, 4 * path.stat().st_size)
        return dataclasses.replace(
            self.archive, max_total_bytes=min(self.archive.max_total_bytes, budget)
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the limits as JSON-ready data (they travel to the scan job's child process)."""
        return {
            "ner_budget_s": self.ner_budget_s,
            "archive": dataclasses.asdict(self.archive),
            "office_max_bytes": self.office_max_bytes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScanLimits:
        """Rebuild limits written by :meth:`to_dict`."""
        return cls(
            ner_budget_s=data["ner_budget_s"],
            archive=ArchiveCaps(**data["archive"]),
            office_max_bytes=int(data["office_max_bytes"]),
        )


def scan_limits(settings: Settings) -> ScanLimits:
    """Return the limits of a scan from the settings (``MINGYUE_CROSSBORDER__*``, ``archive_*``)."""
    opts = options(settings)
    return ScanLimits(
        ner_budget_s=opts.ner_budget_s or None,
        archive=caps_from_settings(settings),
        office_max_bytes=opts.office_max_bytes,
    )


def run_scan(
    path: Path,
    key: bytes,
    limits: ScanLimits,
    *,
    show_values: bool = False,
    ner: bool = False,
    progress: Progress | None = None,
) -> tuple[ScanResult, dict[str, Any]]:
    """Scan a file under ``limits``; return the result and its report (hashes by default).

    A DOCX is judged by the platform's archive check before it is opened (422 / exit 2 past a
    cap); the report's ``ner_truncated`` says whether the NER budget ran out.
    """
    detector = PiiDetector(ner=make_ner() if ner else None, ner_budget_s=limits.ner_budget_s)

    def judge(p: Path) -> None:
        check_archive(p, limits.archive_caps_for(p))

    try:
        result = scan_file(
            path,
            detector,
            check_archive=judge,
            max_text_chars=limits.office_max_bytes,
            progress=progress,
        )
    except ScanError as exc:
        raise InvalidInput(
            "crossborder.bad_file", str(exc), field="file", reason=str(exc)
        ) from None
    report = result.to_dict(key, show_values=show_values)
    report["ner"] = ner  # whether names, places and organisations were looked for
    return result, report


def precheck(path: Path, limits: ScanLimits) -> None:
    """Refuse at once (422) what a scan would refuse on opening: an unknown or corrupt kind, an
    Office document past the archive caps (only the zip's directory is read)."""
    try:
        kind = detect_kind(path)
    except ScanError as exc:
        raise InvalidInput(
            "crossborder.bad_file", str(exc), field="file", reason=str(exc)
        ) from None
    if kind == "docx":
        check_archive(path, limits.archive_caps_for(path))


def scan_path(
    path: Path, settings: Settings, *, show_values: bool = False, ner: bool = False
) -> tuple[ScanResult, dict[str, Any]]:
    """Scan a local file with the engine; return the result and its report (hashes by default).

    ``ner`` adds names, places and organisations with the default NER backend (``make_ner()``),
    within the settings' NER budget per document.
    """
    return run_scan(
        path, hash_key(settings), scan_limits(settings), show_values=show_values, ner=ner
    )


def scan_local(
    *, path: Path, settings: Settings, show_values: bool = False, ner: bool | None = None
) -> dict[str, Any]:
    """Scan a local file for the CLI; ``show_values`` only for the file's owner (same OS user).

    ``ner`` None looks for names, places and organisations in files up to
    ``NER_AUTO_MAX_FILE_BYTES`` (NER reads ~65 KB per CPU-second); True forces it on any size.
    """
    if not path.is_file():
        raise InvalidInput(
            "crossborder.bad_file",
            f"no such file: {path}",
            field="file",
            reason=f"no such file: {path}",
        )
    if ner is None:
        ner = path.stat().st_size <= NER_AUTO_MAX_FILE_BYTES
    if show_values and path.stat().st_uid != os.geteuid():
        raise Refused(
            "crossborder.values_owner_only",
            "--show-values is only for the owner of the file",
            field="--show-values",
        )
    _result, report = scan_path(path, settings, show_values=show_values, ner=ner)
    return {
        "entities": report["entities"],
        "counts": report["counts"],
        **({"columns": report["columns"]} if "columns" in report else {}),
        "kind": report["kind"],
        "sensitive": report["sensitive"],
        "ner": report["ner"],
        "ner_truncated": report["ner_truncated"],
    }


def scan_upload(
    *,
    uow: UnitOfWork,
    actor: Actor,
    data: BinaryIO | bytes,
    filename: str,
    show_values: bool = False,
    ner: bool | None = None,
) -> ScanOut | ScanQueuedOut:
    """Scan an uploaded file and keep the report (never the values, which only the uploader sees).

    ``data`` is streamed under the platform's upload cap (413 above it) to a temporary file. Up
    to ``MINGYUE_CROSSBORDER__SYNC_SCAN_MAX_BYTES`` it is scanned here and deleted; a larger
    upload is handed to a ``crossborder.scan`` job (``ScanQueuedOut``), whose report is read
    with :func:`get_scan` once the job is done (raw values are then never shown: 413 with
    ``show_values``). ``ner`` None (the default) looks for names, places and organisations in
    uploads up to ``NER_MAX_UPLOAD_BYTES`` and not in larger ones; the report's ``ner`` says
    which happened.
    """
    check(actor, "crossborder.scan")
    require_org(actor, field="--as")
    if show_values and not actor.has_role("org_admin", "member"):
        raise Refused(
            "crossborder.values_owner_only",
            "values are shown only to the data's owner",
            field="show_values",
        )
    sync_max = options(uow.settings).sync_scan_max_bytes
    with scratch_upload(uow=uow, upload=data, filename=filename) as upload:
        if ner is None:
            ner = upload.size <= NER_MAX_UPLOAD_BYTES
        if ner and upload.size > NER_MAX_UPLOAD_BYTES:  # NER reads ~65 KB per CPU-second
            raise PayloadTooLarge(
                "crossborder.ner_too_large",
                f"NER scans uploads up to {NER_MAX_UPLOAD_BYTES} bytes; use the CLI's "
                "scan --ner for larger files",
                field="ner",
                limit=NER_MAX_UPLOAD_BYTES,
            )
        if upload.size > sync_max:
            if show_values:  # a job's result is stored: it never holds the values
                raise PayloadTooLarge(
                    "crossborder.values_sync_only",
                    f"raw values are shown only for uploads up to {sync_max} bytes; "
                    "use the CLI's scan --show-values for larger files",
                    field="show_values",
                    limit=sync_max,
                )
            precheck(upload.path, scan_limits(uow.settings))  # a bomb is refused now, not later
            return _enqueue(uow=uow, upload=upload, ner=ner)
        result, report = scan_path(upload.path, uow.settings, show_values=False, ner=ner)
        shown = result.to_dict(hash_key(uow.settings), show_values=True) if show_values else report
    out = record_scan(
        uow=uow,
        actor=actor,
        filename=upload.filename,
        sha256=upload.sha256,
        report=report,
    )
    return out.model_copy(update={"entities": shown["entities"], "columns": shown.get("columns")})


SCAN_JOB = "crossborder.scan"
SCRATCH_MAX_AGE_S = 24 * 3600  # a scratch file whose job never ran (cancelled while queued)
_SCRATCH_NAME = re.compile(r"[0-9a-f]{32}(\.[A-Za-z0-9_-]{1,15})?")


def scan_job_dir(settings: Settings) -> Path:
    """Return the folder of uploads waiting for their scan job (private to the platform user)."""
    path = settings.data_dir / "crossborder" / "scan_jobs"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def scan_job_upload(settings: Settings, name: str) -> Path:
    """Return the scratch file of a scan job by its name (InvalidInput for a malformed name)."""
    if not _SCRATCH_NAME.fullmatch(name):
        raise InvalidInput("crossborder.scan_upload_gone", "bad scratch file name", field="upload")
    return scan_job_dir(settings) / name


def _sweep(folder: Path) -> None:
    cutoff = time.time() - SCRATCH_MAX_AGE_S
    for f in folder.iterdir():
        with contextlib.suppress(OSError):
            if f.stat().st_mtime < cutoff:
                f.unlink()


def _enqueue(*, uow: UnitOfWork, upload: ScratchFile, ner: bool) -> ScanQueuedOut:
    """Hand a scratch upload to a scan job: moved (never copied) into the job folder, where it
    stays until the job ends; the job's parameters name it, never its content."""
    folder = scan_job_dir(uow.settings)
    _sweep(folder)
    name = secrets.token_hex(16) + upload.path.suffix
    target = folder / name
    # scratch_upload unlinks its path when the block ends; once moved, nothing is left there.
    os.replace(upload.path, target)
    try:
        job = enqueue(
            uow=uow,
            kind=SCAN_JOB,
            params={
                "upload": name,
                "filename": upload.filename,
                "sha256": upload.sha256,
                "size": upload.size,
                "ner": ner,
            },
        )
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return ScanQueuedOut(
        job_id=job.id,
        status=job.status,
        status_url=f"/api/jobs/{job.id}",
        filename=upload.filename,
        sha256=upload.sha256,
        size=upload.size,
        ner=ner,
    )


def record_scan(
    *, uow: UnitOfWork, actor: Actor, filename: str, sha256: str, report: dict[str, Any]
) -> ScanOut:
    """Keep a scan's report (hashes and counts, never values); audit and count it."""
    check(actor, "crossborder.scan")
    org = require_org(actor, field="--as")
    row = CrossborderScan(
        organization_id=org,
        created_by=actor.label(),
        filename=filename[:255],
        sha256=sha256,
        kind=str(report["kind"]),
        counts=dict(report["counts"]),
        sensitive=bool(report["sensitive"]),
        report=report,
    )
    uow.session.add(row)
    uow.flush()
    ref = f"crossborder_scan:{row.id}"
    uow.audit(
        "crossborder.scan.completed",
        ref,
        {"sha256": row.sha256, "counts": row.counts},
        organization_id=org,
    )
    record_count(
        uow=uow,
        organization_id=org,
        meter="crossborder.scans",
        unit="scan",
        source="crossborder",
        ref=ref,
    )
    return _out(row)


def _out(r: CrossborderScan) -> ScanOut:
    return ScanOut(
        id=r.id,
        filename=r.filename,
        sha256=r.sha256,
        kind=r.kind,
        counts=r.counts,
        sensitive=r.sensitive,
        entities=r.report.get("entities", []),
        columns=r.report.get("columns"),
        ner=bool(r.report.get("ner")),
        ner_truncated=bool(r.report.get("ner_truncated")),
    )


def get_scan(*, uow: UnitOfWork, actor: Actor, scan_id: int) -> ScanOut:
    """Return one scan report (hashes only; NotFound for a foreign one)."""
    check(actor, "crossborder.read")
    return _out(
        get_visible(
            uow, CrossborderScan, scan_id, "crossborder.read", key="crossborder.scan_not_found"
        )
    )


def get_scan_job(*, uow: UnitOfWork, actor: Actor, job_id: int) -> JobOut:
    """Return the job of a large upload's scan (NotFound for another kind of job)."""
    check(actor, "crossborder.read")
    job = get_job(uow=uow, actor=actor, job_id=job_id)
    if job.kind != SCAN_JOB:
        raise NotFound("crossborder.scan_not_found", f"job {job_id} is not a scan")
    return job


def list_scans(*, uow: UnitOfWork, actor: Actor) -> list[ScanOut]:
    """Return the scan reports visible to the actor (hashes only)."""
    check(actor, "crossborder.read")
    rows = uow.session.scalars(
        select(CrossborderScan).order_by(CrossborderScan.id.desc()).limit(200)
    )
    return [_out(r) for r in rows]
