"""Verification products: yes/no per identifier (or a count), and private set intersection.

Both run at once under a standing policy (or on the consumer's own data): no owner approval,
a daily rate limit per consumer and dataset for identifier checks; the PSI consumer's list stays
encrypted and only the intersection size is offered to another organization.
"""

from __future__ import annotations

import base64
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from mingyue.sdk import Actor, NotFound, Refused, UnitOfWork, check, now, require_org

from .budget import DbLedger, insert_ignore
from .catalogue import context
from .engine import verify as vfy
from .engine.errors import ExecutionFailed
from .engine.errors import InvalidSpec as EngineInvalid
from .engine.errors import Refusal as EngineRefusal
from .models import SandboxVerifyCount
from .requests import consumer_of, new_request, record_run_usage, refuse, refused, request_out
from .sandbox import open_engine
from .schemas import PsiOut, RequestOut


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
    org_id = require_org(actor)
    datasets, policies, rows = context(uow, [dataset])
    if dataset not in rows:
        raise NotFound("datasandbox.dataset_not_found", f"no dataset {dataset!r}")
    row, pol, ds = rows[dataset], policies[dataset], datasets[dataset]
    req = new_request(
        uow,
        actor,
        kind="verification",
        rows=rows,
        datasets=[dataset],
        purpose=purpose,
        spec={"ids": len(ids), "predicate": predicate, "mode": mode},
        audit={
            "kind": "verification",
            "dataset": dataset,
            "ids": len(ids),
            "predicate": predicate,
            "mode": mode,
        },
    )
    started = now()
    try:
        pol.check(consumer_of(actor, purpose), "verification", started)
        if not (pol.auto_approve or row.organization_id == org_id):
            raise EngineRefusal(
                "policy.approval_required", "verification on this dataset needs a standing policy"
            )
        counter = _rate_counter(uow, org_id, row.id, _day(uow, started))
        _check_rate(counter, pol.verify_per_day, len(ids), dataset)
        with open_engine(uow.settings) as engine:
            res = vfy.verify(ds, ids, predicate, engine, mode=mode)
        counter.used += len(ids)
    except (EngineRefusal, EngineInvalid) as exc:
        refuse(uow, req, exc)
        raise refused(uow, req) from exc
    except ExecutionFailed as exc:
        raise Refused(exc.key, exc.message) from exc
    rows_out: list[dict[str, object]] = (
        [{"id": k, "match": v} for k, v in (res.answers or {}).items()]
        if mode == "each"
        else [{"count": res.count}]
    )
    rows_out += [{"id": i, "match": None, "invalid": True} for i in res.invalid]
    req.result = {"rows": rows_out}
    req.status = "released"
    req.rows_scanned, req.cpu_seconds = res.rows_scanned, res.cpu_seconds
    record_run_usage(uow, req, res.rows_scanned, res.cpu_seconds, started, now())
    uow.audit(
        "datasandbox.request.released",
        f"datasandbox_request:{req.id}",
        {"kind": "verification", "answers": len(rows_out)},
    )
    return request_out(uow, req)


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
    """Answer a private-set-intersection request; the consumer's list stays encrypted.

    The answer never tells how many records match (padded to a size bucket; fewer than the
    minimum group is refused), the predicate may test only the owner's verification keys, and
    each request counts its identifiers against the daily limit of membership checks and, on a
    dataset with a DP budget, charges the policy's default ε (issue 12, item 3).
    """
    check(actor, "datasandbox.verify")
    org_id = require_org(actor)
    datasets, policies, rows = context(uow, [dataset])
    if dataset not in rows:
        raise NotFound("datasandbox.dataset_not_found", f"no dataset {dataset!r}")
    row, pol, ds = rows[dataset], policies[dataset], datasets[dataset]
    req = new_request(
        uow,
        actor,
        kind="psi",
        rows=rows,
        datasets=[dataset],
        purpose=purpose,
        spec={"predicate": predicate, "reveal": reveal_intersection, "request_bytes": len(request)},
        audit={
            "kind": "psi",
            "dataset": dataset,
            "predicate": predicate,
            "reveal": reveal_intersection,
        },
    )
    started = now()
    ledger = DbLedger(uow, {dataset: row.id})
    period = pol.period_key(started)
    try:
        pol.check(consumer_of(actor, purpose), "psi", started)
        if not (pol.auto_approve or row.organization_id == org_id):
            raise EngineRefusal(
                "policy.approval_required", "PSI on this dataset needs a standing policy"
            )
        if reveal_intersection and row.organization_id != org_id:
            # Revealing members needs the owner's own consent; standing policies give sizes only.
            raise EngineRefusal("policy.operation", "only the intersection size is offered")
        n_ids = vfy.check_psi(
            ds, predicate, request, reveal_intersection=reveal_intersection, keys=pol.verify_keys
        )
        counter = _rate_counter(uow, org_id, row.id, _day(uow, started))
        _check_rate(counter, pol.verify_per_day, max(n_ids, 1), dataset)
        eps = pol.default_epsilon if pol.epsilon_per_period is not None else 0.0
        if pol.epsilon_per_period is not None:
            left = pol.epsilon_per_period - ledger.spent(str(org_id), dataset, period)
            if eps > left + 1e-12:
                raise EngineRefusal(
                    "budget.exhausted",
                    f"privacy budget of {dataset} for {period} is exhausted: "
                    f"{max(left, 0):.4g} left, {eps:.4g} asked",
                    left=round(max(left, 0), 6),
                    asked=eps,
                    dataset=dataset,
                )
        # From here the data is read: the checks count even when the answer is refused (a
        # refusal below the minimum group is itself one bit about the data).
        counter.used += max(n_ids, 1)
        with open_engine(uow.settings) as engine:
            reply = vfy.psi_reply(
                ds,
                predicate,
                request,
                engine,
                reveal_intersection=reveal_intersection,
                min_group=pol.min_group_size,
                keys=pol.verify_keys,
            )
        if pol.epsilon_per_period is not None:
            ledger.charge(str(org_id), dataset, period, eps, pol.epsilon_per_period, str(req.id))
            req.epsilon_spent = eps
    except (EngineRefusal, EngineInvalid) as exc:
        refuse(uow, req, exc)
        raise refused(uow, req) from exc
    except ExecutionFailed as exc:
        raise Refused(exc.key, exc.message) from exc
    req.status = "released"
    req.rows_scanned, req.cpu_seconds = reply.rows_scanned, reply.cpu_seconds
    record_run_usage(uow, req, reply.rows_scanned, reply.cpu_seconds, started, now())
    uow.audit(
        "datasandbox.request.released",
        f"datasandbox_request:{req.id}",
        # The bucket, not the count: the consumer's organization reads this entry.
        {"kind": "psi", "server_set_bucket": reply.server_set_size, "epsilon": eps},
    )
    return PsiOut(
        request_id=req.id,
        status="released",
        setup_b64=base64.b64encode(reply.setup).decode(),
        response_b64=base64.b64encode(reply.response).decode(),
    )


def _day(uow: UnitOfWork, at: datetime) -> str:
    """The day of the daily limit, in the platform's time zone (a Chongqing day, not UTC's)."""
    return at.astimezone(ZoneInfo(uow.settings.timezone)).strftime("%Y-%m-%d")


def _rate_counter(uow: UnitOfWork, org_id: int, dataset_id: int, day: str) -> SandboxVerifyCount:
    """Return the consumer's counter of the day, locked (created by an upsert on first use)."""
    stmt = (
        select(SandboxVerifyCount)
        .where(
            SandboxVerifyCount.organization_id == org_id,
            SandboxVerifyCount.dataset_id == dataset_id,
            SandboxVerifyCount.day == day,
        )
        .with_for_update()
    )
    counter = uow.session.scalars(stmt).first()
    if counter is None:
        insert_ignore(
            uow,
            SandboxVerifyCount,
            {"organization_id": org_id, "dataset_id": dataset_id, "day": day, "used": 0},
            ("organization_id", "dataset_id", "day"),
        )
        counter = uow.session.scalars(stmt).first()
        if counter is None:  # pragma: no cover - the scope hides the row just written
            raise RuntimeError("rate counter outside the unit of work's scope")
    return counter


def _check_rate(counter: SandboxVerifyCount, cap: int, n: int, dataset: str) -> None:
    if counter.used + n > cap:
        raise EngineRefusal(
            "verify.rate_limited",
            f"{cap} checks per day on {dataset}; {cap - counter.used} left",
            left=cap - counter.used,
            asked=n,
        )
