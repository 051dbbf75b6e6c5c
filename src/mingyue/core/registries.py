"""The name registries an Enabler declaration fills: audit events, job kinds, meters, findings.

Pure (no database, no imports of the services), so that ``plugins`` can register an enabler's
names without importing the modules that use them. Permissions live in ``tenancy.access``, which
is as light. Each registry raises on a duplicate name (CONVENTIONS rule 6).

To add a name: declare it in your Enabler (``audit_events``, ``job_kinds``, ``meters``,
``finding_rules``, ``finding_verifier``, ``schedules``); discovery registers it here; a
duplicate raises at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mingyue.core.declaration import FindingRule, Schedule


@dataclass
class PendingEntry:
    """A ledger entry waiting for the commit of its unit of work."""

    action: str
    subject: str
    payload: dict[str, Any]
    organization_id: int | None
    actor: str


_events: dict[str, str] = {}
_job_kinds: dict[str, str] = {}
_meters: dict[str, tuple[str, str]] = {}
_schedules: dict[str, tuple[str, Schedule]] = {}  # name -> (enabler key, schedule)
_finding_rules: dict[str, tuple[str, FindingRule]] = {}
# enabler key -> "module:func" (a declaration) or the verifier itself (tests, scripts)
_finding_verifiers: dict[str, str | Callable[..., Any]] = {}


def register_event(name: str, description: str) -> None:
    """Register an audit event kind; raise on a duplicate."""
    if name in _events:
        raise ValueError(f"duplicate audit event: {name}")
    _events[name] = description


def known_event(name: str) -> bool:
    """Tell whether an audit event kind is registered."""
    return name in _events


def events() -> dict[str, str]:
    """Return every registered audit event kind."""
    return dict(_events)


def register_job_kind(name: str, ref: str) -> None:
    """Register a job kind (``"module:func"``) by namespaced name; raise on a duplicate."""
    if name in _job_kinds:
        raise ValueError(f"duplicate job kind: {name}")
    _job_kinds[name] = ref


def register_meter(name: str, unit: str, description: str = "") -> None:
    """Register a meter by namespaced name; raise on a duplicate."""
    if name in _meters:
        raise ValueError(f"duplicate meter: {name}")
    _meters[name] = (unit, description)


def register_finding_rule(name: str, enabler: str, rule: FindingRule) -> None:
    """Register a finding rule declared by ``enabler`` (its key); raise on a duplicate."""
    if name in _finding_rules:
        raise ValueError(f"duplicate finding rule: {name}")
    _finding_rules[name] = (enabler, rule)


def unregister_finding_rule(name: str) -> None:
    """Forget a finding rule registered outside a declaration (tests)."""
    _finding_rules.pop(name, None)


def finding_rule(name: str) -> tuple[str, FindingRule] | None:
    """Return (enabler key, rule) of a registered finding rule, or None."""
    return _finding_rules.get(name)


def finding_rules() -> dict[str, tuple[str, FindingRule]]:
    """Return every registered finding rule with the key of the enabler that declared it."""
    return dict(_finding_rules)


def register_finding_verifier(enabler: str, verifier: str | Callable[..., Any]) -> None:
    """Register an enabler's finding verifier ("module:func" or the callable); one per enabler."""
    if enabler in _finding_verifiers:
        raise ValueError(f"duplicate finding verifier for {enabler}")
    _finding_verifiers[enabler] = verifier


def unregister_finding_verifier(enabler: str) -> None:
    """Forget an enabler's finding verifier (tests)."""
    _finding_verifiers.pop(enabler, None)


def finding_verifier(enabler: str) -> str | Callable[..., Any] | None:
    """Return the finding verifier an enabler registered, or None."""
    return _finding_verifiers.get(enabler)


def register_schedule(name: str, enabler: str, schedule: Schedule) -> None:
    """Register a schedule declared by ``enabler`` (its key); raise on a duplicate."""
    if name in _schedules:
        raise ValueError(f"duplicate schedule: {name}")
    _schedules[name] = (enabler, schedule)


def schedules() -> dict[str, tuple[str, Schedule]]:
    """Return every registered schedule with the key of the enabler that declared it."""
    return dict(_schedules)
