"""The privacy-budget ledger interface and an in-memory implementation."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from .errors import BudgetExhausted


@dataclass(frozen=True)
class Charge:
    """One entry of the ledger."""

    consumer: str
    dataset: str
    period: str
    epsilon: float
    ref: str


class BudgetLedger(Protocol):
    """Where ε spent per consumer, dataset and period is recorded (a table in the service)."""

    def spent(self, consumer: str, dataset: str, period: str) -> float:
        """Return ε already spent."""
        ...

    def charge(
        self, consumer: str, dataset: str, period: str, epsilon: float, cap: float, ref: str
    ) -> float:
        """Record ε if the cap allows it and return what is left; raise BudgetExhausted if not."""
        ...


class InMemoryLedger:
    """A ledger held in memory (tests, library use)."""

    def __init__(self) -> None:
        self.entries: list[Charge] = []
        self._lock = threading.Lock()

    def spent(self, consumer: str, dataset: str, period: str) -> float:
        return sum(
            c.epsilon
            for c in self.entries
            if (c.consumer, c.dataset, c.period) == (consumer, dataset, period)
        )

    def charge(
        self, consumer: str, dataset: str, period: str, epsilon: float, cap: float, ref: str
    ) -> float:
        with self._lock:
            left = cap - self.spent(consumer, dataset, period)
            if epsilon > left + 1e-12:
                raise BudgetExhausted(
                    "budget.exhausted",
                    f"privacy budget of {dataset} for "
                    f"{period} is exhausted: {left:.4g} left, {epsilon:.4g} asked",
                    left=round(left, 6),
                    asked=epsilon,
                    dataset=dataset,
                )
            self.entries.append(Charge(consumer, dataset, period, epsilon, ref))
            return cap - self.spent(consumer, dataset, period)
