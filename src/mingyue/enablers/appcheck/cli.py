"""`mingyue appcheck ...`: scan APKs locally (engine, sandboxed) and list rule sets."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from mingyue.cli_support import AsUser, DataDir, JsonOut, emit, run_cli

from . import service
from .engine import AppcheckError, analyze_apk, iter_apks, load_rulesets
from .engine.analyze import APK_SUFFIXES

app = typer.Typer(
    help=(
        "App 合规检测（APK、HAP、IPA 静态分析） / "
        "App compliance testing (Android APK, HarmonyOS HAP/APP, iOS IPA static analysis)"
    ),
    no_args_is_help=True,
)


def _line(report: dict[str, object], json_out: bool) -> None:
    if json_out:
        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
        return
    findings = report["findings"]
    if not isinstance(findings, list):
        raise TypeError("a report's findings are a list")
    fails = [f for f in findings if f["status"] in ("fail", "warn")]
    sys.stdout.write(
        f"{report['file_name']}: {report['package']} sha256={report['sha256'][:16]}… "  # type: ignore[index]
        f"sdks={len(report['sdks'])} findings={len(fails)} "  # type: ignore[arg-type]
        f"incomplete={report['incomplete']}\n"
    )


@app.command()
def scan(
    path: Annotated[
        Path,
        typer.Argument(help="An .apk/.apks/.xapk/.hap/.app/.ipa file, or a directory of them"),
    ],
    app_type: Annotated[
        str | None, typer.Option("--app-type", help="Declared App type (key or 1-39)")
    ] = None,
    sdk_list: Annotated[
        Path | None,
        typer.Option("--sdk-list", help="Privacy policy or third-party SDK list (HTML/text)"),
    ] = None,
    json_out: JsonOut = False,
    data_dir: DataDir = None,
    as_user: AsUser = None,
) -> None:
    """检测安装包并打印报告 / Scan an APK, HAP/APP or IPA (or every package of a directory); a bad file exits 2."""
    del data_dir, as_user  # local engine work: nothing is stored, no tenant involved
    rules = load_rulesets()
    policy: bytes | None = None
    if sdk_list is not None:
        try:
            policy = sdk_list.read_bytes()
        except OSError as exc:
            sys.stderr.write(f"error: cannot read --sdk-list {sdk_list}: {exc.strerror}\n")
            raise typer.Exit(2) from None
    if app_type:
        try:
            rules.app_type(app_type)
        except AppcheckError as exc:
            sys.stderr.write(f"error: {exc.message} ({exc.key})\n")
            raise typer.Exit(2) from None
    if path.is_dir():
        try:
            apks = list(iter_apks(path))
        except OSError as exc:
            sys.stderr.write(f"error: cannot read {path}: {exc.strerror or exc}\n")
            raise typer.Exit(2) from None
        if not apks:  # nothing scanned must not read as a clean result
            sys.stderr.write(f"error: no {'/'.join(APK_SUFFIXES)} file in {path}\n")
            raise typer.Exit(2)
        bad = 0
        for apk in apks:
            try:
                rep = analyze_apk(apk, app_type=app_type, policy=policy)
                _line(rep.to_dict(rules), json_out)
            except AppcheckError as exc:
                bad += 1
                if json_out:
                    sys.stdout.write(
                        json.dumps(
                            {"file_name": apk.name, "error": exc.to_dict()}, ensure_ascii=False
                        )
                        + "\n"
                    )
                sys.stderr.write(f"{apk.name}: error: {exc.message} ({exc.key})\n")
            sys.stdout.flush()
        raise typer.Exit(0)
    if not path.is_file():
        sys.stderr.write(f"error: file not found: {path}\n")
        raise typer.Exit(2)
    try:
        rep = analyze_apk(path, app_type=app_type, policy=policy)
    except AppcheckError as exc:
        sys.stderr.write(f"error: {path.name}: {exc.message} ({exc.key})\n")
        raise typer.Exit(2) from None
    _line(rep.to_dict(rules), json_out)


@app.command()
def rules(json_out: JsonOut = False) -> None:
    """列出已加载的规则集 / List the loaded rule sets with their versions and sources."""
    with run_cli():
        emit(service.rule_sets(), json_out, title="appcheck rule sets")


@app.command("app-types")
def app_types(json_out: JsonOut = False) -> None:
    """列出 39 类 App / List the 39 App types (《常见类型移动互联网应用程序必要个人信息范围规定》第五条)."""
    with run_cli():
        emit(service.app_types(), json_out, title="App types")
