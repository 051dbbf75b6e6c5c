"""Enterprise profiles: the core organization plus what the eligibility rules need to know.

An enterprise keeps its own profile (``policy.profile.manage``, its own organization only);
officials read every profile in their scope. An organization without a profile row is matched on
what the core knows of it (its name and SME flag): most conditions are then "unknown".
"""

from __future__ import annotations

from sqlalchemy import select

from mingyue.enablers.policy.engine.eligibility import Profile
from mingyue.enablers.policy.models_service import PolicyProfile
from mingyue.enablers.policy.schemas_service import ProfileIn, ProfileOut
from mingyue.enablers.policy.service.common import PROFILE_MANAGE, READ
from mingyue.sdk import Actor, UnitOfWork, can, check, now, organization, require_org
from mingyue.sdk.errors import InvalidInput, NotFound

_FIELDS = tuple(ProfileIn.model_fields)


def _row(uow: UnitOfWork, organization_id: int) -> PolicyProfile | None:
    return uow.session.scalars(
        select(PolicyProfile).where(PolicyProfile.organization_id == organization_id)
    ).first()


def _org_or_404(uow: UnitOfWork, actor: Actor, organization_id: int) -> tuple[str, bool, str]:
    check(actor, READ)
    org = organization(uow=uow, organization_id=organization_id)
    if org is None or not can(actor, READ, _Target(organization_id)):
        raise NotFound("policy.profile.not_found", "no such enterprise", field="organization_id")
    return org.name, org.is_sme, org.kind


def engine_profile(
    row: PolicyProfile | None, *, organization_id: int, name: str, is_sme: bool
) -> Profile:
    """Return the engine's view of a profile (the core's SME flag when the row has none)."""
    if row is None:
        return Profile(organization_id=organization_id, name=name, is_sme=is_sme)
    return Profile(
        organization_id=organization_id,
        name=name,
        industry_code=row.industry_code,
        size_class=row.size_class,
        is_sme=is_sme,
        district=row.district,
        park=row.park,
        qualifications=frozenset(row.qualifications or ()),
        sectors=frozenset(row.sectors or ()),
        listing=row.listing or "none",
        headcount=row.headcount,
        revenue=row.revenue,
        total_assets=row.total_assets,
        rd_spend=row.rd_spend,
        established=row.established,
    )


def _out(row: PolicyProfile | None, *, organization_id: int, name: str, is_sme: bool) -> ProfileOut:
    prof = engine_profile(row, organization_id=organization_id, name=name, is_sme=is_sme)
    size = prof.derived_size()
    values = {f: getattr(row, f) for f in _FIELDS} if row is not None else {}
    return ProfileOut(
        **values,
        organization_id=organization_id,
        organization_name=name,
        derived_size_class=size,
        is_sme=prof.fact("is_sme", now().date()),
        push_opt_out=bool(row.push_opt_out) if row is not None else False,
        exists=row is not None,
        updated_at=row.updated_at if row is not None else None,
        updated_by=row.updated_by if row is not None else "",
    )


def get_profile(*, uow: UnitOfWork, actor: Actor, organization_id: int | None = None) -> ProfileOut:
    """Return an enterprise's profile: the actor's own, or (officials) the one asked for."""
    org_id = organization_id if organization_id is not None else require_org(actor)
    name, is_sme, _kind = _org_or_404(uow, actor, org_id)
    return _out(_row(uow, org_id), organization_id=org_id, name=name, is_sme=is_sme)


def load_profile(uow: UnitOfWork, actor: Actor, organization_id: int) -> Profile:
    """Return the engine profile of an enterprise the actor may read (NotFound otherwise)."""
    name, is_sme, _kind = _org_or_404(uow, actor, organization_id)
    return engine_profile(
        _row(uow, organization_id), organization_id=organization_id, name=name, is_sme=is_sme
    )


def update_profile(*, uow: UnitOfWork, actor: Actor, body: ProfileIn) -> ProfileOut:
    """Save the enterprise's own profile (every field as given) and record the change."""
    org_id = require_org(actor)
    name, is_sme, kind = _org_or_404(uow, actor, org_id)
    check(actor, PROFILE_MANAGE, _Target(org_id))
    if kind != "enterprise":
        raise InvalidInput(
            "policy.profile.not_enterprise", "only enterprises keep a policy profile"
        )
    if body.established is not None and body.established > now().date():
        raise InvalidInput(
            "policy.profile.future_date", "the founding date is in the future", field="established"
        )
    row = _row(uow, org_id)
    if row is None:
        row = PolicyProfile(organization_id=org_id)
        uow.session.add(row)
    before = {f: _plain(getattr(row, f, None)) for f in _FIELDS}
    for f in _FIELDS:
        setattr(row, f, getattr(body, f))
    row.updated_at = now()
    row.updated_by = actor.label()
    uow.flush()
    after = {f: _plain(getattr(row, f)) for f in _FIELDS}
    changed = sorted(f for f in _FIELDS if before[f] != after[f])
    uow.audit(
        "policy.profile.updated",
        f"policy_profile:{row.id}",
        {"fields": changed},
        organization_id=org_id,
    )
    return _out(row, organization_id=org_id, name=name, is_sme=is_sme)


def set_opt_out(*, uow: UnitOfWork, actor: Actor, opt_out: bool) -> ProfileOut:
    """Turn the enterprise's policy pushes off (logged as suppressed) or on again."""
    org_id = require_org(actor)
    name, is_sme, kind = _org_or_404(uow, actor, org_id)
    check(actor, PROFILE_MANAGE, _Target(org_id))
    if kind != "enterprise":
        raise InvalidInput(
            "policy.profile.not_enterprise", "only enterprises keep a policy profile"
        )
    row = _row(uow, org_id)
    if row is None:
        row = PolicyProfile(organization_id=org_id, updated_by=actor.label())
        uow.session.add(row)
    if bool(row.push_opt_out) != opt_out:
        row.push_opt_out = opt_out
        uow.flush()
        uow.audit(
            "policy.push.opt_out_changed",
            f"policy_profile:{row.id}",
            {"opt_out": opt_out},
            organization_id=org_id,
        )
    return _out(row, organization_id=org_id, name=name, is_sme=is_sme)


def list_profiles(*, uow: UnitOfWork, actor: Actor, limit: int = 500) -> list[ProfileOut]:
    """Return the profiles in the actor's scope (an enterprise: its own), by organization."""
    check(actor, READ)
    rows = uow.session.scalars(
        select(PolicyProfile).order_by(PolicyProfile.organization_id).limit(limit)
    ).all()
    out = []
    for row in rows:
        org = organization(uow=uow, organization_id=row.organization_id)
        if org is None:
            continue
        out.append(_out(row, organization_id=org.id, name=org.name, is_sme=org.is_sme))
    return out


class _Target:
    """An object of an organization, for a permission check with reach."""

    def __init__(self, organization_id: int) -> None:
        self.organization_id = organization_id


def _plain(value: object) -> object:
    if isinstance(value, list):
        return sorted(str(v) for v in value)
    return None if value is None else str(value)
