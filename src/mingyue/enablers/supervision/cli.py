"""`mingyue supervision …` commands (a stable contract: outside checks call them)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mingyue.cli_support import AsUser, DataDir, JsonOut, cli_uow, emit, fail, run_cli
from mingyue.enablers.supervision import service
from mingyue.enablers.supervision.schemas import FindingView, OrderIn, RectificationOut

from .engine.decision import decide as decide_facts
from .engine.decision import read_facts
from .engine.errors import FactsError

app = typer.Typer(
    help="包容审慎监管 / Inclusive-prudent supervision: findings, rectification, decisions, guidelines.",
    no_args_is_help=True,
)


@app.command()
def decide(file: Path, json_out: JsonOut = False) -> None:
    """依法裁量 / Decide a case under the Administrative Penalty Law Art. 33 from its facts.

    FILE.json holds the facts; invalid input exits 2.
    """
    try:
        decision = decide_facts(read_facts(file))
    except FactsError as exc:
        raise fail(f"error: {exc.field}: {exc.message}", 2) from None
    out = decision.to_dict()
    if json_out:
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        return
    typer.echo(f"决定 Decision: {out['title']['zh']} / {out['title']['en']} ({out['decision']})")
    for zh, en in zip(out["basis_zh"], out["basis"], strict=True):
        typer.echo(f"  依据 Basis: {zh} / {en}")
    typer.echo(f"  理由: {out['reason']['zh']}")
    typer.echo(f"  Reason: {out['reason']['en']}")
    for note in out["notes"]:
        cited = f" ({', '.join(note['basis'])})" if note["basis"] else ""
        typer.echo(f"  注: {note['zh']}")
        typer.echo(f"  Note: {note['en']}{cited}")
    typer.echo(
        f"  规则 Rule: {out['reason']['rule']} "
        f"(rules {out['rules_version']}, effective {out['rules_effective']})"
    )


# --- the register and rectifications (act as --as; tenant-scoped like the API) ---------------


def _finding_row(view: FindingView) -> dict[str, Any]:
    f = view.finding
    return {
        "id": f.id,
        "enabler": f.enabler,
        "organization": view.organization_name,
        "organization_id": f.organization_id,
        "rule": f.rule,
        "severity": f.severity,
        "status": f.status,
        "subject": f.subject,
        "first_seen": f.first_seen.isoformat(),
        "last_seen": f.last_seen.isoformat(),
        "occurrences": f.occurrences,
        "rectification": view.rectification.id if view.rectification else None,
        "decision": view.decision,
    }


@app.command()
def findings(
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
    enabler: Annotated[str | None, typer.Option(help="Only this enabler's findings.")] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule.")] = None,
    severity: Annotated[str | None, typer.Option(help="low, medium, high or critical.")] = None,
    status: Annotated[
        str | None, typer.Option(help="open, rectifying, fixed, closed or dismissed.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
) -> None:
    """列出问题线索 / List the findings visible to --as (every enabler's), most recently seen first."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
        views = service.list_register(
            uow=uow,
            actor=uow.actor,
            enabler=enabler,
            rule=rule,
            severity=severity,
            status=status,
            limit=limit,
        )
        emit([_finding_row(v) for v in views], json_out, title="findings")


def _rect_row(r: RectificationOut) -> dict[str, Any]:
    return {
        "id": r.id,
        "finding_id": r.finding_id,
        "organization": r.organization_name,
        "rule": r.rule,
        "status": r.status,
        "deadline": r.deadline.isoformat(),
        "working_days_left": r.working_days_left,
        "overdue": r.overdue,
        "verification": r.verification_state,
        "decision": r.decision.outcome if r.decision else None,
    }


@app.command()
def rectifications(
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
    open_only: Annotated[bool, typer.Option("--open", help="Only open ones.")] = False,
) -> None:
    """列出整改 / List rectifications visible to --as, nearest deadline first."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
        rows = service.list_rectifications(uow=uow, actor=uow.actor, open_only=open_only)
        plain: list[Any] = list(rows) if json_out else [_rect_row(r) for r in rows]
        emit(plain, json_out, title="rectifications")


@app.command()
def order(
    finding_id: Annotated[int, typer.Argument(min=1, max=2**31 - 1)],
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
    working_days: Annotated[
        int | None, typer.Option(min=1, max=250, help="Time limit (default: the rule's).")
    ] = None,
    instructions: Annotated[str | None, typer.Option(max=2000)] = None,
) -> None:
    """责令整改 / Order rectification of a finding within its time limit (regulator)."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        body = OrderIn(finding_id=finding_id, working_days=working_days, instructions=instructions)
        out = service.order_rectification(uow=uow, actor=uow.actor, body=body)
        emit(out if json_out else _rect_row(out), json_out)


@app.command()
def documents(
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
    all_versions: Annotated[bool, typer.Option("--all", help="Every version.")] = False,
) -> None:
    """列出免罚清单与行业指引 / List the exemption list and the sector guidelines (the versions in force)."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        docs = service.list_documents(uow=uow, actor=uow.actor, all_versions=all_versions)
        rows = [
            {
                "slug": d.slug,
                "kind": d.kind,
                "version": d.version,
                "title": d.title["zh"],
                "effective_from": d.effective_from.date().isoformat(),
                "in_force": d.in_force,
            }
            for d in docs
        ]
        emit(docs if json_out else rows, json_out, title="documents")


@app.command()
def remind(
    data_dir: DataDir = None,
    json_out: JsonOut = False,
    days: Annotated[
        int, typer.Option(min=0, max=30, help="Remind this many working days ahead.")
    ] = 3,
) -> None:
    """整改期限提醒 / Announce coming deadlines and mark passed ones overdue (what the daily job does)."""
    with run_cli(), cli_uow(data_dir, None) as uow:
        emit(service.remind(uow, remind_days=days), json_out)
