"""PII scans of files: a local file for the CLI, an upload for the API (kept as a report of hashes).

An uploaded file is never kept: it is streamed under the upload cap to a private temporary file
(``scratch_upload``), scanned and deleted. Only counts, column verdicts and keyed hashes of the
values are stored; the values themselves are shown once, to the uploader who asks for them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select

from mingyue.sdk import (
    Actor,
    InvalidInput,
    PayloadTooLarge,
    Refused,
    Settings,
    UnitOfWork,
    check,
    record_count,
    require_org,
    scratch_upload,
)

from .engine.ner import make_ner
from .engine.pii import PiiDetector
from .engine.scan import ScanError, ScanResult, scan_file
from .models import CrossborderScan
from .schemas import ScanOut

NER_MAX_UPLOAD_BYTES = 2 << 20  # an API request with ner=true stays within about 30 CPU-seconds
NER_AUTO_MAX_FILE_BYTES = 4 << 20  # the CLI's default NER stays within about a CPU-minute


def hash_key(settings: Settings) -> bytes:
    """Return the key of the text hashes in reports (derived from the platform secret, not kept)."""
    return hmac.new(
        settings.secret_key.encode(), b"mingyue.crossborder.text_hash", hashlib.sha256
    ).digest()


def scan_path(
    path: Path, settings: Settings, *, show_values: bool = False, ner: bool = False
) -> tuple[ScanResult, dict[str, Any]]:
    """Scan a local file with the engine; return the result and its report (hashes by default).

    ``ner`` adds names, places and organisations with the default NER backend (``make_ner()``).
    """
    try:
        result = scan_file(path, PiiDetector(ner=make_ner() if ner else None))
    except ScanError as exc:
        raise InvalidInput(
            "crossborder.bad_file", str(exc), field="file", reason=str(exc)
        ) from None
    report = result.to_dict(hash_key(settings), show_values=show_values)
    report["ner"] = ner  # whether names, places and organisations were looked for
    return result, report


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
    }


def scan_upload(
    *,
    uow: UnitOfWork,
    actor: Actor,
    data: BinaryIO | bytes,
    filename: str,
    show_values: bool = False,
    ner: bool | None = None,
) -> ScanOut:
    """Scan an uploaded file and keep the report (never the values, which only the uploader sees).

    ``data`` is streamed under the platform's upload cap (413 above it) to a temporary file that
    is deleted after the scan. ``ner`` None (the default) looks for names, places and
    organisations in uploads up to ``NER_MAX_UPLOAD_BYTES`` and not in larger ones; the report's
    ``ner`` says which happened.
    """
    check(actor, "crossborder.scan")
    org = require_org(actor, field="--as")
    if show_values and not actor.has_role("org_admin", "member"):
        raise Refused(
            "crossborder.values_owner_only",
            "values are shown only to the data's owner",
            field="show_values",
        )
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
        result, report = scan_path(upload.path, uow.settings, show_values=False, ner=ner)
        shown = result.to_dict(hash_key(uow.settings), show_values=True) if show_values else report
    row = CrossborderScan(
        organization_id=org,
        created_by=actor.label(),
        filename=upload.filename[:255],
        sha256=upload.sha256,
        kind=result.kind,
        counts=dict(result.counts),
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
    return ScanOut(
        id=row.id,
        filename=row.filename,
        sha256=row.sha256,
        kind=row.kind,
        counts=row.counts,
        sensitive=row.sensitive,
        entities=shown["entities"],
        columns=shown.get("columns"),
        ner=bool(report.get("ner")),
    )


def list_scans(*, uow: UnitOfWork, actor: Actor) -> list[ScanOut]:
    """Return the scan reports visible to the actor (hashes only)."""
    check(actor, "crossborder.read")
    rows = uow.session.scalars(
        select(CrossborderScan).order_by(CrossborderScan.id.desc()).limit(200)
    )
    return [
        ScanOut(
            id=r.id,
            filename=r.filename,
            sha256=r.sha256,
            kind=r.kind,
            counts=r.counts,
            sensitive=r.sensitive,
            entities=r.report.get("entities", []),
            columns=r.report.get("columns"),
            ner=bool(r.report.get("ner")),
        )
        for r in rows
    ]
