"""REST API of satcert (mounted at /api/satcert)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile

from mingyue.enablers.satcert import service
from mingyue.enablers.satcert.schemas import (
    CertificateOut,
    DecisionIn,
    ImportOut,
    PlanDetail,
    PlanIn,
    PlanOut,
    RegistryOut,
    RevokeIn,
    RunIn,
    RunLog,
    RunOut,
    SampleIn,
    SampleOut,
)
from mingyue.sdk import Actor, CaseOut
from mingyue.sdk.errors import InvalidInput
from mingyue.web.deps import IdPath, UoW, require

router = APIRouter(tags=["satcert"])

Reader = Annotated[Actor, Depends(require("satcert.read"))]
Lab = Annotated[Actor, Depends(require("satcert.run.start"))]


@router.post("/samples", operation_id="satcert-submit_sample", status_code=201)
def submit_sample(
    body: SampleIn, uow: UoW, actor: Annotated[Actor, Depends(require("satcert.sample.submit"))]
) -> SampleOut:
    """Register a terminal sample; it opens its certification case."""
    return service.submit_sample(uow=uow, actor=actor, body=body)


@router.get("/samples", operation_id="satcert-list_samples")
def list_samples(
    uow: UoW, actor: Reader, q: Annotated[str | None, Query(max_length=80)] = None
) -> list[SampleOut]:
    """Samples visible to the caller (``q`` searches maker, model, IMEI)."""
    return service.list_samples(uow=uow, actor=actor, q=q)


@router.get("/samples/{sample_id}", operation_id="satcert-get_sample")
def get_sample(sample_id: IdPath, uow: UoW, actor: Reader) -> SampleOut:
    """One sample."""
    return service.get_sample(uow=uow, actor=actor, sample_id=sample_id)


@router.post("/samples/{sample_id}/decision", operation_id="satcert-decide")
def decide(sample_id: IdPath, body: DecisionIn, uow: UoW, actor: Reader) -> CaseOut:
    """Take a review step on the sample's case (the case kind says who may)."""
    return service.decide(
        uow=uow, actor=actor, sample_id=sample_id, action=body.action, comment_text=body.comment
    )


@router.post("/plans", operation_id="satcert-publish_plan", status_code=201)
def publish_plan(
    body: PlanIn, uow: UoW, actor: Annotated[Actor, Depends(require("satcert.plan.manage"))]
) -> PlanOut:
    """Publish a test plan version (YAML); 422 names the bad field."""
    return service.publish_plan(uow=uow, actor=actor, text=body.yaml)


@router.get("/plans", operation_id="satcert-list_plans")
def list_plans(uow: UoW, actor: Reader) -> list[PlanOut]:
    """Every published plan version."""
    return service.list_plans(uow=uow, actor=actor)


@router.get("/plans/{plan_id}", operation_id="satcert-get_plan")
def get_plan(plan_id: IdPath, uow: UoW, actor: Reader) -> PlanDetail:
    """One plan version with its YAML."""
    return service.get_plan(uow=uow, actor=actor, plan_id=plan_id)


@router.post("/runs", operation_id="satcert-start_run", status_code=202)
def start_run(body: RunIn, uow: UoW, actor: Lab) -> RunOut:
    """Queue a bench run (a job); the same idempotency key answers the same run."""
    return service.start_run(uow=uow, actor=actor, body=body)


@router.get("/runs", operation_id="satcert-list_runs")
def list_runs(
    uow: UoW, actor: Reader, sample_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None
) -> list[RunOut]:
    """Runs visible to the caller."""
    return service.list_runs(uow=uow, actor=actor, sample_id=sample_id)


@router.get("/runs/{run_id}", operation_id="satcert-get_run")
def get_run(run_id: IdPath, uow: UoW, actor: Reader) -> RunOut:
    """One run with its per-case results."""
    return service.get_run(uow=uow, actor=actor, run_id=run_id)


@router.get("/runs/{run_id}/log", operation_id="satcert-run_log")
def run_log(
    run_id: IdPath,
    uow: UoW,
    actor: Reader,
    after: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> RunLog:
    """Live log lines after ``after``."""
    return service.run_log(uow=uow, actor=actor, run_id=run_id, after=after)


@router.post("/samples/{sample_id}/imports", operation_id="satcert-import_results", status_code=201)
def import_results(
    sample_id: IdPath,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("satcert.result.import"))],
    file: Annotated[UploadFile, File(description="CSV or XML export of the instrument.")],
    limits: Annotated[str, Form(max_length=2_000_000, description="Limit table (JSON list).")],
    standard: Annotated[str, Form(max_length=120)],
    kind: Annotated[str, Form(max_length=20)] = "rf",
) -> ImportOut:
    """Import RF/protocol results and judge them against the lab's limit table."""
    try:
        table = json.loads(limits)
    except ValueError as exc:
        text = f"limits: not JSON: {exc}"
        raise InvalidInput("satcert.rf.bad_limits", text, field="limits", reason=text) from None
    data = file.file.read()
    return service.import_export(
        uow=uow,
        actor=actor,
        sample_id=sample_id,
        kind=kind,
        standard=standard,
        limits=table,
        data=data,
        filename=file.filename or "export",
    )


@router.get("/samples/{sample_id}/imports", operation_id="satcert-list_imports")
def list_imports(sample_id: IdPath, uow: UoW, actor: Reader) -> list[ImportOut]:
    """RF/protocol imports of one sample."""
    return service.list_imports(uow=uow, actor=actor, sample_id=sample_id)


@router.get("/certificates", operation_id="satcert-list_certificates")
def list_certificates(uow: UoW, actor: Reader) -> list[CertificateOut]:
    """Certificates visible to the caller."""
    return service.list_certificates(uow=uow, actor=actor)


@router.get("/certificates/{certificate_id}", operation_id="satcert-get_certificate")
def get_certificate(certificate_id: IdPath, uow: UoW, actor: Reader) -> CertificateOut:
    """One certificate."""
    return service.get_certificate(uow=uow, actor=actor, certificate_id=certificate_id)


@router.post("/certificates/{certificate_id}/revoke", operation_id="satcert-revoke_certificate")
def revoke_certificate(
    certificate_id: IdPath,
    body: RevokeIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("satcert.certificate.revoke"))],
) -> CertificateOut:
    """Revoke a certificate; for non-conformity a finding is raised on the maker."""
    return service.revoke_certificate(
        uow=uow,
        actor=actor,
        certificate_id=certificate_id,
        reason=body.reason,
        non_conformity=body.non_conformity,
    )


@router.get("/registry", operation_id="satcert-registry")
def registry(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("satcert.registry.read"))],
    q: Annotated[str | None, Query(max_length=80)] = None,
    status: Annotated[str | None, Query(max_length=10)] = None,
) -> list[RegistryOut]:
    """Search the registry of certified terminals."""
    return service.search_registry(uow=uow, actor=actor, q=q, status=status)
