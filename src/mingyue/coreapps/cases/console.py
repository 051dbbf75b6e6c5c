"""Console pages of cases: the list with filters, and a case with its history and actions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from mingyue.core import cases
from mingyue.core.cases.service import now
from mingyue.core.errors import InvalidInput, MingyueError
from mingyue.core.tenancy.access import OVERSIGHT_ROLES, Actor, can, check
from mingyue.core.tenancy.identity import Organization, User
from mingyue.core.uow import unit_of_work
from mingyue.i18n import t
from mingyue.web.console import (
    ConsoleActor,
    csrf_protect,
    form_done,
    form_once,
    locale_of,
    new_form_key,
    render,
)

router = APIRouter(prefix="/cases", include_in_schema=False)

Comment = Annotated[str | None, Form(max_length=4000)]
FormKey = Annotated[str, Form(max_length=64)]

# How a transition's button looks: the move forward is the primary action; a refusal is red, a
# return or withdrawal grey, so that "approve" and "return" never look alike.
_DANGER = ("reject", "refuse", "deny", "revoke", "cancel")
_SECONDARY = ("return", "withdraw", "request_changes", "send_back", "reopen")


def button_style(name: str, requires_comment: bool) -> str:
    """Return the CSS class of a transition's button: primary, danger or secondary."""
    low = name.lower()
    if any(w in low for w in _DANGER):
        return "danger"
    if any(w in low for w in _SECONDARY) or requires_comment:
        return "secondary"
    return "primary"


def _helpers(request: Request) -> dict[str, Any]:
    lang = "zh" if locale_of(request) == "zh_CN" else "en"
    tz = ZoneInfo(request.app.state.settings.timezone)

    def local(dt: datetime | None) -> str:
        return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M") if dt else "—"

    def title(d: dict[str, str]) -> str:
        return d.get(lang) or d.get("en") or next(iter(d.values()), "")

    def state_title(kind: str, state: str) -> str:
        try:
            return title(dict(cases.kind_of(kind).states[state].title))
        except (KeyError, InvalidInput):
            return state

    def transition_title(kind: str, name: str) -> str:
        try:
            return title(dict(cases.kind_of(kind).transition(name).title))
        except InvalidInput:
            return name

    def kind_title(kind: str) -> str:
        try:
            return title(dict(cases.kind_of(kind).title))
        except InvalidInput:
            return kind

    return {
        "local": local,
        "tr": title,
        "state_title": state_title,
        "kind_title": kind_title,
        "transition_title": transition_title,
        "now": now(),
    }


def _uow(request: Request, actor: Actor) -> Any:
    return unit_of_work(actor, request.app.state.settings)


def _org_names(uow: Any, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = uow.session.execute(
        select(Organization.id, Organization.name).where(Organization.id.in_(wanted))
    ).all()
    return {r[0]: r[1] for r in rows}


def _assign_choices(uow: Any, actor: Actor) -> dict[str, Any]:
    # Oversight roles dispatch to any organization; an organization admin within its own.
    q = select(Organization.id, Organization.name).order_by(Organization.name)
    if not actor.has_role(*OVERSIGHT_ROLES):
        q = q.where(Organization.id == actor.organization_id)
    orgs = [(r[0], r[1]) for r in uow.session.execute(q).all()]
    users = [
        (u.id, u.display_name or u.username, u.organization_id)
        for u in uow.session.scalars(
            select(User).where(User.is_active.is_(True)).order_by(User.username).limit(500)
        )
    ]
    return {"orgs": orgs, "users": users}


@router.get("", response_class=HTMLResponse)
def case_list(
    request: Request,
    actor: ConsoleActor,
    state: str | None = None,
    kind: str | None = None,
    overdue: bool = False,
    open_only: bool = False,
    mine: bool = False,
) -> Response:
    """Show the cases the user may see, with filters and a form to open one."""
    check(actor, "core.case.read")
    with _uow(request, actor) as uow:
        rows = cases.list_cases(
            uow=uow,
            state=state or None,
            kind=kind or None,
            open_only=open_only,
            overdue_at=now() if overdue else None,
            assignee_user_id=actor.user_id if mine else None,
            limit=200,
        )
        names = _org_names(uow, {c.organization_id for c in rows})
    kinds = [cases.kind_of(n) for n in cases.kind_names()]
    state_titles: dict[str, dict[str, str]] = {}
    for k in kinds:
        for name, st in k.states.items():
            state_titles.setdefault(name, dict(st.title))
    return render(
        request,
        "cases/list.html",
        {
            **_helpers(request),
            "rows": rows,
            "kinds": kinds,
            "states": sorted(state_titles.items()),
            "manual_kinds": [k for k in kinds if k.manual],
            "org_names": names,
            "f": {
                "state": state or "",
                "kind": kind or "",
                "overdue": overdue,
                "open_only": open_only,
                "mine": mine,
            },
            "can_create": can(actor, "core.case.create") and actor.organization_id is not None,
            "form_key": new_form_key(),
        },
    )


@router.post("", dependencies=[Depends(csrf_protect)])
def case_open(
    request: Request,
    actor: ConsoleActor,
    title: Annotated[str, Form(max_length=200)],
    kind: Annotated[str, Form(max_length=120)] = "core.general",
    subject: Annotated[str | None, Form(max_length=200)] = None,
    form_key: FormKey = "",
) -> Response:
    """Open a case for the user's organization and show it; a repeated form opens none."""
    if actor.organization_id is None:
        raise InvalidInput("core.case.org_required", "no organization", field="organization_id")
    with _uow(request, actor) as uow:
        if (seen := form_once(uow, actor, form_key)) is not None:
            return RedirectResponse(seen, status_code=303)
        out = cases.open_case(
            uow=uow,
            kind=kind,
            title=title,
            organization_id=actor.organization_id,
            subject=subject or None,
            manual=True,
        )
        location = f"/cases/{out.id}"
        form_done(uow, form_key, location)
    return RedirectResponse(location, status_code=303)


def _month_bounds(tz: ZoneInfo, month: str | None) -> tuple[datetime, datetime, str]:
    """Return [start, end) of a month (YYYY-MM, default: this month) in the platform's zone."""
    today = now().astimezone(tz)
    label = month or today.strftime("%Y-%m")
    try:
        start = datetime.strptime(label + "-01", "%Y-%m-%d").replace(tzinfo=tz)
    except ValueError:
        raise InvalidInput(
            "core.case.bad_month", "month must read YYYY-MM", field="month"
        ) from None
    if not 1970 <= start.year <= 9000:
        raise InvalidInput("core.case.bad_month", "month out of range", field="month")
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end, label


@router.get("/supervision", response_class=HTMLResponse)
def supervision(request: Request, actor: ConsoleActor, month: str | None = None) -> Response:
    """Show overdue cases (督查) and per-assignee figures of a month (考核)."""
    check(actor, "core.case.read")
    tz = ZoneInfo(request.app.state.settings.timezone)
    start, end, label = _month_bounds(tz, month)
    with _uow(request, actor) as uow:
        overdue = cases.find_overdue(uow=uow, now=now())
        figures = cases.assessment(uow=uow, since=start, until=end)
        names = _org_names(uow, {c.organization_id for c in overdue})
    return render(
        request,
        "cases/supervision.html",
        {
            **_helpers(request),
            "overdue": overdue,
            "figures": figures,
            "month": label,
            "org_names": names,
            "can_supervise": can(actor, "core.case.supervise"),
            "levels": {c.id: cases.escalation_level(c, now()) for c in overdue},
        },
    )


@router.post("/supervision/escalate", dependencies=[Depends(csrf_protect)])
def supervision_escalate(request: Request, actor: ConsoleActor) -> Response:
    """Escalate overdue cases from the supervision page."""
    with _uow(request, actor) as uow:
        cases.escalate_overdue(uow=uow, now=now())
    return RedirectResponse("/cases/supervision", status_code=303)


@router.get("/{case_id}", response_class=HTMLResponse)
def case_detail(request: Request, case_id: int, actor: ConsoleActor) -> Response:
    """Show one case: its subject, fields, history, attachments and the actions open to the user."""
    locale = locale_of(request)
    with _uow(request, actor) as uow:
        detail = cases.get_case(uow=uow, case_id=case_id)
        can_assign = can(actor, "core.case.assign", detail)
        choices = _assign_choices(uow, actor) if can_assign else {"orgs": [], "users": []}
        org_ids: set[int | None] = {detail.organization_id, detail.assignee_org_id}
        user_ids: set[int | None] = {detail.assignee_user_id}
        for e in detail.events:
            org_ids.add(_int_or_none(e.data.get("assignee_org_id")))
            user_ids.add(_int_or_none(e.data.get("assignee_user_id")))
        names = _org_names(uow, org_ids)
        # Scoped: a person outside the reader's organizations stays a number.
        people = _user_names(uow, user_ids)
        subject, subject_failed = _subject(uow, detail)
    history = [_describe(e, detail.kind, names, people, locale) for e in detail.events]
    return render(
        request,
        "cases/detail.html",
        {
            **_helpers(request),
            "c": detail,
            "overdue": detail.is_overdue(now()),
            "can_comment": can(actor, "core.case.comment", detail),
            "can_assign": can_assign,
            "choices": choices,
            "org_names": names,
            "assignee_name": people.get(detail.assignee_user_id or 0),
            "subject_view": subject,
            "subject_failed": subject_failed,
            "history": history,
            "button_style": button_style,
            "form_keys": {tr.name: new_form_key() for tr in detail.transitions},
            "comment_key": new_form_key(),
        },
    )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _user_names(uow: Any, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    users = uow.session.scalars(select(User).where(User.id.in_(wanted)))
    return {u.id: u.display_name or u.username for u in users}


def _subject(uow: Any, detail: cases.CaseDetail) -> tuple[cases.SubjectView | None, bool]:
    """Return the kind's view of the case's subject, and whether it could not be shown."""
    try:
        viewer = cases.kind_of(detail.kind).subject_viewer()
    except InvalidInput:
        return None, False
    if viewer is None:
        return None, False
    try:
        view = viewer(uow=uow, case=detail)
    except MingyueError:
        # The subject is gone or out of the reader's reach: the case page still opens.
        return None, True
    if view is not None and not isinstance(view, cases.SubjectView):
        raise TypeError(f"subject_view of {detail.kind} returned {type(view).__name__}")
    return view, False


def _describe(
    e: cases.CaseEventOut,
    kind: str,
    orgs: dict[int, str],
    people: dict[int, str],
    locale: str,
) -> str:
    """Return the readable detail of a history line ("分派给 重庆明月湖数据服务有限公司")."""
    d = e.data or {}

    def org(i: Any) -> str:
        n = _int_or_none(i)
        return orgs.get(n, f"#{n}") if n is not None else ""

    def person(i: Any) -> str:
        n = _int_or_none(i)
        return people.get(n, f"#{n}") if n is not None else ""

    if e.kind == "assign":
        if d.get("claimed"):
            return t("core.cases.history.claimed", locale, org=org(d.get("assignee_org_id")))
        to = " / ".join(
            x
            for x in (
                org(d.get("assignee_org_id")),
                str(d.get("department") or ""),
                person(d.get("assignee_user_id")),
            )
            if x
        )
        return t("core.cases.history.assigned", locale, to=to or "—")
    if e.kind == "attach":
        return t("core.cases.history.attached", locale, name=d.get("filename") or "")
    if e.kind == "escalate":
        return t(
            "core.cases.history.escalated",
            locale,
            level=d.get("level", ""),
            hours=d.get("overdue_hours", ""),
        )
    if e.kind == "data":
        keys = [_data_label(kind, str(k), locale) for k in d.get("keys", [])]
        return t(
            "core.cases.history.data",
            locale,
            keys="、".join(keys) if locale == "zh_CN" else ", ".join(keys),
        )
    return ""


def _data_label(kind: str, key: str, locale: str) -> str:
    """Return a case data key as people read it: ``<kind>.data.<key>``, ``core.field.<key>``."""
    for full in (f"{kind}.data.{key}", f"core.field.{key}"):
        found = t(full, locale)
        if found != full:
            return found
    return key.replace("_", " ")


@router.post("/{case_id}/act", dependencies=[Depends(csrf_protect)])
def case_act(
    request: Request,
    case_id: int,
    actor: ConsoleActor,
    name: Annotated[str, Form(max_length=60)],
    comment: Comment = None,
    form_key: FormKey = "",
) -> Response:
    """Take a transition from the case page; a repeated form takes none."""
    location = f"/cases/{case_id}"
    with _uow(request, actor) as uow:
        if (seen := form_once(uow, actor, form_key)) is not None:
            return RedirectResponse(seen, status_code=303)
        cases.transition(uow=uow, case_id=case_id, name=name, comment=comment)
        form_done(uow, form_key, location)
    return RedirectResponse(location, status_code=303)


@router.post("/{case_id}/comment", dependencies=[Depends(csrf_protect)])
def case_comment(
    request: Request,
    case_id: int,
    actor: ConsoleActor,
    text: Annotated[str, Form(max_length=4000)],
    form_key: FormKey = "",
) -> Response:
    """Add a comment from the case page; a repeated form adds none."""
    location = f"/cases/{case_id}#history"
    with _uow(request, actor) as uow:
        if (seen := form_once(uow, actor, form_key)) is not None:
            return RedirectResponse(seen, status_code=303)
        cases.comment(uow=uow, case_id=case_id, text=text)
        form_done(uow, form_key, location)
    return RedirectResponse(location, status_code=303)


@router.post("/{case_id}/upload", dependencies=[Depends(csrf_protect)])
def case_upload(
    request: Request, case_id: int, actor: ConsoleActor, file: Annotated[UploadFile, File()]
) -> Response:
    """Attach an uploaded file from the case page."""
    with _uow(request, actor) as uow:
        cases.upload_attachment(uow=uow, case_id=case_id, data=file.file, filename=file.filename)
    return RedirectResponse(f"/cases/{case_id}#attachments", status_code=303)


@router.post("/{case_id}/assign", dependencies=[Depends(csrf_protect)])
def case_assign(
    request: Request,
    case_id: int,
    actor: ConsoleActor,
    department: Annotated[str | None, Form(max_length=120)] = None,
    user_id: Annotated[str | None, Form(max_length=20)] = None,
    organization_id: Annotated[str | None, Form(max_length=20)] = None,
) -> Response:
    """Assign the case from the case page."""

    def _int(v: str | None, field: str) -> int | None:
        if not v or not v.strip():
            return None
        if not v.strip().isdigit():
            raise InvalidInput("core.invalid_input", f"{field} must be a number", field=field)
        return int(v)

    with _uow(request, actor) as uow:
        cases.assign(
            uow=uow,
            case_id=case_id,
            department=department,
            user_id=_int(user_id, "user_id"),
            organization_id=_int(organization_id, "organization_id"),
        )
    return RedirectResponse(f"/cases/{case_id}", status_code=303)
