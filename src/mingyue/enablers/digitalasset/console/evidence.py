"""Evidence and anchors: build and anchor a work's evidence package, download it, and the roots
anchored on the chain (evidence packages and the audit ledger's signed heads)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from mingyue.enablers.digitalasset import service
from mingyue.sdk import UnitOfWork, can, check, enqueue, get_job, unit_of_work
from mingyue.web.console import ConsoleActor, csrf_protect, new_form_key, run_once, settings_of

from .common import Id, Key, page
from .works import work_page

router = APIRouter(include_in_schema=False)


@router.post("/works/{work_id}/evidence", dependencies=[Depends(csrf_protect)])
def build_evidence(
    work_id: Id,
    request: Request,
    actor: ConsoleActor,
    form_key: Key = "",
    purpose: Annotated[str, Form(max_length=40)] = "ip_pledge",
) -> Response:
    """Build and anchor an evidence package of the work."""

    def build(uow: UnitOfWork) -> str:
        service.build_package(uow=uow, actor=actor, work_id=work_id, purpose=purpose)
        return f"/digitalasset/works/{work_id}#evidence"

    return run_once(
        request,
        actor,
        form_key,
        build,
        on_error=lambda exc: work_page(request, actor, work_id, exc=exc),
    )


@router.get("/evidence/{evidence_id}/package")
def download_evidence(evidence_id: Id, request: Request, actor: ConsoleActor) -> Response:
    """Download an evidence package (zip with its verify.py)."""
    with unit_of_work(actor, settings_of(request)) as uow:
        path, name = service.package_path(uow=uow, actor=actor, evidence_id=evidence_id)
        data = path.read_bytes()
    return Response(
        content=data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/anchors", response_class=HTMLResponse)
def anchors(
    request: Request,
    actor: ConsoleActor,
    job: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """Roots anchored on the chain: evidence packages and the audit ledger's signed heads."""
    check(actor, "digitalasset.read")
    with unit_of_work(actor, settings_of(request)) as uow:
        rows = service.list_anchors(uow=uow, actor=actor)
        job_out = get_job(uow=uow, actor=actor, job_id=job) if job else None
    return page(
        request,
        "digitalasset/anchors.html",
        {
            "anchors": rows,
            "job": job_out,
            "can_anchor": can(actor, "digitalasset.ledger.anchor"),
            "form_key": new_form_key(),
        },
    )


@router.post("/anchors", dependencies=[Depends(csrf_protect)])
def anchor_now(request: Request, actor: ConsoleActor, form_key: Key = "") -> Response:
    """Queue the ledger-anchoring job now (platform admin); the page follows it live."""
    check(actor, "digitalasset.ledger.anchor")

    def queue(uow: UnitOfWork) -> str:
        job = enqueue(uow=uow, kind="digitalasset.anchor_ledger", params={})
        return f"/digitalasset/anchors?job={job.id}"

    return run_once(request, actor, form_key, queue)
