"""Console pages of the crossborder enabler (mounted at /crossborder).

Every form that does work is Post/Redirect/Get with a one-time form key: an assessment lands on
its own page (the form filled with what was asked, the verdict highlighted), a filing on its
case, a PII scan on its report, or on its job's live status when the upload is large.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from mingyue.sdk import Actor, InvalidInput, UnitOfWork, can, now
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

from . import service
from .schemas import FilingIn, ScanQueuedOut

router = APIRouter(include_in_schema=False)

SECTIONS = (
    "purpose",
    "categories",
    "retention",
    "security_measures",
    "recipient_legal_environment",
    "risks_and_mitigations",
)
PURPOSES = (
    "other",
    "contract_with_individual",
    "hr_management",
    "emergency",
    "foreign_collected_returned",
    "no_personal_information",
)
#: the scenario the assessment form shows before anything was asked
DEFAULT_SCENARIO: dict[str, Any] = {
    "ciio": False,
    "important_data": False,
    "pi_individuals": 0,
    "sensitive_pi_individuals": 0,
    "purpose": "other",
    "ftz_negative_list": None,
}
#: the label of each scenario field, to say which one was wrong
FIELD_KEYS = {
    "ciio": "crossborder.assess.ciio",
    "important_data": "crossborder.assess.important_data",
    "pi_individuals": "crossborder.assess.pi",
    "sensitive_pi_individuals": "crossborder.assess.sensitive",
    "purpose": "crossborder.assess.purpose",
    "ftz_negative_list": "crossborder.assess.ftz",
}
PATHS = ("security_assessment", "standard_contract_or_certification", "exempt")
MAX_PASTED_CHARS = 1_000_000
_NOTE_PART = re.compile(
    r"(?P<cite>\S+ Arts?\. \d+(?:\(\d+\))?(?:-\d+)?)|(?P<path>" + "|".join(PATHS) + r")"
)


def note_parts(text: str) -> list[tuple[str, str]]:
    """Split an engine note into text, citations and legal paths (each shown in the locale)."""
    out: list[tuple[str, str]] = []
    pos = 0
    for m in _NOTE_PART.finditer(text):
        if m.start() > pos:
            out.append(("text", text[pos : m.start()]))
        out.append(("cite", m["cite"]) if m["cite"] else ("path", m["path"]))
        pos = m.end()
    if pos < len(text):
        out.append(("text", text[pos:]))
    return out


def _assess_page(
    request: Request,
    uow: UnitOfWork,
    actor: Actor,
    extra: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    filings = service.list_filings(uow=uow, actor=actor)
    soon = {f.id for f in service.expiring_filings(uow=uow, actor=actor)}
    ctx = {
        "filings": filings,
        "expiring": soon,
        "now": now(),
        "assessments": service.list_assessments(uow=uow, actor=actor)[:10],
        "may_assess": can(actor, "crossborder.assess"),
        "may_file": can(actor, "crossborder.filing.submit"),
        "may_scan": can(actor, "crossborder.scan"),
        "purposes": PURPOSES,
        "scenario": DEFAULT_SCENARIO,
        "form_key": new_form_key(),
        "note_parts": note_parts,
        "field_keys": FIELD_KEYS,
        **extra,
    }
    return render(request, "crossborder/index.html", ctx, status_code=status_code)


@router.get("", response_class=HTMLResponse)
def index(request: Request, uow: UoW, actor: ConsoleActor) -> Response:
    """Overview: assess a transfer, filings with expiry warnings, links to the other pages."""
    return _assess_page(request, uow, actor, {})


@router.post("/assess", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
def assess(
    request: Request,
    uow: UoW,
    actor: ConsoleActor,
    pi_individuals: Annotated[int, Form()],
    sensitive_pi_individuals: Annotated[int, Form()],
    purpose: Annotated[str, Form(max_length=64)],
    form_key: Annotated[str | None, Form(max_length=100)] = None,
    ciio: Annotated[bool, Form()] = False,
    important_data: Annotated[bool, Form()] = False,
    ftz: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Assess the scenario typed into the form once and go to its answer."""
    scenario = {
        "ciio": ciio,
        "important_data": important_data,
        "pi_individuals": pi_individuals,
        "sensitive_pi_individuals": sensitive_pi_individuals,
        "purpose": purpose,
        "ftz_negative_list": {"": None, "in": True, "out": False}.get(ftz),
    }
    try:
        service.decide(scenario)  # a bad scenario is answered on the form, with what was typed
    except InvalidInput as exc:
        return _assess_page(
            request, uow, actor, {"error": exc, "scenario": scenario}, status_code=422
        )
    if (seen := form_once(uow, actor, form_key)) is not None:
        return RedirectResponse(seen, status_code=303)
    out = service.create_assessment(uow=uow, actor=actor, scenario=scenario)
    location = f"/crossborder/assessments/{out.id}"
    form_done(uow, str(form_key), location)
    return RedirectResponse(location, status_code=303)


@router.get("/assessments/{assessment_id}", response_class=HTMLResponse)
def assessment(assessment_id: int, request: Request, uow: UoW, actor: ConsoleActor) -> Response:
    """Show an assessment: the form as it was filled, and the verdict with its basis."""
    out = service.get_assessment(uow=uow, actor=actor, assessment_id=assessment_id)
    return _assess_page(
        request,
        uow,
        actor,
        {
            "scenario": {**DEFAULT_SCENARIO, **out.scenario},
            "result": out.result,
            "assessment": out,
        },
    )


@router.get("/filings/new", response_class=HTMLResponse)
def new_filing(request: Request, actor: ConsoleActor, kind: str = "standard_contract") -> Response:
    """The filing form, with the sections of the official templates."""
    if kind not in service.FILING_KINDS:
        raise InvalidInput(
            "crossborder.bad_filing_kind", f"unknown filing kind {kind!r}", field="kind"
        )
    return render(
        request,
        "crossborder/filing_form.html",
        {"kind": kind, "sections": SECTIONS, "form_key": new_form_key(), "values": {}},
    )


@router.post("/filings", dependencies=[Depends(csrf_protect)])
def submit_filing(
    request: Request,
    uow: UoW,
    actor: ConsoleActor,
    kind: Annotated[str, Form()],
    recipient_name: Annotated[str, Form()],
    recipient_country: Annotated[str, Form()],
    purpose: Annotated[str, Form()],
    categories: Annotated[str, Form()],
    retention: Annotated[str, Form()],
    security_measures: Annotated[str, Form()],
    recipient_legal_environment: Annotated[str, Form()],
    risks_and_mitigations: Annotated[str, Form()],
    form_key: Annotated[str | None, Form(max_length=100)] = None,
    pi_individuals: Annotated[int, Form()] = 0,
    sensitive_pi_individuals: Annotated[int, Form()] = 0,
    important_data: Annotated[bool, Form()] = False,
    recipient_address: Annotated[str, Form()] = "",
    contact_person: Annotated[str, Form()] = "",
) -> Response:
    """Submit the form once; the filing's case opens and the user lands on it."""
    typed = {
        "recipient_name": recipient_name,
        "recipient_country": recipient_country,
        "recipient_address": recipient_address,
        "purpose": purpose,
        "categories": categories,
        "retention": retention,
        "security_measures": security_measures,
        "recipient_legal_environment": recipient_legal_environment,
        "risks_and_mitigations": risks_and_mitigations,
        "pi_individuals": pi_individuals,
        "sensitive_pi_individuals": sensitive_pi_individuals,
        "important_data": important_data,
        "contact_person": contact_person,
    }
    try:
        body = FilingIn.model_validate(
            {
                "kind": kind,
                "form": {
                    "recipient": {
                        "name": recipient_name,
                        "country": recipient_country.upper(),
                        "address": recipient_address,
                    },
                    "purpose": purpose,
                    "categories": [
                        c.strip() for c in categories.replace("，", ",").split(",") if c.strip()
                    ],
                    "pi_individuals": pi_individuals,
                    "sensitive_pi_individuals": sensitive_pi_individuals,
                    "important_data": important_data,
                    "retention": retention,
                    "security_measures": security_measures,
                    "recipient_legal_environment": recipient_legal_environment,
                    "risks_and_mitigations": risks_and_mitigations,
                    "contact_person": contact_person,
                },
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][-1]) if first["loc"] else "form"
        return render(
            request,
            "crossborder/filing_form.html",
            {
                "kind": kind if kind in service.FILING_KINDS else "standard_contract",
                "sections": SECTIONS,
                "error_field": field,
                "form_key": form_key or new_form_key(),
                "values": typed,
            },
            status_code=422,
        )
    if (seen := form_once(uow, actor, form_key)) is not None:
        return RedirectResponse(seen, status_code=303)
    out = service.create_filing(uow=uow, actor=actor, body=body)
    location = f"/cases/{out.case_id}"
    form_done(uow, str(form_key), location)
    return RedirectResponse(location, status_code=303)


# --- PII scans ---------------------------------------------------------------------------------


@router.get("/scans", response_class=HTMLResponse)
def scans(request: Request, uow: UoW, actor: ConsoleActor) -> Response:
    """Scan a file or pasted text for personal information; the scans done so far."""
    return render(
        request,
        "crossborder/scans.html",
        {
            "scans": service.list_scans(uow=uow, actor=actor)[:50],
            "may_scan": can(actor, "crossborder.scan"),
            "form_key": new_form_key(),
        },
    )


@router.post("/scans", dependencies=[Depends(csrf_protect)])
def submit_scan(
    request: Request,
    uow: UoW,
    actor: ConsoleActor,
    form_key: Annotated[str | None, Form(max_length=100)] = None,
    file: Annotated[UploadFile | None, File()] = None,
    text: Annotated[str, Form(max_length=MAX_PASTED_CHARS)] = "",
) -> Response:
    """Scan the upload (or the pasted text) once; go to its report, or its job when large."""
    has_file = file is not None and bool(file.filename)
    if not has_file and not text.strip():
        raise InvalidInput(
            "crossborder.scan_nothing", "choose a file or paste some text", field="file"
        )
    if (seen := form_once(uow, actor, form_key)) is not None:
        return RedirectResponse(seen, status_code=303)
    if has_file and file is not None:
        out = service.scan_upload(
            uow=uow, actor=actor, data=file.file, filename=file.filename or "upload.txt"
        )
    else:
        out = service.scan_upload(
            uow=uow, actor=actor, data=text.encode("utf-8"), filename="pasted.txt"
        )
    location = (
        f"/crossborder/scans/jobs/{out.job_id}"
        if isinstance(out, ScanQueuedOut)
        else f"/crossborder/scans/{out.id}"
    )
    form_done(uow, str(form_key), location)
    return RedirectResponse(location, status_code=303)


@router.get("/scans/jobs/{job_id}", response_class=HTMLResponse)
def scan_job(job_id: int, request: Request, uow: UoW, actor: ConsoleActor) -> Response:
    """Follow a large scan's job live; once it has its report, go there."""
    job = service.get_scan_job(uow=uow, actor=actor, job_id=job_id)
    scan_id = (job.result or {}).get("scan_id")
    if job.status == "succeeded" and scan_id:
        return RedirectResponse(f"/crossborder/scans/{int(scan_id)}", status_code=303)
    return render(
        request,
        "crossborder/scan_job.html",
        {"job": job, "filename": str(job.params.get("filename", ""))},
    )


@router.get("/scans/{scan_id}", response_class=HTMLResponse)
def scan_report(scan_id: int, request: Request, uow: UoW, actor: ConsoleActor) -> Response:
    """One scan: counts per type of personal information, and column verdicts for tables."""
    out = service.get_scan(uow=uow, actor=actor, scan_id=scan_id)
    sensitive = {str(e.get("type")) for e in out.entities if e.get("sensitive")}
    return render(request, "crossborder/scan.html", {"scan": out, "sensitive_types": sensitive})


# --- transfers and observed endpoints ----------------------------------------------------------


@router.get("/transfers", response_class=HTMLResponse)
def transfers(request: Request, uow: UoW, actor: ConsoleActor) -> Response:
    """The transfers declared: recipient, country, endpoints, data, legal basis."""
    return render(
        request,
        "crossborder/transfers.html",
        {"transfers": service.list_transfers(uow=uow, actor=actor)},
    )


@router.get("/endpoints", response_class=HTMLResponse)
def endpoints(
    request: Request, uow: UoW, actor: ConsoleActor, organization_id: int | None = None
) -> Response:
    """Overseas endpoints the flow monitor saw, declared or not, and individuals per recipient."""
    flows = (
        service.flow_counts(uow=uow, actor=actor, organization_id=organization_id)
        if organization_id is not None or actor.organization_id is not None
        else None
    )
    return render(
        request,
        "crossborder/endpoints.html",
        {"flows": flows, "organization_id": organization_id, "lang": locale_of(request)},
    )
