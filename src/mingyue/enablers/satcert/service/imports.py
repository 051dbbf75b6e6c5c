"""RF and protocol conformance results: an instrument export judged against the lab's limits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mingyue.enablers.satcert.engine.rf import import_results
from mingyue.enablers.satcert.models import SatcertImport, SatcertSample
from mingyue.enablers.satcert.schemas import ImportOut
from mingyue.enablers.satcert.settings import options
from mingyue.sdk import Actor, UnitOfWork, check, get_visible, store_upload
from mingyue.sdk.errors import InvalidInput

KINDS = ("rf", "protocol")


def import_export(
    *,
    uow: UnitOfWork,
    actor: Actor,
    sample_id: int,
    kind: str,
    standard: str,
    limits: Any,
    data: bytes,
    filename: str,
) -> ImportOut:
    """Store an instrument export, judge it clause by clause, keep the verdicts (audited)."""
    check(actor, "satcert.result.import")
    sample: SatcertSample = get_visible(uow, SatcertSample, sample_id, "satcert.read")
    check(actor, "satcert.result.import", sample)
    if kind not in KINDS:
        raise InvalidInput("satcert.rf.bad_kind", "kind is rf or protocol", field="kind")
    standard = standard.strip()
    if not standard or len(standard) > 120:
        raise InvalidInput(
            "satcert.rf.bad_standard",
            "name the standard (e.g. 3GPP TS 38.521-5), at most 120 characters",
            field="standard",
        )
    cap = options(uow.settings).max_import_bytes
    # Judge first: a malformed export is refused before anything is stored.
    report = import_results(
        data, filename=filename, limits=limits, standard=standard, max_bytes=cap
    )
    stored = store_upload(
        uow=uow,
        upload=data,
        filename=filename,
        purpose="satcert.import",
        max_bytes=cap,
        organization_id=sample.organization_id,
    )
    out = report.to_dict()
    row = SatcertImport(
        organization_id=sample.organization_id,
        sample_id=sample.id,
        created_by=actor.label(),
        kind=kind,
        standard=standard,
        filename=stored.filename[:255],
        file_id=stored.id,
        sha256=stored.sha256,
        format=report.format,
        limits=[dict(r) for r in limits] if isinstance(limits, list) else [],
        verdicts=out["verdicts"],
        counts=out["counts"],
        verdict=report.verdict,
    )
    uow.session.add(row)
    uow.flush()
    uow.audit(
        "satcert.result.imported",
        f"satcert_import:{row.id}",
        {
            "sample_id": sample.id,
            "standard": standard,
            "verdict": report.verdict,
            "sha256": stored.sha256,
            "counts": out["counts"],
        },
        organization_id=sample.organization_id,
    )
    return ImportOut.model_validate(row)


def list_imports(*, uow: UnitOfWork, actor: Actor, sample_id: int) -> list[ImportOut]:
    """Return the imports of one sample the actor may see."""
    check(actor, "satcert.read")
    get_visible(uow, SatcertSample, sample_id, "satcert.read")
    rows = uow.session.scalars(
        select(SatcertImport)
        .where(SatcertImport.sample_id == sample_id)
        .order_by(SatcertImport.id.desc())
    )
    return [ImportOut.model_validate(r) for r in rows]
