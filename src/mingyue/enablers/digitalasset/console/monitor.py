"""Wash-trade monitoring (``/monitor``): upload a marketplace export, the alerts by severity, an
alert's sales, parties and graph, the analyst's verdict, address labels."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from mingyue.enablers.digitalasset.schemas_monitor import LabelIn
from mingyue.enablers.digitalasset.service import monitor as monitor_service
from mingyue.enablers.digitalasset.service import monitor_jobs, views, views_monitor
from mingyue.enablers.digitalasset.settings import options
from mingyue.sdk import Actor, UnitOfWork, can, check, get_job, unit_of_work
from mingyue.sdk.errors import InvalidInput, MingyueError
from mingyue.web.console import ConsoleActor, csrf_protect, new_form_key, run_once, settings_of

from .common import Id, Key, Short, page, read_capped

router = APIRouter(include_in_schema=False)
Note = Annotated[str, Form(max_length=2000)]


def _monitor(
    request: Request,
    actor: Actor,
    *,
    status_q: str = "",
    pattern: str = "",
    run_id: int | None = None,
    exc: MingyueError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    check(actor, "digitalasset.alert.read")
    with unit_of_work(actor, settings_of(request)) as uow:
        p = views_monitor.monitor_page(
            uow=uow, actor=actor, status=status_q, pattern=pattern, run_id=run_id
        )
        job = (
            get_job(uow=uow, actor=actor, job_id=p.run.job_id)
            if p.run
            and p.run.job_id
            and p.run.status in ("queued", "running")
            and can(actor, "core.job.read")
            else None
        )
    return page(
        request,
        "digitalasset/monitor.html",
        {"p": p, "job": job, "form_key": new_form_key(), "v": values or {}},
        exc,
    )


@router.get("/monitor", response_class=HTMLResponse)
def monitor(
    request: Request,
    actor: ConsoleActor,
    status: Annotated[str, Query(max_length=20)] = "",
    pattern: Annotated[str, Query(max_length=30)] = "",
    run: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """Wash-trade monitoring: upload an export, the alerts by severity, the address labels."""
    return _monitor(request, actor, status_q=status, pattern=pattern, run_id=run)


@router.post("/monitor/runs", dependencies=[Depends(csrf_protect)])
def monitor_run(
    request: Request,
    actor: ConsoleActor,
    file: Annotated[UploadFile, File()],
    form_key: Key = "",
) -> Response:
    """Queue a wash-trading check of an uploaded export (CSV or JSON); its run shows live."""

    def run(uow: UnitOfWork) -> str:
        check(actor, "digitalasset.monitor.run")
        data = read_capped(
            file, options(uow.settings).max_events_bytes, "digitalasset.monitor.too_large"
        )
        out = monitor_jobs.submit_monitor(
            uow=uow, actor=actor, data=data, filename=file.filename or "events.csv"
        )
        return f"/digitalasset/monitor?run={out.id}"

    return run_once(
        request, actor, form_key, run, on_error=lambda exc: _monitor(request, actor, exc=exc)
    )


def _alert(
    request: Request,
    actor: Actor,
    alert_id: int,
    *,
    exc: MingyueError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    with unit_of_work(actor, settings_of(request)) as uow:
        p = views_monitor.alert_page(uow=uow, actor=actor, alert_id=alert_id)
        orgs = views.org_names(uow, {p.alert.organization_id})
    return page(
        request,
        "digitalasset/alert.html",
        {
            "p": p,
            "a": p.alert,
            "org": orgs[p.alert.organization_id],
            "form_key": new_form_key(),
            "v": values or {},
        },
        exc,
    )


@router.get("/monitor/alerts/{alert_id}", response_class=HTMLResponse)
def alert(alert_id: Id, request: Request, actor: ConsoleActor) -> Response:
    """An alert: its sales, parties (with labels), graph, and the analyst's verdict."""
    return _alert(request, actor, alert_id)


@router.post("/monitor/alerts/{alert_id}/decision", dependencies=[Depends(csrf_protect)])
def alert_decision(
    alert_id: Id,
    request: Request,
    actor: ConsoleActor,
    form_key: Key = "",
    verdict: Annotated[str, Form(max_length=20)] = "",
    note: Note = "",
) -> Response:
    """Confirm the alert, or mark it a false positive (silences the pattern for these parties)."""

    def decide(uow: UnitOfWork) -> str:
        monitor_service.decide_alert(
            uow=uow, actor=actor, alert_id=alert_id, verdict=verdict, note=note
        )
        return f"/digitalasset/monitor/alerts/{alert_id}"

    return run_once(
        request,
        actor,
        form_key,
        decide,
        on_error=lambda exc: _alert(request, actor, alert_id, exc=exc, values={"note": note}),
    )


def _confidence(text: str) -> float:
    try:
        value = float(text.strip() or "1")
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise InvalidInput(
            "digitalasset.label.bad_confidence",
            "confidence must lie between 0 and 1",
            field="confidence",
        )
    return value


def _label(address: str, kind: str, source: str, confidence: str, note: str) -> LabelIn:
    try:
        return LabelIn(
            address=address.strip(),
            kind=kind.strip(),
            source=source.strip() or "analyst",
            confidence=_confidence(confidence),
            note=note.strip(),
        )
    except ValidationError as exc:
        field_name = str(exc.errors()[0]["loc"][0]) if exc.errors() else "address"
        raise InvalidInput(
            "digitalasset.label.bad_address"
            if field_name == "address"
            else "digitalasset.label.bad_kind",
            f"{field_name}: {exc.errors()[0]['msg'] if exc.errors() else 'invalid'}",
            field=field_name,
        ) from exc


@router.post("/monitor/labels", dependencies=[Depends(csrf_protect)])
def add_label(
    request: Request,
    actor: ConsoleActor,
    form_key: Key = "",
    address: Annotated[str, Form(max_length=128)] = "",
    kind: Annotated[str, Form(max_length=30)] = "",
    source: Short = "",
    confidence: Annotated[str, Form(max_length=10)] = "1",
    note: Note = "",
    alert_id: Annotated[int | None, Form(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """Add an address label (kind, source, confidence); back to the alert or the label list."""
    values = {
        "address": address,
        "kind": kind,
        "source": source,
        "confidence": confidence,
        "note": note,
    }
    location = (
        f"/digitalasset/monitor/alerts/{alert_id}#parties"
        if alert_id
        else "/digitalasset/monitor#labels"
    )

    def add(uow: UnitOfWork) -> str:
        body = _label(address, kind, source, confidence, note)
        monitor_service.add_label(uow=uow, actor=actor, label=body)
        return location

    def again(exc: MingyueError) -> Response:
        if alert_id:
            return _alert(request, actor, alert_id, exc=exc, values=values)
        return _monitor(request, actor, exc=exc, values=values)

    return run_once(request, actor, form_key, add, on_error=again)
