"""Console: credentials list and detail (signed JSON, status, revoke) and a verify form."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from mingyue.core.errors import InvalidInput
from mingyue.core.ledger import credentials, keys
from mingyue.core.tenancy.access import can, check
from mingyue.core.uow import unit_of_work
from mingyue.web.console import ConsoleActor, csrf_protect, locale_of, render

router = APIRouter(include_in_schema=False)


def _local(request: Request) -> Callable[[datetime | None, str], str]:
    zone = ZoneInfo(request.app.state.settings.timezone)

    def fmt(t: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
        return t.astimezone(zone).strftime(pattern) if t else "—"

    return fmt


def _title(doc: dict[str, Any], fallback: str, locale: str) -> str:
    name = doc.get("name")
    if isinstance(name, str):
        return name
    if isinstance(name, list):
        values = {
            str(v.get("@language", "")).split("-")[0]: str(v.get("@value", ""))
            for v in name
            if isinstance(v, dict)
        }
        return values.get(locale.split("_")[0]) or next(iter(values.values()), fallback)
    return fallback


@router.get("/credentials", response_class=HTMLResponse)
def credentials_page(request: Request, actor: ConsoleActor) -> Response:
    """List the credentials the user may see, with the verify form."""
    check(actor, "core.credential.read")
    with unit_of_work(actor, request.app.state.settings) as uow:
        rows = credentials.list_credentials(uow=uow, actor=actor, limit=200)
    return render(request, "credentials/index.html", {"rows": rows, "fmt": _local(request)})


@router.get("/credentials/{credential_id}", response_class=HTMLResponse)
def credential_page(credential_id: str, request: Request, actor: ConsoleActor) -> Response:
    """Show one credential: its status, the signed document, and revoke for those allowed."""
    settings = request.app.state.settings
    with unit_of_work(actor, settings) as uow:
        row = credentials.get_credential(uow=uow, actor=actor, credential_id=credential_id)
    return render(
        request,
        "credentials/detail.html",
        {
            "c": row,
            "title": _title(row.credential, row.type, locale_of(request)),
            "doc": json.dumps(row.credential, ensure_ascii=False, indent=2),
            "can_revoke": can(actor, "core.credential.revoke", row),
            "public_key": keys.public_key_b64(settings),
            "fmt": _local(request),
        },
    )


@router.post(
    "/credentials/{credential_id}/revoke",
    response_class=HTMLResponse,
    dependencies=[Depends(csrf_protect)],
)
def credential_revoke(
    credential_id: str,
    request: Request,
    actor: ConsoleActor,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Revoke a credential and show it again."""
    with unit_of_work(actor, request.app.state.settings) as uow:
        credentials.revoke(uow=uow, actor=actor, credential_id=credential_id, reason=reason)
    return credential_page(credential_id, request, actor)


@router.post(
    "/credentials/verify", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)]
)
def credential_verify(
    request: Request, actor: ConsoleActor, document: Annotated[str, Form(max_length=1_000_000)] = ""
) -> Response:
    """Verify a pasted credential against the platform key; answer an htmx fragment."""
    check(actor, "core.credential.read")
    settings = request.app.state.settings
    try:
        vc = json.loads(document)
    except ValueError:
        vc = None
    result = credentials.verify(vc if isinstance(vc, dict) else {}, keys.public_key_b64(settings))
    if result.ok and result.credential_id:
        try:
            if credentials.is_revoked(settings, result.credential_id):
                result = credentials.verify(
                    vc, keys.public_key_b64(settings), [result.credential_id]
                )
        except InvalidInput:
            pass  # not a UUID id: never issued here, nothing to look up
    return render(request, "credentials/verify_result.html", {"r": result})
