"""Aggregate SQL end to end: policy → SQL wall → budget check → sandbox run → gates → release."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from . import dp as dpmod
from .datasets import Dataset
from .errors import BudgetExhausted, InvalidSpec, Refusal
from .ledger import BudgetLedger
from .policy import Consumer, UsagePolicy
from .sqlcheck import Plan, parse_one, plan, tables_in

if TYPE_CHECKING:
    from mingyue.enablers.datasandbox.adapters.base import SqlEngine


@dataclass
class QueryRequest:
    """A consumer's aggregate SQL over one or more datasets."""

    sql: str
    consumer: Consumer
    epsilon: float | None = None
    params: list[Any] | dict[str, Any] | None = None
    ref: str = field(default_factory=lambda: uuid.uuid4().hex)
    # The statement ``parse(sql)`` returned, when the caller parsed it already (parse once).
    parsed: exp.Select | None = field(default=None, repr=False, compare=False)

    def statement(self) -> exp.Select:
        """Return the parsed statement (parsing the text only if no one did yet)."""
        if self.parsed is None:
            self.parsed = parse_one(self.sql)
        return self.parsed


def parse(sql: str) -> exp.Select:
    """Parse a request's SQL once (a Refusal if it is not one SELECT); pass it on as ``parsed``."""
    return parse_one(sql)


def datasets_of(stmt: exp.Select) -> list[str]:
    """Return the dataset names a parsed request reads (lower-cased, sorted)."""
    return tables_in(stmt)


@dataclass
class QueryResult:
    """What leaves the sandbox, plus what the ledger and the meter need."""

    status: str  # "released"
    rows: list[dict[str, Any]]
    epsilon_spent: float
    epsilon_left: float | None
    dp: bool
    suppressed_groups: int
    rows_scanned: int
    cpu_seconds: float
    wall_seconds: float
    executed_sql: str
    noise: list[dict[str, Any]]
    threshold: int | None
    datasets: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": None,
            "rows": self.rows,
            "epsilon_spent": self.epsilon_spent,
            "epsilon_left": self.epsilon_left,
            "dp": self.dp,
            "suppressed_groups": self.suppressed_groups,
            "noise": self.noise,
            "threshold": self.threshold,
            "datasets": self.datasets,
        }


@dataclass
class Prepared:
    """A request that passed the policy and SQL walls, with its noise plan; nothing spent yet."""

    request: QueryRequest
    plan: Plan
    policies: list[UsagePolicy]
    epsilon: float
    noise: dpmod.NoisePlan | None
    min_group: int
    max_rows: int
    period: dict[str, str]
    left: dict[str, float | None]

    def preview(self) -> dict[str, Any]:
        """The accuracy preview shown before anything is spent."""
        return {
            "dp": self.plan.dp,
            "epsilon": self.epsilon,
            "delta": self.noise.delta if self.noise else None,
            "threshold": self.noise.threshold if self.noise else None,
            "min_group": self.min_group,
            "outputs": self.noise.preview(self.plan) if self.noise else [],
            "epsilon_left": _min_left(self.left),
            "executed_sql": self.plan.sql,
        }


def _min_left(left: dict[str, float | None]) -> float | None:
    vals = [v for v in left.values() if v is not None]
    return min(vals) if vals else None


def prepare(
    request: QueryRequest,
    datasets: dict[str, Dataset],
    policies: dict[str, UsagePolicy],
    ledger: BudgetLedger,
    now: dt.datetime | None = None,
) -> Prepared:
    """Check policy, SQL and budget; return the plan and its accuracy preview. Spends nothing."""
    now = now or dt.datetime.now(dt.UTC)
    # Datasets named in the SQL decide which policies apply; the one parse serves the plan too.
    stmt = request.statement()
    names = tables_in(stmt)
    known = [n for n in names if n in datasets]
    used_policies: list[UsagePolicy] = []
    for n in known:
        pol = policies.get(n)
        if pol is None:
            raise Refusal("policy.none", f"{n} has no usage policy", dataset=n)
        pol.check(request.consumer, "aggregate_sql", now)
        used_policies.append(pol)
    use_dp = any(p.dp for p in used_policies) or request.epsilon is not None
    p = plan(
        stmt,
        {n: datasets[n] for n in known} if known else {},
        dp=use_dp,
        params=request.params,
    )
    min_group = max([pol.min_group_size for pol in used_policies] or [1])
    max_rows = min([pol.max_result_rows for pol in used_policies] or [1000])
    period = {pol.dataset: pol.period_key(now) for pol in used_policies}
    left: dict[str, float | None] = {}
    for pol in used_policies:
        cap = pol.epsilon_per_period
        left[pol.dataset] = (
            None
            if cap is None
            else cap - ledger.spent(request.consumer.org, pol.dataset, period[pol.dataset])
        )
    epsilon = 0.0
    noise = None
    if use_dp:
        epsilon = (
            request.epsilon
            if request.epsilon is not None
            else min(pol.default_epsilon for pol in used_policies if pol.dp)
        )
        if not epsilon > 0:
            raise InvalidSpec("dp.epsilon", "epsilon must be positive", epsilon=epsilon)
        delta = min(pol.delta for pol in used_policies)
        for ds, lft in left.items():
            if lft is not None and epsilon > lft + 1e-12:
                raise BudgetExhausted(
                    "budget.exhausted",
                    f"privacy budget of {ds} is exhausted: "
                    f"{max(lft, 0):.4g} left, {epsilon:.4g} asked",
                    left=round(max(lft, 0), 6),
                    asked=epsilon,
                    dataset=ds,
                )
        noise = dpmod.noise_plan(p, epsilon, delta)
    return Prepared(request, p, used_policies, epsilon, noise, min_group, max_rows, period, left)


def execute(
    prepared: Prepared, datasets: dict[str, Dataset], engine: SqlEngine, ledger: BudgetLedger
) -> QueryResult:
    """Run a prepared request in the sandbox engine, apply the gates, charge ε, return the release."""
    p = prepared.plan
    tables = {n: datasets[n].path for n in p.datasets}
    res = engine.run(p.sql, p.params, tables, max_rows=max(prepared.max_rows * 20, 10_000))
    suppressed = 0
    if p.dp:
        if prepared.noise is None:  # pragma: no cover - prepare plans noise for every DP plan
            raise InvalidSpec("dp.epsilon", "a DP plan needs its noise plan")
        rows, _spent = dpmod.apply(p, prepared.noise, res.columns, res.rows, prepared.min_group)
        suppressed = len(res.rows) - len(rows)
    else:
        idx = {c: i for i, c in enumerate(res.columns)}
        rows = []
        for r in res.rows:
            if (r[idx["__n"]] or 0) < prepared.min_group:
                suppressed += 1
                continue
            rows.append(
                {
                    o.name: dpmod._jsonable(r[idx[f"{'k' if o.kind == 'key' else 'a'}{i}"]])
                    for i, o in enumerate(p.outputs)
                }
            )
        if not p.grouped and suppressed:
            raise Refusal(
                "gate.small_group",
                f"the query covers fewer than {prepared.min_group} records",
                min_group=prepared.min_group,
            )
    if len(rows) > prepared.max_rows:
        raise Refusal(
            "gate.oversized_result",
            f"the result has {len(rows)} rows, more than {prepared.max_rows}",
            limit=prepared.max_rows,
        )
    left: dict[str, float | None] = dict(prepared.left)
    if p.dp:
        for pol in prepared.policies:
            if pol.epsilon_per_period is not None:
                left[pol.dataset] = ledger.charge(
                    prepared.request.consumer.org,
                    pol.dataset,
                    prepared.period[pol.dataset],
                    prepared.epsilon,
                    pol.epsilon_per_period,
                    prepared.request.ref,
                )
    rows.sort(
        key=lambda r: json.dumps(
            [r[o.name] for o in p.outputs if o.kind == "key"], ensure_ascii=False, default=str
        )
    )
    return QueryResult(
        status="released",
        rows=rows,
        epsilon_spent=prepared.epsilon if p.dp else 0.0,
        epsilon_left=_min_left(left),
        dp=p.dp,
        suppressed_groups=suppressed,
        rows_scanned=sum(datasets[n].rows for n in p.datasets),
        cpu_seconds=res.cpu_seconds,
        wall_seconds=res.wall_seconds,
        executed_sql=p.sql,
        noise=prepared.noise.preview(p) if prepared.noise else [],
        threshold=prepared.noise.threshold if prepared.noise else None,
        datasets=p.datasets,
    )


def run_query(
    request: QueryRequest,
    datasets: dict[str, Dataset],
    policies: dict[str, UsagePolicy],
    engine: SqlEngine,
    ledger: BudgetLedger,
    now: dt.datetime | None = None,
) -> QueryResult:
    """Prepare and execute in one call (library use)."""
    return execute(prepare(request, datasets, policies, ledger, now), datasets, engine, ledger)
