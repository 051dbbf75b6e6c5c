"""Review and certificates: the case hooks, issuing and revoking, the registry, expiry warnings.

A certificate is a core W3C Verifiable Credential (``TerminalCertificate``) carrying the DUT's
identity, the plan version, the verdict, the key figures and the SHA-256 of every raw bench log;
its public fields (maker, model, firmware, TAC, plan, verdict, holder) are what ``/verify/<id>``
shows to anyone. The registry is its public line, searchable by every logged-in user.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select

from mingyue.enablers.satcert.engine.plan import load_plan
from mingyue.enablers.satcert.models import (
    SatcertCertificate,
    SatcertImport,
    SatcertPlan,
    SatcertRegistryEntry,
    SatcertRun,
    SatcertSample,
)
from mingyue.enablers.satcert.schemas import CertificateOut, RegistryOut
from mingyue.enablers.satcert.settings import options
from mingyue.sdk import (
    Actor,
    CaseHook,
    CaseOut,
    EvidenceRef,
    UnitOfWork,
    check,
    comment,
    get_visible,
    issue_credential,
    now,
    organization,
    raise_finding,
    record_count,
    revoke_credential,
    transition,
)
from mingyue.sdk.errors import Conflict, InvalidInput, NotFound

CREDENTIAL_TYPE = "TerminalCertificate"
PUBLIC_FIELDS = (
    "manufacturer",
    "model",
    "terminalKind",
    "firmware",
    "tac",
    "testPlan",
    "planVersion",
    "verdict",
    "holder",
)


def _sample_of_case(uow: UnitOfWork, case_id: int) -> SatcertSample:
    row = uow.session.scalars(select(SatcertSample).where(SatcertSample.case_id == case_id)).first()
    if row is None:
        raise NotFound("satcert.sample_not_found", f"no sample for case {case_id}")
    return row


def _runs(uow: UnitOfWork, sample_id: int, purpose: str = "certification") -> list[SatcertRun]:
    return list(
        uow.session.scalars(
            select(SatcertRun)
            .where(SatcertRun.sample_id == sample_id, SatcertRun.purpose == purpose)
            .order_by(SatcertRun.id)
        )
    )


def _set_status(uow: UnitOfWork, row: SatcertSample, status: str, event: str | None) -> None:
    row.status = status
    uow.flush()
    if event:
        uow.audit(
            event,
            f"satcert_sample:{row.id}",
            {"case_id": row.case_id, "status": status},
            organization_id=row.organization_id,
        )


def on_submit_review(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Send the evidence to review: refused while no certification run has finished."""
    row = _sample_of_case(uow, case.id)
    finished = [r for r in _runs(uow, row.id) if r.status in ("passed", "failed")]
    if not finished:
        raise Conflict(
            "satcert.no_finished_run", "no certification bench run of this sample has finished"
        )
    _set_status(uow, row, "review", "satcert.sample.in_review")


def _evidence(uow: UnitOfWork, row: SatcertSample) -> tuple[SatcertRun, SatcertPlan, list[Any]]:
    runs = [r for r in _runs(uow, row.id) if r.status in ("passed", "failed")]
    if not runs:
        raise Conflict("satcert.no_finished_run", "no certification bench run has finished")
    last = runs[-1]
    if last.verdict != "pass":
        raise Conflict(
            "satcert.run_not_passed",
            f"the latest certification run #{last.id} did not pass ({last.verdict})",
        )
    imports = list(
        uow.session.scalars(select(SatcertImport).where(SatcertImport.sample_id == row.id))
    )
    failed = [i for i in imports if i.verdict == "fail"]
    if failed:
        raise Conflict(
            "satcert.import_failed",
            f"RF/protocol results #{failed[0].id} ({failed[0].standard}) failed their limits",
        )
    plan = uow.session.get(SatcertPlan, last.plan_id)
    if plan is None:  # a foreign key; kept for the type checker
        raise NotFound("satcert.plan_not_found", f"no plan {last.plan_id}")
    return last, plan, imports


def _titles(plan_yaml: str) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Return the plan's title and each case's, in Chinese and English (as published)."""
    doc = load_plan(plan_yaml)
    plan_title = {"zh": doc.title_zh or doc.title, "en": doc.title}
    return plan_title, {c.id: c.titles() for c in doc.cases}


def on_approve(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Approve: issue the terminal certificate (core credential) and list it in the registry."""
    row = _sample_of_case(uow, case.id)
    run, plan, imports = _evidence(uow, row)
    org = organization(uow=uow, organization_id=row.organization_id)
    holder = org.name if org is not None else f"#{row.organization_id}"
    firmware = row.firmware or ""
    tac = (row.imei or "")[:8]
    all_logs = [r.log_sha256 for r in _runs(uow, row.id) if r.log_sha256]
    verdicts = {str(c.get("id")): str(c.get("verdict", "")) for c in run.results or []}
    plan_title, case_titles = _titles(plan.yaml)
    subject: dict[str, Any] = {
        "id": f"urn:mingyue:satcert:sample:{row.id}",
        "holder": holder,
        "manufacturer": row.manufacturer,
        "model": row.model,
        "terminalKind": row.terminal_kind,
        "firmware": firmware,
        "tac": tac,
        "imei": row.imei or "",
        "testPlan": plan.key,
        "testPlanTitle": plan_title,
        "planVersion": plan.version,
        "planSha256": plan.sha256,
        "verdict": "pass",
        "benchRun": run.id,
        "keyFigures": dict(run.summary.get("figures") or {}),
        "cases": [
            {"id": case_id, "title": title, "verdict": verdicts.get(case_id, "")}
            for case_id, title in case_titles.items()
        ],
        "casesPassed": int(run.summary.get("passed", 0)),
        "casesTotal": int(run.summary.get("total", 0)),
        "rawLogSha256": run.log_sha256 or "",
        "allRawLogsSha256": all_logs,
        "conformance": [
            {"standard": i.standard, "kind": i.kind, "verdict": i.verdict, "sha256": i.sha256}
            for i in imports
        ],
        "caseId": case.id,
        "certifiedBy": uow.actor.label(),
    }
    valid_days = options(uow.settings).certificate_valid_days
    vc = issue_credential(
        uow=uow,
        type=CREDENTIAL_TYPE,
        subject=subject,
        organization_id=row.organization_id,
        valid_days=valid_days,
        name={"zh": "卫星终端检测证书", "en": "Satellite terminal certificate"},
        description={
            "zh": f"{row.manufacturer} {row.model} 按检测方案 {plan.key} v{plan.version} 检测合格",
            "en": f"{row.manufacturer} {row.model} passed test plan {plan.key} v{plan.version}",
        },
        public_fields=PUBLIC_FIELDS,
    )
    at = now()
    cert = SatcertCertificate(
        organization_id=row.organization_id,
        sample_id=row.id,
        case_id=case.id,
        credential_id=vc.id,
        issued_at=at,
        valid_until=at + timedelta(days=valid_days),
        issued_by=uow.actor.label(),
        verdict="pass",
        plan_key=plan.key,
        plan_version=plan.version,
        subject=subject,
    )
    uow.session.add(cert)
    uow.flush()
    uow.session.add(
        SatcertRegistryEntry(
            certificate_id=cert.id,
            credential_id=vc.id,
            holder=holder,
            manufacturer=row.manufacturer,
            model=row.model,
            firmware=firmware,
            tac=tac,
            terminal_kind=row.terminal_kind,
            plan_key=plan.key,
            plan_version=plan.version,
            issued_at=at,
            valid_until=cert.valid_until,
            status="valid",
        )
    )
    _set_status(uow, row, "certified", None)
    ref = f"satcert_certificate:{cert.id}"
    uow.audit(
        "satcert.certificate.issued",
        ref,
        {"credential": vc.urn, "sample_id": row.id, "plan": f"{plan.key}@{plan.version}"},
        organization_id=row.organization_id,
    )
    record_count(
        uow=uow,
        organization_id=row.organization_id,
        meter="satcert.certificates",
        unit="certificate",
        source="satcert",
        ref=ref,
    )


def on_reject(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Reject: the sample is refused certification."""
    _set_status(uow, _sample_of_case(uow, case.id), "rejected", "satcert.sample.rejected")


def on_return(*, uow: UnitOfWork, case: CaseOut) -> None:
    """Return the sample to its maker for correction."""
    _set_status(uow, _sample_of_case(uow, case.id), "returned", "satcert.sample.returned")


def on_resubmit(*, uow: UnitOfWork, case: CaseOut) -> None:
    """The maker brings the corrected sample back: intake again."""
    _set_status(uow, _sample_of_case(uow, case.id), "intake", "satcert.sample.received")


HOOKS: tuple[CaseHook, ...] = (on_submit_review, on_approve, on_reject, on_return, on_resubmit)


def decide(
    *, uow: UnitOfWork, actor: Actor, sample_id: int, action: str, comment_text: str | None
) -> CaseOut:
    """Take a review step on a sample's case (the case kind says who may)."""
    check(actor, "satcert.read")
    row: SatcertSample = get_visible(uow, SatcertSample, sample_id, "satcert.read")
    if row.case_id is None:
        raise Conflict("satcert.no_case", "the sample has no case")
    return transition(uow=uow, case_id=row.case_id, name=action, comment=comment_text, actor=actor)


# -- certificates ----------------------------------------------------------------------------


def list_certificates(
    *, uow: UnitOfWork, actor: Actor, sample_id: int | None = None
) -> list[CertificateOut]:
    """Return the certificates the actor may see, newest first."""
    check(actor, "satcert.read")
    stmt = select(SatcertCertificate).order_by(SatcertCertificate.id.desc()).limit(500)
    if sample_id is not None:
        stmt = stmt.where(SatcertCertificate.sample_id == sample_id)
    return [CertificateOut.model_validate(r) for r in uow.session.scalars(stmt)]


def _certificate(uow: UnitOfWork, certificate_id: int) -> SatcertCertificate:
    row: SatcertCertificate = get_visible(uow, SatcertCertificate, certificate_id, "satcert.read")
    return row


def get_certificate(*, uow: UnitOfWork, actor: Actor, certificate_id: int) -> CertificateOut:
    """Return one certificate (NotFound when absent or another organization's)."""
    check(actor, "satcert.read")
    return CertificateOut.model_validate(_certificate(uow, certificate_id))


def revoke_certificate(
    *, uow: UnitOfWork, actor: Actor, certificate_id: int, reason: str, non_conformity: bool
) -> CertificateOut:
    """Revoke a certificate (the credential fails verification from now on) and say why.

    A revocation for non-conformity raises ``satcert.certificate_revoked`` on the maker
    (ISO/IEC 17065 7.11; 认证认可条例 Art. 28).
    """
    check(actor, "satcert.certificate.revoke")
    row = _certificate(uow, certificate_id)
    check(actor, "satcert.certificate.revoke", row)
    reason = reason.strip()
    if not reason:
        raise InvalidInput("satcert.reason_required", "a reason is required", field="reason")
    if row.revoked:
        raise Conflict("satcert.already_revoked", "the certificate is already revoked")
    revoke_credential(uow=uow, credential_id=row.credential_id, reason=reason)
    at = now()
    row.revoked, row.revoked_reason, row.revoked_at = True, reason[:2000], at
    entry = uow.session.scalars(
        select(SatcertRegistryEntry).where(SatcertRegistryEntry.certificate_id == row.id)
    ).first()
    if entry is not None:
        entry.status = "revoked"
    uow.flush()
    ref = f"satcert_certificate:{row.id}"
    uow.audit(
        "satcert.certificate.revoked",
        ref,
        {"reason": row.revoked_reason, "non_conformity": non_conformity},
        organization_id=row.organization_id,
    )
    if non_conformity:
        sample = uow.session.get(SatcertSample, row.sample_id)
        raise_finding(
            uow=uow,
            organization_id=row.organization_id,
            rule="satcert.certificate_revoked",
            subject=_subject(sample) if sample else f"satcert_certificate:{row.id}",
            evidence=[
                EvidenceRef(
                    kind="satcert.certificate",
                    ref=str(row.id),
                    label=row.credential_id,
                    path=f"/satcert/certificates/{row.id}",
                )
            ],
            detail={"reason": row.revoked_reason, "credential": row.credential_id},
        )
    return CertificateOut.model_validate(row)


def _subject(sample: SatcertSample) -> str:
    return f"terminal:{sample.manufacturer}:{sample.model}"[:200]


def subject_of(sample: SatcertSample) -> str:
    """Return the finding subject of a terminal (its maker and model: stable across samples)."""
    return _subject(sample)


def active_certificate(uow: UnitOfWork, sample_id: int) -> SatcertCertificate | None:
    """Return the sample's certificate that is neither revoked nor expired, if any."""
    at = now()
    for row in uow.session.scalars(
        select(SatcertCertificate)
        .where(SatcertCertificate.sample_id == sample_id, SatcertCertificate.revoked.is_(False))
        .order_by(SatcertCertificate.id.desc())
    ):
        if row.valid_until is None or row.valid_until > at:
            return row
    return None


# -- registry --------------------------------------------------------------------------------


def search_registry(
    *,
    uow: UnitOfWork,
    actor: Actor,
    q: str | None = None,
    status: str | None = None,
    limit: int = 200,
) -> list[RegistryOut]:
    """Search the public registry of certified terminals (maker, model, firmware, TAC, holder)."""
    check(actor, "satcert.registry.read")
    stmt = (
        select(SatcertRegistryEntry)
        .order_by(SatcertRegistryEntry.issued_at.desc(), SatcertRegistryEntry.id.desc())
        .limit(max(1, min(limit, 1000)))
    )
    if q:
        like = f"%{q.strip()[:80]}%"
        stmt = stmt.where(
            or_(
                SatcertRegistryEntry.manufacturer.ilike(like),
                SatcertRegistryEntry.model.ilike(like),
                SatcertRegistryEntry.firmware.ilike(like),
                SatcertRegistryEntry.tac.ilike(like),
                SatcertRegistryEntry.holder.ilike(like),
            )
        )
    if status:
        if status not in ("valid", "revoked", "expired"):
            raise InvalidInput(
                "satcert.bad_status", "status is valid, revoked or expired", field="status"
            )
        stmt = stmt.where(SatcertRegistryEntry.status == status)
    return [RegistryOut.model_validate(r) for r in uow.session.scalars(stmt)]


# -- expiry ----------------------------------------------------------------------------------


def warn_expiring(uow: UnitOfWork) -> dict[str, list[int]]:
    """Mark expired registry lines; announce, once, each certificate that expires soon."""
    at = now()
    days = options(uow.settings).expiry_warning_days
    expired: list[int] = []
    for entry in uow.session.scalars(
        select(SatcertRegistryEntry).where(
            SatcertRegistryEntry.status == "valid",
            SatcertRegistryEntry.valid_until.is_not(None),
            SatcertRegistryEntry.valid_until <= at,
        )
    ):
        entry.status = "expired"
        expired.append(entry.certificate_id)
    warned: list[int] = []
    for cert in uow.session.scalars(
        select(SatcertCertificate).where(
            SatcertCertificate.revoked.is_(False),
            SatcertCertificate.expiry_warned_at.is_(None),
            SatcertCertificate.valid_until.is_not(None),
            SatcertCertificate.valid_until <= at + timedelta(days=days),
            SatcertCertificate.valid_until > at,
        )
    ):
        until = cert.valid_until.date().isoformat() if cert.valid_until else "?"
        if cert.case_id is not None:
            comment(
                uow=uow,
                case_id=cert.case_id,
                text=f"证书将于 {until} 到期，如需继续使用请提前送检复审。/ The certificate "
                f"expires on {until}; bring the terminal for re-certification before then.",
            )
        cert.expiry_warned_at = at
        uow.flush()
        uow.audit(
            "satcert.certificate.expiry_warned",
            f"satcert_certificate:{cert.id}",
            {"valid_until": until},
            organization_id=cert.organization_id,
        )
        warned.append(cert.id)
    uow.flush()
    return {"warned": warned, "expired": expired}
