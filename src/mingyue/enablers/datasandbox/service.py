"""Use cases of the data sandbox: the engine plus the core (access, audit, jobs, metering).

Flow of a computation: submit (policy + SQL wall + budget preview) → owner approval (a core
case per owner, see approvals.py), or a standing policy → job runs it in the sandbox → gates and
DP → optional release review by the owner (a core case) → released. Every step writes one audit
entry; a refusal at submission is recorded (refused request, audit entry), charges nothing and
raises ``RecordedRefusal``, whose unit of work commits that record before the caller sees the
error; each run writes usage records (rows scanned, CPU seconds).
"""

from __future__ import annotations

import atexit
import datetime as dt
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mingyue.core.config import Settings, get_settings
from mingyue.core.errors import Conflict, InvalidInput, NotFound, RecordedRefusal, Refused
from mingyue.core.metering.service import record_usage
from mingyue.core.tenancy.access import Actor, check
from mingyue.core.uow import UnitOfWork

from . import approvals
from .engine import query as q
from .engine import verify as vfy
from .engine.datasets import Dataset, DatasetSpec, ingest
from .engine.errors import ExecutionFailed, SandboxError
from .engine.errors import InvalidSpec as EngineInvalid
from .engine.errors import Refusal as EngineRefusal
from .engine.policy import OPERATIONS, Consumer, UsagePolicy
from .models import SandboxBudget, SandboxCharge, SandboxDataset, SandboxRequest, SandboxVerifyCount
from .schemas import BudgetOut, ColumnOut, DatasetDetail, DatasetOut, PsiOut, RequestOut

_engine_lock = threading.Lock()
_engines: dict[tuple[Any, ...], Any] = {}


def sql_engine(settings: Settings | None = None) -> Any:
    """Return the sandbox engine chosen by ``MINGYUE_DATASANDBOX__ENGINE`` (one per process)."""
    from .settings import options

    opts = options(settings or get_settings())
    key = (opts.engine, opts.spark_master, opts.spark_timeout_s, opts.memory_mb, opts.timeout_s)
    with _engine_lock:
        if key not in _engines:
            if opts.engine == "spark":
                from .adapters.spark import SparkEngine

                _engines[key] = SparkEngine(opts.spark_master, timeout_s=opts.spark_timeout_s)
            else:
                from .adapters.duckdb_local import DuckDBSandbox

                _engines[key] = DuckDBSandbox(memory_mb=opts.memory_mb, timeout_s=opts.timeout_s)
            atexit.register(_engines[key].close)
        return _engines[key]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _store_dir(uow: UnitOfWork) -> Path:
    return Path(uow.settings.data_dir) / "datasandbox" / "datasets"


def _consumer(actor: Actor, purpose: str) -> Consumer:
    return Consumer(org=str(actor.organization_id), kind=actor.org_kind, purpose=purpose)


def _dataset_out(row: SandboxDataset) -> DatasetOut:
    ds = Dataset.from_dict(row.meta)
    pol = UsagePolicy.from_dict(row.policy)
    return DatasetOut(
        id=row.id,
        name=row.name,
        owner_org_id=row.organization_id,
        description=row.description,
        rows_rounded=row.rows_rounded,
        max_contributions=ds.max_contributions,
        columns=[
            ColumnOut(
                name=c.name,
                type=c.type,
                cls=c.cls.value,
                bounds=list(c.bounds) if c.bounds else None,
                description=c.description,
            )
            for c in ds.columns
        ],
        policy=pol.to_dict(),
        odrl=pol.to_odrl(),
        created_at=row.created_at,
    )


def _all_datasets(uow: UnitOfWork, names: list[str] | None = None) -> list[SandboxDataset]:
    # The catalogue is shared across organizations by design; the read is audited.
    with uow.unscoped(reason="datasandbox: shared dataset catalogue"):
        stmt = select(SandboxDataset).order_by(SandboxDataset.name)
        if names is not None:
            stmt = stmt.where(SandboxDataset.name.in_(names))
        return list(uow.session.scalars(stmt).all())


def register_dataset(
    *,
    uow: UnitOfWork,
    actor: Actor,
    source: Path,
    name: str,
    identifiers: list[str],
    quasi: list[str] | None = None,
    sensitive: list[str] | None = None,
    min_group: int = 10,
    epsilon_per_period: float | None = 3.0,
    open_to_all: bool = False,
    description: str = "",
    bounds: dict[str, tuple[float, float]] | None = None,
) -> DatasetOut:
    """Ingest a CSV/Parquet/JSON file into the sandbox and publish it with its usage policy."""
    check(actor, "datasandbox.dataset.register")
    if actor.organization_id is None:
        raise InvalidInput("datasandbox.no_organization", "datasets belong to an organization")
    if _all_datasets(uow, [name]):
        raise Conflict(
            "datasandbox.dataset_exists", f"a dataset named {name!r} exists", field="name"
        )
    if epsilon_per_period is not None and epsilon_per_period <= 0:
        epsilon_per_period = None  # 0 means exact aggregates with suppression only
    try:
        policy = UsagePolicy(
            dataset=name,
            assignees=["*"] if open_to_all else [],
            assignee_kinds=[] if open_to_all else ["enterprise", "regulator", "operator"],
            operations=list(OPERATIONS),
            min_group_size=min_group,
            epsilon_per_period=epsilon_per_period,
            auto_approve=open_to_all,
        )
        ds = ingest(
            source,
            DatasetSpec(
                name,
                identifiers=identifiers,
                quasi=quasi or [],
                sensitive=sensitive or [],
                bounds=dict(bounds or {}),
            ),
            _store_dir(uow),
        )
    except EngineInvalid as exc:
        raise InvalidInput(exc.key, exc.message, **exc.params) from exc
    try:
        row = SandboxDataset(
            organization_id=actor.organization_id,
            name=name,
            description=description,
            meta=ds.to_dict(),
            policy=policy.to_dict(),
            rows_rounded=ds.rows_rounded(),
            created_by=actor.label(),
        )
        uow.session.add(row)
        uow.flush()
        uow.audit(
            "datasandbox.dataset.registered",
            f"datasandbox_dataset:{row.id}",
            {
                "name": name,
                "sha256": ds.sha256,
                "rows": ds.rows,
                "identifiers": identifiers,
                "policy": policy.to_dict(),
            },
        )
    except BaseException:
        ds.path.unlink(missing_ok=True)
        raise
    return _dataset_out(row)


def list_datasets(*, uow: UnitOfWork, actor: Actor) -> list[DatasetOut]:
    """Return the catalogue: every dataset's schema, rounded size and policy."""
    check(actor, "datasandbox.dataset.read")
    return [_dataset_out(r) for r in _all_datasets(uow)]


def get_dataset(
    *, uow: UnitOfWork, actor: Actor, name: str, preview_rows: int = 8
) -> DatasetDetail:
    """Return one catalogue entry with a mock preview (synthetic rows, no real values)."""
    from .engine.mock import preview

    check(actor, "datasandbox.dataset.read")
    rows = _all_datasets(uow, [name])
    if not rows:
        raise NotFound("datasandbox.dataset_not_found", f"no dataset {name!r}")
    row = rows[0]
    ds = Dataset.from_dict(row.meta)
    pol = UsagePolicy.from_dict(row.policy)
    return DatasetDetail(
        **_dataset_out(row).model_dump(), mock_preview=preview(ds, preview_rows, pol.min_group_size)
    )


class _DbLedger:
    """The engine's BudgetLedger on the datasandbox_budget / datasandbox_charge tables."""

    def __init__(self, uow: UnitOfWork, ids: dict[str, int], request_id: int | None) -> None:
        self.uow, self.ids, self.request_id = uow, ids, request_id

    def _row(self, consumer: str, dataset: str, period: str, lock: bool) -> SandboxBudget | None:
        stmt = select(SandboxBudget).where(
            SandboxBudget.organization_id == int(consumer),
            SandboxBudget.dataset_id == self.ids[dataset],
            SandboxBudget.period == period,
        )
        if lock:
            stmt = stmt.with_for_update()
        return self.uow.session.scalars(stmt).first()

    def spent(self, consumer: str, dataset: str, period: str) -> float:
        row = self._row(consumer, dataset, period, False)
        return row.spent if row else 0.0

    def charge(
        self, consumer: str, dataset: str, period: str, epsilon: float, cap: float, ref: str
    ) -> float:
        row = self._row(consumer, dataset, period, True)
        if row is None:
            row = SandboxBudget(
                organization_id=int(consumer),
                dataset_id=self.ids[dataset],
                period=period,
                cap=cap,
                spent=0.0,
            )
            self.uow.session.add(row)
            self.uow.flush()
        left = cap - row.spent
        if epsilon > left + 1e-12:
            raise EngineRefusal(
                "budget.exhausted",
                f"privacy budget of {dataset} for {period} "
                f"is exhausted: {max(left, 0):.4g} left, {epsilon:.4g} asked",
                left=round(max(left, 0), 6),
                asked=epsilon,
                dataset=dataset,
            )
        row.spent += epsilon
        row.cap = cap
        self.uow.session.add(
            SandboxCharge(
                organization_id=int(consumer),
                dataset_id=self.ids[dataset],
                period=period,
                epsilon=epsilon,
                request_id=int(ref),
            )
        )
        self.uow.flush()
        self.uow.audit(
            "datasandbox.budget.charged",
            f"datasandbox_request:{ref}",
            {"dataset": dataset, "period": period, "epsilon": epsilon, "left": cap - row.spent},
            organization_id=int(consumer),
        )
        return cap - row.spent


def _refuse(uow: UnitOfWork, req: SandboxRequest, exc: SandboxError) -> None:
    req.status = "refused"
    req.reason = exc.to_dict()
    req.updated_at = _now()
    uow.audit(
        "datasandbox.request.refused",
        f"datasandbox_request:{req.id}",
        {"rule": exc.rule, "message": exc.message},
        organization_id=req.organization_id,
    )


# HTTP status of a refusal by its rule's family; every other rule (sql.*, train.*, verify.*,
# dp.*, gate.*, an invalid spec) rejects the request as given: 422. See docs/datasandbox.md.
_REFUSAL_STATUS = (("policy.", 403), ("budget.", 429), ("verify.rate_limited", 429))


def refusal_status(rule: str) -> int:
    """Return the HTTP status of a refusal by its rule (403 policy, 429 budget/rate, 422 else)."""
    return next((status for prefix, status in _REFUSAL_STATUS if rule.startswith(prefix)), 422)


def _refused(uow: UnitOfWork, req: SandboxRequest) -> RecordedRefusal:
    """Return the error that answers a request refused at submission (its record is committed)."""
    reason = req.reason or {}
    rule = str(reason.get("rule", ""))
    out = _request_out(uow, req)
    return RecordedRefusal(
        str(reason.get("key") or f"datasandbox.{rule}"),
        str(reason.get("message") or rule),
        status=refusal_status(rule),
        document={**out.model_dump(mode="json"), "rule": rule},
    )


def _context(
    uow: UnitOfWork, names: list[str]
) -> tuple[dict[str, Dataset], dict[str, UsagePolicy], dict[str, SandboxDataset]]:
    rows = {r.name: r for r in _all_datasets(uow, names)}
    return (
        {n: Dataset.from_dict(r.meta) for n, r in rows.items()},
        {n: UsagePolicy.from_dict(r.policy) for n, r in rows.items()},
        rows,
    )


def _sql_datasets(sql: str, primary: str | None) -> list[str]:
    from sqlglot import exp

    from .engine.sqlcheck import parse_one

    try:
        names = {t.name.lower() for t in parse_one(sql).find_all(exp.Table)}
    except EngineRefusal:
        names = set()
    if primary:
        names.add(primary)
    return sorted(names)


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
    if actor.organization_id is None:
        raise InvalidInput("datasandbox.no_organization", "requests come from an organization")
    names = _sql_datasets(sql, dataset)
    datasets, policies, rows = _context(uow, names)
    if dataset and dataset not in rows:
        raise NotFound("datasandbox.dataset_not_found", f"no dataset {dataset!r}")
    req = SandboxRequest(
        organization_id=actor.organization_id,
        created_by=actor.label(),
        kind="aggregate_sql",
        datasets=names,
        purpose=purpose,
        owner_org_ids=sorted({r.organization_id for r in rows.values()}),
        spec={"sql": sql, "epsilon": epsilon, "params": params},
    )
    uow.session.add(req)
    uow.flush()
    uow.audit(
        "datasandbox.request.submitted",
        f"datasandbox_request:{req.id}",
        {"kind": "aggregate_sql", "datasets": names, "sql": sql, "epsilon": epsilon},
    )
    ledger = _DbLedger(uow, {n: r.id for n, r in rows.items()}, req.id)
    try:
        prepared = q.prepare(
            q.QueryRequest(sql, _consumer(actor, purpose), epsilon, params, ref=str(req.id)),
            datasets,
            policies,
            ledger,
        )
    except (EngineRefusal, EngineInvalid) as exc:
        _refuse(uow, req, exc)
        raise _refused(uow, req) from exc
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
    return _request_out(uow, req)


def _load_request(uow: UnitOfWork, request_id: int) -> SandboxRequest:
    row = uow.session.scalars(select(SandboxRequest).where(SandboxRequest.id == request_id)).first()
    if row is None:
        raise NotFound("datasandbox.request_not_found", f"no request {request_id}")
    return row


def pending_for_owner(*, uow: UnitOfWork, actor: Actor) -> list[Any]:
    """Open approval and release-review cases on the actor's datasets (core ``CaseOut``s)."""
    check(actor, "datasandbox.request.decide")
    return approvals.open_cases_for_owner(uow=uow)


def run_request_job(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
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


def _run_request(ctx: Any, uow: UnitOfWork, request_id: int) -> dict[str, Any]:
    req = _load_request(uow, request_id)
    if req.status != "approved":
        return {"status": req.status}
    if req.kind == "model_training":
        return _run_training(ctx, uow, req)
    datasets, policies, rows = _context(uow, list(req.datasets))
    ctx.progress(10, "checking")
    ledger = _DbLedger(uow, {n: r.id for n, r in rows.items()}, req.id)
    started = _now()
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
        )
        ctx.progress(30, "running in the sandbox")
        result = q.execute(prepared, datasets, sql_engine(uow.settings), ledger)
    except (EngineRefusal, EngineInvalid) as exc:
        _refuse(uow, req, exc)
        return {"status": "refused", "rule": exc.rule}
    except ExecutionFailed as exc:
        req.status = "failed"
        req.reason = exc.to_dict()
        uow.audit(
            "datasandbox.request.failed",
            f"datasandbox_request:{req.id}",
            {"rule": exc.rule, "message": exc.message},
            organization_id=req.organization_id,
        )
        return {"status": "failed", "rule": exc.rule}
    ended = _now()
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
            "engine": getattr(sql_engine(uow.settings), "name", "duckdb"),
        },
        organization_id=req.organization_id,
    )
    _record_usage(uow, req, result.rows_scanned, result.cpu_seconds, started, ended)
    reviewers = sorted(
        {
            rows[p.dataset].organization_id
            for p in prepared.policies
            if p.release_review and p.dataset in rows
        }
        - {req.organization_id}
    )
    if reviewers:
        approvals.open_release(uow, req, reviewers)
    else:
        req.status = "released"
        uow.audit(
            "datasandbox.request.released",
            f"datasandbox_request:{req.id}",
            {"rows": len(result.rows), "epsilon": result.epsilon_spent},
            organization_id=req.organization_id,
        )
    req.updated_at = _now()
    ctx.progress(100, req.status)
    return {"status": req.status, "request_id": req.id}


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
    from .engine.training import TrainSpec, check_spec

    check(actor, "datasandbox.query.submit")
    if actor.organization_id is None:
        raise InvalidInput("datasandbox.no_organization", "requests come from an organization")
    datasets, policies, rows = _context(uow, [dataset])
    if dataset not in rows:
        raise NotFound("datasandbox.dataset_not_found", f"no dataset {dataset!r}")
    row, pol, ds = rows[dataset], policies[dataset], datasets[dataset]
    spec = {
        "template": template,
        "features": features,
        "target": target,
        "params": params or {},
        "epsilon": epsilon,
    }
    req = SandboxRequest(
        organization_id=actor.organization_id,
        created_by=actor.label(),
        kind="model_training",
        datasets=[dataset],
        purpose=purpose,
        owner_org_ids=[row.organization_id],
        spec=spec,
    )
    uow.session.add(req)
    uow.flush()
    uow.audit(
        "datasandbox.request.submitted",
        f"datasandbox_request:{req.id}",
        {"kind": "model_training", "dataset": dataset, **spec},
    )
    try:
        pol.check(_consumer(actor, purpose), "model_training", _now())
        check_spec(TrainSpec(**spec), ds, pol.min_group_size)
        if template.startswith("dp_") and pol.epsilon_per_period is not None:
            left = _DbLedger(uow, {dataset: row.id}, req.id).spent(
                str(actor.organization_id), dataset, pol.period_key(_now())
            )
            if (epsilon or 0) > pol.epsilon_per_period - left + 1e-12:
                raise EngineRefusal(
                    "budget.exhausted", f"privacy budget of {dataset} is exhausted", dataset=dataset
                )
    except (EngineRefusal, EngineInvalid) as exc:
        _refuse(uow, req, exc)
        raise _refused(uow, req) from exc
    own = row.organization_id == actor.organization_id
    # Non-DP templates release exact parameters of a DP-protected dataset: the owner decides.
    if own or (pol.auto_approve and (template.startswith("dp_") or not pol.dp)):
        approvals.approve(uow, req, "owner's own data" if own else "standing policy")
    else:
        approvals.open_approval(uow, req, [row.organization_id])
    return _request_out(uow, req)


def _run_training(ctx: Any, uow: UnitOfWork, req: SandboxRequest) -> dict[str, Any]:
    from .engine.training import TrainSpec, train

    datasets, policies, rows = _context(uow, list(req.datasets))
    name = req.datasets[0]
    ds, pol = datasets[name], policies[name]
    started = _now()
    ctx.progress(20, "training in the sandbox")
    try:
        pol.check(
            Consumer(str(req.organization_id), _org_kind(uow, req), req.purpose),
            "model_training",
            started,
        )
        res = train(TrainSpec(**req.spec), ds, sql_engine(uow.settings), pol.min_group_size)
        if res.epsilon_spent and pol.epsilon_per_period is not None:
            _DbLedger(uow, {name: rows[name].id}, req.id).charge(
                str(req.organization_id),
                name,
                pol.period_key(started),
                res.epsilon_spent,
                pol.epsilon_per_period,
                str(req.id),
            )
    except (EngineRefusal, EngineInvalid) as exc:
        _refuse(uow, req, exc)
        return {"status": "refused", "rule": exc.rule}
    except ExecutionFailed as exc:
        req.status = "failed"
        req.reason = exc.to_dict()
        uow.audit(
            "datasandbox.request.failed",
            f"datasandbox_request:{req.id}",
            {"rule": exc.rule, "message": exc.message},
            organization_id=req.organization_id,
        )
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
    _record_usage(uow, req, ds.rows, res.cpu_seconds, started, _now())
    if pol.release_review and rows[name].organization_id != req.organization_id:
        approvals.open_release(uow, req, [rows[name].organization_id])
    else:
        req.status = "released"
        uow.audit(
            "datasandbox.request.released",
            f"datasandbox_request:{req.id}",
            {"kind": "model_training", "metrics": res.metrics},
            organization_id=req.organization_id,
        )
    req.updated_at = _now()
    ctx.progress(100, req.status)
    return {"status": req.status, "request_id": req.id}


def _org_kind(uow: UnitOfWork, req: SandboxRequest) -> str:
    from mingyue.core.tenancy.identity import Organization

    org = uow.session.get(Organization, req.organization_id)
    return str(getattr(org, "kind", "enterprise"))


def _record_usage(
    uow: UnitOfWork,
    req: SandboxRequest,
    rows_scanned: int,
    cpu: float,
    start: dt.datetime,
    end: dt.datetime,
) -> None:
    if end <= start:
        end = start + dt.timedelta(microseconds=1)
    record_usage(
        uow=uow,
        organization_id=req.organization_id,
        meter="datasandbox.rows_scanned",
        quantity=Decimal(rows_scanned),
        unit="row",
        start=start,
        end=end,
        source="datasandbox",
        ref=f"datasandbox_request:{req.id}",
    )
    record_usage(
        uow=uow,
        organization_id=req.organization_id,
        meter="datasandbox.cpu_seconds",
        quantity=Decimal(str(round(cpu, 6))),
        unit="cpu_second",
        start=start,
        end=end,
        source="datasandbox",
        ref=f"datasandbox_request:{req.id}",
    )


def _epsilon_left(uow: UnitOfWork, req: SandboxRequest) -> float | None:
    rows = _all_datasets(uow, list(req.datasets))
    lefts = []
    now = _now()
    for r in rows:
        pol = UsagePolicy.from_dict(r.policy)
        if pol.epsilon_per_period is None:
            continue
        with uow.unscoped(reason="datasandbox: budget left for a request"):
            b = uow.session.scalars(
                select(SandboxBudget).where(
                    SandboxBudget.organization_id == req.organization_id,
                    SandboxBudget.dataset_id == r.id,
                    SandboxBudget.period == pol.period_key(now),
                )
            ).first()
        lefts.append(pol.epsilon_per_period - (b.spent if b else 0.0))
    return round(min(lefts), 9) if lefts else None


def _request_out(uow: UnitOfWork, req: SandboxRequest) -> RequestOut:
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
        epsilon_left=_epsilon_left(uow, req),
        datasets=list(req.datasets),
        preview=req.preview,
        job_id=req.job_id,
        organization_id=req.organization_id,
        created_by=req.created_by,
        created_at=req.created_at,
    )


def get_request(*, uow: UnitOfWork, actor: Actor, request_id: int) -> RequestOut:
    """Return one of the actor's organization's requests (result only once released)."""
    check(actor, "datasandbox.request.read")
    from mingyue.core.tenancy.lookup import get_visible

    req = get_visible(uow, SandboxRequest, request_id, key="datasandbox.request_not_found")
    return _request_out(uow, req)


def list_requests(*, uow: UnitOfWork, actor: Actor, limit: int = 100) -> list[RequestOut]:
    """Return the requests visible to the actor, newest first."""
    check(actor, "datasandbox.request.read")
    rows = uow.session.scalars(
        select(SandboxRequest).order_by(SandboxRequest.id.desc()).limit(limit)
    ).all()
    return [_request_out(uow, r) for r in rows]


def budgets(*, uow: UnitOfWork, actor: Actor) -> list[BudgetOut]:
    """Return the privacy budget of the actor's organization per dataset and current period."""
    check(actor, "datasandbox.budget.read")
    out = []
    now = _now()
    for r in _all_datasets(uow):
        pol = UsagePolicy.from_dict(r.policy)
        if pol.epsilon_per_period is None:
            continue
        b = uow.session.scalars(
            select(SandboxBudget).where(
                SandboxBudget.organization_id == actor.organization_id,
                SandboxBudget.dataset_id == r.id,
                SandboxBudget.period == pol.period_key(now),
            )
        ).first()
        spent = b.spent if b else 0.0
        out.append(
            BudgetOut(
                dataset=r.name,
                period=pol.period_key(now),
                cap=pol.epsilon_per_period,
                spent=spent,
                left=pol.epsilon_per_period - spent,
            )
        )
    return out


def charges(*, uow: UnitOfWork, actor: Actor) -> list[dict[str, Any]]:
    """Return the budget ledger entries of the actor's organization (for the chart)."""
    check(actor, "datasandbox.budget.read")
    names = {r.id: r.name for r in _all_datasets(uow)}
    rows = uow.session.scalars(select(SandboxCharge).order_by(SandboxCharge.id)).all()
    return [
        {
            "dataset": names.get(c.dataset_id, "?"),
            "period": c.period,
            "epsilon": c.epsilon,
            "request_id": c.request_id,
            "at": c.created_at.isoformat(),
        }
        for c in rows
    ]


def verify(
    *,
    uow: UnitOfWork,
    actor: Actor,
    dataset: str,
    ids: list[str],
    predicate: str,
    mode: str = "each",
    purpose: str = "verification",
) -> RequestOut:
    """Answer yes/no per identifier (or a count), within the policy's daily rate limit."""
    check(actor, "datasandbox.verify")
    if actor.organization_id is None:
        raise InvalidInput("datasandbox.no_organization", "requests come from an organization")
    datasets, policies, rows = _context(uow, [dataset])
    if dataset not in rows:
        raise NotFound("datasandbox.dataset_not_found", f"no dataset {dataset!r}")
    row, pol, ds = rows[dataset], policies[dataset], datasets[dataset]
    req = SandboxRequest(
        organization_id=actor.organization_id,
        created_by=actor.label(),
        kind="verification",
        datasets=[dataset],
        purpose=purpose,
        owner_org_ids=[row.organization_id],
        spec={"ids": len(ids), "predicate": predicate, "mode": mode},
    )
    uow.session.add(req)
    uow.flush()
    uow.audit(
        "datasandbox.request.submitted",
        f"datasandbox_request:{req.id}",
        {
            "kind": "verification",
            "dataset": dataset,
            "ids": len(ids),
            "predicate": predicate,
            "mode": mode,
        },
    )
    started = _now()
    try:
        pol.check(_consumer(actor, purpose), "verification", started)
        if not (pol.auto_approve or row.organization_id == actor.organization_id):
            raise EngineRefusal(
                "policy.approval_required", "verification on this dataset needs a standing policy"
            )
        day = started.strftime("%Y-%m-%d")
        counter = uow.session.scalars(
            select(SandboxVerifyCount)
            .where(
                SandboxVerifyCount.organization_id == actor.organization_id,
                SandboxVerifyCount.dataset_id == row.id,
                SandboxVerifyCount.day == day,
            )
            .with_for_update()
        ).first()
        if counter is None:
            counter = SandboxVerifyCount(
                organization_id=actor.organization_id, dataset_id=row.id, day=day, used=0
            )
            uow.session.add(counter)
        if counter.used + len(ids) > pol.verify_per_day:
            raise EngineRefusal(
                "verify.rate_limited",
                f"{pol.verify_per_day} checks per day on "
                f"{dataset}; {pol.verify_per_day - counter.used} left",
                left=pol.verify_per_day - counter.used,
                asked=len(ids),
            )
        res = vfy.verify(ds, ids, predicate, sql_engine(uow.settings), mode=mode)
        counter.used += len(ids)
    except (EngineRefusal, EngineInvalid) as exc:
        _refuse(uow, req, exc)
        raise _refused(uow, req) from exc
    except ExecutionFailed as exc:
        raise Refused(exc.key, exc.message) from exc
    rows_out = (
        [{"id": k, "match": v} for k, v in (res.answers or {}).items()]
        if mode == "each"
        else [{"count": res.count}]
    )
    rows_out += [{"id": i, "match": None, "invalid": True} for i in res.invalid]
    req.result = {"rows": rows_out}
    req.status = "released"
    req.rows_scanned, req.cpu_seconds = res.rows_scanned, res.cpu_seconds
    _record_usage(uow, req, res.rows_scanned, res.cpu_seconds, started, _now())
    uow.audit(
        "datasandbox.request.released",
        f"datasandbox_request:{req.id}",
        {"kind": "verification", "answers": len(rows_out)},
    )
    return _request_out(uow, req)


def psi(
    *,
    uow: UnitOfWork,
    actor: Actor,
    dataset: str,
    predicate: str,
    request: bytes,
    reveal_intersection: bool = False,
    purpose: str = "verification",
) -> PsiOut:
    """Answer a private-set-intersection request; the consumer's list stays encrypted."""
    import base64

    check(actor, "datasandbox.verify")
    if actor.organization_id is None:
        raise InvalidInput("datasandbox.no_organization", "requests come from an organization")
    datasets, policies, rows = _context(uow, [dataset])
    if dataset not in rows:
        raise NotFound("datasandbox.dataset_not_found", f"no dataset {dataset!r}")
    row, pol, ds = rows[dataset], policies[dataset], datasets[dataset]
    req = SandboxRequest(
        organization_id=actor.organization_id,
        created_by=actor.label(),
        kind="psi",
        datasets=[dataset],
        purpose=purpose,
        owner_org_ids=[row.organization_id],
        spec={"predicate": predicate, "reveal": reveal_intersection, "request_bytes": len(request)},
    )
    uow.session.add(req)
    uow.flush()
    uow.audit(
        "datasandbox.request.submitted",
        f"datasandbox_request:{req.id}",
        {"kind": "psi", "dataset": dataset, "predicate": predicate, "reveal": reveal_intersection},
    )
    started = _now()
    try:
        pol.check(_consumer(actor, purpose), "psi", started)
        if not (pol.auto_approve or row.organization_id == actor.organization_id):
            raise EngineRefusal(
                "policy.approval_required", "PSI on this dataset needs a standing policy"
            )
        if reveal_intersection and row.organization_id != actor.organization_id:
            # Revealing members needs the owner's own consent; standing policies give sizes only.
            raise EngineRefusal("policy.operation", "only the intersection size is offered")
        reply = vfy.psi_reply(
            ds,
            predicate,
            request,
            sql_engine(uow.settings),
            reveal_intersection=reveal_intersection,
        )
    except (EngineRefusal, EngineInvalid) as exc:
        _refuse(uow, req, exc)
        raise _refused(uow, req) from exc
    except ExecutionFailed as exc:
        raise Refused(exc.key, exc.message) from exc
    req.status = "released"
    req.rows_scanned, req.cpu_seconds = reply.rows_scanned, reply.cpu_seconds
    _record_usage(uow, req, reply.rows_scanned, reply.cpu_seconds, started, _now())
    uow.audit(
        "datasandbox.request.released",
        f"datasandbox_request:{req.id}",
        {"kind": "psi", "server_set_size": reply.server_set_size},
    )
    return PsiOut(
        request_id=req.id,
        status="released",
        setup_b64=base64.b64encode(reply.setup).decode(),
        response_b64=base64.b64encode(reply.response).decode(),
    )
