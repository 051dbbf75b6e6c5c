"""REST routes of appcheck (mounted at /api/appcheck). Thin: parse -> service -> schema."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile

from mingyue.sdk import Actor
from mingyue.web.deps import UoW, require

from . import service
from .api_reviews import router as reviews_router
from .schemas import AppTypeOut, RuleSetOut, ScanOut

router = APIRouter(tags=["appcheck"])


@router.post("/scans", operation_id="appcheck-submit_scan", status_code=201)
def submit_scan(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("appcheck.scan.submit"))],
    file: Annotated[UploadFile, File(description="APK, .apks or .xapk")],
    app_type: Annotated[str | None, Form(max_length=64)] = None,
    policy: Annotated[UploadFile | None, File(description="privacy policy or SDK list")] = None,
) -> ScanOut:
    """Upload an APK (optionally its privacy policy / SDK list) and queue its scan."""
    policy_bytes = policy.file.read(service.MAX_POLICY_BYTES + 1) if policy is not None else None
    return service.submit_scan(
        uow=uow,
        actor=actor,
        data=file.file,
        filename=file.filename or "app.apk",
        app_type=app_type,
        policy=policy_bytes,
    )


@router.get("/scans", operation_id="appcheck-list_scans")
def list_scans(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("appcheck.report.read"))],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ScanOut]:
    """List scans, newest first."""
    return service.list_scans(uow=uow, actor=actor, limit=limit)


@router.get("/scans/{scan_id}", operation_id="appcheck-get_scan")
def get_scan(
    scan_id: int, uow: UoW, actor: Annotated[Actor, Depends(require("appcheck.report.read"))]
) -> ScanOut:
    """Return one scan (status, case, credential)."""
    return service.get_scan(uow=uow, actor=actor, scan_id=scan_id)


@router.get("/scans/{scan_id}/report", operation_id="appcheck-get_report")
def get_report(
    scan_id: int, uow: UoW, actor: Annotated[Actor, Depends(require("appcheck.report.read"))]
) -> dict[str, Any]:
    """Return the report as JSON (the export format), grouped by the six categories."""
    return service.get_report(uow=uow, actor=actor, scan_id=scan_id)


@router.get(
    "/scans/{scan_id}/report.pdf",
    operation_id="appcheck-get_report_pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def get_report_pdf(
    scan_id: int,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("appcheck.report.read"))],
    lang: Annotated[str, Query(pattern="^(zh|en)$")] = "zh",
) -> Response:
    """Return the report as PDF (zh-CN or en)."""
    pdf = service.report_pdf(uow=uow, actor=actor, scan_id=scan_id, lang=lang)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="appcheck-report-{scan_id}.pdf"'},
    )


@router.get("/rules", operation_id="appcheck-list_rules")
def list_rules(
    actor: Annotated[Actor, Depends(require("appcheck.report.read"))],
) -> list[RuleSetOut]:
    """List the loaded rule sets with their versions and sources."""
    return service.rule_sets()


@router.get("/app-types", operation_id="appcheck-list_app_types")
def list_app_types(
    actor: Annotated[Actor, Depends(require("appcheck.report.read"))],
) -> list[AppTypeOut]:
    """List the 39 App types of the 2021 necessary-PI rule."""
    return service.app_types()


# store-listing / algorithm-ethics reviews and release history (SDK monitoring)
router.include_router(reviews_router)
