"""Precise push: which measures an enterprise may use, and campaigns that tell every match.

``eligibility`` judges one enterprise against every measure (or one). A campaign (an official,
``policy.campaign.run``) runs as a job over every profile in scope: each eligible or likely
enterprise gets one notification (``policy_push``), suppressed but logged when it opted out;
an enterprise already told of the same measure with the same verdict is not told again. For a
measure marked 免申即享, every eligible enterprise is also put on the approval list — a benefit
and a case for the department to confirm — without applying (``service.benefits``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select

from mingyue.enablers.policy.engine.eligibility import Match, Measure, match, match_all
from mingyue.enablers.policy.models_service import PolicyCampaign, PolicyProfile, PolicyPush
from mingyue.enablers.policy.schemas_corpus import clause_url
from mingyue.enablers.policy.schemas_service import (
    CampaignIn,
    CampaignOut,
    CheckOut,
    MatchOut,
    MeasureOut,
    PushOut,
)
from mingyue.enablers.policy.service import benefits
from mingyue.enablers.policy.service.common import (
    CAMPAIGN_RUN,
    READ,
    departments,
    reasons_of,
    rulebook,
)
from mingyue.enablers.policy.service.profiles import engine_profile, load_profile
from mingyue.sdk import (
    Actor,
    JobContext,
    UnitOfWork,
    check,
    enqueue,
    get_visible,
    now,
    organization,
    require_org,
)
from mingyue.sdk.errors import InvalidInput, NotFound

PUSH_VERDICTS = ("eligible", "likely")


def measure_out(m: Measure) -> MeasureOut:
    """Return a measure as the API shows it."""
    dept = departments().get(m.department, {"zh": m.department, "en": m.department})
    return MeasureOut(
        key=m.key,
        title=m.title,
        benefit=m.benefit,
        clause_id=m.clause,
        clause_url=clause_url(m.clause),
        department=m.department,
        department_title=dept,
        no_application=m.no_application,
        conditions=[c.label for c in m.conditions],
        note=m.note,
    )


def match_out(m: Match) -> MatchOut:
    """Return a match with its measure and reasons."""
    return MatchOut(
        organization_id=m.organization_id,
        measure=measure_out(get_measure(m.measure)),
        verdict=m.verdict,
        checks=[
            CheckOut(
                id=c.id, status=c.status, label=c.label, actual=c.actual, values=list(c.values)
            )
            for c in m.checks
        ],
        missing=[c.label for c in m.missing],
        to_confirm=[c.label for c in m.to_confirm],
    )


def get_measure(key: str) -> Measure:
    """Return the measure of this key (NotFound otherwise)."""
    m = rulebook().get(key)
    if m is None:
        raise NotFound("policy.measure.not_found", f"no measure {key!r}", field="measure_key")
    return m


def list_measures(*, actor: Actor) -> list[MeasureOut]:
    """Return every measure with its clause and conditions."""
    check(actor, READ)
    return [measure_out(m) for m in rulebook().measures]


def eligibility(
    *,
    uow: UnitOfWork,
    actor: Actor,
    organization_id: int | None = None,
    measure_key: str | None = None,
) -> list[MatchOut]:
    """Judge an enterprise (the actor's own, or one an official names) against the measures."""
    org_id = organization_id if organization_id is not None else require_org(actor)
    profile = load_profile(uow, actor, org_id)
    today = now().date()
    if measure_key is not None:
        return [match_out(match(get_measure(measure_key), profile, today))]
    return [match_out(m) for m in match_all(rulebook().measures, profile, today)]


# -- campaigns ----------------------------------------------------------------------------------


def start_campaign(*, uow: UnitOfWork, actor: Actor, body: CampaignIn) -> CampaignOut:
    """Queue a push of one measure to every enterprise that matches it (a job)."""
    check(actor, CAMPAIGN_RUN)
    org_id = require_org(actor)
    measure = get_measure(body.measure_key)
    camp = PolicyCampaign(
        organization_id=org_id,
        measure_key=measure.key,
        rules_version=rulebook().sha256,
        status="queued",
        counts={},
        note=" ".join(body.note.split()),
        created_by=actor.label(),
    )
    uow.session.add(camp)
    uow.flush()
    job = enqueue(uow=uow, kind="policy.campaign", params={"campaign_id": camp.id})
    camp.job_id = job.id
    uow.audit(
        "policy.campaign.started",
        f"policy_campaign:{camp.id}",
        {"measure": measure.key, "clause": measure.clause, "rules_version": camp.rules_version},
        organization_id=org_id,
    )
    return CampaignOut.model_validate(camp)


def _already_told(uow: UnitOfWork, org_id: int, measure: str, verdict: str) -> bool:
    return (
        uow.session.scalars(
            select(PolicyPush.id).where(
                PolicyPush.organization_id == org_id,
                PolicyPush.measure_key == measure,
                PolicyPush.verdict == verdict,
                PolicyPush.kind == "measure",
                PolicyPush.status != "suppressed",
            )
        ).first()
        is not None
    )


def _reasons(m: Match) -> list[dict[str, Any]]:
    return reasons_of(m)


def push_measure(
    uow: UnitOfWork,
    measure: Measure,
    *,
    campaign: PolicyCampaign | None,
    progress: Any = None,
) -> dict[str, int]:
    """Match every profile in scope against a measure; notify, list benefits; return counts."""
    counts: Counter[str] = Counter()
    rows = uow.session.scalars(select(PolicyProfile).order_by(PolicyProfile.organization_id)).all()
    today = now().date()
    for i, row in enumerate(rows):
        org = organization(uow=uow, organization_id=row.organization_id)
        if org is None or org.kind != "enterprise":
            continue
        profile = engine_profile(row, organization_id=org.id, name=org.name, is_sme=org.is_sme)
        m = match(measure, profile, today)
        counts["matched"] += 1
        counts[m.verdict] += 1
        if progress is not None:
            progress(int(100 * (i + 1) / len(rows)))
        if m.verdict not in PUSH_VERDICTS:
            continue
        benefit_id = None
        if measure.no_application and m.verdict == "eligible":
            benefit, created = benefits.propose(
                uow, measure, m, campaign_id=campaign.id if campaign else None
            )
            benefit_id = benefit.id
            counts["listed" if created else "already_listed"] += 1
        if _already_told(uow, org.id, measure.key, m.verdict):
            counts["already_told"] += 1
            continue
        push = PolicyPush(
            organization_id=org.id,
            kind="measure",
            campaign_id=campaign.id if campaign else None,
            benefit_id=benefit_id,
            measure_key=measure.key,
            clause_id=measure.clause,
            verdict=m.verdict,
            reasons=_reasons(m),
            status="suppressed" if row.push_opt_out else "sent",
        )
        uow.session.add(push)
        uow.flush()
        counts["suppressed" if row.push_opt_out else "sent"] += 1
        uow.audit(
            "policy.push.sent",
            f"policy_push:{push.id}",
            {"measure": measure.key, "verdict": m.verdict, "status": push.status},
            organization_id=org.id,
        )
    return dict(counts)


def run_campaign_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Run a campaign: match, notify, list the 免申即享 benefits; record the counts."""
    campaign_id = params.get("campaign_id")
    if isinstance(campaign_id, bool) or not isinstance(campaign_id, int):
        raise ValueError("campaign_id must be an integer")
    with ctx.unit_of_work() as uow:
        camp = uow.session.get(PolicyCampaign, campaign_id)
        if camp is None:
            raise ValueError(f"campaign {campaign_id} not found")
        camp.status = "running"
    ctx.progress(5, "matching")
    with ctx.unit_of_work() as uow:
        camp = uow.session.get(PolicyCampaign, campaign_id)
        if camp is None:
            raise ValueError(f"campaign {campaign_id} not found")
        measure = get_measure(camp.measure_key)
        counts = push_measure(
            uow,
            measure,
            campaign=camp,
            progress=lambda pct: ctx.progress(5 + pct * 0.9, "matching"),
        )
        camp.counts = counts
        camp.status = "done"
        camp.finished_at = now()
        uow.audit(
            "policy.campaign.finished",
            f"policy_campaign:{camp.id}",
            {"measure": camp.measure_key, "counts": counts},
            organization_id=camp.organization_id,
        )
    ctx.progress(100, "done")
    return {"campaign_id": campaign_id, "counts": counts}


def run_benefits_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Daily: put newly eligible enterprises on every 免申即享 measure's approval list."""
    out: dict[str, Any] = {}
    measures = [m for m in rulebook().measures if m.no_application]
    for i, measure in enumerate(measures):
        with ctx.unit_of_work() as uow:
            out[measure.key] = push_measure(uow, measure, campaign=None)
        ctx.progress(100 * (i + 1) / max(len(measures), 1), measure.key)
    return out


def list_campaigns(*, uow: UnitOfWork, actor: Actor, limit: int = 100) -> list[CampaignOut]:
    """Return the campaigns in the actor's scope, newest first."""
    check(actor, CAMPAIGN_RUN)
    rows = uow.session.scalars(
        select(PolicyCampaign).order_by(PolicyCampaign.id.desc()).limit(limit)
    ).all()
    return [CampaignOut.model_validate(r) for r in rows]


def get_campaign(*, uow: UnitOfWork, actor: Actor, campaign_id: int) -> CampaignOut:
    """Return one campaign (NotFound when absent or out of scope)."""
    check(actor, CAMPAIGN_RUN)
    return CampaignOut.model_validate(get_visible(uow, PolicyCampaign, campaign_id))


def list_pushes(
    *,
    uow: UnitOfWork,
    actor: Actor,
    campaign_id: int | None = None,
    limit: int = 200,
) -> list[PushOut]:
    """Return notifications: an enterprise its own (never the suppressed), officials all."""
    check(actor, READ)
    if not 1 <= limit <= 1000:
        raise InvalidInput("policy.bad_limit", "limit must be 1..1000", field="limit")
    q = select(PolicyPush)
    if campaign_id is not None:
        q = q.where(PolicyPush.campaign_id == campaign_id)
    if (
        actor.organization_id is not None
        and actor.has_role("org_admin", "member")
        and not (actor.has_role("reviewer", "regulator", "platform_admin", "auditor"))
    ):
        q = q.where(PolicyPush.status != "suppressed")
    rows = uow.session.scalars(q.order_by(PolicyPush.id.desc()).limit(limit)).all()
    return [PushOut.model_validate(r) for r in rows]


def mark_read(*, uow: UnitOfWork, actor: Actor, push_id: int) -> PushOut:
    """Mark the enterprise's own notification read (an official cannot read it for them)."""
    check(actor, READ)
    push = get_visible(uow, PolicyPush, push_id)
    if push.organization_id != actor.organization_id or push.status == "suppressed":
        raise NotFound("policy.push.not_found", "no such notification", field="push_id")
    if push.status == "sent":
        push.status = "read"
        push.read_at = now()
        uow.flush()
        uow.audit(
            "policy.push.read",
            f"policy_push:{push.id}",
            {"measure": push.measure_key},
            organization_id=push.organization_id,
        )
    return PushOut.model_validate(push)


def unread_count(*, uow: UnitOfWork, actor: Actor) -> int:
    """Return how many of the actor's organization's notifications are unread."""
    if actor.organization_id is None:
        return 0
    rows = uow.session.scalars(
        select(PolicyPush.id).where(
            PolicyPush.organization_id == actor.organization_id, PolicyPush.status == "sent"
        )
    ).all()
    return len(rows)


def matches_in_scope(
    *, uow: UnitOfWork, actor: Actor, measure_key: str | None = None
) -> list[tuple[str, MatchOut]]:
    """Judge every profiled enterprise in scope (officials: all) against one or every measure.

    Returns (enterprise name, match) pairs, by enterprise then by verdict.
    """
    check(actor, READ)
    measures = [get_measure(measure_key)] if measure_key else list(rulebook().measures)
    today = now().date()
    out: list[tuple[str, MatchOut]] = []
    rows = uow.session.scalars(select(PolicyProfile).order_by(PolicyProfile.organization_id)).all()
    for row in rows:
        org = organization(uow=uow, organization_id=row.organization_id)
        if org is None or org.kind != "enterprise":
            continue
        profile = engine_profile(row, organization_id=org.id, name=org.name, is_sme=org.is_sme)
        out.extend((org.name, match_out(match(m, profile, today))) for m in measures)
    return out
