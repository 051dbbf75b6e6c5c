"""CLI: ``mingyue cases list|show|open|act|comment|assign|overdue|escalate|assessment|kinds``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from mingyue.cli_support import AsUser, DataDir, JsonOut, cli_uow, emit, run_cli
from mingyue.core import cases
from mingyue.core.cases.service import now
from mingyue.core.errors import InvalidInput

app = typer.Typer(
    help="案件办理 / Cases (workflow): list, show, open, act, supervise.", no_args_is_help=True
)

_SUMMARY = (
    "id",
    "kind",
    "title",
    "state",
    "organization_id",
    "assignee_org_id",
    "due_at",
    "escalation_level",
    "closed_at",
)


def _rows(items: list[cases.CaseOut]) -> list[dict[str, Any]]:
    return [{k: getattr(c, k) for k in _SUMMARY} for c in items]


def _when(value: str | None, field: str, tz: str) -> datetime | None:
    """Parse an ISO date or time; a value without offset is read in the platform's time zone."""
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            "core.invalid_input", f"{field}: not an ISO date/time", field=field
        ) from None
    return t if t.tzinfo else t.replace(tzinfo=ZoneInfo(tz))


@app.command("list")
def list_(
    state: Annotated[str | None, typer.Option(help="Only cases in this state.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only cases of this kind.")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only open cases.")] = False,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue cases.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """列出案件 / List the cases you may see, newest first."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
        items = cases.list_cases(
            uow=uow,
            state=state,
            kind=kind,
            open_only=open_only,
            overdue_at=now() if overdue else None,
            limit=limit,
        )
    emit(items if json_out else _rows(items), json_out, title="cases")


@app.command()
def show(
    case_id: int, data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False
) -> None:
    """查看案件 / Show a case with its history and the transitions open to you."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
        detail = cases.get_case(uow=uow, case_id=case_id)
    if json_out:
        emit(detail, True)
        return
    emit(detail.model_dump(exclude={"events", "attachments", "transitions"}), False)
    emit(
        [
            {
                "at": e.at,
                "actor": e.actor,
                "kind": e.kind,
                "name": e.name,
                "to": e.to_state,
                "late": e.late,
                "comment": e.comment,
            }
            for e in detail.events
        ],
        False,
        title="history",
    )
    emit(
        [
            {"transition": t.name, "target": t.target, "requires_comment": t.requires_comment}
            for t in detail.transitions
        ],
        False,
        title="you may",
    )


@app.command("open")
def open_(
    title: Annotated[str, typer.Option(help="Title of the case.")],
    kind: Annotated[str, typer.Option(help="Case kind.")] = "core.general",
    organization: Annotated[
        int | None,
        typer.Option("--organization", help="Submitting organization id (yours by default)."),
    ] = None,
    subject: Annotated[str | None, typer.Option(help="Reference, e.g. appcheck_scan:3.")] = None,
    data: Annotated[str | None, typer.Option(help="JSON object of extra data.")] = None,
    assignee_org: Annotated[int | None, typer.Option(help="Assignee organization id.")] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """立案 / Open a case."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        extra = json.loads(data) if data else {}
        if not isinstance(extra, dict):
            raise InvalidInput("core.invalid_input", "--data must be a JSON object", field="data")
        org = organization if organization is not None else uow.actor.organization_id
        out = cases.open_case(
            uow=uow,
            kind=kind,
            title=title,
            organization_id=org,
            subject=subject,
            data=extra,
            assignee_org_id=assignee_org,
            manual=True,
        )
    emit(out, json_out)


@app.command()
def act(
    case_id: int,
    transition: str,
    comment: Annotated[str | None, typer.Option("--comment", "-m", help="Comment.")] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """办理案件（状态流转） / Take a transition on a case (e.g. ``mingyue cases act 3 accept -m ok``)."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        out = cases.transition(uow=uow, case_id=case_id, name=transition, comment=comment)
    emit(out, json_out)


@app.command()
def comment(
    case_id: int,
    text: str,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """添加意见 / Add a comment to a case."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        out = cases.comment(uow=uow, case_id=case_id, text=text)
    emit(out, json_out)


@app.command()
def assign(
    case_id: int,
    organization: Annotated[int | None, typer.Option("--organization")] = None,
    department: Annotated[str | None, typer.Option("--department")] = None,
    user: Annotated[int | None, typer.Option("--user", help="Assignee user id.")] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """分派案件 / Assign a case to an organization, department and/or person."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        out = cases.assign(
            uow=uow,
            case_id=case_id,
            organization_id=organization,
            department=department,
            user_id=user,
        )
    emit(out, json_out)


@app.command()
def overdue(
    at: Annotated[str | None, typer.Option(help="ISO time (default: now).")] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """列出超期案件 / List open cases past their state's SLA."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
        when = _when(at, "at", uow.settings.timezone) or now()
        items = cases.find_overdue(uow=uow, now=when)
    emit(items if json_out else _rows(items), json_out, title="overdue")


@app.command()
def escalate(data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False) -> None:
    """督查超期案件 / Escalate overdue cases; running it again escalates nothing twice."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        items = cases.escalate_overdue(uow=uow, now=now())
    emit(items if json_out else _rows(items), json_out, title="escalated")


@app.command()
def assessment(
    since: Annotated[str, typer.Option(help="Start (ISO date/time).")],
    until: Annotated[str, typer.Option(help="End, exclusive (ISO date/time).")],
    kind: Annotated[str | None, typer.Option(help="Only this case kind.")] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """考核统计 / Print per-assignee figures for cases closed in [since, until)."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
        tz = uow.settings.timezone
        figs = cases.assessment(
            uow=uow,
            since=_when(since, "since", tz) or now(),
            until=_when(until, "until", tz) or now(),
            kind=kind,
        )
    emit(figs, json_out, title="assessment")


@app.command()
def kinds(json_out: JsonOut = False) -> None:
    """列出案件类型 / List the registered case kinds with their states and transitions."""
    with run_cli():
        items = [cases.kind_of(n).describe() for n in cases.kind_names()]
    if json_out:
        emit(items, True)
        return
    emit(
        [
            {
                "name": k["name"],
                "states": ", ".join(k["states"]),
                "transitions": ", ".join(t["name"] for t in k["transitions"]),
            }
            for k in items
        ],
        False,
    )
