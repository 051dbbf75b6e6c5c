"""REST API of the supervision enabler (mounted at /api/supervision)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile

from mingyue.enablers.supervision import service
from mingyue.enablers.supervision.schemas import (
    DecisionIn,
    DecisionOut,
    DecisionPreview,
    DocumentIn,
    DocumentOut,
    DocumentSummary,
    FindingView,
    OrderIn,
    OrgHistoryOut,
    RectificationOut,
    ReturnIn,
    SelfCheckIn,
    SelfCheckOut,
    StatisticsOut,
    WithdrawIn,
)
from mingyue.sdk import Actor
from mingyue.web.deps import IdPath, UoW, require

router = APIRouter(tags=["supervision"])

Reader = Annotated[Actor, Depends(require("supervision.read"))]
Orderer = Annotated[Actor, Depends(require("supervision.rectification.order"))]
Decider = Annotated[Actor, Depends(require("supervision.decide"))]
Slug = Annotated[str, Path(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
Severity = Literal["low", "medium", "high", "critical"]
Status = Literal["open", "rectifying", "fixed", "closed", "dismissed"]


@router.get("/findings", operation_id="supervision-list_findings")
def list_findings(
    uow: UoW,
    actor: Reader,
    enabler: Annotated[str | None, Query(max_length=60)] = None,
    rule: Annotated[str | None, Query(max_length=120)] = None,
    severity: Severity | None = None,
    status: Status | None = None,
    organization_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**6)] = 0,
) -> list[FindingView]:
    """The findings register: every enabler's findings visible to the caller."""
    return service.list_register(
        uow=uow,
        actor=actor,
        enabler=enabler,
        rule=rule,
        severity=severity,
        status=status,
        organization_id=organization_id,
        limit=limit,
        offset=offset,
    )


@router.get("/findings/{finding_id}", operation_id="supervision-get_finding")
def get_finding(finding_id: IdPath, uow: UoW, actor: Reader) -> FindingView:
    """One finding with its rectification and decision."""
    return service.get_register_entry(uow=uow, actor=actor, finding_id=finding_id)


@router.post("/findings/{finding_id}/dismiss", operation_id="supervision-dismiss_finding")
def dismiss(
    finding_id: IdPath,
    body: WithdrawIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("supervision.finding.dismiss"))],
) -> FindingView:
    """Dismiss a finding as not a breach (withdraws its rectification)."""
    service.dismiss_finding(uow=uow, actor=actor, finding_id=finding_id, reason=body.reason)
    return service.get_register_entry(uow=uow, actor=actor, finding_id=finding_id)


@router.post("/rectifications", operation_id="supervision-order_rectification", status_code=201)
def order(body: OrderIn, uow: UoW, actor: Orderer) -> RectificationOut:
    """Order a finding corrected within the rule's time limit (working days)."""
    return service.order_rectification(uow=uow, actor=actor, body=body)


@router.get("/rectifications", operation_id="supervision-list_rectifications")
def list_rectifications(
    uow: UoW,
    actor: Reader,
    open_only: bool = False,
    organization_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> list[RectificationOut]:
    """Rectifications visible to the caller, nearest deadline first."""
    return service.list_rectifications(
        uow=uow, actor=actor, open_only=open_only, organization_id=organization_id
    )


@router.get("/rectifications/{rectification_id}", operation_id="supervision-get_rectification")
def get_rectification(rectification_id: IdPath, uow: UoW, actor: Reader) -> RectificationOut:
    """One rectification with its clock, reports and decision."""
    return service.get_rectification(uow=uow, actor=actor, rectification_id=rectification_id)


@router.post(
    "/rectifications/{rectification_id}/reports",
    operation_id="supervision-submit_report",
    status_code=201,
)
def submit_report(
    rectification_id: IdPath,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("supervision.rectification.report"))],
    text: Annotated[str, Form(min_length=1, max_length=8000)],
    files: Annotated[list[UploadFile] | None, File(description="evidence files")] = None,
) -> RectificationOut:
    """Report the rectification with evidence (stored through the core's file checks)."""
    return service.submit_report(
        uow=uow, actor=actor, rectification_id=rectification_id, text=text, files=files or []
    )


@router.post("/rectifications/{rectification_id}/reverify", operation_id="supervision-reverify")
def reverify(rectification_id: IdPath, uow: UoW, actor: Reader) -> RectificationOut:
    """Ask the raising enabler to re-verify (the enterprise or its regulator)."""
    return service.request_reverify(uow=uow, actor=actor, rectification_id=rectification_id)


@router.post("/rectifications/{rectification_id}/sync", operation_id="supervision-sync")
def sync(rectification_id: IdPath, uow: UoW, actor: Orderer) -> RectificationOut:
    """Take over the re-verification result once the raising enabler has it."""
    return service.sync_verification(uow=uow, actor=actor, rectification_id=rectification_id)


@router.post("/rectifications/{rectification_id}/return", operation_id="supervision-return")
def return_(rectification_id: IdPath, body: ReturnIn, uow: UoW, actor: Orderer) -> RectificationOut:
    """Return a report that did not correct the finding."""
    return service.return_rectification(
        uow=uow, actor=actor, rectification_id=rectification_id, text=body.comment
    )


@router.post(
    "/rectifications/{rectification_id}/decision/preview",
    operation_id="supervision-preview_decision",
)
def preview(
    rectification_id: IdPath, body: DecisionIn, uow: UoW, actor: Decider
) -> DecisionPreview:
    """What the rules decide on these facts (nothing recorded)."""
    return service.preview_decision(
        uow=uow, actor=actor, rectification_id=rectification_id, body=body
    )


@router.post(
    "/rectifications/{rectification_id}/decision",
    operation_id="supervision-decide",
    status_code=201,
)
def decide(
    rectification_id: IdPath, body: DecisionIn, uow: UoW, actor: Decider
) -> RectificationOut:
    """Decide under APL Art. 33 and issue the decision as a signed credential."""
    return service.decide_rectification(
        uow=uow, actor=actor, rectification_id=rectification_id, body=body
    )


@router.get("/decisions", operation_id="supervision-list_decisions")
def list_decisions(uow: UoW, actor: Reader) -> list[DecisionOut]:
    """Decisions visible to the caller."""
    return service.list_decisions(uow=uow, actor=actor)


@router.get("/documents", operation_id="supervision-list_documents")
def list_documents(
    uow: UoW,
    actor: Reader,
    kind: Literal["exemption_list", "guideline"] | None = None,
    all_versions: bool = False,
) -> list[DocumentSummary]:
    """The exemption list and the sector guidelines (in force, or every version)."""
    return service.list_documents(uow=uow, actor=actor, kind=kind, all_versions=all_versions)


@router.get("/documents/{slug}", operation_id="supervision-get_document")
def get_document(
    slug: Slug,
    uow: UoW,
    actor: Reader,
    version: Annotated[int | None, Query(ge=1, le=10**6)] = None,
) -> DocumentOut:
    """One version of a document (the one in force today by default)."""
    return service.get_document(uow=uow, actor=actor, slug=slug, version=version)


@router.post(
    "/documents/{slug}/versions", operation_id="supervision-publish_document", status_code=201
)
def publish(
    slug: Slug,
    body: DocumentIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("supervision.documents.manage"))],
) -> DocumentOut:
    """Publish a new version of a document with its effective date."""
    return service.publish_document(uow=uow, actor=actor, slug=slug, body=body)


@router.post("/selfchecks", operation_id="supervision-run_selfcheck", status_code=201)
def run_selfcheck(
    body: SelfCheckIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("supervision.selfcheck.run"))],
) -> SelfCheckOut:
    """Answer a guideline's questionnaire."""
    return service.run_selfcheck(uow=uow, actor=actor, body=body)


@router.get("/selfchecks", operation_id="supervision-list_selfchecks")
def list_selfchecks(uow: UoW, actor: Reader) -> list[SelfCheckOut]:
    """Self-checks visible to the caller."""
    return service.list_selfchecks(uow=uow, actor=actor)


@router.get("/statistics", operation_id="supervision-statistics")
def statistics(uow: UoW, actor: Reader) -> StatisticsOut:
    """The regulator's desk: findings, clocks, decisions per month, organizations."""
    return service.statistics(uow=uow, actor=actor)


@router.get("/organizations/{organization_id}/history", operation_id="supervision-org_history")
def org_history(organization_id: IdPath, uow: UoW, actor: Reader) -> OrgHistoryOut:
    """One organization's findings, rectifications, decisions and self-checks."""
    return service.org_history(uow=uow, actor=actor, organization_id=organization_id)
