"""Background jobs (being built): registry of job kinds.

To add a job kind: 1. write ``def run(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]``;
2. add ``"<key>.<kind>": "module:run"`` to your Enabler's ``job_kinds``; 3. enqueue it with
``jobs.enqueue(uow=..., kind="<key>.<kind>", params={...})``.
"""

from __future__ import annotations

_kinds: dict[str, str] = {}


def register_kind(name: str, ref: str) -> None:
    """Register a job kind by namespaced name; raise on a duplicate."""
    if name in _kinds:
        raise ValueError(f"duplicate job kind: {name}")
    _kinds[name] = ref


def kinds() -> dict[str, str]:
    """Return every registered job kind."""
    return dict(_kinds)
