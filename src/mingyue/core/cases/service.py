"""Case services: open, transition, comment, assign, attach, read. Services never commit."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from types import SimpleNamespace
from typing import Any, BinaryIO, NamedTuple

from sqlalchemy import select

from mingyue.core import db as _db
from mingyue.core import files
from mingyue.core.cases.checks import MAX_ID, check_data, check_id, clean_text
from mingyue.core.cases.kinds import CaseKind, Transition, effective_roles, kind_of
from mingyue.core.cases.models import (
    AttachmentOut,
    Case,
    CaseAttachment,
    CaseDetail,
    CaseEvent,
    CaseEventOut,
    CaseOut,
    TransitionOut,
)
from mingyue.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from mingyue.core.tenancy.access import Actor, can, check
from mingyue.core.tenancy.identity import Organization, User
from mingyue.core.uow import UnitOfWork

MAX_COMMENT = 4000
# An Idempotency-Key (draft-ietf-httpapi-idempotency-key-header): a UUID or any token of visible
# ASCII; it names one transition of one case.
IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{8,128}$")


def now() -> datetime:
    """Return the current UTC time (through ``mingyue.core.db.utcnow`` so tests can freeze it)."""
    return _db.utcnow()


def subject_of(case_id: int) -> str:
    """Return the ledger subject of a case."""
    return f"core_case:{case_id}"


def _actor(uow: UnitOfWork, actor: Actor | None) -> Actor:
    return actor if actor is not None else uow.actor


def load_case(uow: UnitOfWork, case_id: int, *, for_update: bool = False) -> Case:
    """Return the case row inside the actor's scope, or raise NotFound.

    ``for_update`` locks the row until the unit of work ends (PostgreSQL; SQLite's BEGIN
    IMMEDIATE serializes writers already), so two moves of one case cannot both start from the
    same state.
    """
    case = None
    if 1 <= case_id <= MAX_ID:  # an id the database cannot hold is simply not found
        q = select(Case).where(Case.id == case_id)
        if for_update:
            q = q.with_for_update()
        case = uow.session.scalars(q).first()
    if case is None:
        raise NotFound("core.case.not_found", f"case {case_id} not found", case_id=case_id)
    return case


def available_transitions(case: Case | CaseOut, actor: Actor) -> list[Transition]:
    """Return the transitions the actor may take on the case now."""
    if not can(actor, "core.case.act", case):
        return []
    kind = kind_of(case.kind)
    roles = effective_roles(actor, case.organization_id)
    return [
        tr for tr in kind.transitions if case.state in tr.source and roles.intersection(tr.roles)
    ]


def _event(
    uow: UnitOfWork,
    case: Case,
    actor: Actor,
    kind: str,
    *,
    name: str | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    comment: str | None = None,
    late: bool = False,
    at: datetime | None = None,
    data: dict[str, Any] | None = None,
) -> CaseEvent:
    ev = CaseEvent(
        organization_id=case.organization_id,
        case_id=case.id,
        kind=kind,
        name=name,
        actor=actor.label(),
        actor_user_id=actor.user_id,
        from_state=from_state,
        to_state=to_state,
        at=at or now(),
        comment=comment,
        late=late,
        data=data or {},
    )
    uow.session.add(ev)
    return ev


def _clean_comment(comment: str | None, *, required: bool) -> str | None:
    text = (comment or "").strip()
    if required and not text:
        raise InvalidInput(
            "core.case.comment_required", "this step needs a comment", field="comment"
        )
    if len(text) > MAX_COMMENT:
        raise InvalidInput(
            "core.case.comment_too_long",
            f"comment longer than {MAX_COMMENT}",
            field="comment",
            max=MAX_COMMENT,
        )
    return clean_text(text, field="comment", max_len=MAX_COMMENT, multiline=True)


def open_case(
    *,
    uow: UnitOfWork,
    kind: str,
    title: str,
    organization_id: int,
    subject: str | None = None,
    data: dict[str, Any] | None = None,
    assignee_org_id: int | None = None,
    actor: Actor | None = None,
    manual: bool = False,
) -> CaseOut:
    """Open a case of a registered kind for the organization, in the kind's initial state.

    ``manual=True`` (the API, console and CLI) admits only kinds declared ``manual``.
    """
    actor = _actor(uow, actor)
    target = SimpleNamespace(organization_id=organization_id)
    check(actor, "core.case.create", target)
    if (
        not actor.is_system
        and organization_id != actor.organization_id
        and not can(actor, "core.case.assign", target)
    ):
        raise Forbidden(
            "core.case.foreign_org", "only oversight roles open cases for another organization"
        )
    if assignee_org_id is not None and not can(actor, "core.case.assign", target):
        # Choosing who handles a case is assigning it (docs/security.md, "Account rules").
        raise Forbidden(
            "core.forbidden",
            "setting assignee_org_id needs core.case.assign",
            field="assignee_org_id",
            permission="core.case.assign",
        )
    ck: CaseKind = kind_of(kind)
    if manual and not ck.manual:
        raise InvalidInput(
            "core.case.not_manual",
            f"{kind} cases are opened by their service",
            field="kind",
            kind=kind,
        )
    check_id(organization_id, field="organization_id")
    check_id(assignee_org_id, field="assignee_org_id")
    title = (
        clean_text(title, field="title", max_len=200, required=True, key="core.case.bad_title")
        or ""
    )
    subject = clean_text(subject, field="subject", max_len=200, key="core.case.bad_subject")
    data = check_data(data)
    if uow.session.get(Organization, organization_id) is None:
        raise NotFound(
            "core.org.not_found",
            f"organization {organization_id} not found",
            field="organization_id",
        )
    if assignee_org_id is not None and uow.session.get(Organization, assignee_org_id) is None:
        raise NotFound(
            "core.org.not_found",
            f"organization {assignee_org_id} not found",
            field="assignee_org_id",
        )
    t = now()
    state = ck.states[ck.initial]
    case = Case(
        organization_id=organization_id,
        kind=ck.name,
        title=title,
        subject=subject,
        state=ck.initial,
        data=data,
        opened_by=actor.label(),
        assignee_org_id=assignee_org_id,
        created_at=t,
        state_entered_at=t,
        due_at=state.due(t),
        escalated=False,
        escalation_level=0,
        sla_breaches=0,
    )
    uow.session.add(case)
    uow.flush()
    _event(uow, case, actor, "open", to_state=ck.initial, at=t)
    uow.audit(
        "core.case.opened",
        subject_of(case.id),
        {
            "kind": ck.name,
            "title": title,
            "subject": subject,
            "state": ck.initial,
            "assignee_org_id": assignee_org_id,
        },
        organization_id=organization_id,
    )
    return CaseOut.model_validate(case)


class TransitionTaken(NamedTuple):
    """The case after a transition, and whether the request was a replay of one already taken."""

    case: CaseOut
    replayed: bool


def transition(
    *,
    uow: UnitOfWork,
    case_id: int,
    name: str,
    comment: str | None = None,
    actor: Actor | None = None,
    idempotency_key: str | None = None,
) -> CaseOut:
    """Take a named transition on a case; run its hook inside the same unit of work."""
    return take_transition(
        uow=uow,
        case_id=case_id,
        name=name,
        comment=comment,
        actor=actor,
        idempotency_key=idempotency_key,
    ).case


def _fingerprint(name: str, comment: str | None) -> str:
    raw = json.dumps([name, (comment or "").strip()], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def check_idempotency_key(key: str | None) -> str | None:
    """Return the key if it is 8 to 128 visible ASCII characters; raise InvalidInput otherwise."""
    if key is None:
        return None
    if not IDEMPOTENCY_KEY_RE.match(key):
        raise InvalidInput(
            "core.case.bad_idempotency_key",
            "Idempotency-Key must be 8 to 128 visible ASCII characters (a UUID, say)",
            field="Idempotency-Key",
        )
    return key


def _prior_with_key(uow: UnitOfWork, case: Case, key: str) -> CaseEvent | None:
    return uow.session.scalars(
        select(CaseEvent).where(
            CaseEvent.case_id == case.id,
            CaseEvent.kind == "transition",
            CaseEvent.data["idempotency_key"].as_string() == key,
        )
    ).first()


def take_transition(
    *,
    uow: UnitOfWork,
    case_id: int,
    name: str,
    comment: str | None = None,
    actor: Actor | None = None,
    idempotency_key: str | None = None,
) -> TransitionTaken:
    """Take a transition once per idempotency key; a repeated key answers the case as it is.

    A client whose request committed but whose answer was lost (a dropped connection, a database
    restart during the commit) sends it again with the same key: the transition already in the
    case's history is recognised and not applied twice. The same key with another transition or
    comment is refused (422).
    """
    actor = _actor(uow, actor)
    key = check_idempotency_key(idempotency_key)
    case = load_case(uow, case_id, for_update=True)
    check(actor, "core.case.act", case)
    fingerprint = _fingerprint(name, comment) if key is not None else None
    if key is not None:
        prior = _prior_with_key(uow, case, key)
        if prior is not None:
            if (prior.data or {}).get("request") != fingerprint:
                raise InvalidInput(
                    "core.case.idempotency_key_reused",
                    "this Idempotency-Key was used for another request on this case",
                    field="Idempotency-Key",
                )
            return TransitionTaken(CaseOut.model_validate(case), True)
    ck = kind_of(case.kind)
    tr = ck.transition(name)
    if case.state not in tr.source:
        raise Conflict(
            "core.case.bad_state",
            f"{name} is not possible in state {case.state}",
            state=case.state,
            transition=name,
        )
    if not effective_roles(actor, case.organization_id).intersection(tr.roles):
        raise Forbidden(
            "core.case.role_refused", f"{name} needs one of {', '.join(tr.roles)}", transition=name
        )
    text = _clean_comment(comment, required=tr.requires_comment)
    t = now()
    late = case.due_at is not None and t > case.due_at
    before = case.state
    _event(
        uow,
        case,
        actor,
        "transition",
        name=name,
        from_state=before,
        to_state=tr.target,
        comment=text,
        late=late,
        at=t,
        data={"idempotency_key": key, "request": fingerprint} if key is not None else None,
    )
    claimed = _claim(uow, case, actor, t)
    target = ck.states[tr.target]
    case.state = tr.target
    case.state_entered_at = t
    case.due_at = target.due(t)
    case.escalation_level = 0
    if late:
        case.sla_breaches = (case.sla_breaches or 0) + 1
    case.closed_at = t if target.terminal else None
    uow.flush()
    moved: dict[str, Any] = {
        "kind": case.kind,
        "transition": name,
        "from": before,
        "to": tr.target,
        "comment": text,
        "late": late,
    }
    if key is not None:
        moved["idempotency_key"] = key
    uow.audit(
        "core.case.transitioned", subject_of(case.id), moved, organization_id=case.organization_id
    )
    if claimed:
        uow.audit(
            "core.case.assigned",
            subject_of(case.id),
            {
                "assignee_org_id": case.assignee_org_id,
                "assignee_user_id": actor.user_id,
                "department": case.assignee_department,
                "claimed": True,
            },
            organization_id=case.organization_id,
        )
    out = CaseOut.model_validate(case)
    hook = ck.hook(name)
    if hook is not None:
        hook(uow=uow, case=out)
        uow.flush()
        uow.session.refresh(case)
        out = CaseOut.model_validate(case)
    return TransitionTaken(out, False)


def _claim(uow: UnitOfWork, case: Case, actor: Actor, t: datetime) -> bool:
    # A handler outside the submitting organization who acts on an unassigned case takes it
    # (领办), so that the assessment figures name who handled it.
    if (
        actor.user_id is None
        or case.assignee_user_id is not None
        or actor.organization_id == case.organization_id
    ):
        return False
    case.assignee_user_id = actor.user_id
    if case.assignee_org_id != actor.organization_id:
        # The handler's own organization takes the case; a department of another one no longer
        # applies.
        case.assignee_org_id = actor.organization_id
        case.assignee_department = None
    _event(
        uow,
        case,
        actor,
        "assign",
        at=t,
        data={
            "assignee_org_id": case.assignee_org_id,
            "assignee_user_id": actor.user_id,
            "claimed": True,
        },
    )
    return True


def update_data(
    *, uow: UnitOfWork, case_id: int, data: dict[str, Any], actor: Actor | None = None
) -> CaseOut:
    """Merge keys into a case's data (a ``None`` value removes the key); record it."""
    actor = _actor(uow, actor)
    case = load_case(uow, case_id)
    check(actor, "core.case.act", case)
    changes = check_data(data)
    if not changes:
        return CaseOut.model_validate(case)
    merged = {**(case.data or {}), **changes}
    merged = check_data({k: v for k, v in merged.items() if v is not None})
    case.data = merged
    _event(uow, case, actor, "data", from_state=case.state, data={"keys": sorted(changes)})
    uow.flush()
    uow.audit(
        "core.case.updated",
        subject_of(case.id),
        {"set": changes},
        organization_id=case.organization_id,
    )
    return CaseOut.model_validate(case)


def comment(
    *, uow: UnitOfWork, case_id: int, text: str, actor: Actor | None = None
) -> CaseEventOut:
    """Add a comment to a case's history."""
    actor = _actor(uow, actor)
    case = load_case(uow, case_id)
    check(actor, "core.case.comment", case)
    body = _clean_comment(text, required=True)
    ev = _event(uow, case, actor, "comment", comment=body, from_state=case.state)
    uow.flush()
    uow.audit(
        "core.case.commented",
        subject_of(case.id),
        {"comment": body},
        organization_id=case.organization_id,
    )
    return CaseEventOut.model_validate(ev)


def assign(
    *,
    uow: UnitOfWork,
    case_id: int,
    organization_id: int | None = None,
    department: str | None = None,
    user_id: int | None = None,
    actor: Actor | None = None,
) -> CaseOut:
    """Assign a case to an organization, a department and/or a person.

    The new assignment replaces the old one: the department and person are set as given (None
    clears them); the organization is kept when none is given and no user implies one.
    """
    actor = _actor(uow, actor)
    case = load_case(uow, case_id)
    check(actor, "core.case.assign", case)
    if organization_id is None and department is None and user_id is None:
        raise InvalidInput(
            "core.case.assign_empty",
            "name an organization, department or user",
            field="organization_id",
        )
    department = clean_text(
        department, field="department", max_len=120, key="core.case.bad_department"
    )
    check_id(organization_id, field="organization_id")
    check_id(user_id, field="user_id")
    if user_id is not None:
        user = uow.session.scalars(select(User).where(User.id == user_id)).first()
        if user is None or not user.is_active:
            raise NotFound("core.user.not_found", f"user {user_id} not found", field="user_id")
        if organization_id is not None and organization_id != user.organization_id:
            raise InvalidInput(
                "core.case.user_not_in_org", "the user is not in that organization", field="user_id"
            )
        organization_id = user.organization_id
    if organization_id is not None and uow.session.get(Organization, organization_id) is None:
        raise NotFound(
            "core.org.not_found",
            f"organization {organization_id} not found",
            field="organization_id",
        )
    if organization_id is not None:
        case.assignee_org_id = organization_id
    case.assignee_department = department
    case.assignee_user_id = user_id
    payload = {
        "assignee_org_id": case.assignee_org_id,
        "department": department,
        "assignee_user_id": user_id,
    }
    _event(uow, case, actor, "assign", from_state=case.state, data=payload)
    uow.flush()
    uow.audit(
        "core.case.assigned", subject_of(case.id), payload, organization_id=case.organization_id
    )
    return CaseOut.model_validate(case)


def attach(
    *,
    uow: UnitOfWork,
    case_id: int,
    file_id: int,
    filename: str | None = None,
    actor: Actor | None = None,
) -> AttachmentOut:
    """Attach a stored file (by its id in ``mingyue.core.files.store``) to a case."""
    actor = _actor(uow, actor)
    case = load_case(uow, case_id)
    check(actor, "core.case.comment", case)
    if case.closed_at is not None:
        raise Conflict("core.case.closed", "the case is closed", state=case.state)
    check_id(file_id, field="file_id")
    filename = files.sanitize_filename(filename) if filename else None
    # The file must exist and be visible to whoever attaches it (NotFound otherwise).
    stored = files.get_file(uow=uow, actor=actor, file_id=file_id)
    filename = filename or stored.filename
    dup = uow.session.scalars(
        select(CaseAttachment).where(
            CaseAttachment.case_id == case.id, CaseAttachment.file_id == file_id
        )
    ).first()
    if dup is not None:
        raise Conflict("core.case.already_attached", "file already attached", file_id=file_id)
    att = CaseAttachment(
        organization_id=case.organization_id,
        case_id=case.id,
        file_id=file_id,
        filename=filename,
        attached_by=actor.label(),
        attached_at=now(),
    )
    uow.session.add(att)
    _event(
        uow,
        case,
        actor,
        "attach",
        from_state=case.state,
        data={"file_id": file_id, "filename": filename},
    )
    uow.flush()
    uow.audit(
        "core.case.attached",
        subject_of(case.id),
        {"file_id": file_id, "filename": filename},
        organization_id=case.organization_id,
    )
    return AttachmentOut.model_validate(att)


def upload_attachment(
    *,
    uow: UnitOfWork,
    case_id: int,
    data: bytes | BinaryIO,
    filename: str | None,
    actor: Actor | None = None,
) -> AttachmentOut:
    """Store an upload as a file of the case's organization and attach it to the case."""
    actor = _actor(uow, actor)
    case = load_case(uow, case_id)
    check(actor, "core.case.comment", case)
    if case.closed_at is not None:
        raise Conflict("core.case.closed", "the case is closed", state=case.state)
    # The file belongs to the case's organization so that both sides of the case can read it.
    stored = files.store(
        uow=uow, data=data, filename=filename, purpose="case", organization_id=case.organization_id
    )
    return attach(
        uow=uow, case_id=case.id, file_id=stored.id, filename=stored.filename, actor=actor
    )


def get_case(*, uow: UnitOfWork, case_id: int, actor: Actor | None = None) -> CaseDetail:
    """Return a case with its history, attachments and the transitions open to the actor."""
    actor = _actor(uow, actor)
    case = load_case(uow, case_id)
    check(actor, "core.case.read", case)
    events = uow.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.at, CaseEvent.id)
    ).all()
    atts = uow.session.scalars(
        select(CaseAttachment).where(CaseAttachment.case_id == case.id).order_by(CaseAttachment.id)
    ).all()
    trs = [
        TransitionOut(
            name=t.name, target=t.target, title=dict(t.title), requires_comment=t.requires_comment
        )
        for t in available_transitions(case, actor)
    ]
    base = CaseOut.model_validate(case).model_dump()
    return CaseDetail(
        **base,
        events=[CaseEventOut.model_validate(e) for e in events],
        attachments=[AttachmentOut.model_validate(a) for a in atts],
        transitions=trs,
    )


def list_cases(
    *,
    uow: UnitOfWork,
    state: str | None = None,
    kind: str | None = None,
    organization_id: int | None = None,
    assignee_org_id: int | None = None,
    assignee_user_id: int | None = None,
    subject: str | None = None,
    open_only: bool = False,
    overdue_at: datetime | None = None,
    escalated: bool | None = None,
    limit: int = 100,
    offset: int = 0,
    actor: Actor | None = None,
) -> list[CaseOut]:
    """Return the cases in the actor's scope, newest first, filtered."""
    actor = _actor(uow, actor)
    check(actor, "core.case.read")
    if not 1 <= limit <= 1000 or not 0 <= offset <= 1_000_000:
        raise InvalidInput(
            "core.bad_page", "limit must be 1..1000, offset 0..1000000", field="limit"
        )
    state = clean_text(state, field="state", max_len=60)
    kind = clean_text(kind, field="kind", max_len=120)
    subject = clean_text(subject, field="subject", max_len=200)
    for name, value in (
        ("organization_id", organization_id),
        ("assignee_org_id", assignee_org_id),
        ("assignee_user_id", assignee_user_id),
    ):
        check_id(value, field=name)
    q = select(Case)
    filters: list[tuple[Any, Any]] = [
        (Case.state, state),
        (Case.kind, kind),
        (Case.organization_id, organization_id),
        (Case.assignee_org_id, assignee_org_id),
        (Case.assignee_user_id, assignee_user_id),
        (Case.subject, subject),
        (Case.escalated, escalated),
    ]
    for col, value in filters:
        if value is not None:
            q = q.where(col == value)
    if open_only:
        q = q.where(Case.closed_at.is_(None))
    if overdue_at is not None:
        q = q.where(Case.closed_at.is_(None), Case.due_at.is_not(None), Case.due_at < overdue_at)
    q = q.order_by(Case.created_at.desc(), Case.id.desc()).limit(limit).offset(offset)
    return [CaseOut.model_validate(c) for c in uow.session.scalars(q).all()]
