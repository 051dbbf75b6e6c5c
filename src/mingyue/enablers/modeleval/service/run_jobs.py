"""Evaluations started from the API or the console: a run row queued with a core job
(``modeleval.run``) that evaluates the model and records the run as the CLI does.

The request checks who may start it (``modeleval.run.start``: the model's organization, or a
platform admin), the model's endpoint against the allow-list, and claims the idempotency key;
the job gets only the run's id. It reads the model again, checks the endpoint again and resolves
the key (a variable's name or the sealed key) itself, so no key is in the job's arguments, the
run's request, the audit ledger or the logs. The run reads ``queued`` → ``running`` →
``succeeded`` | ``failed`` with the reason; a job that runs again (a retry after a lost worker)
finds a finished run and does nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mingyue.enablers.modeleval.models import ModelevalModel, ModelevalRun
from mingyue.enablers.modeleval.schemas import RunStartIn
from mingyue.enablers.modeleval.service.feedback import org_probes
from mingyue.enablers.modeleval.service.hosting import api_key_of, check_endpoint
from mingyue.enablers.modeleval.service.runs import (
    RunOut,
    evaluate_endpoint,
    finish_run,
    new_run_key,
)
from mingyue.sdk import (
    Actor,
    JobContext,
    UnitOfWork,
    can,
    check,
    enqueue,
    get_visible,
    now,
    require_org,
)
from mingyue.sdk.errors import Conflict, Forbidden, InvalidInput, MingyueError, NotFound

log = logging.getLogger(__name__)

JOB_KIND: Final = "modeleval.run"
FINISHED: Final = ("succeeded", "failed")
REQUEST_TIMEOUT_S: Final = 60.0


def _digest(body: RunStartIn) -> str:
    doc = body.model_dump(mode="json")
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode("utf-8")).hexdigest()


def _same_key(uow: UnitOfWork, org: int, key: str) -> ModelevalRun | None:
    return uow.session.scalars(
        select(ModelevalRun).where(
            ModelevalRun.organization_id == org, ModelevalRun.idempotency_key == key
        )
    ).first()


def _repeat(row: ModelevalRun, body: RunStartIn) -> RunOut:
    if row.request.get("digest") != _digest(body):
        raise Conflict(
            "modeleval.idempotency_reused",
            "this Idempotency-Key started another evaluation with other parameters",
            field="Idempotency-Key",
        )
    return RunOut.model_validate(row)


def _target(uow: UnitOfWork, actor: Actor, body: RunStartIn) -> tuple[int, ModelevalModel | None]:
    """Return the organization the run is for and the registered model it evaluates."""
    if body.model_id is not None:
        if body.endpoint is not None or body.model is not None or body.api_key_env is not None:
            raise InvalidInput(
                "modeleval.start_model_or_endpoint",
                "name a registered model, or (platform admins) an endpoint and a model",
                field="model_id",
            )
        # Another organization's model (private or shared) is not found: only its own
        # organization, or a platform admin, may spend its endpoint and key on a run.
        model = get_visible(uow, ModelevalModel, body.model_id, "modeleval.run.start")
        check_endpoint(uow.settings, model.endpoint)
        return model.organization_id, model
    if not can(actor, "modeleval.run.start_endpoint"):
        raise Forbidden(
            "modeleval.endpoint_admin_only",
            "only a platform admin may evaluate an endpoint that is not a registered model",
            field="endpoint",
        )
    if body.endpoint is None or body.model is None:
        raise InvalidInput(
            "modeleval.start_model_or_endpoint",
            "name a registered model, or (platform admins) an endpoint and a model",
            field="model_id",
        )
    check_endpoint(uow.settings, body.endpoint)
    return require_org(actor), None


def start_run(
    *, uow: UnitOfWork, actor: Actor, body: RunStartIn, idempotency_key: str | None = None
) -> RunOut:
    """Queue an evaluation of a registered model (or, platform admins, of an endpoint).

    The same ``idempotency_key`` (per organization) answers the run it started first and
    queues nothing; reused with other parameters it is refused (409).
    """
    check(actor, "modeleval.run.start")
    org, model = _target(uow, actor, body)
    if idempotency_key is not None and (seen := _same_key(uow, org, idempotency_key)):
        return _repeat(seen, body)
    request = {
        "source": "api",
        "suite": body.suite,
        "scoring": body.scoring,
        "concurrency": body.concurrency,
        "limit": body.limit,
        "digest": _digest(body),
    }
    if model is None:
        request["api_key_env"] = body.api_key_env  # a variable's NAME (platform admins only)
    else:
        request["model_id"] = model.id  # the row's link is cleared when the model is withdrawn
    row = ModelevalRun(
        organization_id=org,
        created_by=actor.label(),
        run_key=new_run_key(),
        model=model.served_model if model is not None else str(body.model).strip(),
        endpoint=model.endpoint if model is not None else str(body.endpoint).strip().rstrip("/"),
        records_sha256="",
        model_id=model.id if model is not None else None,
        status="queued",
        request=request,
        idempotency_key=idempotency_key,
    )
    try:
        # Two requests with one key at once: the second one's insert fails on the unique key
        # (after the first commits) and answers the first one's run.
        with uow.session.begin_nested():
            uow.session.add(row)
            uow.flush()
    except IntegrityError:
        seen = _same_key(uow, org, idempotency_key) if idempotency_key else None
        if seen is None:
            raise
        return _repeat(seen, body)
    job = enqueue(uow=uow, kind=JOB_KIND, params={"run_id": row.id}, organization_id=org)
    row.job_id = job.id
    uow.flush()
    uow.audit(
        "modeleval.run.started",
        f"modeleval_run:{row.id}",
        {
            "model_id": row.model_id,
            "model": row.model,
            "endpoint": row.endpoint,
            "suite": body.suite,
            "scoring": body.scoring,
            "concurrency": body.concurrency,
            "limit": body.limit,
            "job": job.id,
        },
    )
    return RunOut.model_validate(row)


class _Plan:
    """What the job needs from the database before it asks the model (read in one short unit
    of work; the evaluation then runs with no transaction open)."""

    def __init__(self, uow: UnitOfWork, row: ModelevalRun) -> None:
        req = row.request
        self.endpoint = row.endpoint
        self.model = row.model
        self.api_key_env: str | None = req.get("api_key_env")
        self.api_key: str | None = None
        if req.get("model_id") is not None:
            if row.model_id is None:
                raise NotFound("modeleval.run_model_gone", "the model was withdrawn")
            model = get_visible(uow, ModelevalModel, row.model_id)
            self.endpoint, self.model = model.endpoint, model.served_model
            self.api_key_env = model.api_key_env
            self.api_key = api_key_of(uow.settings, model)
        self.endpoint = check_endpoint(uow.settings, self.endpoint)
        self.suite = str(req.get("suite") or "standard")
        self.scoring = str(req.get("scoring") or "generate")
        self.concurrency = int(req.get("concurrency") or 4)
        self.limit: int | None = req.get("limit")
        self.run_key = row.run_key
        self.extra = org_probes(uow=uow, organization_id=row.organization_id)


def _all_failed(card: dict[str, Any]) -> str | None:
    """Return the reason when not one generality request got an answer (the endpoint failed)."""
    gen = card["generality"]
    if not gen["items"] or gen["failed"] < gen["items"]:
        return None
    reasons = Counter(str(f.get("reason") or "error") for f in gen.get("failures", []))
    reason = reasons.most_common(1)[0][0] if reasons else "error"
    return f"modeleval.endpoint_failed: every request failed ({reason})"


def _fail(
    ctx: JobContext, run_id: int, reason: str, card: dict[str, Any] | None = None
) -> dict[str, Any]:
    with ctx.unit_of_work() as uow:
        row = get_visible(uow, ModelevalRun, run_id)
        if card is not None:  # the records of the failed requests stay for the reader
            row.scorecard, row.records_sha256 = card, card["run"]["records_sha256"]
        row.status = "failed"
        row.error = reason[:500]
        row.finished_at = now()
        uow.flush()
        uow.audit(
            "modeleval.run.failed",
            f"modeleval_run:{row.id}",
            {"model": row.model, "endpoint": row.endpoint, "reason": row.error},
        )
    return {"run_id": run_id, "status": "failed", "error": reason[:500]}


def _reason(exc: MingyueError) -> str:
    # The error's key names the cause in words the run page translates; the message is English.
    return f"{exc.key}: {exc.message}"


def run_evaluation_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Job handler: evaluate the run's model, then record the run (scorecard, records, report)."""
    run_id = int(params["run_id"])
    try:
        with ctx.unit_of_work() as uow:
            row = get_visible(uow, ModelevalRun, run_id)
            if row.status in FINISHED:
                return {"run_id": row.id, "status": row.status, "again": True}
            plan = _Plan(uow, row)
            row.status = "running"
    except MingyueError as exc:
        return _fail(ctx, run_id, _reason(exc))
    ctx.progress(1)

    def progress(done: int, total: int, dimension: str) -> None:
        ctx.progress(1 + 94 * done / max(total, 1), f"{done}/{total}")

    try:
        card = evaluate_endpoint(
            endpoint=plan.endpoint,
            model=plan.model,
            data_dir=ctx.settings.data_dir,
            api_key_env=plan.api_key_env,
            api_key=plan.api_key,
            concurrency=plan.concurrency,
            progress=progress,
            timeout_s=REQUEST_TIMEOUT_S,
            extra_probes=plan.extra,
            scoring=plan.scoring,
            suite=plan.suite,
            limit=plan.limit,
            run_key=plan.run_key,
        )
    except MingyueError as exc:
        return _fail(ctx, run_id, _reason(exc))
    except Exception as exc:
        # The type only: a message could quote a header or a URL the job was given.
        log.exception("modeleval run %s failed", run_id)
        return _fail(ctx, run_id, f"modeleval.run_error: {type(exc).__name__}")
    if (reason := _all_failed(card)) is not None:
        return _fail(ctx, run_id, reason, card)
    ctx.progress(97)
    with ctx.unit_of_work() as uow:
        row = get_visible(uow, ModelevalRun, run_id)
        out = finish_run(uow=uow, row=row, card=card)
    return {"run_id": out.id, "status": out.status, "credential": out.credential_id}
