"""The name registries an Enabler declaration fills: audit events, job kinds, meters.

Pure (no database, no imports of the services), so that ``plugins`` can register an enabler's
names without importing the modules that use them. Permissions live in ``tenancy.access``, which
is as light. Each registry raises on a duplicate name (CONVENTIONS rule 6).

To add a name: declare it in your Enabler (``audit_events``, ``job_kinds``, ``meters``); discovery
registers it here; a duplicate raises at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
