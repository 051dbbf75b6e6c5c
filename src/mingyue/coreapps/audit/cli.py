"""CLI: ``mingyue audit verify|prove|check-proof|checkpoint|list|public-key``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from mingyue.cli_support import (
    AsUser,
    DataDir,
    InputFile,
    JsonOut,
    cli_uow,
    emit,
    err_console,
    fail,
    read_json_file,
    run_cli,
    settings_for,
)
from mingyue.core.errors import NotFound
from mingyue.core.ledger import audit, keys
from mingyue.core.tenancy.access import check, scope_for

app = typer.Typer(
    help="存证审计 / The audit ledger: verify, prove, check proofs.", no_args_is_help=True
)


@app.command()
def verify(data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False) -> None:
    """校验存证链 / Check the chain against every signed head (database and heads file); exit 1 naming the
    first bad sequence number or the entries missing after the latest head."""
    from rich.progress import Progress  # lazy: CLI start-up time

    with run_cli(), cli_uow(data_dir, as_user, read_only=True) as uow:
        check(uow.actor, "core.audit.verify")
        with Progress(
            transient=True, disable=json_out or not sys.stderr.isatty(), console=err_console
        ) as bar:
            task = bar.add_task("verifying the ledger", total=None)
            rep = audit.verify_chain(
                uow.session,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                settings=uow.settings,
            )
    if json_out:
        emit(rep.to_dict(), True)
    if not rep.ok:
        if rep.problem in ("truncated", "rewritten", "forged_head"):
            raise fail(rep.reason, 1)  # the reason names the head and the missing entries
        raise fail(f"ledger verification FAILED at seq {rep.first_bad_seq}: {rep.reason}", 1)
    if not json_out:
        head = rep.latest_head
        sys.stderr.write(
            f"ledger OK: {rep.entries} entries, "
            f"{rep.checkpoints_checked} signed checkpoints verified, "
            f"{rep.heads_checked} heads from the heads file"
            + (f"; latest head at seq {head['tree_size']} ({head['time']})" if head else "")
            + "\n"
        )


@app.command()
def prove(
    seq: int,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file.")] = None,
) -> None:
    """打印条目的存在性证明 / Print an inclusion proof (JSON) of one entry, checkable with the public key alone."""
    with run_cli(), cli_uow(data_dir, as_user, read_only=True) as uow:
        check(uow.actor, "core.audit.read")
        entry = uow.session.get(audit.AuditEntry, seq)
        scope = scope_for(uow.actor)
        if entry is None or not (scope.all_orgs or entry.organization_id in scope.org_ids):
            raise NotFound("core.audit.not_found", f"no ledger entry {seq}")
        proof = audit.prove(uow.session, uow.settings, seq)
        proof["public_key"] = keys.public_key_b64(uow.settings)
    text = json.dumps(proof, ensure_ascii=False, indent=2)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")


@app.command("check-proof")
def check_proof(
    file: InputFile,
    public_key: Annotated[
        str | None,
        typer.Option(
            "--public-key",
            help="Platform public key: base64, or a file (PEM/base64). "
            "Defaults to the key carried in the proof file.",
        ),
    ] = None,
    json_out: JsonOut = False,
) -> None:
    """离线校验存在性证明 / Check an inclusion proof offline (no database)."""
    with run_cli():
        proof = read_json_file(file, what="proof")
        if not isinstance(proof, dict):
            raise fail(f"error: proof {file} is not a JSON object", 2)
        key = keys.read_public_key_arg(public_key) if public_key else proof.get("public_key")
        if not key:
            raise fail("error: no public key given (--public-key) and none in the proof", 2)
        ok, reason = audit.check_proof(proof, key)
    if json_out:
        entry = proof.get("entry")
        seq = entry.get("seq") if isinstance(entry, dict) else None
        emit({"ok": ok, "reason": reason, "seq": seq}, True)
    else:
        sys.stderr.write(("OK: " if ok else "INVALID: ") + reason + "\n")
    if not ok:
        raise typer.Exit(1)


@app.command()
def checkpoint(data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False) -> None:
    """签署默克尔根检查点 / Sign the Merkle root of every entry so far."""
    with run_cli(), cli_uow(data_dir, as_user) as uow:
        check(uow.actor, "core.audit.verify")
        cp = audit.make_checkpoint(uow.session, uow.settings)
        uow.audit(
            "core.audit.checkpoint",
            f"core_audit_checkpoint:{cp.id}",
            {"tree_size": cp.tree_size, "root": cp.root},
        )
        out = {"id": cp.id, "tree_size": cp.tree_size, "root": cp.root, "key_id": cp.key_id}
    emit(out, json_out)


@app.command("list")
def list_entries(
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
    after: Annotated[int, typer.Option(help="Entries after this seq.")] = 0,
    limit: Annotated[int, typer.Option(help="How many.")] = 50,
) -> None:
    """列出存证条目 / List ledger entries visible to the acting user."""
    with run_cli(), cli_uow(data_dir, as_user, read_only=True) as uow:
        check(uow.actor, "core.audit.read")
        scope = scope_for(uow.actor)
        rows = audit.entries_since(
            uow.session, after, limit, None if scope.all_orgs else sorted(scope.org_ids)
        )
        out = [
            {
                "seq": e.seq,
                "time": e.time.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "subject": e.subject,
                "entry_hash": e.entry_hash,
            }
            for e in rows
        ]
    emit(out, json_out)


@app.command("public-key")
def public_key(data_dir: DataDir = None, json_out: JsonOut = False) -> None:
    """打印平台公钥 / Print the platform's public key (base64) for third parties."""

    settings = settings_for(data_dir, read_only=True)
    pub = keys.public_key_b64(settings)
    emit({"public_key": pub, "key_id": keys.key_id(pub), "algorithm": "Ed25519"}, json_out)
