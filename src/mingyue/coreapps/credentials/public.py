"""Public verification of credentials: no login, rate-limited, public facts only.

``GET /verify/{credential_id}`` shows whether a credential issued here is valid, revoked or
expired, its type, issuer and dates, and only the subject fields its issuer marked public
(``publicFields``, see ``credentials.issue``). ``GET /verify`` offers a form; ``POST /verify``
checks a pasted or uploaded credential (signature by this platform's key, validity, revocation).
A QR code on a certificate points here. Nothing is written: no CSRF token is needed.

Every request counts against its source address (``PUBLIC_MAX_REQUESTS`` per
``PUBLIC_WINDOW_S``), lookups of unknown ids and unreadable documents more tightly
(``PUBLIC_MAX_MISSES``), so the page cannot be used to walk the id space; past a limit it
answers 429 like the login throttle.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from mingyue.core.clock import now, zone
from mingyue.core.errors import InvalidInput
from mingyue.core.ledger import credentials, keys
from mingyue.coreapps.credentials import certificate
from mingyue.i18n import t
from mingyue.web.console import locale_of, render

router = APIRouter(include_in_schema=False)

PUBLIC_WINDOW_S = 300.0
PUBLIC_MAX_REQUESTS = 60
PUBLIC_MAX_MISSES = 10
MAX_DOCUMENT_BYTES = 256 * 1024
_TRACKED_MAX = 100_000


class _Throttle:
    """In-process request and miss counters per source address (sliding window)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: dict[str, deque[datetime]] = {}
        self._misses: dict[str, deque[datetime]] = {}

    @staticmethod
    def _count(q: deque[datetime] | None, at: datetime) -> int:
        if not q:
            return 0
        while q and q[0] < at - timedelta(seconds=PUBLIC_WINDOW_S):
            q.popleft()
        return len(q)

    def admit(self, ip: str, at: datetime) -> bool:
        """Count one request; tell whether it may be answered."""
        with self._lock:
            if len(self._hits) > _TRACKED_MAX:
                self._hits.clear()
                self._misses.clear()
            if self._count(self._misses.get(ip), at) >= PUBLIC_MAX_MISSES:
                return False
            q = self._hits.setdefault(ip, deque())
            if self._count(q, at) >= PUBLIC_MAX_REQUESTS:
                return False
            q.append(at)
            return True

    def miss(self, ip: str, at: datetime) -> None:
        """Count a lookup that found nothing (or a document that was not a credential)."""
        with self._lock:
            self._misses.setdefault(ip, deque()).append(at)

    def clear(self) -> None:
        """Forget every counter (tests)."""
        with self._lock:
            self._hits.clear()
            self._misses.clear()


throttle = _Throttle()


def _ip(request: Request) -> str:
    return request.client.host if request.client else "?"


def _throttled(request: Request) -> Response:
    return render(
        request,
        "credentials/public_verify.html",
        {"view": None, "error": t("core.verify.throttled", locale_of(request)), "result": None},
        status_code=429,
    )


def _fmt(request: Request, at: datetime | None) -> str:
    if at is None:
        return "—"
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return at.astimezone(zone(str(request.app.state.settings.timezone))).strftime("%Y-%m-%d %H:%M")


def _view_context(request: Request, view: credentials.PublicView) -> dict[str, Any]:
    locale = locale_of(request)
    tz = str(request.app.state.settings.timezone)
    return {
        "id": view.id,
        "status": view.status,
        "kind": certificate.type_label(view.type, locale),
        "title": certificate.localized(view.name, locale),
        "issuer": view.issuer,
        "issued": _fmt(request, view.issued_at),
        "until": _fmt(request, view.valid_until) if view.valid_until else None,
        "revoked_at": _fmt(request, view.revoked_at) if view.revoked_at else None,
        "fields": certificate.subject_fields(view.public_subject, view.type, locale, tz),
    }


@router.get("/verify", response_class=HTMLResponse)
def verify_form(request: Request) -> Response:
    """Show the public verification form (paste or upload a credential, or enter its id)."""
    if not throttle.admit(_ip(request), now()):
        return _throttled(request)
    return render(
        request, "credentials/public_verify.html", {"view": None, "error": None, "result": None}
    )


@router.get("/verify/{credential_id}", response_class=HTMLResponse)
def verify_by_id(credential_id: str, request: Request) -> Response:
    """Show the public status of one credential issued here (404 when there is none)."""
    ip, at = _ip(request), now()
    if not throttle.admit(ip, at):
        return _throttled(request)
    try:
        view = credentials.public_view(request.app.state.settings, credential_id[:80])
    except InvalidInput:
        view = None
    if view is None:
        throttle.miss(ip, at)
        return render(
            request,
            "credentials/public_verify.html",
            {"view": None, "error": t("core.verify.not_found", locale_of(request)), "result": None},
            status_code=404,
        )
    return render(
        request,
        "credentials/public_verify.html",
        {"view": _view_context(request, view), "error": None, "result": None},
    )


@router.post("/verify", response_class=HTMLResponse)
def verify_document(
    request: Request,
    document: Annotated[str, Form(max_length=MAX_DOCUMENT_BYTES)] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Check a pasted or uploaded credential: signature, validity, revocation; public facts."""
    ip, at = _ip(request), now()
    if not throttle.admit(ip, at):
        return _throttled(request)
    locale = locale_of(request)
    text = document
    if file is not None and file.filename:
        # a plain def (run in the thread pool): signature checks and the revocation lookup
        # block, so the upload is read from its spooled file synchronously too
        raw = file.file.read(MAX_DOCUMENT_BYTES + 1)
        if len(raw) > MAX_DOCUMENT_BYTES:
            throttle.miss(ip, at)
            return render(
                request,
                "credentials/public_verify.html",
                {"view": None, "error": t("core.verify.too_large", locale), "result": None},
                status_code=413,
            )
        text = raw.decode("utf-8", errors="replace")
    try:
        vc = certificate.signed_document(json.loads(text))
    except ValueError:
        vc = None
    if not isinstance(vc, dict):
        throttle.miss(ip, at)
        return render(
            request,
            "credentials/public_verify.html",
            {"view": None, "error": t("core.verify.not_json", locale), "result": None},
            status_code=422,
        )
    settings = request.app.state.settings
    if not keys.key_path(settings).exists():
        result = credentials.VerifyResult(False, "core.credential.no_key", None)
    else:
        public = keys.public_key_b64(settings)
        result = credentials.verify(vc, public)
        if result.ok and result.credential_id:
            try:
                if credentials.is_revoked(settings, result.credential_id):
                    result = credentials.verify(vc, public, [result.credential_id])
            except InvalidInput:
                pass  # not a UUID id: never issued here
    view = None
    if result.credential_id:
        try:
            found = credentials.public_view(settings, result.credential_id)
        except InvalidInput:
            found = None
        # The public facts come from our own record, and only for a document that verified
        # (or was revoked): a forged document learns nothing about a real id.
        if found is not None and (result.ok or result.revoked):
            view = _view_context(request, found)
    if not result.ok and not result.revoked:
        throttle.miss(ip, at)
    return render(
        request,
        "credentials/public_verify.html",
        {"view": view, "error": None, "result": result},
    )
