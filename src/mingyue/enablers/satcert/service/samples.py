"""Sample intake: a terminal registered for testing opens its certification case."""

from __future__ import annotations

from sqlalchemy import or_, select

from mingyue.enablers.satcert.models import SatcertSample
from mingyue.enablers.satcert.schemas import SampleIn, SampleOut
from mingyue.sdk import (
    Actor,
    UnitOfWork,
    check,
    get_visible,
    open_case,
    organization,
    require_org,
)
from mingyue.sdk.errors import Forbidden, InvalidInput


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def check_imei(imei: str, field: str = "declared_imei") -> str:
    """Return a 15-digit IMEI whose check digit holds (3GPP TS 23.003 §6.2.1), else 422."""
    imei = imei.strip()
    if len(imei) != 15 or not imei.isdigit() or not _luhn_ok(imei):
        raise InvalidInput(
            "satcert.bad_imei", "an IMEI is 15 digits with a valid Luhn check digit", field=field
        )
    return imei


def submit_sample(*, uow: UnitOfWork, actor: Actor, body: SampleIn) -> SampleOut:
    """Register a sample (the maker's own, or one brought to the lab's counter) and open its case."""
    check(actor, "satcert.sample.submit")
    own = require_org(actor, field="--as")
    org_id = body.organization_id or own
    if org_id != own:
        if not actor.has_role("reviewer"):
            raise Forbidden("satcert.foreign_org", "only lab staff register another maker's sample")
        org = organization(uow=uow, organization_id=org_id)
        if org is None or org.kind != "enterprise":
            raise InvalidInput(
                "satcert.bad_org",
                "the sample's organization must be an enterprise",
                field="organization_id",
            )
    declared = check_imei(body.declared_imei) if body.declared_imei else None
    title = f"{body.manufacturer} {body.model}"[:200]
    case = open_case(
        uow=uow,
        kind="satcert.certification",
        title=f"卫星终端送检 · {title}"[:200],
        organization_id=org_id,
        subject=f"terminal:{body.manufacturer}:{body.model}"[:200],
        data={"manufacturer": body.manufacturer, "model": body.model},
    )
    row = SatcertSample(
        organization_id=org_id,
        created_by=actor.label(),
        manufacturer=body.manufacturer.strip(),
        model=body.model.strip(),
        terminal_kind=body.terminal_kind,
        declared_imei=declared,
        notes=body.notes,
        status="intake",
        case_id=case.id,
    )
    uow.session.add(row)
    uow.flush()
    uow.audit(
        "satcert.sample.received",
        f"satcert_sample:{row.id}",
        {"model": row.model, "manufacturer": row.manufacturer, "case_id": case.id},
        organization_id=org_id,
    )
    return SampleOut.model_validate(row)


def list_samples(
    *, uow: UnitOfWork, actor: Actor, q: str | None = None, limit: int = 200
) -> list[SampleOut]:
    """Return the samples the actor may see, newest first (``q`` searches maker, model, IMEI)."""
    check(actor, "satcert.read")
    stmt = select(SatcertSample).order_by(SatcertSample.id.desc()).limit(max(1, min(limit, 1000)))
    if q:
        like = f"%{q.strip()[:80]}%"
        stmt = stmt.where(
            or_(
                SatcertSample.manufacturer.ilike(like),
                SatcertSample.model.ilike(like),
                SatcertSample.imei.ilike(like),
            )
        )
    return [SampleOut.model_validate(r) for r in uow.session.scalars(stmt)]


def load_sample(uow: UnitOfWork, sample_id: int) -> SatcertSample:
    """Return a sample the unit of work's actor may see (NotFound otherwise)."""
    row: SatcertSample = get_visible(uow, SatcertSample, sample_id, "satcert.read")
    return row


def get_sample(*, uow: UnitOfWork, actor: Actor, sample_id: int) -> SampleOut:
    """Return one sample (NotFound when absent or another organization's)."""
    check(actor, "satcert.read")
    return SampleOut.model_validate(load_sample(uow, sample_id))
