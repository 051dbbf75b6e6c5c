"""CLI: ``mingyue credential verify|issue|show|list|revoke|revocation-list`` (verify offline)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from mingyue.cli_support import (
    AsUser,
    DataDir,
    InputFile,
    JsonOut,
    cli_uow,
    emit,
    optional_settings,
    read_json_file,
    run_cli,
)
from mingyue.core.config import Settings
from mingyue.core.errors import InvalidInput
from mingyue.core.ledger import credentials, keys
from mingyue.core.tenancy.access import check
from mingyue.coreapps.credentials import certificate

app = typer.Typer(
    help="可验证凭证 / Verifiable credentials: verify offline, show, list, revoke.",
    no_args_is_help=True,
)

PublicKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--public-key",
        help="Trusted platform public key: base64, or a file (PEM or base64). "
        "Defaults to the key of the data dir.",
    ),
]
RevocationOpt = Annotated[
    Path | None,
    typer.Option(
        "--revocation-list",
        help="Revocation list (JSON array of ids, or the signed list from "
        "`mingyue credential revocation-list`). Defaults to the data dir's database when present.",
    ),
]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write JSON to a file.")]


def _trusted_key(public_key: str | None, settings: Settings | None) -> str:
    if public_key:
        try:
            key = keys.read_public_key_arg(public_key)
            keys.load_public(key)
        except ValueError as exc:
            raise InvalidInput(
                "core.credential.bad_key", f"unusable public key: {exc}", field="--public-key"
            ) from exc
        return key
    if settings is not None and keys.key_path(settings).exists():  # never create a key to verify
        return keys.public_key_b64(settings)
    raise InvalidInput(
        "core.credential.no_key",
        "no trusted key: pass --public-key, or --data-dir of the issuing platform",
        field="--public-key",
    )


def _has_database(settings: Settings) -> bool:
    if settings.database_url:
        return True
    return (settings.data_dir / "mingyue.sqlite3").exists()


@app.command()
def verify(
    file: InputFile,
    public_key: PublicKeyOpt = None,
    revocation_list: RevocationOpt = None,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """离线验证凭证 / Verify a credential file offline and print the verdict.

    The file is the signed credential itself or the API's answer that nests it
    (``/api/credentials/{id}``). Exit 0 valid, 1 invalid (tampered, foreign, expired, revoked),
    2 unreadable (no file, not JSON, no usable key). ``--json``: {"valid", "reason", "id", …}.
    """
    with run_cli():
        vc = certificate.signed_document(read_json_file(file, what="credential"))
        settings = optional_settings(data_dir)  # verifying offline creates no data dir
        key = _trusted_key(public_key, settings)
        revoked: list[str] | None = None
        source = "none"
        if revocation_list is not None:
            revoked = credentials.read_revocation_list(
                read_json_file(revocation_list, what="revocation list"), key
            )
            source = "list"
        result = credentials.verify(vc, key, revoked)
        if (
            result.ok
            and revoked is None
            and result.credential_id
            and settings is not None
            and _has_database(settings)
        ):
            try:
                flag = credentials.is_revoked(settings, result.credential_id)
                source = "database" if flag is not None else "database (not issued here)"
                if flag:
                    result = credentials.verify(vc, key, [result.credential_id])
            except (SQLAlchemyError, InvalidInput):
                source = "none (database unreadable)"
    if json_out:
        emit(
            {
                "valid": result.ok,
                "reason": result.reason,
                "id": result.credential_id,
                **result.to_dict(),
                "revocation_checked": source,
                "key_id": keys.key_id(key),
            },
            True,
        )
    else:
        label = "VALID" if result.ok else "INVALID"
        sys.stdout.write(
            f"{label}: {result.detail} ({result.reason}); id {result.credential_id}; "
            f"revocation checked: {source}\n"
        )
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def issue(
    type: Annotated[str, typer.Option("--type", help="Credential type, e.g. TerminalCertificate.")],
    subject: Annotated[Path, typer.Option("--subject", help="JSON file of the subject.")],
    organization_id: Annotated[int, typer.Option("--org", help="Subject organization id.")],
    valid_days: Annotated[int | None, typer.Option("--valid-days", min=1)] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    output: OutputOpt = None,
) -> None:
    """手工签发凭证 / Sign a credential by hand (reviewers, regulators, platform admins); print it."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        check(uow.actor, "core.credential.issue")
        body = read_json_file(subject, what="--subject")
        if not isinstance(body, dict):
            raise InvalidInput(
                "core.credential.bad_subject",
                "the subject must be a JSON object",
                field="--subject",
            )
        vc = credentials.issue(
            uow=uow, type=type, subject=body, organization_id=organization_id, valid_days=valid_days
        )
    text = json.dumps(vc, ensure_ascii=False, indent=2)
    if output is not None:
        output.write_text(text + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")


@app.command()
def show(
    credential_id: str,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
    output: OutputOpt = None,
) -> None:
    """查看凭证 / Show one credential; ``-o FILE`` writes the signed credential itself (to verify or share)."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
        out = credentials.get_credential(uow=uow, actor=uow.actor, credential_id=credential_id)
    if output is not None:
        output.write_text(
            json.dumps(out.credential, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
    if json_out:
        emit(out, True)
    elif output is None:
        emit(out.model_dump(exclude={"credential"}), False)
        sys.stdout.write(json.dumps(out.credential, ensure_ascii=False, indent=2) + "\n")


@app.command("list")
def list_(
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
    type: Annotated[str | None, typer.Option("--type", help="Only this type.")] = None,
    revoked: Annotated[
        bool | None, typer.Option("--revoked/--active", help="Only revoked / only active.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
) -> None:
    """列出凭证 / List the credentials you may see, newest first."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
        rows = credentials.list_credentials(
            uow=uow, actor=uow.actor, type=type, revoked=revoked, limit=limit
        )
    if json_out:
        emit(rows, True)
    else:
        emit(
            [
                r.model_dump(
                    include={"id", "type", "organization_id", "issued_at", "valid_until", "revoked"}
                )
                for r in rows
            ],
            False,
            title="credentials",
        )


@app.command()
def revoke(
    credential_id: str,
    reason: Annotated[str, typer.Option("--reason", help="Why it is revoked.")],
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """吊销凭证 / Revoke a credential (it fails verification from then on)."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        out = credentials.revoke(
            uow=uow, actor=uow.actor, credential_id=credential_id, reason=reason
        )
    if json_out:
        emit(out, True)
    else:
        sys.stderr.write(f"revoked {out.id}\n")


@app.command("revocation-list")
def revocation_list_(
    data_dir: DataDir = None, as_user: AsUser = None, output: OutputOpt = None
) -> None:
    """打印吊销列表 / Print the signed list of revoked credentials you may see (for offline verifiers)."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
        check(uow.actor, "core.credential.read")
        doc = credentials.revocation_list(uow=uow)
    text = json.dumps(doc, ensure_ascii=False, indent=2)
    if output is not None:
        output.write_text(text + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")
