"""Measures and eligibility, the enterprise profile, notifications, campaigns, approval lists."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from mingyue.enablers.policy.engine.eligibility import QUALIFICATIONS, SECTORS
from mingyue.enablers.policy.schemas_service import CampaignIn, ProfileIn
from mingyue.enablers.policy.service import benefits, corpus, profiles, push
from mingyue.enablers.policy.service.common import CAMPAIGN_RUN, READ, org_name
from mingyue.sdk import Actor, UnitOfWork, can, check, get_job, unit_of_work
from mingyue.sdk.errors import InvalidInput, MingyueError, NotFound
from mingyue.web.console import (
    ConsoleActor,
    csrf_protect,
    new_form_key,
    run_once,
    see_other,
    settings_of,
)

from .common import Id, Key, is_enterprise, page

router = APIRouter(include_in_schema=False)
OrgQ = Annotated[int | None, Query(ge=1, le=2**31 - 1)]
Text = Annotated[str, Form(max_length=500)]


def _summary(pairs: list[tuple[str, Any]]) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for _name, m in pairs:
        counts[m.measure.key][m.verdict] += 1
    return counts


def _measures(
    request: Request,
    actor: Actor,
    org: int | None,
    exc: MingyueError | None = None,
) -> Response:
    check(actor, READ)
    official = can(actor, CAMPAIGN_RUN)
    with unit_of_work(actor, settings_of(request)) as uow:
        mine = None
        profile = None
        if is_enterprise(actor) or org is not None:
            mine = push.eligibility(uow=uow, actor=actor, organization_id=org)
            profile = profiles.get_profile(uow=uow, actor=actor, organization_id=org)
        counts: dict[str, Counter[str]] = {}
        enterprises: list[Any] = []
        if official:
            counts = _summary(push.matches_in_scope(uow=uow, actor=actor))
            enterprises = profiles.list_profiles(uow=uow, actor=actor)
        all_measures = push.list_measures(actor=actor)
    return page(
        request,
        "policy/measures.html",
        {
            "mine": mine,
            "profile": profile,
            "org": org,
            "official": official,
            "counts": counts,
            "enterprises": enterprises,
            "measures": all_measures,
            "form_keys": {x.key: new_form_key() for x in all_measures},
        },
        exc,
    )


@router.get("/measures", response_class=HTMLResponse)
def measures(request: Request, actor: ConsoleActor, org: OrgQ = None) -> Response:
    """Every measure with the verdict for the enterprise (officials: counts and campaigns)."""
    return _measures(request, actor, org)


@router.get("/measures/{key}", response_class=HTMLResponse)
def measure(key: str, request: Request, actor: ConsoleActor) -> Response:
    """One measure: its clause, conditions, who matches it (officials) or the reader's verdict."""
    check(actor, READ)
    if len(key) > 80:
        raise NotFound("policy.measure.not_found", "no such measure")
    m = push.get_measure(key)
    official = can(actor, CAMPAIGN_RUN)
    with unit_of_work(actor, settings_of(request)) as uow:
        try:
            clause = corpus.get_clause(uow=uow, actor=actor, clause_id=m.clause)
        except MingyueError:
            clause = None
        rows = push.matches_in_scope(uow=uow, actor=actor, measure_key=key) if official else []
        mine = (
            push.eligibility(uow=uow, actor=actor, measure_key=key)[0]
            if is_enterprise(actor)
            else None
        )
        listed = [b for b in benefits.list_benefits(uow=uow, actor=actor) if b.measure_key == key]
    return page(
        request,
        "policy/measure.html",
        {
            "m": push.measure_out(m),
            "clause": clause,
            "rows": rows,
            "mine": mine,
            "official": official,
            "listed": listed,
            "form_key": new_form_key(),
        },
    )


@router.post("/campaigns", dependencies=[Depends(csrf_protect)])
def start_campaign(
    request: Request,
    actor: ConsoleActor,
    form_key: Key = "",
    measure_key: Annotated[str, Form(max_length=80)] = "",
    note: Text = "",
) -> Response:
    """Push a measure to every matching enterprise; show the campaign while it runs."""

    def work(uow: UnitOfWork) -> str:
        out = push.start_campaign(
            uow=uow, actor=actor, body=CampaignIn(measure_key=measure_key or "?", note=note)
        )
        return f"/policy/campaigns/{out.id}"

    return run_once(
        request, actor, form_key, work, on_error=lambda exc: _measures(request, actor, None, exc)
    )


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign(campaign_id: Id, request: Request, actor: ConsoleActor) -> Response:
    """A campaign: its job's live status, then its counts, notifications and approval list."""
    with unit_of_work(actor, settings_of(request)) as uow:
        c = push.get_campaign(uow=uow, actor=actor, campaign_id=campaign_id)
        job = get_job(uow=uow, actor=actor, job_id=c.job_id) if c.job_id else None
        pushes = push.list_pushes(uow=uow, actor=actor, campaign_id=campaign_id, limit=1000)
        listed = [
            b for b in benefits.list_benefits(uow=uow, actor=actor) if b.campaign_id == campaign_id
        ]
        orgs = {p.organization_id for p in pushes} | {b.organization_id for b in listed}
        names = {o: org_name(uow, o) for o in orgs}
    return page(
        request,
        "policy/campaign.html",
        {
            "c": c,
            "job": job,
            "m": push.measure_out(push.get_measure(c.measure_key)),
            "pushes": pushes,
            "listed": listed,
            "names": names,
        },
    )


# -- profile ------------------------------------------------------------------------------------


def _profile_page(
    request: Request,
    actor: Actor,
    exc: MingyueError | None = None,
    values: dict[str, Any] | None = None,
    saved: bool = False,
) -> Response:
    with unit_of_work(actor, settings_of(request)) as uow:
        prof = profiles.get_profile(uow=uow, actor=actor)
    return page(
        request,
        "policy/profile.html",
        {
            "p": prof,
            "v": values or prof.model_dump(),
            "can_edit": is_enterprise(actor),
            "qualifications": QUALIFICATIONS,
            "sectors": SECTORS,
            "saved": saved,
        },
        exc,
    )


@router.get("/profile", response_class=HTMLResponse)
def profile(request: Request, actor: ConsoleActor, saved: int = 0) -> Response:
    """The enterprise's profile: what the eligibility rules read."""
    return _profile_page(request, actor, saved=bool(saved))


def _decimal(value: str, field: str) -> Decimal | None:
    text = value.strip().replace(",", "")
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise InvalidInput("policy.profile.bad_number", "not a number", field=field) from None


@router.post("/profile", dependencies=[Depends(csrf_protect)])
async def save_profile(request: Request, actor: ConsoleActor) -> Response:
    """Save the profile (a PUT of every field), then show it.

    Async only to read the repeated checkbox fields of the form; the work (database, page)
    runs in the thread pool like every plain ``def`` route.
    """
    form = await request.form(max_files=0, max_fields=200)
    return await run_in_threadpool(_save_profile, request, actor, form)


def _save_profile(request: Request, actor: Actor, form: Any) -> Response:
    def get(name: str) -> str:
        v = form.get(name)
        return v.strip()[:200] if isinstance(v, str) else ""

    values: dict[str, Any] = {k: get(k) for k in ProfileIn.model_fields}
    values["qualifications"] = [str(v) for v in form.getlist("qualifications")][:10]
    values["sectors"] = [str(v) for v in form.getlist("sectors")][:10]
    try:
        try:
            body = ProfileIn(
                industry_code=values["industry_code"] or None,
                size_class=values["size_class"] or None,
                district=values["district"] or None,
                park=values["park"] or None,
                qualifications=values["qualifications"],
                sectors=values["sectors"],
                listing=values["listing"] or "none",
                headcount=int(values["headcount"]) if values["headcount"] else None,
                revenue=_decimal(values["revenue"], "revenue"),
                total_assets=_decimal(values["total_assets"], "total_assets"),
                rd_spend=_decimal(values["rd_spend"], "rd_spend"),
                established=date.fromisoformat(values["established"])
                if values["established"]
                else None,
            )
        except (ValidationError, ValueError) as exc:
            field = (
                str(exc.errors()[0]["loc"][0])
                if isinstance(exc, ValidationError) and exc.errors()[0]["loc"]
                else "form"
            )
            raise InvalidInput("policy.profile.bad_field", f"{field}: {exc}", field=field) from None
        with unit_of_work(actor, settings_of(request)) as uow:
            profiles.update_profile(uow=uow, actor=actor, body=body)
    except MingyueError as exc:
        return _profile_page(request, actor, exc, values)
    return see_other("/policy/profile?saved=1")


# -- notifications ------------------------------------------------------------------------------


@router.get("/pushes", response_class=HTMLResponse)
def pushes(request: Request, actor: ConsoleActor) -> Response:
    """An enterprise's inbox and opt-out; officials' campaigns, push log and approval lists."""
    check(actor, READ)
    official = can(actor, CAMPAIGN_RUN)
    with unit_of_work(actor, settings_of(request)) as uow:
        rows = push.list_pushes(uow=uow, actor=actor, limit=300)
        camps = push.list_campaigns(uow=uow, actor=actor) if official else []
        listed = benefits.list_benefits(uow=uow, actor=actor)
        prof = profiles.get_profile(uow=uow, actor=actor) if is_enterprise(actor) else None
        orgs = {r.organization_id for r in rows} | {b.organization_id for b in listed}
        names = {o: org_name(uow, o) for o in orgs}
        jobs = {
            c.id: get_job(uow=uow, actor=actor, job_id=c.job_id)
            for c in camps
            if c.job_id and c.status in ("queued", "running")
        }
    measures = {m.key: m for m in push.list_measures(actor=actor)}
    return page(
        request,
        "policy/pushes.html",
        {
            "rows": rows,
            "camps": camps,
            "jobs": jobs,
            "listed": listed,
            "official": official,
            "profile": prof,
            "names": names,
            "measures": measures,
            "form_key": new_form_key(),
        },
    )


@router.post("/pushes/{push_id}/read", dependencies=[Depends(csrf_protect)])
def read_push(push_id: Id, request: Request, actor: ConsoleActor) -> Response:
    """Mark a notification read (idempotent), then go to its measure."""
    with unit_of_work(actor, settings_of(request)) as uow:
        out = push.mark_read(uow=uow, actor=actor, push_id=push_id)
    return see_other(f"/policy/measures/{out.measure_key}")


@router.post("/profile/opt-out", dependencies=[Depends(csrf_protect)])
def opt_out(
    request: Request,
    actor: ConsoleActor,
    opt_out: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Turn policy pushes off or on (idempotent), then show the inbox."""
    with unit_of_work(actor, settings_of(request)) as uow:
        profiles.set_opt_out(uow=uow, actor=actor, opt_out=opt_out == "1")
    return see_other("/policy/pushes")
