"""The findings register (one view over every enabler's findings) and the regulator's desk."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import get_args

from sqlalchemy import select

from mingyue.enablers.supervision.models import SupervisionDecision, SupervisionRectification
from mingyue.enablers.supervision.schemas import (
    CountRow,
    FindingView,
    MonthRow,
    OrgHistoryOut,
    OrgSummary,
    RectificationBrief,
    StatisticsOut,
)
from mingyue.sdk import (
    Actor,
    FindingOut,
    FindingStatus,
    InvalidInput,
    NotFound,
    Severity,
    UnitOfWork,
    can,
    check,
    count_findings,
    finding_rules,
    get_finding,
    list_findings,
    organization,
)
from mingyue.sdk import now as clock_now

from .common import REPORTABLE, local_date, org_name
from .decide import list_decisions
from .documents import list_selfchecks
from .rectify import list_rectifications

SEVERITY_TITLES = {
    "low": {"zh": "低", "en": "Low"},
    "medium": {"zh": "中", "en": "Medium"},
    "high": {"zh": "高", "en": "High"},
    "critical": {"zh": "严重", "en": "Critical"},
}
STATUS_TITLES = {
    "open": {"zh": "待处理", "en": "Open"},
    "rectifying": {"zh": "整改中", "en": "Rectifying"},
    "fixed": {"zh": "已改正", "en": "Fixed"},
    "closed": {"zh": "已结案", "en": "Closed"},
    "dismissed": {"zh": "已排除", "en": "Dismissed"},
}


def _views(uow: UnitOfWork, findings: list[FindingOut]) -> list[FindingView]:
    ids = [f.id for f in findings]
    rects = {
        r.finding_id: r
        for r in uow.session.scalars(
            select(SupervisionRectification).where(SupervisionRectification.finding_id.in_(ids))
        )
    }
    decided = {
        d.finding_id: d.outcome
        for d in uow.session.scalars(
            select(SupervisionDecision)
            .where(SupervisionDecision.finding_id.in_(ids))
            .order_by(SupervisionDecision.id)
        )
    }
    names: dict[int, str] = {}
    t = clock_now()
    out = []
    for f in findings:
        r = rects.get(f.id)
        brief = (
            RectificationBrief(
                id=r.id,
                status=r.status,
                deadline=r.deadline,
                overdue=r.status in REPORTABLE and t > r.deadline,
            )
            if r is not None
            else None
        )
        out.append(
            FindingView(
                finding=f,
                organization_name=org_name(uow, f.organization_id, names),
                rectification=brief,
                decision=decided.get(f.id),
            )
        )
    return out


def _check_filters(severity: str | None, status: str | None) -> None:
    if severity is not None and severity not in get_args(Severity):
        raise InvalidInput(
            "supervision.bad_filter",
            f"severity must be one of {', '.join(get_args(Severity))}",
            field="severity",
        )
    if status is not None and status not in get_args(FindingStatus):
        raise InvalidInput(
            "supervision.bad_filter",
            f"status must be one of {', '.join(get_args(FindingStatus))}",
            field="status",
        )


def list_register(
    *,
    uow: UnitOfWork,
    actor: Actor,
    enabler: str | None = None,
    rule: str | None = None,
    severity: str | None = None,
    status: str | None = None,
    organization_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[FindingView]:
    """Return the findings visible to the actor with their rectification and decision."""
    check(actor, "supervision.read")
    _check_filters(severity, status)
    findings = list_findings(
        uow=uow,
        actor=actor,
        organization_id=organization_id,
        enabler=enabler,
        rule=rule,
        severity=severity,
        status=status,
        limit=limit,
        offset=offset,
    )
    return _views(uow, findings)


def get_register_entry(*, uow: UnitOfWork, actor: Actor, finding_id: int) -> FindingView:
    """Return one finding of the register (404 when absent or not visible)."""
    check(actor, "supervision.read")
    return _views(uow, [get_finding(uow=uow, actor=actor, finding_id=finding_id)])[0]


def statistics(*, uow: UnitOfWork, actor: Actor) -> StatisticsOut:
    """Return the regulator's desk: counts, open clocks, decisions per month, per organization."""
    check(actor, "supervision.read")
    rules = finding_rules()
    by_rule: Counter[str] = Counter()
    for name in rules:
        n = count_findings(uow=uow, actor=actor, rule=name)
        if n:
            by_rule[name] = n
    by_enabler: Counter[str] = Counter()
    for name, n in by_rule.items():
        by_enabler[name.split(".", 1)[0]] += n
    by_severity = {s: count_findings(uow=uow, actor=actor, severity=s) for s in SEVERITY_TITLES}
    by_status = {s: count_findings(uow=uow, actor=actor, status=s) for s in STATUS_TITLES}
    decisions = list_decisions(uow=uow, actor=actor)
    months: dict[str, Counter[str]] = {}
    for d in decisions:
        month = local_date(uow, d.decided_at).strftime("%Y-%m")
        months.setdefault(month, Counter())[d.outcome] += 1
    open_rects = list_rectifications(uow=uow, actor=actor, open_only=True)
    per_org: dict[int, OrgSummary] = {}
    names: dict[int, str] = {}

    def org(oid: int) -> OrgSummary:
        if oid not in per_org:
            per_org[oid] = OrgSummary(
                organization_id=oid,
                organization_name=org_name(uow, oid, names),
                findings=count_findings(uow=uow, actor=actor, organization_id=oid),
                open_rectifications=0,
                overdue=0,
                decisions=0,
            )
        return per_org[oid]

    for r in open_rects:
        o = org(r.organization_id)
        o.open_rectifications += 1
        o.overdue += int(r.overdue or r.status == "overdue")
    for d in decisions:
        org(d.organization_id).decisions += 1
    for f in list_findings(uow=uow, actor=actor, status=["open", "rectifying", "fixed"], limit=500):
        org(f.organization_id)
    return StatisticsOut(
        findings_total=sum(by_status.values()),
        by_enabler=[
            CountRow(key=k, title={"zh": k, "en": k}, count=n) for k, n in by_enabler.most_common()
        ],
        by_rule=[
            CountRow(key=k, title=dict(rules[k].title), count=n) for k, n in by_rule.most_common()
        ],
        by_severity=[
            CountRow(key=k, title=SEVERITY_TITLES[k], count=n) for k, n in by_severity.items()
        ],
        by_status=[CountRow(key=k, title=STATUS_TITLES[k], count=n) for k, n in by_status.items()],
        decisions_by_month=[MonthRow(month=m, counts=dict(c)) for m, c in sorted(months.items())],
        open_rectifications=open_rects,
        overdue=sum(1 for r in open_rects if r.overdue or r.status == "overdue"),
        organizations=sorted(
            per_org.values(), key=lambda o: (-o.overdue, -o.findings, o.organization_id)
        ),
    )


def org_history(*, uow: UnitOfWork, actor: Actor, organization_id: int) -> OrgHistoryOut:
    """Return one organization's findings, rectifications, decisions and self-checks."""
    check(actor, "supervision.read")
    target = SimpleNamespace(organization_id=organization_id)
    if (
        not can(actor, "supervision.read", target)
        or organization(uow=uow, organization_id=organization_id) is None
    ):
        raise NotFound("core.org.not_found", f"organization {organization_id} not found")
    findings = list_findings(uow=uow, actor=actor, organization_id=organization_id, limit=500)
    rects = list_rectifications(uow=uow, actor=actor, organization_id=organization_id)
    decisions = list_decisions(uow=uow, actor=actor, organization_id=organization_id)
    checks = list_selfchecks(uow=uow, actor=actor, organization_id=organization_id)
    return OrgHistoryOut(
        organization_id=organization_id,
        organization_name=org_name(uow, organization_id),
        findings=findings,
        rectifications=rects,
        decisions=decisions,
        selfchecks=checks,
    )
