"""Console pages of supervision (mounted at /supervision): desk, findings, rectifications, documents.

Every form posts, then redirects (303) to the object's page; forms that start work carry a one-time
key (``idem``, made when the page is rendered) so that a double click or a re-post lands on what the
first post made instead of doing it twice (:class:`OnceGuard`; the service's own state checks — one
rectification per finding, a report only while one is due, one decision per case — hold the line
across processes).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal

import yaml
from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mingyue.i18n import catalogue, t
from mingyue.sdk import (
    OVERSIGHT_ROLES,
    SYSTEM,
    Actor,
    Conflict,
    InvalidInput,
    MingyueError,
    NotFound,
    can,
    finding_rules,
    local_time,
    unit_of_work,
)
from mingyue.sdk import now as clock_now
from mingyue.web.console import ConsoleActor, csrf_protect, locale_of, render
from mingyue.web.deps import UoW

from . import service
from .schemas import DecisionIn, DocumentIn, OrderIn, RectificationOut, SelfCheckIn
from .service import views

router = APIRouter(include_in_schema=False)

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
Slug = Annotated[str, Path(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
Idem = Annotated[str, Form(min_length=32, max_length=32, pattern=r"^[0-9a-f]{32}$")]
Text = Annotated[str, Form(max_length=8000)]
SEVERITIES = ("critical", "high", "medium", "low")
STATUSES = ("open", "rectifying", "fixed", "closed", "dismissed")
SETTLED_WAIT_S = 10.0


class OnceGuard:
    """Remember which one-time form keys were used, by whom, and where their work landed.

    A second post with a key still being worked on waits for the first (a double click); one with
    a finished key is sent where the first went. Bounded; one process (the service's state checks
    hold across processes).
    """

    def __init__(self, size: int = 4096) -> None:
        self._done: OrderedDict[tuple[str, str], str | None] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def begin(self, actor: Actor, key: str) -> tuple[bool, str | None]:
        """Claim the key: (True, None) to go ahead, else (False, where the first post landed)."""
        k = (actor.label(), key)
        with self._lock:
            if k not in self._done:
                self._done[k] = None
                while len(self._done) > self._size:
                    self._done.popitem(last=False)
                return True, None
        deadline = time.monotonic() + SETTLED_WAIT_S
        while time.monotonic() < deadline:
            with self._lock:
                url = self._done.get(k)
                if url is not None or k not in self._done:
                    return False, url
            time.sleep(0.05)
        return False, None

    def finish(self, actor: Actor, key: str, url: str) -> None:
        """Record where the work of this key landed."""
        with self._lock:
            self._done[(actor.label(), key)] = url

    def drop(self, actor: Actor, key: str) -> None:
        """Forget a key whose work failed, so the same form may be sent again."""
        with self._lock:
            self._done.pop((actor.label(), key), None)


ONCE = OnceGuard()


def new_key() -> str:
    """Return a fresh one-time form key."""
    return secrets.token_hex(16)


def _helpers(request: Request, settings: Any) -> dict[str, Any]:
    locale = locale_of(request)
    lang = "zh" if locale == "zh_CN" else "en"
    known = catalogue(locale)

    def local(at: datetime | str | None) -> str:
        if isinstance(at, str):  # a time inside JSON (a verification's evidence)
            try:
                return local_time(datetime.fromisoformat(at), settings)
            except ValueError:
                return at
        return local_time(at, settings) if at is not None else "—"

    def day(at: datetime | None) -> str:
        return local_time(at, settings)[:10] if at is not None else "—"

    def txt(d: dict[str, str] | None) -> str:
        if not d:
            return ""
        return d.get(lang) or d.get("en") or d.get("zh") or ""

    def label(prefix: str, value: str | None, fallback: str = "") -> str:
        key = f"supervision.{prefix}.{value}"
        return t(key, locale) if key in known or key in catalogue("en") else fallback or "—"

    def enabler(key: str) -> str:
        return label("enabler", key, key)

    def cite(text: str) -> str:
        return views.citation_zh(text) if lang == "zh" else text

    def fact_value(name: str, value: Any) -> str:
        if isinstance(value, bool):
            return t("supervision.console.yes" if value else "supervision.console.no", locale)
        if name in ("harm", "corrected") and isinstance(value, str):
            return label(name, value)
        return "—"

    def rule_title(rule_id: str, clauses: list[dict[str, Any]]) -> str:
        if clauses:
            return t("supervision.console.guideline_rule", locale, clause=clauses[0].get("id"))
        return "—"

    return {
        "lang": lang,
        "local": local,
        "day": day,
        "txt": txt,
        "label": label,
        "enabler_title": enabler,
        "cite": cite,
        "fact_value": fact_value,
        "rule_title": rule_title,
        "rules": finding_rules(),
    }


def _error_text(request: Request) -> str | None:
    key = request.query_params.get("error")
    if not key:
        return None
    locale = locale_of(request)
    if key in catalogue(locale) and key.startswith(("supervision.", "core.")):
        return t(key, locale)
    return t("supervision.console.failed", locale)


def _page(request: Request, uow: Any, template: str, ctx: dict[str, Any]) -> HTMLResponse:
    actor: Actor | None = getattr(request.state, "actor", None)
    return render(
        request,
        template,
        {
            **_helpers(request, uow.settings),
            "error": _error_text(request),
            "oversight": actor is not None and _is_oversight(actor),
            **ctx,
        },
    )


def _doc_titles(uow: Any, actor: Actor) -> dict[str, dict[str, str]]:
    return {d.slug: d.title for d in service.list_documents(uow=uow, actor=actor)}


def _back(url: str, exc: MingyueError) -> RedirectResponse:
    sep = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{sep}error={exc.key}", status_code=303)


def _run_once(
    request: Request,
    actor: Actor,
    key: str,
    fallback: str,
    work: Callable[[Any], str],
) -> Response:
    """Do ``work(uow)`` once per form key in its own unit of work; go to the URL it returns."""
    go, url = ONCE.begin(actor, key)
    if not go:
        return RedirectResponse(url or fallback, status_code=303)
    try:
        with unit_of_work(actor, request.app.state.settings) as uow:
            target = work(uow)
    except (InvalidInput, Conflict) as exc:
        ONCE.drop(actor, key)
        return _back(fallback, exc)
    except BaseException:
        ONCE.drop(actor, key)
        raise
    ONCE.finish(actor, key, target)
    return RedirectResponse(target, status_code=303)


def _is_oversight(actor: Actor) -> bool:
    return bool(actor.roles & OVERSIGHT_ROLES)


# --- desk, enterprise page, organization history --------------------------------------------------


@router.get("", response_class=HTMLResponse)
def desk(
    request: Request,
    uow: UoW,
    actor: ConsoleActor,
    enabler: Annotated[str | None, Query(max_length=60)] = None,
    rule: Annotated[str | None, Query(max_length=120)] = None,
    severity: Annotated[str | None, Query(max_length=20)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The regulator's desk: counts, filterable register, clocks, decisions per month."""
    if not _is_oversight(actor):
        return RedirectResponse("/supervision/mine", status_code=303)
    stats = service.statistics(uow=uow, actor=actor)
    filters = {
        "enabler": enabler or None,
        "rule": rule or None,
        "severity": severity if severity in SEVERITIES else None,
        "status": status if status in STATUSES else None,
    }
    rows = service.list_register(
        uow=uow,
        actor=actor,
        limit=200,
        enabler=filters["enabler"],
        rule=filters["rule"],
        severity=filters["severity"],
        status=filters["status"],
    )
    months = [m.month for m in stats.decisions_by_month]
    outcomes = sorted({o for m in stats.decisions_by_month for o in m.counts})
    helpers = _helpers(request, uow.settings)
    chart = {
        "months": months,
        "series": [
            {
                "name": helpers["label"]("decision", o, o),
                "data": [m.counts.get(o, 0) for m in stats.decisions_by_month],
            }
            for o in outcomes
        ],
    }
    return _page(
        request,
        uow,
        "supervision/desk.html",
        {
            "stats": stats,
            "rows": rows,
            "filters": filters,
            "severities": SEVERITIES,
            "statuses": STATUSES,
            "chart": chart,
        },
    )


@router.get("/mine", response_class=HTMLResponse)
def mine(request: Request, uow: UoW, actor: ConsoleActor) -> Response:
    """An enterprise's page: its findings, what to fix by when, its decisions and self-checks."""
    rows = service.list_register(uow=uow, actor=actor, limit=200)
    rects = service.list_rectifications(uow=uow, actor=actor, open_only=True)
    return _page(
        request,
        uow,
        "supervision/mine.html",
        {
            "rows": rows,
            "rects": rects,
            "decisions": service.list_decisions(uow=uow, actor=actor, limit=50),
            "selfchecks": service.list_selfchecks(uow=uow, actor=actor)[:20],
            "guidelines": service.list_documents(uow=uow, actor=actor, kind="guideline"),
            "may_selfcheck": can(actor, "supervision.selfcheck.run"),
            "doc_titles": _doc_titles(uow, actor),
        },
    )


@router.get("/organizations/{organization_id}", response_class=HTMLResponse)
def organization_history(
    organization_id: Id, request: Request, uow: UoW, actor: ConsoleActor
) -> Response:
    """One organization's findings, rectifications, decisions and self-checks."""
    hist = service.org_history(uow=uow, actor=actor, organization_id=organization_id)
    return _page(
        request,
        uow,
        "supervision/organization.html",
        {"h": hist, "doc_titles": _doc_titles(uow, actor)},
    )


# --- findings --------------------------------------------------------------------------------------


@router.get("/findings/{finding_id}", response_class=HTMLResponse)
def finding_page(finding_id: Id, request: Request, uow: UoW, actor: ConsoleActor) -> Response:
    """One finding: rule, citation, evidence, status, and the steps open to the reader."""
    view = service.get_register_entry(uow=uow, actor=actor, finding_id=finding_id)
    f = view.finding
    may_order = (
        can(actor, "supervision.rectification.order", f)
        and view.rectification is None
        and f.status in ("open", "fixed", "rectifying")
    )
    rect = (
        service.get_rectification(uow=uow, actor=actor, rectification_id=view.rectification.id)
        if view.rectification is not None
        else None
    )
    return _page(
        request,
        uow,
        "supervision/finding.html",
        {
            "v": view,
            "f": f,
            "rect": rect,
            "may_order": may_order,
            "may_dismiss": can(actor, "supervision.finding.dismiss", f)
            and f.status not in ("closed", "dismissed"),
            "preview": views.order_preview(uow=uow, actor=actor, finding_id=f.id)
            if may_order
            else None,
            "idem": new_key(),
        },
    )


@router.post("/findings/{finding_id}/order", dependencies=[Depends(csrf_protect)])
def order(
    finding_id: Id,
    request: Request,
    actor: ConsoleActor,
    idem: Idem,
    instructions: Annotated[str, Form(max_length=2000)] = "",
    working_days: Annotated[str, Form(max_length=4)] = "",
) -> Response:
    """Order the finding corrected within its time limit; go to the rectification."""
    here = f"/supervision/findings/{finding_id}"

    def work(uow: Any) -> str:
        days = working_days.strip()
        if days and not days.isdigit():
            raise InvalidInput(
                "supervision.console.bad_days", "working days is a number", field="working_days"
            )
        body = OrderIn(
            finding_id=finding_id,
            working_days=int(days) if days else None,
            instructions=instructions.strip() or None,
        )
        out = service.order_rectification(uow=uow, actor=actor, body=body)
        return f"/supervision/rectifications/{out.id}"

    return _run_once(request, actor, idem, here, work)


@router.post("/findings/{finding_id}/dismiss", dependencies=[Depends(csrf_protect)])
def dismiss(
    finding_id: Id,
    request: Request,
    actor: ConsoleActor,
    idem: Idem,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Dismiss the finding as not a breach (its rectification, if any, is withdrawn)."""
    here = f"/supervision/findings/{finding_id}"

    def work(uow: Any) -> str:
        if not reason.strip():
            raise InvalidInput("supervision.console.reason_required", "say why", field="reason")
        service.dismiss_finding(uow=uow, actor=actor, finding_id=finding_id, reason=reason.strip())
        return here

    return _run_once(request, actor, idem, here, work)


# --- rectifications ---------------------------------------------------------------------------------


def _preview_facts(
    prohibited: str | None, harm: str | None, no_fault: str | None
) -> DecisionIn | None:
    if harm not in ("none", "minor", "serious"):
        return None
    return DecisionIn(
        prohibited=prohibited == "true", harm=harm, no_fault_evidence=no_fault == "true"
    )


def _sync(request: Request, actor: Actor, rect: RectificationOut) -> bool:
    """Take over a re-verification result the raising enabler already has (as the platform)."""
    if rect.status != "reverifying":
        return False
    with unit_of_work(SYSTEM, request.app.state.settings) as sys_uow:
        return views.sync_as_platform(uow=sys_uow, rectification_id=rect.id)


@router.get("/rectifications/{rectification_id}", response_class=HTMLResponse)
def rectification_page(
    rectification_id: Id,
    request: Request,
    actor: ConsoleActor,
    prohibited: Annotated[str | None, Query(max_length=5)] = None,
    harm: Annotated[str | None, Query(max_length=10)] = None,
    no_fault: Annotated[str | None, Query(max_length=5)] = None,
) -> Response:
    """A rectification: clock, reports, re-verification (live), the decision form and preview."""
    settings = request.app.state.settings
    with unit_of_work(actor, settings) as uow:
        rect = service.get_rectification(uow=uow, actor=actor, rectification_id=rectification_id)
    _sync(request, actor, rect)
    with unit_of_work(actor, settings) as uow:
        rect = service.get_rectification(uow=uow, actor=actor, rectification_id=rectification_id)
        view = service.get_register_entry(uow=uow, actor=actor, finding_id=rect.finding_id)
        may_decide = "decide" in rect.actions and rect.decision is None
        facts = _preview_facts(prohibited, harm, no_fault) if may_decide else None
        preview = derived = None
        preview_error = None
        if may_decide:
            try:
                derived = service.preview_decision(
                    uow=uow,
                    actor=actor,
                    rectification_id=rectification_id,
                    body=facts
                    or DecisionIn(prohibited=False, harm="none", no_fault_evidence=False),
                )
            except (InvalidInput, Conflict) as exc:
                preview_error = t(exc.key, locale_of(request))
            preview = derived if facts is not None else None
        return _page(
            request,
            uow,
            "supervision/rectification.html",
            {
                "r": rect,
                "f": view.finding,
                "facts": facts,
                "preview": preview,
                "derived": derived,
                "preview_error": preview_error,
                "idem": new_key(),
            },
        )


@router.get("/rectifications/{rectification_id}/status", response_class=HTMLResponse)
def rectification_status(rectification_id: Id, request: Request, actor: ConsoleActor) -> Response:
    """The status fragment htmx polls while re-verification is pending; reloads the page once done."""
    settings = request.app.state.settings
    with unit_of_work(actor, settings) as uow:
        rect = service.get_rectification(uow=uow, actor=actor, rectification_id=rectification_id)
    moved = _sync(request, actor, rect)
    with unit_of_work(actor, settings) as uow:
        rect = service.get_rectification(uow=uow, actor=actor, rectification_id=rectification_id)
        view = service.get_register_entry(uow=uow, actor=actor, finding_id=rect.finding_id)
        resp = _page(request, uow, "supervision/_status.html", {"r": rect, "f": view.finding})
    if moved or rect.status != "reverifying":
        resp.headers["HX-Refresh"] = "true"
    return resp


@router.post("/rectifications/{rectification_id}/report", dependencies=[Depends(csrf_protect)])
def report(
    rectification_id: Id,
    request: Request,
    actor: ConsoleActor,
    idem: Idem,
    text: Text = "",
    files: Annotated[list[UploadFile] | None, File()] = None,
    reverify: Annotated[bool, Form()] = False,
) -> Response:
    """Submit the rectification report with evidence; optionally ask re-verification at once."""
    here = f"/supervision/rectifications/{rectification_id}"
    chosen = [f for f in (files or []) if f.filename]

    def work(uow: Any) -> str:
        out = service.submit_report(
            uow=uow, actor=actor, rectification_id=rectification_id, text=text, files=chosen
        )
        if reverify and "reverify" in out.actions:
            service.request_reverify(uow=uow, actor=actor, rectification_id=rectification_id)
        return here

    return _run_once(request, actor, idem, here, work)


@router.post("/rectifications/{rectification_id}/reverify", dependencies=[Depends(csrf_protect)])
def reverify(rectification_id: Id, request: Request, actor: ConsoleActor, idem: Idem) -> Response:
    """Ask the raising enabler to check the finding again with the report's evidence."""
    here = f"/supervision/rectifications/{rectification_id}"

    def work(uow: Any) -> str:
        service.request_reverify(uow=uow, actor=actor, rectification_id=rectification_id)
        return here

    return _run_once(request, actor, idem, here, work)


@router.post("/rectifications/{rectification_id}/return", dependencies=[Depends(csrf_protect)])
def return_(
    rectification_id: Id,
    request: Request,
    actor: ConsoleActor,
    idem: Idem,
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Return the report for further correction, saying why."""
    here = f"/supervision/rectifications/{rectification_id}"

    def work(uow: Any) -> str:
        if not comment.strip():
            raise InvalidInput("supervision.console.reason_required", "say why", field="comment")
        service.return_rectification(
            uow=uow, actor=actor, rectification_id=rectification_id, text=comment.strip()
        )
        return here

    return _run_once(request, actor, idem, here, work)


@router.post("/rectifications/{rectification_id}/decision", dependencies=[Depends(csrf_protect)])
def decide(
    rectification_id: Id,
    request: Request,
    actor: ConsoleActor,
    idem: Idem,
    harm: Annotated[Literal["none", "minor", "serious"], Form()],
    prohibited: Annotated[bool, Form()] = False,
    no_fault: Annotated[bool, Form()] = False,
    discretion: Annotated[Literal["", "waive", "penalise"], Form()] = "",
    reasons: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Issue the decision (signed); go to the decision's page."""
    here = f"/supervision/rectifications/{rectification_id}"

    def work(uow: Any) -> str:
        body = DecisionIn(
            prohibited=prohibited,
            harm=harm,
            no_fault_evidence=no_fault,
            discretion=discretion or None,
            reasons=reasons.strip() or None,
        )
        out = service.decide_rectification(
            uow=uow, actor=actor, rectification_id=rectification_id, body=body
        )
        if out.decision is None:
            raise NotFound("supervision.decision.not_found", "the decision was not recorded")
        return f"/supervision/decisions/{out.decision.id}"

    facts = f"prohibited={str(prohibited).lower()}&harm={harm}&no_fault={str(no_fault).lower()}"
    return _run_once(request, actor, idem, f"{here}?{facts}", work)


@router.get("/decisions/{decision_id}", response_class=HTMLResponse)
def decision_page(decision_id: Id, request: Request, uow: UoW, actor: ConsoleActor) -> Response:
    """An issued decision as a readable record: outcome, facts and their sources, basis."""
    d = views.get_decision(uow=uow, actor=actor, decision_id=decision_id)
    view = service.get_register_entry(uow=uow, actor=actor, finding_id=d.finding_id)
    return _page(request, uow, "supervision/decision.html", {"d": d, "f": view.finding})


# --- documents and self-checks -----------------------------------------------------------------------


@router.get("/documents", response_class=HTMLResponse)
def documents(request: Request, uow: UoW, actor: ConsoleActor) -> Response:
    """The exemption list and the sector guidelines: the version in force and every version."""
    docs = service.list_documents(uow=uow, actor=actor)
    versions = service.list_documents(uow=uow, actor=actor, all_versions=True)
    return _page(
        request,
        uow,
        "supervision/documents.html",
        {
            "docs": docs,
            "versions": versions,
            "may_selfcheck": can(actor, "supervision.selfcheck.run"),
        },
    )


@router.get("/documents/{slug}", response_class=HTMLResponse)
def document_page(
    slug: Slug,
    request: Request,
    uow: UoW,
    actor: ConsoleActor,
    version: Annotated[int | None, Query(ge=1, le=10**6)] = None,
) -> Response:
    """One version of a document, readable (items and clauses as tables); the publish form."""
    doc = service.get_document(uow=uow, actor=actor, slug=slug, version=version)
    versions = [
        v for v in service.list_documents(uow=uow, actor=actor, all_versions=True) if v.slug == slug
    ]
    may_publish = can(actor, "supervision.documents.manage")
    return _page(
        request,
        uow,
        "supervision/document.html",
        {
            "doc": doc,
            "c": doc.content,
            "versions": versions,
            "may_publish": may_publish,
            "source": yaml.safe_dump(doc.content, allow_unicode=True, sort_keys=False)
            if may_publish
            else "",
            "may_selfcheck": can(actor, "supervision.selfcheck.run"),
            "today": local_time(clock_now(), uow.settings)[:10],
            "idem": new_key(),
        },
    )


@router.post("/documents/{slug}/versions", dependencies=[Depends(csrf_protect)])
def publish(
    slug: Slug,
    request: Request,
    actor: ConsoleActor,
    idem: Idem,
    effective_from: Annotated[str, Form(max_length=10)],
    content: Annotated[str, Form(max_length=200_000)],
    title_zh: Annotated[str, Form(max_length=200)] = "",
    title_en: Annotated[str, Form(max_length=200)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Publish a new version with its effective date; go to that version."""
    here = f"/supervision/documents/{slug}"

    def work(uow: Any) -> str:
        try:
            day = date.fromisoformat(effective_from)
        except ValueError:
            raise InvalidInput(
                "supervision.document.bad_date", "effective date", field="effective_from"
            ) from None
        try:
            parsed = yaml.safe_load(content)
        except yaml.YAMLError:
            raise InvalidInput(
                "supervision.console.bad_yaml", "content is not YAML", field="content"
            ) from None
        if not isinstance(parsed, dict):
            raise InvalidInput(
                "supervision.console.bad_yaml", "content is not a mapping", field="content"
            )
        same = views.same_as_latest(uow=uow, actor=actor, slug=slug, content=parsed, effective=day)
        if same is not None:
            return f"{here}?version={same}"
        title = (
            {"zh": title_zh.strip(), "en": title_en.strip()}
            if title_zh.strip() or title_en.strip()
            else None
        )
        body = DocumentIn(title=title, effective_from=day, content=parsed, note=note or None)
        out = service.publish_document(uow=uow, actor=actor, slug=slug, body=body)
        return f"{here}?version={out.version}"

    return _run_once(request, actor, idem, here, work)


@router.get("/selfcheck/{slug}", response_class=HTMLResponse)
def selfcheck_form(slug: Slug, request: Request, uow: UoW, actor: ConsoleActor) -> Response:
    """The questionnaire of a guideline in force."""
    doc = service.get_document(uow=uow, actor=actor, slug=slug)
    if doc.kind != "guideline":
        raise NotFound("supervision.document.not_found", f"no guideline {slug!r}")
    return _page(
        request,
        uow,
        "supervision/selfcheck.html",
        {
            "doc": doc,
            "c": doc.content,
            "may_selfcheck": can(actor, "supervision.selfcheck.run"),
            "idem": new_key(),
        },
    )


async def form_fields(request: Request) -> dict[str, str]:
    """Return the text fields of a posted form (a questionnaire's answers are named per question)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.post("/selfcheck/{slug}", dependencies=[Depends(csrf_protect)])
def selfcheck_run(
    slug: Slug,
    request: Request,
    actor: ConsoleActor,
    form: Annotated[dict[str, str], Depends(form_fields)],
) -> Response:
    """Run the self-check on the answers; go to its result."""
    here = f"/supervision/selfcheck/{slug}"
    key = str(form.get("idem", ""))
    if len(key) != 32 or any(c not in "0123456789abcdef" for c in key):
        return _back(here, InvalidInput("supervision.console.stale_form", "reload the form"))

    def work(uow: Any) -> str:
        doc = service.get_document(uow=uow, actor=actor, slug=slug)
        answers: dict[str, Any] = {}
        for q in doc.content.get("questions", []):
            raw = form.get(f"q_{q.get('id')}")
            if raw is None or raw == "":
                continue
            answers[str(q["id"])] = raw == "true" if q.get("kind") == "yes_no" else str(raw)
        again = views.recent_selfcheck(uow=uow, actor=actor, slug=slug, answers=answers)
        if again is not None:
            return f"/supervision/selfchecks/{again.id}"
        out = service.run_selfcheck(
            uow=uow, actor=actor, body=SelfCheckIn(slug=slug, answers=answers)
        )
        return f"/supervision/selfchecks/{out.id}"

    return _run_once(request, actor, key, here, work)


@router.get("/selfchecks/{selfcheck_id}", response_class=HTMLResponse)
def selfcheck_result(selfcheck_id: Id, request: Request, uow: UoW, actor: ConsoleActor) -> Response:
    """A self-check's result: score, per-rule pass/risk with the clauses cited."""
    sc = views.get_selfcheck(uow=uow, actor=actor, selfcheck_id=selfcheck_id)
    doc = service.get_document(uow=uow, actor=actor, slug=sc.slug, version=sc.version)
    questions = {str(q.get("id")): q for q in doc.content.get("questions", [])}
    return _page(
        request,
        uow,
        "supervision/selfcheck_result.html",
        {"sc": sc, "doc": doc, "questions": questions, "rules": finding_rules()},
    )
