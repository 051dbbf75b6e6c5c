"""REST API of the crossborder enabler (mounted at /api/crossborder)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Response, UploadFile
from pydantic import BaseModel

from mingyue.sdk import Actor, JobOut
from mingyue.web.deps import UoW, require

from . import service
from .schemas import (
    AssessmentOut,
    FilingIn,
    FilingOut,
    ScanOut,
    ScanQueuedOut,
    ScenarioIn,
    TransferIn,
    TransferOut,
)

router = APIRouter(tags=["crossborder"])

Reader = Annotated[Actor, Depends(require("crossborder.read"))]


@router.post("/assess", operation_id="crossborder-assess", status_code=201)
def assess(
    body: ScenarioIn, uow: UoW, actor: Annotated[Actor, Depends(require("crossborder.assess"))]
) -> AssessmentOut:
    """Assess a transfer scenario: path, basis, obligations (stored)."""
    return service.create_assessment(
        uow=uow, actor=actor, scenario=body.model_dump(exclude_unset=True)
    )


@router.get("/assessments", operation_id="crossborder-list_assessments")
def list_assessments(uow: UoW, actor: Reader) -> list[AssessmentOut]:
    """Assessments visible to the caller."""
    return service.list_assessments(uow=uow, actor=actor)


@router.post("/filings", operation_id="crossborder-create_filing", status_code=201)
def create_filing(
    body: FilingIn, uow: UoW, actor: Annotated[Actor, Depends(require("crossborder.filing.submit"))]
) -> FilingOut:
    """Submit a filing; it opens a case of its kind."""
    return service.create_filing(uow=uow, actor=actor, body=body)


@router.get("/filings", operation_id="crossborder-list_filings")
def list_filings(uow: UoW, actor: Reader) -> list[FilingOut]:
    """Filings visible to the caller."""
    return service.list_filings(uow=uow, actor=actor)


@router.get("/filings/expiring", operation_id="crossborder-expiring_filings")
def expiring(
    uow: UoW, actor: Reader, within_days: Annotated[int, Query(ge=0, le=3650)] = 90
) -> list[FilingOut]:
    """Approved filings whose validity ends soon."""
    return service.expiring_filings(uow=uow, actor=actor, within_days=within_days)


@router.get("/filings/{filing_id}", operation_id="crossborder-get_filing")
def get_filing(filing_id: int, uow: UoW, actor: Reader) -> FilingOut:
    """One filing."""
    return service.get_filing(uow=uow, actor=actor, filing_id=filing_id)


@router.post("/transfers", operation_id="crossborder-declare_transfer", status_code=201)
def declare(
    body: TransferIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("crossborder.transfer.declare"))],
) -> TransferOut:
    """Declare a transfer."""
    return service.declare_transfer(uow=uow, actor=actor, body=body)


@router.get("/transfers", operation_id="crossborder-list_transfers")
def transfers(uow: UoW, actor: Reader) -> list[TransferOut]:
    """Declared transfers visible to the caller."""
    return service.list_transfers(uow=uow, actor=actor)


@router.post(
    "/scans",
    operation_id="crossborder-scan",
    status_code=201,
    responses={202: {"model": ScanQueuedOut, "description": "Queued as a job (large upload)"}},
)
def scan(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("crossborder.scan"))],
    file: Annotated[UploadFile, File()],
    response: Response,
    show_values: bool = False,
    ner: bool | None = None,
) -> ScanOut | ScanQueuedOut:
    """Scan an uploaded file for personal information (hashes, not values, are kept).

    Uploads up to ``MINGYUE_CROSSBORDER__SYNC_SCAN_MAX_BYTES`` (64 KiB) are scanned at once
    (201, the report); larger ones become a ``crossborder.scan`` job (202: ``status_url`` is the
    job, whose ``result.report_url`` is the report once done; ``show_values`` answers 413).
    Person names, places and organisations are looked for in uploads up to 2 MiB unless
    ``ner=false``, within a time budget per document (the report's ``ner_truncated``);
    ``ner=true`` on a larger upload answers 413. The upload is streamed under the platform's
    upload cap (413) to a private file deleted after the scan (or when its job ends). A plain
    ``def``: the request's own work runs in the threadpool, never on the event loop."""
    out = service.scan_upload(
        uow=uow,
        actor=actor,
        data=file.file,
        filename=file.filename or "upload",
        show_values=show_values,
        ner=ner,
    )
    if isinstance(out, ScanQueuedOut):
        response.status_code = 202
    return out


@router.get("/scans", operation_id="crossborder-list_scans")
def scans(uow: UoW, actor: Reader) -> list[ScanOut]:
    """Scan reports visible to the caller."""
    return service.list_scans(uow=uow, actor=actor)


@router.get("/scans/{scan_id}", operation_id="crossborder-get_scan")
def get_scan(scan_id: int, uow: UoW, actor: Reader) -> ScanOut:
    """One scan report (hashes and counts, never values)."""
    return service.get_scan(uow=uow, actor=actor, scan_id=scan_id)


@router.get("/flows", operation_id="crossborder-flows")
def flows(uow: UoW, actor: Reader, organization_id: int | None = None) -> dict[str, Any]:
    """Distinct individuals per recipient and year, observed endpoints and alerts of the caller's
    organization (oversight roles may name another organization)."""
    return service.flow_counts(uow=uow, actor=actor, organization_id=organization_id)


class WatchIn(BaseModel):
    """Read a stored log or pcap (a core file id) into the flow monitor."""

    file_id: int
    format: str | None = None


@router.post("/watch", operation_id="crossborder-watch", status_code=201)
def watch(
    body: WatchIn, uow: UoW, actor: Annotated[Actor, Depends(require("crossborder.watch"))]
) -> JobOut:
    """Queue a flow-monitor job over an uploaded log or pcap (resumes where it stopped)."""
    return service.enqueue_watch(uow=uow, actor=actor, file_id=body.file_id, fmt=body.format)
