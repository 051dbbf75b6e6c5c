"""Console: the audit ledger viewer with a verify button."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from mingyue.core.ledger import audit
from mingyue.core.tenancy.access import can, check, scope_for
from mingyue.core.uow import unit_of_work
from mingyue.web.console import ConsoleActor, csrf_protect, render

router = APIRouter(include_in_schema=False)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, actor: ConsoleActor, after: int = 0) -> Response:
    """Show ledger entries (newest last) and the verify button."""
    check(actor, "core.audit.read")
    scope = scope_for(actor)
    with unit_of_work(actor, request.app.state.settings) as uow:
        rows = audit.entries_since(
            uow.session, max(after, 0), 200, None if scope.all_orgs else sorted(scope.org_ids)
        )
    return render(
        request, "audit/index.html", {"rows": rows, "can_verify": can(actor, "core.audit.verify")}
    )


@router.post("/audit/verify", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
def audit_verify(request: Request, actor: ConsoleActor) -> Response:
    """Verify the chain and answer an htmx fragment."""
    check(actor, "core.audit.verify")
    with unit_of_work(actor, request.app.state.settings) as uow:
        rep = audit.verify_chain(uow.session, settings=uow.settings)
    return render(request, "audit/verify_result.html", {"rep": rep})
