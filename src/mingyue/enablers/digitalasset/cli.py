"""`mingyue digitalasset …`: evidence verification, the registry, the rule pack, anchors.

Verifying an evidence package needs no data dir (its checks are offline); with ``--online`` and
a data dir it also asks the configured chain whether the anchor holds the package's root.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Annotated

import typer

from mingyue.cli_support import (
    AsUser,
    DataDir,
    JsonOut,
    cli_uow,
    emit,
    fail,
    optional_settings,
    run_cli,
)
from mingyue.enablers.digitalasset import cli_monitor, service
from mingyue.enablers.digitalasset.engine.rules import load_pack

app = typer.Typer(
    help="数字资产监管沙盒 / Digital-asset sandbox: registry, evidence, rules, monitoring, audit.",
    no_args_is_help=True,
)
evidence_app = typer.Typer(help="存证包 / Evidence packages.", no_args_is_help=True)
app.add_typer(evidence_app, name="evidence")
# `mingyue digitalasset audit …` and `… monitor …` are top-level verbs of this group.
app.registered_commands.extend(cli_monitor.app.registered_commands)
app.registered_commands += cli_monitor.app.registered_commands  # `audit`, `monitor` (da-monitor)


@evidence_app.command("verify")
def evidence_verify(
    package: Annotated[
        Path, typer.Argument(help="The package (.zip) or its unpacked folder.", show_default=False)
    ],
    online: Annotated[
        bool, typer.Option("--online", help="Also check the anchor on the configured chain.")
    ] = False,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """验证存证包 / Verify an evidence package offline: files, Merkle proofs, certificate, anchor.

    Exit 0 verified, 1 failed (a changed file, a broken proof, a forged certificate), 2 unreadable.
    """
    with run_cli():
        if not package.exists():
            raise fail(f"error: file not found: {package}", 2)
        if package.is_file() and not zipfile.is_zipfile(package):
            raise fail(f"error: {package}: not a zip evidence package", 2)
        settings = optional_settings(data_dir) if online else None
        if online and settings is None:
            raise fail("error: --online needs the platform's data dir (--data-dir)", 2)
        result = service.verify_package(package, settings=settings)
    if json_out:
        emit(result, True)
    else:
        for c in result.checks:
            typer.echo(f"[{'OK' if c.ok else 'FAIL'}] {c.check}: {c.detail}")
        typer.echo("VERIFIED" if result.ok else "FAILED")
    raise typer.Exit(0 if result.ok else 1)


@app.command("register")
def register(
    file: Annotated[Path, typer.Argument(help="The work's file.", show_default=False)],
    title: Annotated[str, typer.Option(help="Title of the work.")],
    creator: Annotated[str, typer.Option(help="The creator's name.")],
    rights: Annotated[str, typer.Option(help="Rights statement (who holds what).")],
    kind: Annotated[
        str, typer.Option(help="image, audio, video, model3d, text, software, other")
    ] = "image",
    did: Annotated[str | None, typer.Option(help="The creator's did:key or did:web.")] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """登记作品 / Register a work: SHA-256 and SM3 of its content; opens its content review."""
    with run_cli():
        if not file.is_file():
            raise fail(f"error: file not found: {file}", 2)
        with cli_uow(data_dir, as_user, require_user=True) as uow, file.open("rb") as fh:
            out = service.register_work(
                uow=uow,
                actor=uow.actor,
                upload=fh,
                filename=file.name,
                title=title,
                kind=kind,
                creator_name=creator,
                rights_statement=rights,
                creator_did=did,
            )
    emit(out, json_out)


@app.command("works")
def works(
    status: Annotated[
        str | None, typer.Option(help="submitted, reviewed, approved, rejected")
    ] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """作品列表 / Registered works visible to the user."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
        rows = service.list_works(uow=uow, actor=uow.actor, status=status)
    if json_out:
        emit(rows, True)
        return
    emit(
        [
            {"id": w.id, "title": w.title, "status": w.review_status, "sha256": w.sha256[:16]}
            for w in rows
        ],
        False,
    )


@app.command("verify-work")
def verify_work(
    work_id: Annotated[int, typer.Argument(help="The work's id.", show_default=False)],
    file: Annotated[Path, typer.Argument(help="The file to check.", show_default=False)],
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """核验作品 / Check a file against a registered work (exit 1 when it differs)."""
    with run_cli():
        if not file.is_file():
            raise fail(f"error: file not found: {file}", 2)
        with cli_uow(data_dir, as_user, require_user=True) as uow, file.open("rb") as fh:
            out = service.verify_work(uow=uow, actor=uow.actor, work_id=work_id, upload=fh)
    emit(out, json_out)
    raise typer.Exit(0 if out.ok else 1)


@app.command("rules")
def rules(json_out: JsonOut = False) -> None:
    """流转规则 / The circulation rule pack with its citations."""
    pack = load_pack()
    emit(
        [
            {
                "id": r.id,
                "applies": ",".join(r.applies),
                "citation": r.citation["zh"],
                "title": r.title["zh"],
            }
            for r in pack.rules
        ],
        json_out,
    )


@app.command("anchor-ledger")
def anchor_ledger(
    data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False
) -> None:
    """锚定审计账本 / Anchor the audit ledger's newest signed head on the chain now."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        out = service.anchor_ledger_now(uow=uow, actor=uow.actor)
    emit(out if out is not None else {"anchored": False}, json_out)
