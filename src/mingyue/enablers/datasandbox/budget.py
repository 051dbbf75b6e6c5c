"""Privacy budget: the engine's ledger on the budget and charge tables, and what is left.

A request records, when it is made, the budget terms of the DP datasets it names (dataset id,
ε cap, period): reading what is left later needs only the consumer's own budget rows, so showing
a request or the ledger never reads another organization's catalogue entry (nor writes the
ledger). ``budgets`` lists every DP dataset of the shared catalogue (see catalogue.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql, sqlite

from mingyue.sdk import Actor, UnitOfWork, check, now

from .catalogue import catalogue_rows, visible_rows
from .engine.errors import Refusal as EngineRefusal
from .engine.policy import UsagePolicy
from .models import SandboxBudget, SandboxCharge, SandboxDataset, SandboxRequest
from .schemas import BudgetOut

# Key of the budget terms inside a request's ``spec`` (not part of what the consumer asked).
TERMS_KEY = "budget_terms"


def terms_of(rows: dict[str, SandboxDataset]) -> dict[str, dict[str, Any]]:
    """Return ``{name: {dataset_id, cap, period}}`` of the DP datasets among ``rows``."""
    out: dict[str, dict[str, Any]] = {}
    for name, row in rows.items():
        pol = UsagePolicy.from_dict(row.policy)
        if pol.epsilon_per_period is not None:
            out[name] = {"dataset_id": row.id, "cap": pol.epsilon_per_period, "period": pol.period}
    return out


def asked(spec: dict[str, Any]) -> dict[str, Any]:
    """Return a request's spec as the consumer gave it (without the recorded budget terms)."""
    return {k: v for k, v in spec.items() if k != TERMS_KEY}


def insert_ignore(
    uow: UnitOfWork, model: type[Any], values: dict[str, Any], keys: tuple[str, ...]
) -> None:
    """Insert one row unless its unique ``keys`` exist (SQLite and PostgreSQL upsert).

    A select-then-insert loses the race of two first writers (UniqueViolation in the second,
    which left its request ``approved`` forever): both upsert, then each locks the row.
    """
    stmt: Insert
    if uow.session.get_bind().dialect.name == "postgresql":
        stmt = (
            postgresql.insert(model)
            .values(**values)
            .on_conflict_do_nothing(index_elements=list(keys))
        )
    else:
        stmt = (
            sqlite.insert(model).values(**values).on_conflict_do_nothing(index_elements=list(keys))
        )
    uow.session.execute(stmt)


def _period_key(name: str, terms: dict[str, Any]) -> str:
    pol = UsagePolicy(dataset=name, epsilon_per_period=terms["cap"], period=terms["period"])
    return pol.period_key(now())


def _spent(uow: UnitOfWork, org_id: int, dataset_id: int, period: str) -> float:
    row = uow.session.scalars(
        select(SandboxBudget).where(
            SandboxBudget.organization_id == org_id,
            SandboxBudget.dataset_id == dataset_id,
            SandboxBudget.period == period,
        )
    ).first()
    return row.spent if row else 0.0


def epsilon_left(uow: UnitOfWork, req: SandboxRequest) -> float | None:
    """Return the least ε the consumer has left this period on the request's DP datasets."""
    terms: dict[str, dict[str, Any]] | None = (req.spec or {}).get(TERMS_KEY)
    if terms is None:  # recorded before requests kept their terms: what the scope shows
        terms = terms_of({r.name: r for r in visible_rows(uow, list(req.datasets))})
    lefts = [
        t["cap"] - _spent(uow, req.organization_id, t["dataset_id"], _period_key(n, t))
        for n, t in terms.items()
    ]
    return round(min(lefts), 9) if lefts else None


class DbLedger:
    """The engine's BudgetLedger on the datasandbox_budget / datasandbox_charge tables."""

    def __init__(self, uow: UnitOfWork, ids: dict[str, int]) -> None:
        self.uow, self.ids = uow, ids

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
        """Return the ε the consumer spent on the dataset in the period."""
        row = self._row(consumer, dataset, period, False)
        return row.spent if row else 0.0

    def charge(
        self, consumer: str, dataset: str, period: str, epsilon: float, cap: float, ref: str
    ) -> float:
        """Charge ε (refused past the cap), record the charge, return what is left."""
        row = self._row(consumer, dataset, period, True)
        if row is None:
            # The first charge of a period: two may race; both upsert, then lock the one row.
            insert_ignore(
                self.uow,
                SandboxBudget,
                {
                    "organization_id": int(consumer),
                    "dataset_id": self.ids[dataset],
                    "period": period,
                    "cap": cap,
                    "spent": 0.0,
                },
                ("organization_id", "dataset_id", "period"),
            )
            row = self._row(consumer, dataset, period, True)
            if row is None:  # pragma: no cover - the scope hides the row just written
                raise RuntimeError("budget row outside the unit of work's scope")
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


def budgets(*, uow: UnitOfWork, actor: Actor) -> list[BudgetOut]:
    """Return the privacy budget of the actor's organization per dataset and current period."""
    check(actor, "datasandbox.budget.read")
    out = []
    at = now()
    for r in catalogue_rows(uow):
        pol = UsagePolicy.from_dict(r.policy)
        if pol.epsilon_per_period is None:
            continue
        spent = (
            _spent(uow, actor.organization_id, r.id, pol.period_key(at))
            if actor.organization_id is not None
            else 0.0
        )
        out.append(
            BudgetOut(
                dataset=r.name,
                period=pol.period_key(at),
                cap=pol.epsilon_per_period,
                spent=spent,
                left=pol.epsilon_per_period - spent,
            )
        )
    return out


def charges(*, uow: UnitOfWork, actor: Actor) -> list[dict[str, Any]]:
    """Return the budget ledger entries of the actor's organization (for the chart)."""
    check(actor, "datasandbox.budget.read")
    found = uow.session.execute(
        select(SandboxCharge, SandboxRequest)
        .join(SandboxRequest, SandboxRequest.id == SandboxCharge.request_id)
        .order_by(SandboxCharge.id)
    ).all()
    # Dataset names come from the charged requests' own terms, else from what the scope shows.
    names = {r.id: r.name for r in visible_rows(uow)}
    for _, req in found:
        for name, t in ((req.spec or {}).get(TERMS_KEY) or {}).items():
            names.setdefault(int(t["dataset_id"]), name)
    return [
        {
            "dataset": names.get(c.dataset_id, "?"),
            "period": c.period,
            "epsilon": c.epsilon,
            "request_id": c.request_id,
            "at": c.created_at.isoformat(),
        }
        for c, _ in found
    ]
