"""Figures for the overview screen (一屏通览), each scoped to what the actor may see."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from mingyue.core import clock, registries
from mingyue.core.cases import Case
from mingyue.core.cases.kinds import kind_of
from mingyue.core.errors import InvalidInput
from mingyue.core.jobs.service import Job
from mingyue.core.ledger import audit
from mingyue.core.metering.service import UsageRecord
from mingyue.core.tenancy.access import can, scope_for
from mingyue.core.tenancy.identity import Organization, User
from mingyue.core.uow import UnitOfWork


def _month_start(tz: str) -> datetime:
    now = clock.local_now(tz)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def figures(uow: UnitOfWork) -> dict[str, Any]:
    """Return counts of cases by state, jobs by status, usage this month and ledger status."""

    s = uow.session
    out: dict[str, Any] = {
        "cases_by_state": {},
        "jobs_by_status": {},
        "usage_this_month": {},
        "ledger": {},
        "organizations": 0,
        "users": 0,
    }
    cases = s.execute(select(Case.state, func.count()).group_by(Case.state)).all()
    out["cases_by_state"] = {st: n for st, n in cases}
    by_kind = s.execute(
        select(Case.kind, Case.state, func.count()).group_by(Case.kind, Case.state)
    ).all()
    out["cases_by_kind_state"] = [(k, st, n) for k, st, n in by_kind]
    jobs = s.execute(select(Job.status, func.count()).group_by(Job.status)).all()
    out["jobs_by_status"] = {st: n for st, n in jobs}
    start = _month_start(uow.settings.timezone)
    usage = s.execute(
        select(UsageRecord.meter, func.sum(UsageRecord.quantity))
        .where(UsageRecord.start >= start)
        .group_by(UsageRecord.meter)
    ).all()
    out["usage_this_month"] = {m: float(q or 0) for m, q in usage}
    if can(uow.actor, "core.audit.read"):
        head = s.execute(select(func.count(), func.max(audit.AuditEntry.seq))).one()
        last_cp = s.scalars(
            select(audit.AuditCheckpoint).order_by(audit.AuditCheckpoint.tree_size.desc()).limit(1)
        ).first()
        out["ledger"] = {
            "entries": head[0],
            "head_seq": head[1],
            "last_checkpoint": last_cp.tree_size if last_cp else None,
        }
    # Organizations as the actor may list them (every one for oversight roles, else its own);
    # users through the session's tenant filter, as ``list_users`` shows them.
    orgs = select(func.count()).select_from(Organization)
    scope = scope_for(uow.actor)
    if not scope.all_orgs:
        orgs = orgs.where(Organization.id.in_(sorted(scope.org_ids)))
    out["organizations"] = s.scalar(orgs) or 0
    out["users"] = s.scalar(select(func.count()).select_from(User)) or 0
    return out


def _state_title(kind: str, state: str, lang: str) -> str:
    try:
        st = kind_of(kind).states.get(state)
    except (InvalidInput, ValueError):
        st = None
    return st.title.get(lang, state) if st is not None else state


def labelled(fig: dict[str, Any], locale: str, t: Any) -> dict[str, dict[str, float]]:
    """Return the overview's chart series keyed by what people read, not by identifiers.

    Case states take their workflow's own title (states of different kinds with the same
    title add up), job statuses and meters go through the catalogue; ``/api/overview`` keeps
    the raw keys for programs.
    """
    lang = "zh" if locale.startswith("zh") else "en"
    cases: dict[str, float] = {}
    for kind, state, n in fig.get("cases_by_kind_state", []):
        name = _state_title(kind, state, lang)
        cases[name] = cases.get(name, 0) + n
    jobs: dict[str, float] = {}
    for status, n in fig["jobs_by_status"].items():
        key = f"core.jobs.status.{status}"
        name = t(key, locale)
        jobs[name if name != key else status] = n
    usage: dict[str, float] = {}
    for meter, q in fig["usage_this_month"].items():
        key = f"meter.{meter}"
        name = t(key, locale)
        if name == key:
            name = registries._meters.get(meter, ("", ""))[1] or meter
        usage[name] = usage.get(name, 0) + q
    return {"cases": cases, "jobs": jobs, "usage": usage}
