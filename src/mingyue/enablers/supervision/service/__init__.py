"""Use cases of the supervision enabler (services never commit; each step writes its audit entry).

The console calls these (all keyword-only, ``uow`` and ``actor`` first):

- register: ``list_register`` / ``get_register_entry`` → ``FindingView``; ``statistics`` →
  ``StatisticsOut``; ``org_history`` → ``OrgHistoryOut``
- rectification: ``order_rectification``, ``list_rectifications``, ``get_rectification``,
  ``submit_report``, ``request_reverify``, ``sync_verification``, ``return_rectification``,
  ``dismiss_finding`` → ``RectificationOut`` (with ``actions`` open to the reader)
- decision: ``preview_decision`` → ``DecisionPreview``; ``decide_rectification`` →
  ``RectificationOut``; ``list_decisions`` → ``DecisionOut``
- documents: ``list_documents``, ``get_document``, ``publish_document``; self-checks:
  ``run_selfcheck``, ``list_selfchecks``
"""

from __future__ import annotations

from typing import Any

from mingyue.sdk import JobContext

from .decide import decide_rectification, list_decisions, preview_decision
from .documents import (
    ensure_seeded,
    get_document,
    list_documents,
    list_selfchecks,
    publish_document,
    run_selfcheck,
)
from .rectify import (
    dismiss_finding,
    get_rectification,
    list_rectifications,
    on_decide,
    on_overdue,
    on_report,
    on_return,
    on_reverify,
    on_verified,
    on_withdraw,
    order_rectification,
    remind,
    request_reverify,
    return_rectification,
    submit_report,
    sync_verification,
)
from .register import get_register_entry, list_register, org_history, statistics


def run_reminders_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Announce coming deadlines, mark passed ones overdue, take over re-verification results."""
    days = params.get("remind_days", 3)
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 30:
        raise ValueError("remind_days must be an integer from 0 to 30")
    with ctx.unit_of_work() as uow:
        done = remind(uow, remind_days=days)
    ctx.progress(100, f"{len(done['reminded'])} reminded, {len(done['overdue'])} overdue")
    return done


__all__ = [
    "decide_rectification",
    "dismiss_finding",
    "ensure_seeded",
    "get_document",
    "get_rectification",
    "get_register_entry",
    "list_decisions",
    "list_documents",
    "list_rectifications",
    "list_register",
    "list_selfchecks",
    "on_decide",
    "on_overdue",
    "on_report",
    "on_return",
    "on_reverify",
    "on_verified",
    "on_withdraw",
    "order_rectification",
    "org_history",
    "preview_decision",
    "publish_document",
    "remind",
    "request_reverify",
    "return_rectification",
    "run_reminders_job",
    "run_selfcheck",
    "statistics",
    "submit_report",
    "sync_verification",
]
