"""Computation requests: aggregate SQL and model training, from submission to release.

Flow: submit (policy + SQL wall + budget preview) → owner approval (a core case per owner, see
approvals.py), or a standing policy → the job runs it in the sandbox → gates and DP → optional
release review by the owner (a core case) → released. Every step writes one audit entry; a
refusal at submission is recorded (refused request, audit entry), charges nothing and raises
``RecordedRefusal``, whose unit of work commits that record before the caller sees the error;
each run writes usage records (rows scanned, CPU seconds). Reading requests writes nothing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from mingyue.sdk import (
    Actor,
    CaseOut,
    JobContext,
    NotFound,
    RecordedRefusal,
    UnitOfWork,
    check,
    get_visible,
    now,
    organization,
    record_usage,
    require_org,
)

from . import approvals, findings
from .budget import TERMS_KEY, DbLedger, asked, epsilon_left, terms_of
from .catalogue import context
from .engine import query as q
from .engine.errors import ExecutionFailed, SandboxError
from .engine.errors import InvalidSpec as EngineInvalid
from .engine.errors import Refusal as EngineRefusal
from .engine.policy import Consumer
from .engine.training import TrainSpec, check_spec, train
from .models import SandboxDataset, SandboxRequest
from .sandbox import open_engine, open_worker
from .schemas import RequestOut

# HTTP status of a refusal by its rule's family; every other rule (sql.*, train.*, verify.*,
# dp.*, gate.*, an invalid spec) rejects the request as given: 422. See docs/datasandbox.md.
_REFUSAL_STATUS = (("policy.", 403), ("budget.", 429), ("verify.rate_limited", 429))


def refusal_status(rule: str) -> int:
    """Return the HTTP status of a refusal by its rule (403 policy, 429 budget/rate, 422 else)."""
    return next((status for prefix, status in _REFUSAL_STATUS if rule.startswith(prefix)), 422)


def consumer_of(actor: Actor, purpose: str) -> Consumer:
    """Return the engine's view of the asking organization."""
    return Consumer(org=str(actor.organization_id), kind=actor.org_kind, purpose=purpose)


def new_request(
    uow: UnitOfWork,
    actor: Actor,
    *,
    kind: str,
    rows: dict[str, SandboxDataset],
    datasets: list[str],
    purpose: str,
    spec: dict[str, Any],
    audit: dict[str, Any],
) -> SandboxRequest:
    """Record a submitted request (with the budget terms of its DP datasets) and audit it."""
    req = SandboxRequest(
        organization_id=require_org(actor),
        created_by=actor.label(),
        kind=kind,
        datasets=datasets,
        purpose=purpose,
        owner_org_ids=sorted({r.organization_id for r in rows.values()}),
        spec={**spec, TERMS_KEY: terms_of(rows)},
    )
    uow.session.add(req)
    uow.flush()
    uow.audit("datasandbox.request.submitted", f"datasandbox_request:{req.id}", audit)
    return req


def refuse(uow: UnitOfWork, req: SandboxRequest, exc: SandboxError) -> None:
    """Mark the request refused by an engine rule and record why."""
    req.status = "refused"
    req.reason = exc.to_dict()
    req.updated_at = now()
    uow.audit(
        "datasandbox.request.refused",
        f"datasandbox_request:{req.id}",
        {"rule": exc.rule, "message": exc.message},
        organization_id=req.organization_id,
    )
    findings.note_refusal(uow=uow, req=req, rule=exc.rule)


def fail(uow: UnitOfWork, req: SandboxRequest, exc: ExecutionFailed) -> None:
    """Mark the request failed (time or memory limit, engine error) and record why."""
    req.status = "failed"
    req.reason = exc.to_dict()
    uow.audit(
        "datasandbox.request.failed",
        f"datasandbox_request:{req.id}",
        {"rule": exc.rule, "message": exc.message},
        organization_id=req.organization_id,
    )


def refused(uow: UnitOfWork, req: SandboxRequest) -> RecordedRefusal:
    """Return the error that answers a request refused at submission (its record is committed)."""
    reason = req.reason or {}
    rule = str(reason.get("rule", ""))
    out = request_out(uow, req)
    return RecordedRefusal(
        str(reason.get("key") or f"datasandbox.{rule}"),
        str(reason.get("message") or rule),
        status=refusal_status(rule),
        document={**out.model_dump(mode="json"), "rule": rule},
    )


def request_out(uow: UnitOfWork, req: SandboxRequest) -> RequestOut:
    """Return a request as its consumer sees it (rows and model only once released)."""
    released = req.status == "released"
    rows = (req.result or {}).get("rows") if released else None
    model = (req.result or {}).get("model") if released else None
    return RequestOut(
        id=req.id,
        kind=req.kind,
        status=req.status,
        reason=req.reason,
        rows=rows,
        model=model,
        epsilon_spent=req.epsilon_spent,
        epsilon_left=epsilon_left(uow, req),
        datasets=list(req.datasets),
        preview=req.preview,
        job_id=req.job_id,
        organization_id=req.organization_id,
        created_by=req.created_by,
        created_at=req.created_at,
    )


def record_run_usage(
    uow: UnitOfWork,
    req: SandboxRequest,
    rows_scanned: int,
    cpu: float,
    start: dt.datetime,
    end: dt.datetime,
) -> None:
    """Record the rows scanned and CPU seconds of one run against the consumer."""
    if end <= start:
        end = start + dt.timedelta(microseconds=1)
    for meter, quantity, unit in (
        ("datasandbox.rows_scanned", Decimal(rows_scanned), "row"),
        ("datasandbox.cpu_seconds", Decimal(str(round(cpu, 6))), "cpu_second"),
    ):
        record_usage(
            uow=uow,
            organization_id=req.organization_id,
            meter=meter,
            quantity=quantity,
            unit=unit,
            start=start,
            end=end,
            source="datasandbox",
            ref=f"datasandbox_request:{req.id}",
        )


def submit_query(
    *,
    uow: UnitOfWork,
    actor: Actor,
    sql: str,
    dataset: str | None = None,
    epsilon: float | None = None,
    params: Any = None,
    purpose: str = "statistics",
) -> RequestOut:
    """Check an aggregate SQL request; queue it when a standing policy approves it."""
    check(actor, "datasandbox.query.submit")
    require_org(actor)
    # Parsed once: the tree names the datasets and is the one the plan checks.
    try:
        stmt = q.parse(sql)
        names = q.datasets_of(stmt)
        unparsed: EngineRefusal | None = None
    except EngineRefusal as exc:
        stmt, names, unparsed = None, [], exc
    if dataset:
        names = sorted({*names, dataset})
    datasets, policies, rows = context(uow, names)
    if dataset and dataset not in rows:
        raise NotFound("datasandbox.dataset_not_found", f"no dataset {dataset!r}")
    req = new_request(
        uow,
        actor,
        kind="aggregate_sql",
        rows=rows,
        datasets=names,
        purpose=purpose,
        spec={"sql": sql, "epsilon": epsilon, "params": params},
        audit={"kind": "aggregate_sql", "datasets": names, "sql": sql, "epsilon": epsilon},
    )
    ledger = DbLedger(uow, {n: r.id for n, r in rows.items()})
    try:
        if unparsed is not None:
            raise unparsed
        prepared = q.prepare(
            q.QueryRequest(
                sql, consumer_of(actor, purpose), epsilon, params, ref=str(req.id), parsed=stmt
            ),
            datasets,
            policies,
            ledger,
            now(),
        )
    except (EngineRefusal, EngineInvalid) as exc:
        refuse(uow, req, exc)
        raise refused(uow, req) from exc
    req.preview = prepared.preview()
    # The owners of datasets the consumer does not own and no standing policy opens decide.
    deciders = sorted(
        {
            rows[n].organization_id
            for n, p in policies.items()
            if n in rows and not p.auto_approve and rows[n].organization_id != actor.organization_id
        }
    )
    own = all(r.organization_id == actor.organization_id for r in rows.values())
    if deciders:
        approvals.open_approval(uow, req, deciders)
    else:
        approvals.approve(uow, req, "owner's own data" if own else "standing policy")
    return request_out(uow, req)


def submit_training(
    *,
    uow: UnitOfWork,
    actor: Actor,
    dataset: str,
    template: str,
    features: list[str],
    target: str,
    params: dict[str, Any] | None = None,
    epsilon: float | None = None,
    purpose: str = "model_training",
) -> RequestOut:
    """Check a model-training request; queue it when a standing policy approves it."""
    check(actor, "datasandbox.query.submit")
    org_id = require_org(actor)
    datasets, policies, rows = context(uow, [dataset])
    if dataset not in rows:
        raise NotFound("datasandbox.dataset_not_found", f"no dataset {dataset!r}")
    row, pol, ds = rows[dataset], policies[dataset], datasets[dataset]
    train_spec = TrainSpec(template, features, target, params or {}, epsilon)
    spec: dict[str, Any] = {
        "template": template,
        "features": features,
        "target": target,
        "params": params or {},
        "epsilon": epsilon,
    }
    req = new_request(
        uow,
        actor,
        kind="model_training",
        rows=rows,
        datasets=[dataset],
        purpose=purpose,
        spec=spec,
        audit={"kind": "model_training", "dataset": dataset, **spec},
    )
    try:
        pol.check(consumer_of(actor, purpose), "model_training", now())
        check_spec(train_spec, ds, pol.min_group_size)
        if template.startswith("dp_") and pol.epsilon_per_period is not None:
            spent = DbLedger(uow, {dataset: row.id}).spent(
                str(org_id), dataset, pol.period_key(now())
            )
            if (epsilon or 0) > pol.epsilon_per_period - spent + 1e-12:
                raise EngineRefusal(
                    "budget.exhausted", f"privacy budget of {dataset} is exhausted", dataset=dataset
                )
    except (EngineRefusal, EngineInvalid) as exc:
        refuse(uow, req, exc)
        raise refused(uow, req) from exc
    own = row.organization_id == org_id
    # Non-DP templates release exact parameters of a DP-protected dataset: the owner decides.
    if own or (pol.auto_approve and (template.startswith("dp_") or not pol.dp)):
        approvals.approve(uow, req, "owner's own data" if own else "standing policy")
    else:
        approvals.open_approval(uow, req, [row.organization_id])
    return request_out(uow, req)


def get_request(*, uow: UnitOfWork, actor: Actor, request_id: int) -> RequestOut:
    """Return one of the actor's organization's requests (result only once released)."""
    check(actor, "datasandbox.request.read")
    req = get_visible(uow, SandboxRequest, request_id, key="datasandbox.request_not_found")
    return request_out(uow, req)


def request_sql(*, uow: UnitOfWork, actor: Actor, request_id: int) -> str | None:
    """Return the SQL (or the training template) a request asked for, as its consumer wrote it."""
    check(actor, "datasandbox.request.read")
    req = get_visible(uow, SandboxRequest, request_id, key="datasandbox.request_not_found")
    spec = req.spec or {}
    text = spec.get("sql") or spec.get("template")
    return None if text is None else str(text)


def list_requests(*, uow: UnitOfWork, actor: Actor, limit: int = 100) -> list[RequestOut]:
    """Return the requests visible to the actor, newest first."""
    check(actor, "datasandbox.request.read")
    rows = uow.session.scalars(
        select(SandboxRequest).order_by(SandboxRequest.id.desc()).limit(limit)
    ).all()
    return [request_out(uow, r) for r in rows]


def pending_for_owner(*, uow: UnitOfWork, actor: Actor) -> list[CaseOut]:
    """Open approval and release-review cases on the actor's datasets (core ``CaseOut``s)."""
    check(actor, "datasandbox.request.decide")
    return approvals.open_cases_for_owner(uow=uow)


def _org_kind(uow: UnitOfWork, req: SandboxRequest) -> str:
    org = organization(uow=uow, organization_id=req.organization_id)
    return org.kind if org is not None else "enterprise"


def _load_request(uow: UnitOfWork, request_id: int) -> SandboxRequest:
    row = uow.session.scalars(select(SandboxRequest).where(SandboxRequest.id == request_id)).first()
    if row is None:
        raise NotFound("datasandbox.request_not_found", f"no request {request_id}")
    return row


def run_request_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Job: run an approved request inside the sandbox, gate it, charge ε, record usage."""
    request_id = int(params["request_id"])
    with (
        ctx.unit_of_work() as uow,
        uow.unscoped(reason=f"datasandbox: run approved request {request_id}"),
    ):
        try:
            return _run_request(ctx, uow, request_id)
        finally:
            # Flush while unscoped: the job may act for the owner on the consumer's rows.
            uow.flush()


def _release_or_review(
    uow: UnitOfWork, req: SandboxRequest, reviewers: list[int], payload: dict[str, Any]
) -> None:
    if reviewers:
        approvals.open_release(uow, req, reviewers)
    else:
        req.status = "released"
        uow.audit(
            "datasandbox.request.released",
            f"datasandbox_request:{req.id}",
            payload,
            organization_id=req.organization_id,
        )
    req.updated_at = now()


def _run_request(ctx: JobContext, uow: UnitOfWork, request_id: int) -> dict[str, Any]:
    req = _load_request(uow, request_id)
    if req.status != "approved":
        return {"status": req.status}
    if req.kind == "model_training":
        return _run_training(ctx, uow, req)
    datasets, policies, rows = context(uow, list(req.datasets))
    ctx.progress(10, "checking")
    ledger = DbLedger(uow, {n: r.id for n, r in rows.items()})
    started = now()
    consumer = Consumer(org=str(req.organization_id), kind=_org_kind(uow, req), purpose=req.purpose)
    try:
        prepared = q.prepare(
            q.QueryRequest(
                req.spec["sql"],
                consumer,
                req.spec.get("epsilon"),
                req.spec.get("params"),
                ref=str(req.id),
            ),
            datasets,
            policies,
            ledger,
            started,
        )
        ctx.progress(30, "running in the sandbox")
        with open_engine(uow.settings) as engine:
            result = q.execute(prepared, datasets, engine, ledger)
            engine_name = engine.name
    except (EngineRefusal, EngineInvalid) as exc:
        refuse(uow, req, exc)
        return {"status": "refused", "rule": exc.rule}
    except ExecutionFailed as exc:
        fail(uow, req, exc)
        return {"status": "failed", "rule": exc.rule}
    ended = now()
    req.result = result.to_dict()
    req.epsilon_spent = result.epsilon_spent
    req.rows_scanned = result.rows_scanned
    req.cpu_seconds = result.cpu_seconds
    uow.audit(
        "datasandbox.request.executed",
        f"datasandbox_request:{req.id}",
        {
            "rows_scanned": result.rows_scanned,
            "cpu_seconds": result.cpu_seconds,
            "epsilon": result.epsilon_spent,
            "suppressed": result.suppressed_groups,
            "engine": engine_name,
        },
        organization_id=req.organization_id,
    )
    record_run_usage(uow, req, result.rows_scanned, result.cpu_seconds, started, ended)
    reviewers = sorted(
        {
            rows[p.dataset].organization_id
            for p in prepared.policies
            if p.release_review and p.dataset in rows
        }
        - {req.organization_id}
    )
    _release_or_review(
        uow, req, reviewers, {"rows": len(result.rows), "epsilon": result.epsilon_spent}
    )
    ctx.progress(100, req.status)
    return {"status": req.status, "request_id": req.id}


def _run_training(ctx: JobContext, uow: UnitOfWork, req: SandboxRequest) -> dict[str, Any]:
    datasets, policies, rows = context(uow, list(req.datasets))
    name = req.datasets[0]
    ds, pol = datasets[name], policies[name]
    started = now()
    ctx.progress(20, "training in the sandbox")
    try:
        pol.check(
            Consumer(str(req.organization_id), _org_kind(uow, req), req.purpose),
            "model_training",
            started,
        )
        with open_worker(uow.settings) as worker:
            res = train(TrainSpec(**asked(req.spec)), ds, worker, pol.min_group_size)
        if res.epsilon_spent and pol.epsilon_per_period is not None:
            DbLedger(uow, {name: rows[name].id}).charge(
                str(req.organization_id),
                name,
                pol.period_key(started),
                res.epsilon_spent,
                pol.epsilon_per_period,
                str(req.id),
            )
    except (EngineRefusal, EngineInvalid) as exc:
        refuse(uow, req, exc)
        return {"status": "refused", "rule": exc.rule}
    except ExecutionFailed as exc:
        fail(uow, req, exc)
        return {"status": "failed", "rule": exc.rule}
    req.result = {
        "model": {
            "template": res.template,
            "model": res.model,
            "metrics": res.metrics,
            "n_parameters": res.n_parameters,
            "rows_used": res.rows_used,
        }
    }
    req.epsilon_spent = res.epsilon_spent
    req.rows_scanned, req.cpu_seconds = ds.rows, res.cpu_seconds
    uow.audit(
        "datasandbox.request.executed",
        f"datasandbox_request:{req.id}",
        {
            "template": res.template,
            "n_parameters": res.n_parameters,
            "epsilon": res.epsilon_spent,
            "cpu_seconds": res.cpu_seconds,
        },
        organization_id=req.organization_id,
    )
    record_run_usage(uow, req, ds.rows, res.cpu_seconds, started, now())
    reviewers = (
        [rows[name].organization_id]
        if pol.release_review and rows[name].organization_id != req.organization_id
        else []
    )
    _release_or_review(uow, req, reviewers, {"kind": "model_training", "metrics": res.metrics})
    ctx.progress(100, req.status)
    return {"status": req.status, "request_id": req.id}
