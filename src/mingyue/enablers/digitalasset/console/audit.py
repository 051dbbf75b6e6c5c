"""Contract audit (``/audit``): upload a .sol file or a zip, a job with live status, the report
by DASP category with SWC ids, the SARIF log."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from mingyue.enablers.digitalasset.service import audit as audit_service
from mingyue.enablers.digitalasset.service import views, views_monitor
from mingyue.sdk import Actor, UnitOfWork, can, check, get_job, unit_of_work
from mingyue.sdk.errors import MingyueError
from mingyue.web.console import ConsoleActor, csrf_protect, new_form_key, run_once, settings_of

from .common import Id, Key, page, read_capped

router = APIRouter(include_in_schema=False)


def _audits(request: Request, actor: Actor, *, exc: MingyueError | None = None) -> Response:
    check(actor, "digitalasset.audit.read")
    with unit_of_work(actor, settings_of(request)) as uow:
        rows = audit_service.list_audits(uow=uow, actor=actor)
        orgs = views.org_names(uow, {a.organization_id for a in rows})
    return page(
        request,
        "digitalasset/audit.html",
        {
            "audits": rows,
            "orgs": orgs,
            "can_submit": can(actor, "digitalasset.audit.submit"),
            "form_key": new_form_key(),
        },
        exc,
    )


@router.get("/audit", response_class=HTMLResponse)
def audits(request: Request, actor: ConsoleActor) -> Response:
    """Contract audits: upload a .sol file or a zip; the list of audits and their status."""
    return _audits(request, actor)


@router.post("/audit", dependencies=[Depends(csrf_protect)])
def submit_audit(
    request: Request, actor: ConsoleActor, file: Annotated[UploadFile, File()], form_key: Key = ""
) -> Response:
    """Queue a security audit of the uploaded sources; follow it live on its page."""

    def submit(uow: UnitOfWork) -> str:
        check(actor, "digitalasset.audit.submit")
        data = read_capped(file, audit_service.MAX_UPLOAD, "digitalasset.audit.too_large")
        out = audit_service.submit_audit(
            uow=uow, actor=actor, data=data, filename=file.filename or "contract.sol"
        )
        return f"/digitalasset/audit/{out.id}"

    return run_once(
        request, actor, form_key, submit, on_error=lambda exc: _audits(request, actor, exc=exc)
    )


@router.get("/audit/{audit_id}", response_class=HTMLResponse)
def audit_detail(audit_id: Id, request: Request, actor: ConsoleActor) -> Response:
    """An audit: live job status while it runs, then findings by DASP category with SWC ids."""
    with unit_of_work(actor, settings_of(request)) as uow:
        p = views_monitor.audit_page(uow=uow, actor=actor, audit_id=audit_id)
        job = (
            get_job(uow=uow, actor=actor, job_id=p.audit.job_id)
            if p.running and p.audit.job_id and can(actor, "core.job.read")
            else None
        )
        orgs = views.org_names(uow, {p.audit.organization_id})
    return page(
        request,
        "digitalasset/audit_detail.html",
        {"p": p, "audit": p.audit, "job": job, "org": orgs[p.audit.organization_id]},
    )


@router.get("/audit/{audit_id}/sarif")
def audit_sarif(audit_id: Id, request: Request, actor: ConsoleActor) -> Response:
    """Download the audit's SARIF 2.1.0 log."""
    with unit_of_work(actor, settings_of(request)) as uow:
        sarif = audit_service.audit_sarif(uow=uow, actor=actor, audit_id=audit_id)
    return Response(
        content=json.dumps(sarif, ensure_ascii=False, indent=2),
        media_type="application/sarif+json",
        headers={"Content-Disposition": f'attachment; filename="audit-{audit_id}.sarif.json"'},
    )
