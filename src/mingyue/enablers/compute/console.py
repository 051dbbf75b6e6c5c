"""Console pages of the compute enabler: pools with live capacity, jobs, the submit form (fields,
with YAML as the advanced tab), and a job page that follows its job until it ends."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mingyue.i18n import t
from mingyue.sdk import (
    FreePoolOut,
    can,
    check,
    get_free_pool,
    local_time,
    now,
    organization,
    unit_of_work,
)
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

from . import service, wording
from .engine.spec import DEFAULT_RUNTIME_S, known_gpu_models
from .engine.states import JobState
from .tariffs import CPU_METER

router = APIRouter(include_in_schema=False)

_UNIT_S = dict(wording.RUNTIME_UNITS)
_MEM_MB = {"MB": 1, "GB": 1024}
_POLICIES = ("cost", "soonest", "fifo")


@dataclass
class JobForm:
    """The submit form's values, kept when a submit is refused."""

    mode: str = "form"  # form | yaml (the advanced tab)
    name: str = ""
    run: str = "command"  # command | image
    command: str = "echo 你好，明月湖"
    image: str = ""
    cpus: str = "1"
    gpus: str = "0"
    gpu_model: str = ""
    memory: str = ""
    memory_unit: str = "GB"
    runtime: str = "10"
    runtime_unit: str = "min"
    policy: str = "cost"
    spec: str = "command: echo hi\ncpus: 1\nmax_runtime_s: 10m\n"
    errors: dict[str, str] = field(default_factory=dict)


def _whole(value: str, name: str, *, low: int, high: int) -> int:
    try:
        n = int(value.strip())
    except ValueError:
        n = low - 1
    if not low <= n <= high:
        raise InvalidInput(
            f"compute.form.{name}", f"{name}: a whole number from {low} to {high}", field=name
        )
    return n


def _positive(value: str, name: str) -> Decimal:
    try:
        d = Decimal(value.strip())
    except ArithmeticError:
        d = Decimal(0)
    if not d.is_finite() or d <= 0:
        raise InvalidInput(f"compute.form.{name}", f"{name}: a positive number", field=name)
    return d


def spec_of(f: JobForm) -> dict[str, Any]:
    """Return the job spec the form describes (YAML on the advanced tab)."""
    if f.mode == "yaml":
        try:
            data = yaml.safe_load(f.spec)
        except yaml.YAMLError as exc:
            raise InvalidInput("compute.spec_unreadable", f"YAML: {exc}", field="spec") from exc
        if not isinstance(data, dict):
            raise InvalidInput("compute.spec_unreadable", "spec: a mapping", field="spec")
        return data
    spec: dict[str, Any] = {"cpus": _whole(f.cpus, "cpus", low=1, high=4096)}
    if f.name.strip():
        spec["name"] = f.name.strip()
    if f.run == "image":
        if not f.image.strip():
            raise InvalidInput("compute.form.image", "image: required", field="image")
        spec["image"] = f.image.strip()
        if f.command.strip():
            spec["command"] = f.command.strip()
    else:
        if not f.command.strip():
            raise InvalidInput("compute.form.command", "command: required", field="command")
        spec["command"] = f.command.strip()
    gpus = _whole(f.gpus or "0", "gpus", low=0, high=64)
    if gpus:
        spec["gpus"] = {"count": gpus, **({"model": f.gpu_model} if f.gpu_model else {})}
    if f.memory.strip():
        mb = _positive(f.memory, "memory") * _MEM_MB.get(f.memory_unit, 1)
        spec["memory_mb"] = max(1, round(mb))
    if f.runtime.strip():
        seconds = _positive(f.runtime, "runtime") * _UNIT_S.get(f.runtime_unit, 60)
        spec["max_runtime_s"] = max(1, round(seconds))
    return spec


def _quota_note(uow: Any, actor: Any, quota: FreePoolOut | None) -> str | None:
    """Say why the free quota is zero (not an SME, or none granted this month)."""
    if quota is None or quota.granted > 0 or actor.organization_id is None:
        return None
    org = organization(uow=uow, organization_id=actor.organization_id)
    return "compute.quota_sme_only" if org is not None and not org.is_sme else "compute.quota_none"


def _index(request: Request, actor: ConsoleActor, form: JobForm | None = None) -> Response:
    check(actor, "compute.job.read")
    settings = request.app.state.settings
    locale = locale_of(request)
    with unit_of_work(actor, settings) as uow:
        pools = service.list_pools(uow=uow)
        jobs = service.list_jobs(uow=uow, limit=50)
        quota = None
        if actor.organization_id is not None and can(actor, "core.usage.read"):
            month = local_time(now(), settings, "%Y-%m")
            quota = get_free_pool(
                uow=uow, organization_id=actor.organization_id, meter=CPU_METER, month=month
            )
        quota_note = _quota_note(uow, actor, quota)
    f = form or JobForm()
    return render(
        request,
        "compute/index.html",
        {
            "pools": pools,
            "jobs": jobs,
            "quota": quota,
            "quota_note": quota_note,
            "form": f,
            "form_key": new_form_key(),
            "gpu_models": sorted(known_gpu_models()),
            "runtime_units": [u for u, _ in wording.RUNTIME_UNITS],
            "policies": _POLICIES,
            "can_submit": can(actor, "compute.job.submit"),
            "why": lambda text: wording.explain(text, locale, lambda at: local_time(at, settings)),
            "chart": {
                "names": [p.name for p in pools],
                "util": [round(p.utilization * 100, 1) for p in pools],
            },
        },
        status_code=422 if f.errors else 200,
    )


@router.get("", response_class=HTMLResponse)
def index(request: Request, actor: ConsoleActor) -> Response:
    """Pools, the submit form, jobs (state, cost) and the free quota left."""
    return _index(request, actor)


@router.get("/submit", response_class=HTMLResponse)
def submit_form(request: Request, actor: ConsoleActor) -> Response:
    """The submit form lives on the compute page (a reload of an old POST lands here)."""
    check(actor, "compute.job.read")
    return RedirectResponse("/compute#submit", status_code=303)


@router.post("/submit", dependencies=[Depends(csrf_protect)])
def submit(
    request: Request,
    actor: ConsoleActor,
    form_key: Annotated[str, Form(max_length=100)] = "",
    mode: Annotated[str, Form(max_length=10)] = "form",
    name: Annotated[str, Form(max_length=128)] = "",
    run: Annotated[str, Form(max_length=10)] = "command",
    command: Annotated[str, Form(max_length=65536)] = "",
    image: Annotated[str, Form(max_length=512)] = "",
    cpus: Annotated[str, Form(max_length=10)] = "1",
    gpus: Annotated[str, Form(max_length=10)] = "0",
    gpu_model: Annotated[str, Form(max_length=64)] = "",
    memory: Annotated[str, Form(max_length=20)] = "",
    memory_unit: Annotated[str, Form(max_length=4)] = "GB",
    runtime: Annotated[str, Form(max_length=20)] = "",
    runtime_unit: Annotated[str, Form(max_length=4)] = "min",
    policy: Annotated[str, Form(max_length=10)] = "cost",
    spec: Annotated[str, Form(max_length=65536)] = "",
) -> Response:
    """Submit the job the form describes, then show its page (once, however often it is sent)."""
    check(actor, "compute.job.submit")
    f = JobForm(
        mode="yaml" if mode == "yaml" else "form",
        name=name,
        run="image" if run == "image" else "command",
        command=command,
        image=image,
        cpus=cpus,
        gpus=gpus,
        gpu_model=gpu_model,
        memory=memory,
        memory_unit=memory_unit,
        runtime=runtime,
        runtime_unit=runtime_unit,
        policy=policy if policy in _POLICIES else "cost",
        spec=spec,
    )
    try:
        with unit_of_work(actor, request.app.state.settings) as uow:
            if (seen := form_once(uow, actor, form_key)) is not None:
                return RedirectResponse(seen, status_code=303)
            out = service.submit_job(uow=uow, spec=spec_of(f), policy=f.policy)
            location = f"/compute/jobs/{out.job_id}"
            form_done(uow, form_key, location)
    except MingyueError as exc:
        locale = locale_of(request)
        f.errors = {
            "field": _field_label(exc.field, locale),
            "title": _message(exc, locale),
            "detail": exc.message,
        }
        return _index(request, actor, f)
    return RedirectResponse(location, status_code=303)


# The spec's field names as the form calls them.
_FORM_FIELD = {"max_runtime_s": "runtime", "memory_mb": "memory", "gpus.model": "gpu_model"}


def _field_label(name: str | None, locale: str) -> str:
    if not name:
        return ""
    name = _FORM_FIELD.get(name, name)
    key = f"compute.field.{name.split('.')[0]}"
    text = t(key, locale)
    return name if text == key else text


def _message(exc: MingyueError, locale: str) -> str:
    text = t(exc.key, locale)
    return exc.message if text == exc.key else text


def _job_context(request: Request, actor: ConsoleActor, job_id: int) -> dict[str, Any]:
    check(actor, "compute.job.read")
    settings = request.app.state.settings
    locale = locale_of(request)
    with unit_of_work(actor, settings) as uow:
        job = service.job_status(uow=uow, job_id=job_id)
        lines = service.job_lines(uow=uow, job_id=job_id)
        spec = service.job_spec(uow=uow, job_id=job_id)
        try:
            logs = service.job_logs(uow=uow, job_id=job_id)
        except MingyueError as exc:
            logs = _message(exc, locale)

    def zone(at: datetime | None) -> str:
        return local_time(at, settings)

    return {
        "job": job,
        "finished": JobState(job.state).terminal,
        "lines": lines,
        "spec": spec,
        "runtime": wording.runtime(
            spec.get("max_runtime_s") or spec.get("expected_runtime_s"), locale
        ),
        "default_runtime": wording.runtime(DEFAULT_RUNTIME_S, locale),
        "why": wording.explain(job.explanation, locale, zone),
        "reason": wording.explain(job.reason, locale, zone),
        "logs": logs,
        "zone": zone,
        "can_cancel": can(actor, "compute.job.cancel"),
    }


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, actor: ConsoleActor, job_id: int) -> Response:
    """One job: state (kept current while it runs), what it cost, why it went where, logs."""
    return render(request, "compute/job.html", _job_context(request, actor, job_id))


@router.get("/jobs/{job_id}/live", response_class=HTMLResponse)
def job_live(request: Request, actor: ConsoleActor, job_id: int) -> Response:
    """The live part of the job page (htmx polls it every 2 s until the job ends)."""
    return render(request, "compute/_job_live.html", _job_context(request, actor, job_id))
