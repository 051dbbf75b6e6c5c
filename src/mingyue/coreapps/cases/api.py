"""REST API of cases: list, open, read with history, transition, comment, assign, attach, SLA."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Header, Path, Query, Response, UploadFile
from pydantic import BaseModel, Field

from mingyue.core import cases
from mingyue.core.cases.checks import MAX_ID
from mingyue.core.cases.service import now, take_transition
from mingyue.core.errors import InvalidInput
from mingyue.core.tenancy.access import Actor
from mingyue.web.deps import UoW, require

router = APIRouter(prefix="/cases", tags=["cases"])

Reader = Annotated[Actor, Depends(require("core.case.read"))]
CaseId = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Id = Annotated[int | None, Field(None, ge=1, le=MAX_ID)]


class CaseIn(BaseModel):
    """A case to open."""

    kind: str = Field("core.general", max_length=120)
    title: str = Field(min_length=1, max_length=200)
    organization_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="Submitting organization; yours if unset"
    )
    subject: str | None = Field(None, max_length=200)
    data: dict[str, Any] = Field(default_factory=dict)
    assignee_org_id: Id = None


class TransitionIn(BaseModel):
    """A transition to take."""

    name: str = Field(min_length=1, max_length=60)
    comment: str | None = Field(None, max_length=4000)


class CommentIn(BaseModel):
    """A comment to add."""

    text: str = Field(min_length=1, max_length=4000)


class AssignIn(BaseModel):
    """Whom to assign the case to."""

    organization_id: Id = None
    department: str | None = Field(None, max_length=120)
    user_id: Id = None


class AttachIn(BaseModel):
    """A stored file to attach."""

    file_id: int = Field(ge=1, le=MAX_ID)
    filename: str | None = Field(None, max_length=255)


class KindOut(BaseModel):
    """A workflow as plain data."""

    name: str
    title: dict[str, str]
    initial: str
    manual: bool
    states: dict[str, Any]
    transitions: list[dict[str, Any]]


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidInput(
            "core.naive_datetime", "give the time with its offset (e.g. Z)", field=field
        )
    if not 1970 <= value.year <= 9000:
        raise InvalidInput("core.case.bad_time", "time out of range (1970-9000)", field=field)
    return value


@router.get("", operation_id="cases-list")
def list_cases(
    uow: UoW,
    actor: Reader,
    state: Annotated[str | None, Query(max_length=60)] = None,
    kind: Annotated[str | None, Query(max_length=120)] = None,
    organization_id: IdQuery = None,
    assignee_org_id: IdQuery = None,
    assignee_user_id: IdQuery = None,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    open_only: bool = False,
    overdue: bool = False,
    escalated: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[cases.CaseOut]:
    """List the cases you may see, newest first."""
    return cases.list_cases(
        uow=uow,
        actor=actor,
        state=state,
        kind=kind,
        organization_id=organization_id,
        assignee_org_id=assignee_org_id,
        assignee_user_id=assignee_user_id,
        subject=subject,
        open_only=open_only,
        overdue_at=now() if overdue else None,
        escalated=escalated,
        limit=limit,
        offset=offset,
    )


@router.post("", operation_id="cases-open", status_code=201)
def open_case(
    body: CaseIn, uow: UoW, actor: Annotated[Actor, Depends(require("core.case.create"))]
) -> cases.CaseOut:
    """Open a case (for your organization unless you oversee others)."""
    org_id = body.organization_id if body.organization_id is not None else actor.organization_id
    if org_id is None:
        raise InvalidInput(
            "core.case.org_required", "organization_id is required", field="organization_id"
        )
    return cases.open_case(
        uow=uow,
        actor=actor,
        kind=body.kind,
        title=body.title,
        organization_id=org_id,
        subject=body.subject,
        data=body.data,
        assignee_org_id=body.assignee_org_id,
        manual=True,
    )


@router.get("/kinds", operation_id="cases-kinds")
def kinds(actor: Reader) -> list[KindOut]:
    """List the registered case kinds with their states and transitions."""
    return [KindOut(**cases.kind_of(n).describe()) for n in cases.kind_names()]


@router.get("/overdue", operation_id="cases-overdue")
def overdue(uow: UoW, actor: Reader, at: datetime | None = None) -> list[cases.CaseOut]:
    """List open cases past their state's SLA (now, or at a given time)."""
    return cases.find_overdue(uow=uow, actor=actor, now=_aware(at, "at") or now())


@router.post("/escalate", operation_id="cases-escalate")
def escalate(
    uow: UoW, actor: Annotated[Actor, Depends(require("core.case.supervise"))]
) -> list[cases.CaseOut]:
    """Escalate overdue cases (督查); cases already escalated at their level are left alone."""
    return cases.escalate_overdue(uow=uow, actor=actor, now=now())


@router.get("/assessment", operation_id="cases-assessment")
def assessment(
    uow: UoW,
    actor: Reader,
    since: datetime,
    until: datetime,
    kind: Annotated[str | None, Query(max_length=120)] = None,
) -> list[cases.AssigneeFigures]:
    """Return per-assignee figures (考核) for cases closed in [since, until)."""
    return cases.assessment(
        uow=uow,
        actor=actor,
        since=_aware(since, "since") or since,
        until=_aware(until, "until") or until,
        kind=kind,
    )


@router.get("/{case_id}", operation_id="cases-get")
def get_case(case_id: CaseId, uow: UoW, actor: Reader) -> cases.CaseDetail:
    """Return a case with its history, attachments and the transitions open to you."""
    return cases.get_case(uow=uow, actor=actor, case_id=case_id)


@router.post("/{case_id}/transitions", operation_id="cases-transition")
def transition(
    case_id: CaseId,
    body: TransitionIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.case.act"))],
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=128,
            description="Repeat a request safely: a transition already taken with this key on "
            "this case is answered as it stands (Idempotent-Replayed: true), not applied twice.",
        ),
    ] = None,
) -> cases.CaseOut:
    """Take a transition on a case (once per Idempotency-Key)."""
    taken = take_transition(
        uow=uow,
        actor=actor,
        case_id=case_id,
        name=body.name,
        comment=body.comment,
        idempotency_key=idempotency_key,
    )
    if taken.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return taken.case


@router.post("/{case_id}/comments", operation_id="cases-comment", status_code=201)
def comment(
    case_id: CaseId,
    body: CommentIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.case.comment"))],
) -> cases.CaseEventOut:
    """Add a comment to a case."""
    return cases.comment(uow=uow, actor=actor, case_id=case_id, text=body.text)


@router.post("/{case_id}/assign", operation_id="cases-assign")
def assign(
    case_id: CaseId,
    body: AssignIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.case.assign"))],
) -> cases.CaseOut:
    """Assign a case to an organization, department and/or person."""
    return cases.assign(uow=uow, actor=actor, case_id=case_id, **body.model_dump())


@router.post("/{case_id}/attachments", operation_id="cases-attach", status_code=201)
def attach(
    case_id: CaseId,
    body: AttachIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.case.comment"))],
) -> cases.AttachmentOut:
    """Attach a stored file to a case."""
    return cases.attach(
        uow=uow, actor=actor, case_id=case_id, file_id=body.file_id, filename=body.filename
    )


@router.post("/{case_id}/files", operation_id="cases-upload", status_code=201)
def upload(
    case_id: CaseId,
    file: Annotated[UploadFile, File(description="The file to attach.")],
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.case.comment"))],
) -> cases.AttachmentOut:
    """Upload a file (size cap → 413) as the case organization's and attach it to the case."""
    return cases.upload_attachment(
        uow=uow, actor=actor, case_id=case_id, data=file.file, filename=file.filename
    )
