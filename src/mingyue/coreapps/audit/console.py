"""Console: the audit ledger, newest first, with filters, cursor paging and the verify button."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from mingyue.core import registries
from mingyue.core.clock import zone
from mingyue.core.errors import InvalidInput
from mingyue.core.ledger import audit
from mingyue.core.plugins import registry
from mingyue.core.tenancy.access import can, check, scope_for
from mingyue.core.uow import unit_of_work
from mingyue.coreapps.audit import ledger_query
from mingyue.i18n import catalogue, event_label, t, zone_label
from mingyue.web.console import ConsoleActor, csrf_protect, locale_of, render
from mingyue.web.display import subject_ref_label

router = APIRouter(include_in_schema=False)

# Subjects read "<table>:<id>"; these open a console page of their own.
_SUBJECT_PAGES = {
    "core_case": "/cases/{}",
    "core_job": "/jobs/{}",
    "core_credential": "/credentials/{}",
}


def _subject(subject: str, locale: str) -> dict[str, str | None]:
    kind, _, ident = subject.partition(":")
    key = f"core.audit.subject.{kind}"
    label = t(key, locale) if ident and key in catalogue("en") else None
    page = _SUBJECT_PAGES.get(kind)
    return {
        "label": f"{label} {ident}" if label else subject_ref_label(subject, locale),
        "href": page.format(ident) if page and ident else None,
    }


def _actor(name: str, locale: str) -> str:
    if name == "system":
        return t("core.audit.system", locale)
    return name.removeprefix("user:")


def _event_groups(locale: str) -> list[dict[str, Any]]:
    lang = "zh" if locale == "zh_CN" else "en"
    reg = registry().enablers
    groups: dict[str, list[dict[str, str]]] = {}
    for name in registries.events():
        groups.setdefault(name.split(".", 1)[0], []).append(
            {"value": name, "label": event_label(name, locale)}
        )
    out: list[dict[str, Any]] = []
    for ns in sorted(groups, key=lambda n: (n != "core", n)):
        title = (
            t("core.audit.platform", locale)
            if ns == "core"
            else (reg[ns].title.get(lang, ns) if ns in reg else ns)
        )
        out.append({"label": title, "events": sorted(groups[ns], key=lambda e: e["label"])})
    return out


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    actor: ConsoleActor,
    organization: str | None = None,
    actor_name: Annotated[str | None, Query(alias="actor")] = None,
    event: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    before: str | None = None,
    after: str | None = None,
    limit: str | None = None,
) -> Response:
    """Show ledger entries newest first, filtered, one page at a time, and the verify button."""
    check(actor, "core.audit.read")
    settings = request.app.state.settings
    locale = locale_of(request)
    tz = str(settings.timezone)
    scope = scope_for(actor)
    reach = None if scope.all_orgs else sorted(scope.org_ids)
    raw = {
        "organization": organization or "",
        "actor": actor_name or "",
        "event": event or "",
        "date_from": date_from or "",
        "date_to": date_to or "",
    }
    error: str | None = None
    flt = ledger_query.LedgerFilter()
    result = ledger_query.LedgerPage([], False, False)
    limit_n = ledger_query.DEFAULT_LIMIT
    with unit_of_work(actor, settings) as uow:
        orgs = ledger_query.organization_names(uow.session, reach)
        try:
            flt = ledger_query.parse_filter(
                uow.session,
                visible_orgs=reach,
                organization=organization,
                actor=actor_name,
                event=event,
                date_from=date_from,
                date_to=date_to,
            )
            before_n, after_n, limit_n = ledger_query.parse_cursor(before, after, limit)
            result = ledger_query.page(
                uow.session,
                flt=flt,
                org_ids=reach,
                tz=tz,
                before=before_n,
                after=after_n,
                limit=limit_n,
            )
        except InvalidInput as exc:
            error = t(exc.key, locale, **exc.params)
    rows = [
        {
            "seq": e.seq,
            "local": e.time.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M:%S"),
            "iso": e.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "actor": _actor(e.actor, locale),
            "actor_raw": e.actor,
            "org": orgs.get(e.organization_id) if e.organization_id else None,
            "event": event_label(e.action, locale),
            "event_key": e.action,
            "subject": _subject(e.subject, locale),
            "subject_raw": e.subject,
            "hash": e.entry_hash,
        }
        for e in result.rows
    ]
    keep = {
        **flt.params(),
        **({"limit": str(limit_n)} if limit_n != ledger_query.DEFAULT_LIMIT else {}),
    }

    def link(**cursor: int) -> str:
        return "/audit?" + urlencode({**keep, **{k: str(v) for k, v in cursor.items()}})

    return render(
        request,
        "audit/index.html",
        {
            "rows": rows,
            "can_verify": can(actor, "core.audit.verify"),
            "filters": raw,
            "orgs": orgs,
            "event_groups": _event_groups(locale),
            "zone": zone_label(tz, locale),
            "error": error,
            "older_href": link(before=result.oldest_seq)
            if result.has_older and result.oldest_seq
            else None,
            "newer_href": link(after=result.newest_seq)
            if result.has_newer and result.newest_seq
            else (link() if result.has_newer else None),
            "newest_href": link() if (before or after) else None,
            "high": result.newest_seq,
            "low": result.oldest_seq,
        },
        status_code=422 if error else 200,
    )


@router.post("/audit/verify", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
def audit_verify(request: Request, actor: ConsoleActor) -> Response:
    """Verify the chain and answer an htmx fragment."""
    check(actor, "core.audit.verify")
    with unit_of_work(actor, request.app.state.settings) as uow:
        rep = audit.verify_chain(uow.session, settings=uow.settings)
    return render(request, "audit/verify_result.html", {"rep": rep})
