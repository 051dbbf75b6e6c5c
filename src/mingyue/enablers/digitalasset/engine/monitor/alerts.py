"""Alerts of the wash-trade monitor: pattern, severity, evidence; de-duplication and suppression."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

PATTERNS: Final = (
    "self_trade",
    "back_and_forth",
    "cycle",
    "common_funder",
    "repeat_buy",
    "price_jump",
    "rapid_flip",
    "concentration",
)
SEVERITIES: Final = ("low", "medium", "high", "critical")
BASE_SEVERITY: Final[Mapping[str, str]] = {
    "self_trade": "high",
    "cycle": "high",
    "back_and_forth": "medium",
    "common_funder": "medium",
    "repeat_buy": "medium",
    "concentration": "medium",
    "price_jump": "low",
    "rapid_flip": "low",
}
MAX_GRAPH_EDGES: Final = 50


@dataclass(slots=True)
class Alert:
    """One suspicious pattern: the sales it covers (0-based input rows), the parties, the tokens."""

    pattern: str
    severity: str
    rows: list[int]
    addresses: list[str]
    tokens: list[str]
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """Stable identity across runs: pattern, parties and tokens (not rows, not times)."""
        text = "|".join([self.pattern, ",".join(self.addresses), ",".join(self.tokens)])
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def to_public(self) -> dict[str, Any]:
        """Return the CLI/API shape: pattern, severity, rows, addresses, tokens."""
        return {
            "pattern": self.pattern,
            "severity": self.severity,
            "rows": self.rows,
            "addresses": self.addresses,
            "tokens": self.tokens,
        }


def suppression_key(pattern: str, addresses: Iterable[str]) -> tuple[str, frozenset[str]]:
    """Key under which an analyst's false-positive verdict silences a pattern for these parties."""
    return pattern, frozenset(a.lower() for a in addresses)


def _escalate(severity: str, steps: int = 1) -> str:
    return SEVERITIES[min(len(SEVERITIES) - 1, SEVERITIES.index(severity) + steps)]


class AlertBuilder:
    """Collect hits by key, merge those of one key, then rank, corroborate and suppress."""

    def __init__(self) -> None:
        self._alerts: dict[tuple[str, ...], Alert] = {}

    def add(
        self,
        pattern: str,
        key: tuple[str, ...],
        rows: Iterable[int],
        addresses: Iterable[str],
        tokens: Iterable[str],
        evidence: Mapping[str, Any] | None = None,
    ) -> None:
        """Record one hit; hits with the same pattern and key merge into one alert."""
        k = (pattern, *key)
        alert = self._alerts.get(k)
        if alert is None:
            alert = Alert(pattern, BASE_SEVERITY[pattern], [], [], [], dict(evidence or {}))
            self._alerts[k] = alert
        alert.rows = sorted(set(alert.rows).union(rows))
        alert.addresses = sorted(set(alert.addresses).union(a for a in addresses if a))
        alert.tokens = sorted(set(alert.tokens).union(tokens))

    def finish(self, suppressed: Iterable[tuple[str, frozenset[str]]] = ()) -> list[Alert]:
        """Drop suppressed alerts, raise severity where another pattern covers the same sales, sort."""
        mute = set(suppressed)
        alerts = [
            a for a in self._alerts.values() if suppression_key(a.pattern, a.addresses) not in mute
        ]
        patterns_by_row: dict[int, set[str]] = {}
        for a in alerts:
            for r in a.rows:
                patterns_by_row.setdefault(r, set()).add(a.pattern)
        for a in alerts:
            others = set().union(*(patterns_by_row[r] for r in a.rows)) - {a.pattern}
            if others:
                a.severity = _escalate(a.severity)
                a.evidence["corroborated_by"] = sorted(others)
        order = {s: i for i, s in enumerate(reversed(SEVERITIES))}
        alerts.sort(key=lambda a: (order[a.severity], a.rows[0] if a.rows else 0, a.pattern))
        return alerts
