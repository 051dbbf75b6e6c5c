"""The plan registry: test plans as versioned YAML; publishing a version is audited.

A published version is never changed: the same key and version with other content is refused
(409); a change is a new version. Plans belong to the lab and are shared by every sample.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from mingyue.enablers.satcert.engine.plan import Plan, load_plan
from mingyue.enablers.satcert.models import SatcertPlan
from mingyue.enablers.satcert.schemas import PlanDetail, PlanOut
from mingyue.sdk import Actor, UnitOfWork, check
from mingyue.sdk.errors import Conflict, NotFound


def publish_plan(*, uow: UnitOfWork, actor: Actor, text: str) -> PlanOut:
    """Validate a plan (422 naming the field) and publish it as a new version (audited)."""
    check(actor, "satcert.plan.manage")
    plan = load_plan(text)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    existing = uow.session.scalars(
        select(SatcertPlan).where(SatcertPlan.key == plan.plan, SatcertPlan.version == plan.version)
    ).first()
    if existing is not None:
        if existing.sha256 == digest:
            return PlanOut.model_validate(existing)  # the same text again: nothing changes
        raise Conflict(
            "satcert.plan_version_exists",
            f"plan {plan.plan} version {plan.version} is published with other content: "
            "raise the version",
        )
    previous = uow.session.scalars(
        select(SatcertPlan).where(SatcertPlan.key == plan.plan).order_by(SatcertPlan.id.desc())
    ).first()
    row = SatcertPlan(
        key=plan.plan,
        version=plan.version,
        title=plan.title,
        yaml=text,
        sha256=digest,
        cases=len(plan.cases),
        created_by=actor.label(),
    )
    uow.session.add(row)
    uow.flush()
    uow.audit(
        "satcert.plan.published",
        f"satcert_plan:{row.id}",
        {
            "plan": plan.plan,
            "version": plan.version,
            "sha256": digest,
            "cases": len(plan.cases),
            "previous": f"{previous.version} {previous.sha256}" if previous else None,
        },
    )
    return PlanOut.model_validate(row)


def list_plans(*, uow: UnitOfWork, actor: Actor) -> list[PlanOut]:
    """Return every published plan version, newest first."""
    check(actor, "satcert.read")
    rows = uow.session.scalars(select(SatcertPlan).order_by(SatcertPlan.id.desc()).limit(500))
    return [PlanOut.model_validate(r) for r in rows]


def load_plan_row(uow: UnitOfWork, plan_id: int) -> SatcertPlan:
    """Return a published plan version (NotFound otherwise)."""
    row = uow.session.get(SatcertPlan, plan_id)
    if row is None:
        raise NotFound("satcert.plan_not_found", f"no plan {plan_id}")
    return row


def get_plan(*, uow: UnitOfWork, actor: Actor, plan_id: int) -> PlanDetail:
    """Return one plan version with its YAML."""
    check(actor, "satcert.read")
    return PlanDetail.model_validate(load_plan_row(uow, plan_id))


def parsed(row: SatcertPlan) -> Plan:
    """Return the validated plan of a stored version."""
    return load_plan(row.yaml)
