"""Console: credentials list and detail (signed JSON, status, revoke) and a verify form."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mingyue.core.errors import InvalidInput
from mingyue.core.ledger import credentials, keys
from mingyue.core.tenancy.access import can, check
from mingyue.core.tenancy.identity import Organization
from mingyue.core.uow import unit_of_work
from mingyue.coreapps.credentials import certificate, public
from mingyue.i18n import t, zone_label
from mingyue.web.console import ConsoleActor, csrf_protect, locale_of, render

router = APIRouter(include_in_schema=False)
router.include_router(public.router)  # /verify: public, no login, rate-limited


def _local(request: Request) -> Callable[[datetime | None, str], str]:
    zone = ZoneInfo(request.app.state.settings.timezone)

    def fmt(t: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
        return t.astimezone(zone).strftime(pattern) if t else "—"

    return fmt


def _iso(at: datetime | None) -> str:
    if at is None:
        return ""
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


@router.get("/credentials", response_class=HTMLResponse)
def credentials_page(request: Request, actor: ConsoleActor) -> Response:
    """List the credentials the user may see, with the verify form."""
    check(actor, "core.credential.read")
    with unit_of_work(actor, request.app.state.settings) as uow:
        rows = credentials.list_credentials(uow=uow, actor=actor, limit=200)
    locale = locale_of(request)
    return render(
        request,
        "credentials/index.html",
        {
            "rows": rows,
            "fmt": _local(request),
            "kind": lambda vc_type: certificate.type_label(vc_type, locale),
        },
    )


@router.get("/credentials/{credential_id}", response_class=HTMLResponse)
def credential_page(credential_id: str, request: Request, actor: ConsoleActor) -> Response:
    """Show one credential as a certificate: issuer, holder, what is certified, validity, QR."""
    settings = request.app.state.settings
    locale = locale_of(request)
    tz = str(settings.timezone)
    with unit_of_work(actor, settings) as uow:
        row = credentials.get_credential(uow=uow, actor=actor, credential_id=credential_id)
        org = uow.session.get(Organization, row.organization_id)
    doc = row.credential
    uid = credentials.bare_id(row.id)
    # The QR code and the link go to the public page: whoever scans it needs no login.
    verify_url = f"{settings.base_url.rstrip('/')}/verify/{uid}"
    subject = doc.get("credentialSubject")
    fmt = _local(request)
    return render(
        request,
        "credentials/detail.html",
        {
            "c": row,
            "uid": uid,
            "title": certificate.localized(doc.get("name"), locale)
            or certificate.type_label(row.type, locale),
            "kind": certificate.type_label(row.type, locale),
            "description": certificate.localized(doc.get("description"), locale),
            "holder": org.name if org is not None else f"#{row.organization_id}",
            "issuer_did": str(doc.get("issuer", "")),
            "fields": certificate.subject_fields(
                subject if isinstance(subject, dict) else {}, row.type, locale, tz
            ),
            "state": certificate.status_of(row),
            "issued": fmt(row.issued_at, "%Y-%m-%d %H:%M"),
            "issued_iso": _iso(row.issued_at),
            "until": fmt(row.valid_until, "%Y-%m-%d %H:%M") if row.valid_until else None,
            "until_iso": _iso(row.valid_until),
            "revoked_at": fmt(row.revoked_at, "%Y-%m-%d %H:%M"),
            "zone": zone_label(tz, locale),
            "verify_url": verify_url,
            "qr": certificate.qr_svg(verify_url, t("core.credentials.qr_label", locale)),
            "doc": json.dumps(doc, ensure_ascii=False, indent=2),
            "can_revoke": can(actor, "core.credential.revoke", row),
            "public_key": keys.public_key_b64(settings),
        },
    )


@router.get("/credentials/{credential_id}/download")
def credential_download(credential_id: str, request: Request, actor: ConsoleActor) -> Response:
    """Download the signed credential itself (JSON), as ``mingyue credential verify`` reads it."""
    with unit_of_work(actor, request.app.state.settings) as uow:
        row = credentials.get_credential(uow=uow, actor=actor, credential_id=credential_id)
    uid = credentials.bare_id(row.id)
    return Response(
        json.dumps(row.credential, ensure_ascii=False, indent=2) + "\n",
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="credential-{uid}.json"'},
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
    """Revoke a credential and go back to its page (a reload does not post again)."""
    with unit_of_work(actor, request.app.state.settings) as uow:
        out = credentials.revoke(uow=uow, actor=actor, credential_id=credential_id, reason=reason)
    return RedirectResponse(f"/credentials/{credentials.bare_id(out.id)}", status_code=303)


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
        vc = certificate.signed_document(json.loads(document))
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
