"""Console pages of the crossborder enabler (mounted at /crossborder)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from mingyue.sdk import InvalidInput, can, now
from mingyue.web.console import ConsoleActor, csrf_protect, render
from mingyue.web.deps import UoW

from . import service
from .schemas import FilingIn

router = APIRouter(include_in_schema=False)

SECTIONS = (
    "purpose",
    "categories",
    "retention",
    "security_measures",
    "recipient_legal_environment",
    "risks_and_mitigations",
)


def _page(request: Request, uow: UoW, actor: ConsoleActor, extra: dict[str, Any]) -> HTMLResponse:
    filings = service.list_filings(uow=uow, actor=actor)
    soon = {f.id for f in service.expiring_filings(uow=uow, actor=actor)}
    ctx = {
        "filings": filings,
        "expiring": soon,
        "now": now(),
        "assessments": service.list_assessments(uow=uow, actor=actor)[:20],
        "transfers": service.list_transfers(uow=uow, actor=actor),
        "scans": service.list_scans(uow=uow, actor=actor)[:20],
        "may_assess": can(actor, "crossborder.assess"),
        "may_file": can(actor, "crossborder.filing.submit"),
        "flows": service.flow_counts(uow=uow, actor=actor) if actor.organization_id else None,
        **extra,
    }
    return render(request, "crossborder/index.html", ctx)


@router.get("", response_class=HTMLResponse)
def index(request: Request, uow: UoW, actor: ConsoleActor) -> Response:
    """Overview: assess a transfer, filings with expiry warnings, transfers, scans."""
    return _page(request, uow, actor, {})


@router.post("/assess", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
def assess(
    request: Request,
    uow: UoW,
    actor: ConsoleActor,
    pi_individuals: Annotated[int, Form()],
    sensitive_pi_individuals: Annotated[int, Form()],
    purpose: Annotated[str, Form()],
    ciio: Annotated[bool, Form()] = False,
    important_data: Annotated[bool, Form()] = False,
    ftz: Annotated[str, Form()] = "",
) -> Response:
    """Assess the scenario typed into the form and show the answer with its citations."""
    scenario = {
        "ciio": ciio,
        "important_data": important_data,
        "pi_individuals": pi_individuals,
        "sensitive_pi_individuals": sensitive_pi_individuals,
        "purpose": purpose,
        "ftz_negative_list": {"": None, "in": True, "out": False}.get(ftz),
    }
    try:
        out = service.create_assessment(uow=uow, actor=actor, scenario=scenario)
    except InvalidInput as exc:
        return _page(request, uow, actor, {"error": exc.message})
    return _page(request, uow, actor, {"result": out.result})


@router.get("/filings/new", response_class=HTMLResponse)
def new_filing(request: Request, actor: ConsoleActor, kind: str = "standard_contract") -> Response:
    """The filing form, with the sections of the official templates."""
    return render(request, "crossborder/filing_form.html", {"kind": kind, "sections": SECTIONS})


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
    pi_individuals: Annotated[int, Form()] = 0,
    sensitive_pi_individuals: Annotated[int, Form()] = 0,
    important_data: Annotated[bool, Form()] = False,
    recipient_address: Annotated[str, Form()] = "",
    contact_person: Annotated[str, Form()] = "",
) -> Response:
    """Submit the form; the filing's case opens and the user lands on it."""
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
        where = ".".join(str(p) for p in first["loc"])
        return render(
            request,
            "crossborder/filing_form.html",
            {"kind": kind, "sections": SECTIONS, "error": f"{where}: {first['msg']}"},
            status_code=422,
        )
    out = service.create_filing(uow=uow, actor=actor, body=body)
    return RedirectResponse(f"/cases/{out.case_id}", status_code=303)
