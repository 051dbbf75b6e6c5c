"""``mingyue digitalasset audit`` and ``monitor``: local, no data dir needed.

Both read files on this machine and print results; nothing is stored. ``--json`` prints the
machine shape documented in docs/digitalasset.md. Bad input exits 2 with one line on stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mingyue.cli_support import JsonOut, optional_settings, run_cli
from mingyue.enablers.digitalasset.engine.audit import to_sarif
from mingyue.enablers.digitalasset.service import audit as audit_service
from mingyue.enablers.digitalasset.service import monitor as monitor_service
from mingyue.sdk import get_settings
from mingyue.sdk.errors import InvalidInput

app = typer.Typer(help="交易监测与合约审计 / Wash-trade monitoring and contract audit.")


def _print(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=1) + "\n")


@app.command("audit")
def audit(
    path: Annotated[
        Path, typer.Argument(help="A .sol file or a folder of them.", show_default=False)
    ],
    sarif: Annotated[
        Path | None, typer.Option("--sarif", help="Also write a SARIF 2.1.0 log to this file.")
    ] = None,
    json_out: JsonOut = False,
) -> None:
    """合约安全审计 / Audit Solidity contracts (Slither + our rules; DASP categories, SWC ids)."""
    with run_cli():
        settings = optional_settings(None) or get_settings()
        results = audit_service.audit_local(path, settings)
        if sarif is not None:
            sarif.write_text(json.dumps(to_sarif(results), indent=1))
        if json_out:
            _print([r.to_public() for r in results])
            return
        for r in results:
            if r.status != "ok":
                typer.echo(f"{r.file}: 分析出错 / analysis error: {r.error}")
                continue
            typer.echo(f"{r.file}: {len(r.findings)} 项发现 / findings")
            for f in r.findings:
                typer.echo(
                    f"  {f.line:>5}  {f.severity:<6} {f.category:<26} {f.swc or '-':<8} {f.detector}"
                )


@app.command("monitor")
def monitor(
    events: Annotated[
        Path, typer.Argument(help="Marketplace export: CSV or JSON.", show_default=False)
    ],
    labels: Annotated[
        Path | None,
        typer.Option("--labels", help="Address labels CSV: address,kind[,source,confidence,note]."),
    ] = None,
    json_out: JsonOut = False,
) -> None:
    """洗售监测 / Check trading events for wash trading and manipulation."""
    with run_cli():
        labels_csv = None
        if labels is not None:
            try:
                labels_csv = labels.read_text(encoding="utf-8")
            except OSError as exc:
                raise InvalidInput(
                    "digitalasset.label.bad_file", f"cannot read {labels}: {exc.strerror or exc}"
                ) from exc
        result = monitor_service.monitor_file(events, labels_csv=labels_csv)
        if json_out:
            _print({"alerts": [a.to_public() for a in result.alerts]})
            return
        typer.echo(f"{result.events} 条事件 / events, {len(result.alerts)} 条预警 / alerts")
        for a in result.alerts:
            rows = ",".join(map(str, a.rows[:8])) + ("…" if len(a.rows) > 8 else "")
            typer.echo(
                f"  {a.severity:<8} {a.pattern:<15} rows {rows}  {' '.join(a.addresses[:3])}"
            )
