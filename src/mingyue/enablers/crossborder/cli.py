"""`mingyue crossborder …` commands (a stable contract: outside checks call them)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from mingyue.cli_support import AsUser, DataDir, JsonOut, cli_uow, emit, fail, run_cli, settings_for

from . import service
from .engine.decision import ScenarioError, assess_file
from .engine.flows.watch import WatchProgress
from .schemas import ScanQueuedOut, TransferIn

app = typer.Typer(
    help="数据跨境 / Cross-border data: legal path, filings, PII scanning, flow monitoring.",
    no_args_is_help=True,
)


@app.command()
def assess(file: Path, json_out: JsonOut = False) -> None:
    """判定出境路径 / Decide the legal path of a transfer scenario (FILE.json); invalid input exits 2."""
    try:
        decision = assess_file(file)
    except FileNotFoundError:
        raise fail(f"error: file: no such file {file}", 2) from None
    except ScenarioError as exc:
        raise fail(f"error: {exc}", 2) from None
    out = decision.to_dict()
    if json_out:
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        return
    typer.echo(f"path: {out['path']}")
    for b in out["basis"]:
        typer.echo(f"  basis: {b}")
    for o in out["obligations"]:
        typer.echo(f"  obligation: {o['id']} ({', '.join(o['basis'])})")
    for n in out["notes"]:
        typer.echo(f"  note: {n['en']}")


@app.command()
def scan(
    file: Path,
    json_out: JsonOut = False,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    show_values: Annotated[
        bool,
        typer.Option(
            "--show-values",
            help="显示原始值（仅限文件所有者）/ Include raw values (owner of the file only).",
        ),
    ] = False,
    ner: Annotated[
        bool | None,
        typer.Option(
            "--ner/--no-ner",
            help="同时识别人名、地名和机构名 / Find person names, "
            "places and organisations too (hybrid NER, ~65 KB "
            "per CPU-second). Default: on for files up to "
            "4 MiB, off above (the report's ner says which).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """扫描文件中的个人信息 / Scan a text/CSV/JSON/Parquet/PDF/DOCX file for Chinese personal
    information.

    Without --as the file is scanned here and nothing is kept. With --as USER the scan is the
    API's (same permission, upload cap and NER limits): its report (hashes and counts, never
    values) is kept for USER's organization and audited; a file over the synchronous limit
    becomes a scan job whose id is printed.
    """
    if as_user:
        _scan_as(
            file,
            as_user=as_user,
            data_dir=data_dir,
            show_values=show_values,
            ner=ner,
            json_out=json_out,
        )
        return
    with run_cli():
        report = service.scan_local(
            path=file, settings=settings_for(data_dir), show_values=show_values, ner=ner
        )
        if json_out:
            sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
        else:
            emit(report["counts"] or {"entities": 0}, False, title=str(file))


def _scan_as(
    file: Path,
    *,
    as_user: str,
    data_dir: Path | None,
    show_values: bool,
    ner: bool | None,
    json_out: bool,
) -> None:
    with run_cli():
        if not file.is_file():
            raise fail(f"error: file: no such file {file}", 2)
        with cli_uow(data_dir, as_user, require_user=True) as uow, file.open("rb") as fh:
            out = service.scan_upload(
                uow=uow,
                actor=uow.actor,
                data=fh,
                filename=file.name,
                show_values=show_values,
                ner=ner,
            )
    if json_out:
        emit(out, True)
    elif isinstance(out, ScanQueuedOut):
        emit({"job": out.job_id, "status": out.status, "size": out.size}, False)
    else:
        emit({"scan": out.id, **(out.counts or {"entities": 0})}, False, title=str(file))


@app.command()
def watch(
    source: Path,
    fmt: Annotated[
        str | None, typer.Option("--format", help="combined|nginx|squid|zeek|pcap")
    ] = None,
    geoip: Annotated[
        Path | None, typer.Option("--geoip", help=".mmdb, legacy .dat or .csv")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep tailing until interrupted.")
    ] = False,
    workers: Annotated[
        int,
        typer.Option("--workers", min=1, max=64, help="Processes for a combined log (default 1)."),
    ] = 1,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """监测出境流量 / Read a proxy/Zeek log or a pcap from its last offset; count individuals; raise alerts."""

    def progress(p: WatchProgress) -> None:
        sys.stderr.write(
            f"progress: offset {p.offset}/{p.size} bytes, {p.lines} lines, "
            f"{p.events} events, {p.bad_lines} bad\n"
        )

    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        out = service.watch_source(
            uow=uow,
            actor=uow.actor,
            source=source,
            fmt=fmt,
            geoip=geoip,
            follow=follow,
            workers=workers,
            on_progress=progress if not json_out else None,
        )
    emit(out, json_out)


@app.command("declare")
def declare(
    file: Path, data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False
) -> None:
    """申报数据出境 / Declare a transfer from FILE.json (recipient, country, endpoints, categories, legal_basis)."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        body = TransferIn.model_validate_json(file.read_text(encoding="utf-8"))
        out = service.declare_transfer(uow=uow, actor=uow.actor, body=body)
    emit(out, json_out)


@app.command()
def filings(
    expiring: Annotated[bool, typer.Option("--expiring")] = False,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """列出备案 / List filings (or only approvals that expire within 90 days)."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        rows = (service.expiring_filings if expiring else service.list_filings)(
            uow=uow, actor=uow.actor
        )
    emit([r.model_dump(mode="json", exclude={"form"}) for r in rows], json_out)


@app.command("warn-expiry")
def warn_expiry(
    days: Annotated[int, typer.Option("--days")] = 90,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """到期提醒 / Comment on the case of every approval expiring within --days (once each)."""
    with run_cli(), cli_uow(data_dir, as_user) as uow:
        rows = service.warn_expiring(uow=uow, actor=uow.actor, within_days=days)
    emit([{"id": r.id, "case_id": r.case_id, "valid_until": r.valid_until} for r in rows], json_out)
