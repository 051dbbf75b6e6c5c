"""Usage policies as data (after W3C ODRL 2.2: permission, assignee, action, constraints, duty)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidSpec, Refusal

OPERATIONS = ("aggregate_sql", "model_training", "verification", "psi")
PERIODS = ("day", "month", "year")


@dataclass(frozen=True)
class Consumer:
    """Who asks: an organization (id and kind), for a declared purpose."""

    org: str
    kind: str = "enterprise"  # operator | enterprise | regulator
    purpose: str = "statistics"


@dataclass
class UsagePolicy:
    """What a data owner allows on one dataset (ODRL permission with constraints)."""

    dataset: str
    assignees: list[str] = field(default_factory=list)  # org ids, or "*" for every organization
    assignee_kinds: list[str] = field(default_factory=list)  # or every org of these kinds
    purposes: list[str] = field(default_factory=lambda: ["*"])
    operations: list[str] = field(default_factory=lambda: ["aggregate_sql"])
    min_group_size: int = 10
    epsilon_per_period: float | None = 3.0  # None: exact aggregates with suppression only
    period: str = "month"
    default_epsilon: float = 0.5
    delta: float = 1e-7
    expires: dt.datetime | None = None
    release_review: bool = False  # each result waits for the owner's review before release
    auto_approve: bool = False  # a standing policy: requests need no per-request approval
    verify_per_day: int = 100  # identifiers checked per consumer and day (verify and PSI)
    # Columns a PSI predicate may test; None: the dataset's ordinary columns (not quasi, not
    # sensitive), so a predicate cannot single out a record by its quasi-identifiers.
    verify_keys: list[str] | None = None
    max_result_rows: int = 1000

    def __post_init__(self) -> None:
        bad = [o for o in self.operations if o not in OPERATIONS]
        if bad:
            raise InvalidSpec("policy.operation", f"unknown operations {bad}", operations=bad)
        if self.period not in PERIODS:
            raise InvalidSpec("policy.period", f"period must be one of {PERIODS}")
        if self.min_group_size < 1:
            raise InvalidSpec("policy.min_group", "minimum group size must be at least 1")
        if self.epsilon_per_period is not None and not self.epsilon_per_period > 0:
            raise InvalidSpec("policy.epsilon", "the budget per period must be positive")
        if self.expires is not None and self.expires.tzinfo is None:
            raise InvalidSpec("policy.expires", "expiry must carry a time zone")

    @property
    def dp(self) -> bool:
        return self.epsilon_per_period is not None

    def check(self, consumer: Consumer, operation: str, now: dt.datetime) -> None:
        """Raise a Refusal naming the constraint when ``consumer`` may not do ``operation``."""
        if self.expires is not None and now >= self.expires:
            raise Refusal(
                "policy.expired",
                f"the policy of {self.dataset} expired on {self.expires.isoformat()}",
                dataset=self.dataset,
            )
        if not (
            "*" in self.assignees
            or consumer.org in self.assignees
            or consumer.kind in self.assignee_kinds
        ):
            raise Refusal(
                "policy.assignee",
                f"{self.dataset} is not open to this organization",
                dataset=self.dataset,
            )
        if "*" not in self.purposes and consumer.purpose not in self.purposes:
            raise Refusal(
                "policy.purpose",
                f"purpose {consumer.purpose!r} is not allowed on {self.dataset}",
                purpose=consumer.purpose,
                dataset=self.dataset,
            )
        if operation not in self.operations:
            raise Refusal(
                "policy.operation",
                f"{operation} is not allowed on {self.dataset}",
                operation=operation,
                dataset=self.dataset,
            )

    def period_key(self, now: dt.datetime) -> str:
        """Name the budget period that contains ``now`` (UTC)."""
        now = now.astimezone(dt.UTC)
        return {
            "day": now.strftime("%Y-%m-%d"),
            "month": now.strftime("%Y-%m"),
            "year": now.strftime("%Y"),
        }[self.period]

    def to_odrl(self) -> dict[str, Any]:
        """Render the policy as an ODRL 2.2 Offer (JSON-LD)."""
        constraints: list[dict[str, Any]] = [
            {"leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": self.purposes},
            {
                "leftOperand": "mingyue:minGroupSize",
                "operator": "gteq",
                "rightOperand": self.min_group_size,
            },
        ]
        if self.epsilon_per_period is not None:
            constraints.append(
                {
                    "leftOperand": "mingyue:epsilonPerPeriod",
                    "operator": "lteq",
                    "rightOperand": self.epsilon_per_period,
                    "unit": self.period,
                }
            )
        if self.expires is not None:
            constraints.append(
                {
                    "leftOperand": "dateTime",
                    "operator": "lt",
                    "rightOperand": self.expires.isoformat(),
                }
            )
        duties = [{"action": "mingyue:releaseReview"}] if self.release_review else []
        return {
            "@context": "http://www.w3.org/ns/odrl.jsonld",
            "@type": "Offer",
            "target": f"mingyue:dataset:{self.dataset}",
            "permission": [
                {
                    "assignee": self.assignees or [f"kind:{k}" for k in self.assignee_kinds],
                    "action": [f"mingyue:{op}" for op in self.operations],
                    "constraint": constraints,
                    "duty": duties,
                }
            ],
        }

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["expires"] = self.expires.isoformat() if self.expires else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UsagePolicy:
        d = dict(d)
        if d.get("expires"):
            d["expires"] = dt.datetime.fromisoformat(d["expires"])
        return cls(**d)
