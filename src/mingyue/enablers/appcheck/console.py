"""Console pages of appcheck: scans with an upload form, and a report grouped by six categories."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mingyue.sdk import Settings, can, local_time
from mingyue.web.console import ConsoleActor, csrf_protect, locale_of, render
from mingyue.web.deps import UoW

from . import service

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
CATEGORY_STATUS_KEYS = {
    "issues_found": "appcheck.cat_issues_found",
    "warnings": "appcheck.cat_warnings",
    "needs_dynamic_testing": "appcheck.cat_needs_dynamic_testing",
    "no_static_issue": "appcheck.cat_no_static_issue",
}
_KEYS = {"status": STATUS_KEYS, "review": REVIEW_KEYS, "cat": CATEGORY_STATUS_KEYS}


def _local(settings: Settings) -> Callable[[datetime | None], str]:
    """Return the template's time formatter, in the display zone of these settings."""

    def local(at: datetime | None) -> str:
        return local_time(at, settings)

    return local


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
    app_type: Annotated[str | None, Form(max_length=64)] = None,
    policy: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Accept an upload from the console and go to the scan's page."""
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
    return RedirectResponse(f"/appcheck/scans/{out.id}", status_code=303)


@router.get("/scans/{scan_id}", response_class=HTMLResponse)
def report(scan_id: int, request: Request, uow: UoW, actor: ConsoleActor) -> Response:
    """Show a scan: its report by category with evidence, review state and credential."""
    scan = service.get_scan(uow=uow, actor=actor, scan_id=scan_id)
    rep = (
        service.get_report(uow=uow, actor=actor, scan_id=scan_id) if scan.status == "done" else None
    )
    return render(
        request,
        "appcheck/report.html",
        {
            "scan": scan,
            "report": rep,
            "local": _local(uow.settings),
            "keys": _KEYS,
            "lang": "zh" if locale_of(request) == "zh_CN" else "en",
        },
    )
