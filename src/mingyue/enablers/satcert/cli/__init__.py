"""`mingyue satcert …`: verify a certificate, list samples, certificates and the registry.

The bench's own commands are mounted from their modules: ``score`` (cli/score.py) and ``run``
(cli/run.py) each add themselves through ``register(app)``.
"""

from __future__ import annotations

import sys
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
    read_json_file,
    run_cli,
)
from mingyue.enablers.satcert import service
from mingyue.enablers.satcert.cli import run, score
from mingyue.sdk import verify_credential

app = typer.Typer(
    help="卫星终端检测认证 / Satellite terminal certification: bench runs, scoring, certificates.",
    no_args_is_help=True,
)
score.register(app)
run.register(app)

_CERT_TYPE = "TerminalCertificate"


@app.command()
def verify(
    file: Annotated[Path, typer.Argument(help="The certificate (JSON).", show_default=False)],
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """验证终端证书 / Verify a terminal certificate: signature by the platform, validity, not revoked.

    Needs the issuing platform's data dir (its key and revocation records). Exit 0 valid,
    1 invalid (tampered, foreign, expired, revoked, not a terminal certificate), 2 unreadable.
    """
    with run_cli():
        doc = read_json_file(file, what="certificate")
        if (
            isinstance(doc, dict)
            and "@context" not in doc
            and isinstance(doc.get("credential"), dict)
        ):
            doc = doc["credential"]  # the API's answer nests the signed document
        if not isinstance(doc, dict):
            raise fail("error: certificate: not a JSON object", 2)
        settings = optional_settings(data_dir)
        if settings is None:
            raise fail(
                "error: no data dir of the issuing platform (--data-dir): its key and "
                "revocation records are needed",
                2,
            )
        result = verify_credential(doc, settings=settings)
    ok = result.ok and result.type == _CERT_TYPE and result.issued_here
    reason = result.reason
    if result.ok and result.type != _CERT_TYPE:
        reason = "satcert.not_a_terminal_certificate"
    elif result.ok and not result.issued_here:
        reason = "satcert.not_issued_here"
    subject = doc.get("credentialSubject") if isinstance(doc.get("credentialSubject"), dict) else {}
    if json_out:
        emit(
            {
                "valid": ok,
                "reason": reason,
                "detail": result.detail,
                "id": result.credential_id,
                "revoked": result.revoked,
                "issuer": result.issuer,
                "type": result.type,
                "model": subject.get("model") if isinstance(subject, dict) else None,
                "manufacturer": subject.get("manufacturer") if isinstance(subject, dict) else None,
            },
            True,
        )
    else:
        label = "VALID" if ok else ("REVOKED" if result.revoked else "INVALID")
        what = ""
        if isinstance(subject, dict) and subject.get("model"):
            what = f" {subject.get('manufacturer', '')} {subject.get('model')}"
        sys.stdout.write(f"{label}:{what} ({reason}); id {result.credential_id}\n")
    if not ok:
        raise typer.Exit(1)


@app.command()
def samples(
    q: Annotated[str | None, typer.Option("--q", help="Search maker, model or IMEI.")] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """列出样品 / List the samples you may see."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
        rows = service.list_samples(uow=uow, actor=uow.actor, q=q)
    if json_out:
        emit(rows, True)
        return
    out = [
        r.model_dump(include={"id", "manufacturer", "model", "imei", "firmware", "status"})
        for r in rows
    ]
    emit(out, False, title="samples")


@app.command()
def certificates(
    data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False
) -> None:
    """列出证书 / List the certificates you may see."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
        rows = service.list_certificates(uow=uow, actor=uow.actor)
    if json_out:
        emit(rows, True)
        return
    out = [
        r.model_dump(
            include={
                "id",
                "credential_id",
                "sample_id",
                "plan_key",
                "plan_version",
                "valid_until",
                "revoked",
            }
        )
        for r in rows
    ]
    emit(out, False, title="certificates")


@app.command()
def registry(
    q: Annotated[
        str | None, typer.Option("--q", help="Search maker, model, firmware, TAC.")
    ] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="valid, revoked or expired.")
    ] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """查询认证终端名录 / Search the registry of certified terminals."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
        rows = service.search_registry(uow=uow, actor=uow.actor, q=q, status=status)
    emit(rows, json_out, title="registry")
