"""Console pages of appcheck: scans with an upload form, and a report grouped by six categories.

The upload is Post/Redirect/Get with a one-time form key (a reload or a double click never
queues a second scan); the scan page follows its job live and shows the report once it is done.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mingyue.sdk import Settings, can, local_time
from mingyue.web.console import (
    ConsoleActor,
    csrf_protect,
    form_done,
    form_once,
    locale_of,
    new_form_key,
    render,
)
from mingyue.web.deps import UoW

from . import report_view, service
from .console_reviews import router as reviews_router

router = APIRouter(include_in_schema=False)

#: message keys of the values shown as badges (listed so the i18n contract sees every key)
STATUS_KEYS = {
    "queued": "appcheck.status_queued",
    "done": "appcheck.status_done",
    "failed": "appcheck.status_failed",
}
REVIEW_KEYS = {
    "": "appcheck.review_pending",
    "accepted": "appcheck.review_accepted",
    "returned": "appcheck.review_returned",
}
_KEYS = {
    "status": STATUS_KEYS,
    "review": REVIEW_KEYS,
    "cat": report_view.CATEGORY_STATUS_KEYS,
    "sev": report_view.SEVERITY_KEYS,
}


def _local(settings: Settings) -> Callable[[datetime | None], str]:
    """Return the template's time formatter, in the display zone of these settings."""

    def local(at: datetime | None) -> str:
        return local_time(at, settings)

    return local


def report_context(report: dict[str, Any], locale: str) -> dict[str, Any]:
    """Return what the report's templates need to show it in the locale."""
    return {
        "report": report,
        "summary": report_view.summarize(report),
        "rows": lambda findings: report_view.rows(findings, locale),
        "sdk_category": lambda c: report_view.sdk_category(c, locale),
        "matched_by": lambda names: report_view.matched_by(list(names), locale),
        "reason": lambda x: report_view.reason_text(x, locale),
        "keys": _KEYS,
        "lang": "zh" if locale == "zh_CN" else "en",
    }


@router.get("", response_class=HTMLResponse)
def index(request: Request, uow: UoW, actor: ConsoleActor) -> Response:
    """List scans; enterprises get an upload form."""
    scans = service.list_scans(uow=uow, actor=actor)
    return render(
        request,
        "appcheck/index.html",
        {
            "scans": scans,
            "types": service.app_types(),
            "local": _local(uow.settings),
            "can_submit": can(actor, "appcheck.scan.submit"),
            "form_key": new_form_key(),
            "keys": _KEYS,
            "lang": "zh" if locale_of(request) == "zh_CN" else "en",
        },
    )


@router.post("/scans", dependencies=[Depends(csrf_protect)])
def upload(
    request: Request,
    uow: UoW,
    actor: ConsoleActor,
    file: Annotated[UploadFile, File()],
    form_key: Annotated[str | None, Form(max_length=100)] = None,
    app_type: Annotated[str | None, Form(max_length=64)] = None,
    policy: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Accept an upload from the console once and go to the scan's page."""
    if (seen := form_once(uow, actor, form_key)) is not None:
        return RedirectResponse(seen, status_code=303)
    pol = (
        policy.file.read(service.MAX_POLICY_BYTES + 1)
        if policy is not None and policy.filename
        else None
    )
    out = service.submit_scan(
        uow=uow,
        actor=actor,
        data=file.file,
        filename=file.filename or "app.apk",
        app_type=app_type or None,
        policy=pol,
    )
    location = f"/appcheck/scans/{out.id}"
    form_done(uow, str(form_key), location)
    return RedirectResponse(location, status_code=303)


@router.get("/scans/{scan_id}", response_class=HTMLResponse)
def report(scan_id: int, request: Request, uow: UoW, actor: ConsoleActor) -> Response:
    """Show a scan: live progress while it runs, then its summary and report by category."""
    scan = service.get_scan(uow=uow, actor=actor, scan_id=scan_id)
    locale = locale_of(request)
    ctx: dict[str, Any] = {
        "scan": scan,
        "report": None,
        "local": _local(uow.settings),
        "keys": _KEYS,
        "lang": "zh" if locale == "zh_CN" else "en",
    }
    if scan.status == "done":
        ctx.update(
            report_context(service.get_report(uow=uow, actor=actor, scan_id=scan_id), locale)
        )
    return render(request, "appcheck/report.html", ctx)


@router.get("/scans/{scan_id}/report.pdf")
def report_pdf(scan_id: int, request: Request, uow: UoW, actor: ConsoleActor) -> Response:
    """Download the report as PDF in the page's language (an error page when it cannot be set)."""
    lang = "zh" if locale_of(request) == "zh_CN" else "en"
    pdf = service.report_pdf(uow=uow, actor=actor, scan_id=scan_id, lang=lang)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="appcheck-report-{scan_id}.pdf"'},
    )


# store-listing / algorithm-ethics reviews and release history pages
router.include_router(reviews_router)
