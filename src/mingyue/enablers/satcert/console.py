"""Console pages of satcert (mounted at /satcert): samples and intake, a sample's case, bench runs
with a live log, review, certificates, the registry of certified terminals, test plans.

Every form posts, then redirects (303) to what it made or changed; forms that start work carry a
one-time key (``form_key``, core ``form_once``/``form_done``), so a reload or a double click lands
on the first post's result instead of starting a second run. The run page polls its log fragment
every second while the run goes and reloads itself once when it has ended.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mingyue.i18n import t
from mingyue.sdk import Actor, can, check, now, unit_of_work
from mingyue.sdk.errors import InvalidInput, MingyueError
from mingyue.web.console import (
    ConsoleActor,
    csrf_protect,
    form_done,
    form_once,
    locale_of,
    new_form_key,
    render,
)

from . import service
from .cases import CERTIFICATION_CASE
from .engine.sim import FAULTS
from .schemas import RunIn, SampleIn
from .service import views
from .service.samples import check_imei

router = APIRouter(include_in_schema=False)
_CJK = re.compile(r"[\u3400-\u9fff]")

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
Key = Annotated[str, Form(max_length=100)]
Text = Annotated[str, Form(max_length=4000)]
POLL_S = 1
KINDS = ("satcom", "gnss", "combo")
DECISIONS = ("start_testing", "submit_review", "retest", "approve", "reject", "return", "resubmit")


# -- display helpers (locale-aware; passed to the templates) ------------------------------------


def _lang(locale: str) -> str:
    return "zh" if locale == "zh_CN" else "en"


def _tr(key: str, locale: str, fallback: str) -> str:
    found = t(key, locale)
    return fallback if found == key else found


def number(value: Any, locale: str) -> str:
    """Return a measured value as people read it (yes/no, 3 decimals at most, lists joined)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return t("satcert.console.yes" if value else "satcert.console.no", locale)
    if isinstance(value, float):
        text = f"{value:.3f}".rstrip("0").rstrip(".")
        return text if text not in ("", "-0") else "0"
    if isinstance(value, (list, tuple)):
        return ("、" if locale == "zh_CN" else ", ").join(number(v, locale) for v in value) or "—"
    if isinstance(value, dict):
        sep = "；" if locale == "zh_CN" else "; "
        return sep.join(f"{measure(k, locale)} {number(v, locale)}" for k, v in value.items())
    return str(value)


def measure(name: str, locale: str) -> str:
    """Return a measure's label (``ttff_median_s`` → 首次定位时间中位数)."""
    words = name.replace("_", " ").strip()
    return _tr(f"satcert.measure.{name}", locale, words)


def unit(name: str, locale: str) -> str:
    """Return the unit a measure's name ends with (``_s`` seconds, ``_m`` metres, dBm, dB)."""
    for suffix, key in (("_dbm", "dbm"), ("_db", "db"), ("_s", "s"), ("_m", "m")):
        if name.endswith(suffix):
            return t(f"satcert.console.unit.{key}", locale)
    return ""


def limit_text(limit: dict[str, Any], locale: str) -> str:
    """Return a plan limit as people read it (≥ −105 ±2, ≤ 1.5, ∈ 14、15、16, 包含 GGA …)."""
    parts: list[str] = []
    if limit.get("min") is not None:
        parts.append(f"≥ {number(limit['min'], locale)}")
    if limit.get("max") is not None:
        parts.append(f"≤ {number(limit['max'], locale)}")
    if limit.get("equals") is not None:
        parts.append(f"= {number(limit['equals'], locale)}")
    if limit.get("in") is not None:
        parts.append(t("satcert.console.one_of", locale, values=number(limit["in"], locale)))
    if limit.get("contains") is not None:
        parts.append(
            t("satcert.console.contains", locale, values=number(limit["contains"], locale))
        )
    if limit.get("tolerance"):
        parts.append(t("satcert.console.tolerance", locale, tol=number(limit["tolerance"], locale)))
    return ("，" if locale == "zh_CN" else ", ").join(parts) or "—"


def lang_of(text: str) -> str:
    """Return the language of text a lab wrote (a plan's titles): Chinese when it has any CJK."""
    return "zh-CN" if _CJK.search(text or "") else "en"


def transport_text(transport: str, locale: str) -> str:
    """Return a run's transport as people read it (the simulated module, or the port)."""
    if transport == "sim":
        return t("satcert.console.transport.sim", locale)
    if transport.startswith("sim:"):
        fault = transport.partition(":")[2]
        return t("satcert.console.transport.sim_fault", locale, fault=fault_text(fault, locale))
    return transport


def fault_text(fault: str, locale: str) -> str:
    """Return a simulated fault's label."""
    return _tr(f"satcert.console.fault.{fault}", locale, fault.replace("_", " "))


def _helpers(request: Request) -> dict[str, Any]:
    locale = locale_of(request)
    lang = _lang(locale)
    states = CERTIFICATION_CASE.states
    return {
        "lang": lang,
        "num": lambda v: number(v, locale),
        "measure": lambda n: measure(n, locale),
        "unit": lambda n: unit(n, locale),
        "limit_text": lambda lim: limit_text(lim, locale),
        "transport": lambda s: transport_text(s, locale),
        "state_title": lambda s: states[s].title.get(lang, s) if s in states else s,
        "kind_text": lambda k: _tr(f"satcert.console.kind.{k}", locale, k),
        "lang_of": lang_of,
    }


def _page(request: Request, template: str, ctx: dict[str, Any], status: int = 200) -> Response:
    return render(request, template, {**_helpers(request), **ctx}, status_code=status)


def _error(request: Request, exc: MingyueError) -> dict[str, Any]:
    locale = locale_of(request)
    found = t(exc.key, locale, **(exc.params or {}))
    return {"message": found if found != exc.key else exc.message, "detail": exc.message}


# -- samples -------------------------------------------------------------------------------------


def _index(
    request: Request,
    actor: Actor,
    *,
    q: str | None = None,
    error: dict[str, Any] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    check(actor, "satcert.read")
    with unit_of_work(actor, request.app.state.settings) as uow:
        samples = service.list_samples(uow=uow, actor=actor, q=q)
        makers = {s.organization_id: views.maker_name(uow, s.organization_id) for s in samples}
    return _page(
        request,
        "satcert/index.html",
        {
            "samples": samples,
            "makers": makers,
            "q": q or "",
            "can_submit": can(actor, "satcert.sample.submit"),
            "lab": actor.has_role("reviewer"),
            "form_key": new_form_key(),
            "error": error,
            "v": values or {},
            "kinds": KINDS,
        },
        status,
    )


@router.get("", response_class=HTMLResponse)
def index(
    request: Request, actor: ConsoleActor, q: Annotated[str | None, Query(max_length=80)] = None
) -> Response:
    """The samples the reader may see (an enterprise its own, the lab all) and the intake form."""
    return _index(request, actor, q=q)


@router.post("/samples", dependencies=[Depends(csrf_protect)])
def submit_sample(
    request: Request,
    actor: ConsoleActor,
    form_key: Key = "",
    manufacturer: Annotated[str, Form(max_length=200)] = "",
    model: Annotated[str, Form(max_length=200)] = "",
    terminal_kind: Annotated[str, Form(max_length=20)] = "satcom",
    declared_imei: Annotated[str, Form(max_length=20)] = "",
    notes: Text = "",
    organization_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """Register a sample (its case opens), then show its page."""
    values = {
        "manufacturer": manufacturer,
        "model": model,
        "terminal_kind": terminal_kind,
        "declared_imei": declared_imei,
        "notes": notes,
        "organization_id": organization_id,
    }
    try:
        check(actor, "satcert.sample.submit")
        org = organization_id.strip()
        if org and (not org.isdigit() or not 0 < int(org) < 2**31):
            raise InvalidInput("satcert.console.bad_org_id", "a number", field="organization_id")
        if not manufacturer.strip() or not model.strip():
            raise InvalidInput("satcert.console.maker_model", "required", field="model")
        body = SampleIn(
            manufacturer=manufacturer.strip(),
            model=model.strip(),
            terminal_kind=terminal_kind if terminal_kind in KINDS else "satcom",
            declared_imei=None,
            notes=notes,
            organization_id=int(org) if org else None,
        )
        if declared_imei.strip():
            body.declared_imei = check_imei(declared_imei)
        with unit_of_work(actor, request.app.state.settings) as uow:
            if (seen := form_once(uow, actor, form_key)) is not None:
                return RedirectResponse(seen, status_code=303)
            out = service.submit_sample(uow=uow, actor=actor, body=body)
            location = f"/satcert/samples/{out.id}"
            form_done(uow, form_key, location)
    except MingyueError as exc:
        return _index(request, actor, error=_error(request, exc), values=values, status=exc.status)
    return RedirectResponse(location, status_code=303)


def _sample(
    request: Request,
    actor: Actor,
    sample_id: int,
    error: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    with unit_of_work(actor, request.app.state.settings) as uow:
        page = views.sample_page(uow=uow, actor=actor, sample_id=sample_id)
    locale = locale_of(request)
    return _page(
        request,
        "satcert/sample.html",
        {
            "p": page,
            "s": page.sample,
            "can_start": can(actor, "satcert.run.start")
            and page.case_state in ("intake", "testing")
            and bool(page.plans),
            "faults": [(f, fault_text(f, locale)) for f in FAULTS if f != "none"],
            "form_key": new_form_key(),
            "error": error,
        },
        status,
    )


@router.get("/samples/{sample_id}", response_class=HTMLResponse)
def sample(sample_id: Id, request: Request, actor: ConsoleActor) -> Response:
    """A sample: the terminal's identity, its case, runs, RF imports, certificate, actions."""
    return _sample(request, actor, sample_id)


@router.post("/samples/{sample_id}/runs", dependencies=[Depends(csrf_protect)])
def start_run(
    sample_id: Id,
    request: Request,
    actor: ConsoleActor,
    form_key: Key = "",
    plan_id: Annotated[int, Form(ge=1, le=2**31 - 1)] = 1,
    transport: Annotated[str, Form(max_length=10)] = "sim",
    port: Annotated[str, Form(max_length=200)] = "",
    sim_fault: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Queue a bench run on the simulated module or an allow-listed lab port; show the run."""
    try:
        if transport == "port" and not port.strip():
            raise InvalidInput("satcert.console.port_required", "name the port", field="port")
        body = RunIn(
            sample_id=sample_id,
            plan_id=plan_id,
            port="sim" if transport != "port" else port.strip(),
            sim_fault=(sim_fault or None) if transport != "port" else None,
            idempotency_key=form_key if 8 <= len(form_key) <= 80 else None,
        )
        with unit_of_work(actor, request.app.state.settings) as uow:
            if (seen := form_once(uow, actor, form_key)) is not None:
                return RedirectResponse(seen, status_code=303)
            run = service.start_run(uow=uow, actor=actor, body=body)
            location = f"/satcert/runs/{run.id}"
            form_done(uow, form_key, location)
    except MingyueError as exc:
        return _sample(request, actor, sample_id, _error(request, exc), exc.status)
    return RedirectResponse(location, status_code=303)


@router.post("/samples/{sample_id}/decision", dependencies=[Depends(csrf_protect)])
def decide(
    sample_id: Id,
    request: Request,
    actor: ConsoleActor,
    form_key: Key = "",
    action: Annotated[str, Form(max_length=20)] = "",
    comment: Text = "",
) -> Response:
    """Take a step of the sample's case (send to review, approve, return, reject …)."""
    try:
        if action not in DECISIONS:
            raise InvalidInput("satcert.console.bad_action", "unknown step", field="action")
        with unit_of_work(actor, request.app.state.settings) as uow:
            if (seen := form_once(uow, actor, form_key)) is not None:
                return RedirectResponse(seen, status_code=303)
            service.decide(
                uow=uow,
                actor=actor,
                sample_id=sample_id,
                action=action,
                comment_text=comment.strip() or None,
            )
            location = f"/satcert/samples/{sample_id}"
            if action == "approve":
                certs = service.list_certificates(uow=uow, actor=actor, sample_id=sample_id)
                if certs:
                    location = f"/satcert/certificates/{certs[0].id}"
            form_done(uow, form_key, location)
    except MingyueError as exc:
        return _sample(request, actor, sample_id, _error(request, exc), exc.status)
    return RedirectResponse(location, status_code=303)


# -- runs ----------------------------------------------------------------------------------------


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run(run_id: Id, request: Request, actor: ConsoleActor) -> Response:
    """A bench run: its live log while it goes, then the verdict per case and the key figures."""
    with unit_of_work(actor, request.app.state.settings) as uow:
        page = views.run_page(uow=uow, actor=actor, run_id=run_id)
    return _page(
        request,
        "satcert/run.html",
        {
            "p": page,
            "r": page.run,
            "live": page.run.status in ("queued", "running"),
            "poll": POLL_S,
        },
    )


@router.get("/runs/{run_id}/log", response_class=HTMLResponse)
def run_log(
    run_id: Id,
    request: Request,
    actor: ConsoleActor,
    after: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> Response:
    """The log lines after ``after`` (htmx fragment); reloads the page once the run has ended."""
    with unit_of_work(actor, request.app.state.settings) as uow:
        log = service.run_log(uow=uow, actor=actor, run_id=run_id, after=after)
    resp = _page(request, "satcert/_log.html", {"log": log, "poll": POLL_S})
    if log.done:
        resp.headers["HX-Refresh"] = "true"
    return resp


# -- certificates, registry ----------------------------------------------------------------------


@router.get("/certificates/{certificate_id}", response_class=HTMLResponse)
def certificate(certificate_id: Id, request: Request, actor: ConsoleActor) -> Response:
    """A terminal certificate people read: DUT, plan version, verdict, figures, log hash, links."""
    with unit_of_work(actor, request.app.state.settings) as uow:
        page = views.certificate_page(uow=uow, actor=actor, certificate_id=certificate_id)
    c = page.certificate
    return _page(
        request,
        "satcert/certificate.html",
        {
            "p": page,
            "c": c,
            "subject": c.subject,
            "state": "revoked" if c.revoked else _registry_state(c.valid_until),
            "can_revoke": can(actor, "satcert.certificate.revoke") and not c.revoked,
            "verify_url": f"{request.app.state.settings.base_url.rstrip('/')}/verify/"
            f"{c.credential_id}",
            "form_key": new_form_key(),
        },
    )


def _registry_state(until: Any) -> str:
    return "expired" if until is not None and until <= now() else "valid"


@router.post("/certificates/{certificate_id}/revoke", dependencies=[Depends(csrf_protect)])
def revoke(
    certificate_id: Id,
    request: Request,
    actor: ConsoleActor,
    form_key: Key = "",
    reason: Text = "",
    non_conformity: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Revoke a certificate (the public page says so from now on) and show it again."""
    location = f"/satcert/certificates/{certificate_id}"
    with unit_of_work(actor, request.app.state.settings) as uow:
        if (seen := form_once(uow, actor, form_key)) is not None:
            return RedirectResponse(seen, status_code=303)
        service.revoke_certificate(
            uow=uow,
            actor=actor,
            certificate_id=certificate_id,
            reason=reason,
            non_conformity=bool(non_conformity),
        )
        form_done(uow, form_key, location)
    return RedirectResponse(location, status_code=303)


@router.get("/registry", response_class=HTMLResponse)
def registry(
    request: Request,
    actor: ConsoleActor,
    q: Annotated[str | None, Query(max_length=80)] = None,
    status: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    """Search the registry of certified terminals by maker, model, firmware or TAC."""
    with unit_of_work(actor, request.app.state.settings) as uow:
        rows = service.search_registry(uow=uow, actor=actor, q=q, status=status or None)
    return _page(
        request, "satcert/registry.html", {"rows": rows, "q": q or "", "status": status or ""}
    )


# -- plans ---------------------------------------------------------------------------------------


def _plans(
    request: Request,
    actor: Actor,
    error: dict[str, Any] | None = None,
    yaml_text: str = "",
    status: int = 200,
) -> Response:
    with unit_of_work(actor, request.app.state.settings) as uow:
        plans = service.list_plans(uow=uow, actor=actor)
    return _page(
        request,
        "satcert/plans.html",
        {
            "plans": plans,
            "can_publish": can(actor, "satcert.plan.manage"),
            "form_key": new_form_key(),
            "error": error,
            "yaml_text": yaml_text,
        },
        status,
    )


@router.get("/plans", response_class=HTMLResponse)
def plans(request: Request, actor: ConsoleActor) -> Response:
    """Every published plan version; the lab publishes a new one here."""
    return _plans(request, actor)


@router.post("/plans", dependencies=[Depends(csrf_protect)])
def publish_plan(
    request: Request,
    actor: ConsoleActor,
    form_key: Key = "",
    yaml_text: Annotated[str, Form(alias="yaml", max_length=512 * 1024)] = "",
) -> Response:
    """Publish a plan version (audited), then show it."""
    try:
        with unit_of_work(actor, request.app.state.settings) as uow:
            if (seen := form_once(uow, actor, form_key)) is not None:
                return RedirectResponse(seen, status_code=303)
            out = service.publish_plan(uow=uow, actor=actor, text=yaml_text)
            location = f"/satcert/plans/{out.id}"
            form_done(uow, form_key, location)
    except MingyueError as exc:
        return _plans(request, actor, _error(request, exc), yaml_text, exc.status)
    return RedirectResponse(location, status_code=303)


@router.get("/plans/{plan_id}", response_class=HTMLResponse)
def plan(plan_id: Id, request: Request, actor: ConsoleActor) -> Response:
    """One plan version: its cases, the clause each implements, readable steps and limits."""
    with unit_of_work(actor, request.app.state.settings) as uow:
        detail, parsed = views.plan_detail(uow=uow, actor=actor, plan_id=plan_id)
    return _page(request, "satcert/plan.html", {"plan": detail, "parsed": parsed})
