"""The ``mingyue`` command: serve, demo, db, user, audit, worker, dev … and every enabler's group."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer import _click as click  # Typer vendors Click: its context type is this
from typer.core import TyperGroup

from mingyue.cli_support import (
    AsUser,
    DataDir,
    JsonOut,
    OneLineErrors,
    cli_uow,
    emit,
    ensure_database,
    fail,
    run_cli,
    settings_for,
)
from mingyue.core import migrate
from mingyue.core.clock import local_time
from mingyue.core.config import Settings
from mingyue.core.errors import InvalidInput, NotFound
from mingyue.core.plugins import load_ref, registry
from mingyue.core.scheduling import listing
from mingyue.core.tenancy import accounts
from mingyue.core.tenancy.identity import Organization, User

if TYPE_CHECKING:
    from mingyue.core.scheduling.runner import SchedulerRunner

app = typer.Typer(
    name="mingyue",
    help="明月湖π赋能平台 · Mingyue Lake π enabling platforms",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=OneLineErrors,
)
Port = Annotated[int, typer.Option(min=1, max=65535, help="Port.")]
db_app = typer.Typer(help="数据库 / Database: migrations.", no_args_is_help=True)
user_app = typer.Typer(help="用户与 API 令牌 / Users and API tokens.", no_args_is_help=True)
dev_app = typer.Typer(help="开发工具 / Developer tools.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(dev_app, name="dev")
schedule_app = typer.Typer(
    help="定时任务 / Periodic work: declared schedules.", no_args_is_help=True
)
app.add_typer(schedule_app, name="schedule")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Port = 8000,
    data_dir: DataDir = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Uvicorn worker processes (default: MINGYUE_WEB_WORKERS)."),
    ] = None,
) -> None:
    """启动控制台与 API / Serve the console and the API."""
    import ipaddress
    import os

    import uvicorn

    settings = settings_for(data_dir)
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False  # a host name other than localhost may resolve to anything
    if not loopback and settings.dev_defaults():
        raise fail(
            f"error: refusing to serve on {host}: development defaults in force "
            f"({', '.join(settings.dev_defaults())}); set MINGYUE_ENV=prod and MINGYUE_SECRET_KEY "
            "or bind 127.0.0.1",
            2,
        )
    with run_cli():
        ensure_database(settings)
    os.environ["MINGYUE_DATA_DIR"] = str(settings.data_dir.resolve())
    sys.stderr.write(f"mingyue: serving http://{host}:{port}/ (data dir {settings.data_dir})\n")
    embedded = _embedded_scheduler(settings)
    try:
        uvicorn.run(
            "mingyue.web.asgi:app",
            host=host,
            port=port,
            workers=workers or settings.web_workers,
            log_level="warning",
            factory=False,
        )
    finally:
        if embedded is not None:
            embedded.stop()


def _embedded_scheduler(settings: Settings) -> SchedulerRunner | None:
    # One scheduler per `mingyue serve` (not per uvicorn worker); a second one elsewhere is
    # harmless, the claim in core_schedule_run fires each due time once.
    if not settings.scheduler_embedded:
        return None
    from mingyue.core.scheduling import runner  # lazy: APScheduler only where one runs

    embedded = runner.SchedulerRunner(settings)
    embedded.start()
    sys.stderr.write(
        f"mingyue: scheduler {embedded.identity} ({len(embedded.schedules)} schedules)\n"
    )
    return embedded


@app.command()
def demo(
    data_dir: DataDir = None,
    json_out: JsonOut = False,
    serve_after: Annotated[bool, typer.Option("--serve", help="Serve afterwards.")] = False,
    host: Annotated[str, typer.Option(help="Bind address for --serve.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port for --serve.")] = 8000,
) -> None:
    """创建演示数据 / Create a data dir with demo organizations, users, cases, usage and ledger entries."""
    from mingyue.demo import build_demo  # lazy: CLI start-up time (the demo imports every enabler)

    settings = settings_for(data_dir)
    with run_cli():
        ensure_database(settings)
        result = build_demo(settings, url=f"http://{host}:{port}/")
    if json_out:
        emit(result, True)
    else:
        sys.stderr.write(f"demo data in {settings.data_dir}; log in at {result['url']}\n")
        sys.stderr.write("demo users (username / password / role; API tokens: --json):\n")
        for u in result["users"]:
            sys.stderr.write(
                f"  {u['username']:<12} {u['password']:<18} {u['role']:<26} {u['organization']}\n"
            )
    if serve_after:
        serve(host=host, port=port, data_dir=data_dir, workers=1)


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """升级数据库 / Upgrade the database to the newest migrations of the core and every enabler."""

    settings = settings_for(data_dir)
    with run_cli():
        migrate.upgrade(settings)
    sys.stderr.write("database is up to date\n")


@db_app.command("current")
def db_current(data_dir: DataDir = None, json_out: JsonOut = False) -> None:
    """查看数据库版本 / Show the database's revisions and the code's heads."""

    settings = settings_for(data_dir, read_only=True)
    emit(
        {"current": sorted(migrate.current(settings)), "heads": sorted(migrate.heads(settings))},
        json_out,
    )


@user_app.command("create")
def user_create(
    username: str,
    organization: Annotated[str, typer.Option(help="Organization name or id.")],
    role: Annotated[list[str], typer.Option(help="Role (repeatable).")],
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, envvar="MINGYUE_NEW_PASSWORD")
    ],
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """创建用户 / Create a user in an organization."""
    from sqlalchemy import select

    with run_cli(), cli_uow(data_dir, as_user) as uow:
        q = select(Organization).where(
            Organization.id == int(organization)
            if organization.isdigit()
            else Organization.name == organization
        )
        org = uow.session.scalars(q).first()
        if org is None:
            raise InvalidInput(
                "core.not_found", f"no organization {organization!r}", field="--organization"
            )
        out = accounts.create_user(
            uow=uow,
            actor=uow.actor,
            username=username,
            password=password,
            organization_id=org.id,
            roles=role,
        )
    emit(out, json_out)


@user_app.command("list")
def user_list(data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False) -> None:
    """列出用户 / List users visible to the acting user."""

    with run_cli(), cli_uow(data_dir, as_user, read_only=True) as uow:
        out = accounts.list_users(uow=uow, actor=uow.actor)
    emit(out, json_out)


@user_app.command("token")
def user_token(
    username: str,
    name: Annotated[str, typer.Option(help="Token label.")] = "cli",
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """签发 API 令牌 / Issue an API token for a user (printed once)."""
    from sqlalchemy import select

    with run_cli(), cli_uow(data_dir, as_user) as uow:
        user = uow.session.scalars(select(User).where(User.username == username)).first()
        if user is None:
            raise NotFound("core.user.not_found", f"no user {username!r}")
        out = accounts.issue_token(uow=uow, actor=uow.actor, user_id=user.id, name=name)
    emit(out, json_out)


@user_app.command("org-create")
def org_create(
    name: str,
    kind: Annotated[str, typer.Option(help="operator|enterprise|regulator")],
    uscc: Annotated[str | None, typer.Option(help="Unified social credit code.")] = None,
    sme: Annotated[bool, typer.Option("--sme", help="Small or medium enterprise.")] = False,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """创建组织 / Create an organization."""

    with run_cli(), cli_uow(data_dir, as_user) as uow:
        out = accounts.create_org(
            uow=uow, actor=uow.actor, name=name, kind=kind, uscc=uscc, is_sme=sme
        )
    emit(out, json_out)


@app.command()
def worker(
    data_dir: DataDir = None,
    once: Annotated[bool, typer.Option(help="Process what is queued, then exit.")] = False,
) -> None:
    """运行后台作业进程 / Run background jobs from Redis (MINGYUE_REDIS_URL)."""

    settings = settings_for(data_dir)
    with run_cli():
        ensure_database(settings)
        run_worker = load_ref("mingyue.coreapps.jobs.cli:run_worker")
        run_worker(settings, once=once)


@app.command()
def scheduler(data_dir: DataDir = None) -> None:
    """运行定时任务调度器 / Run the scheduler of periodic work until SIGTERM/SIGINT (each due time fires once)."""
    settings = settings_for(data_dir)
    with run_cli():
        ensure_database(settings)
        from mingyue.core.scheduling import runner  # lazy: APScheduler only where one runs

        raise typer.Exit(runner.run_scheduler(settings))


@schedule_app.command("list")
def schedule_list(data_dir: DataDir = None, json_out: JsonOut = False) -> None:
    """列出定时任务 / List the declared schedules: trigger, next run, last run and its result."""
    settings = settings_for(data_dir, read_only=True)
    with run_cli():
        ensure_database(settings)
        rows = listing.list_schedules(settings)
    if json_out:
        emit(rows, json_out)
        return
    tz = settings.timezone
    emit(
        [
            {
                "name": r.name,
                "trigger": r.trigger,
                "next_run": local_time(r.next_run_at, tz),
                "last_run": local_time(r.last_due_at, tz),
                "last_result": listing.result_text(r),
            }
            for r in rows
        ],
        False,
        title=f"schedules ({tz})",
    )


@dev_app.command("check")
def dev_check(json_out: JsonOut = False) -> None:
    """检查赋能模块契约 / Check every installed enabler's contract and the import contracts; exit 1 on a problem.

    Declaration and shape, every "module:attr" (job handlers, case hooks, settings, CLI group),
    migrations' branch label, tests and docs, case kinds without the extras, `# lazy:` imports,
    and pyproject's [tool.importlinter] contracts.
    """
    from mingyue.devcheck import check_all  # lazy: CLI start-up time (imports every enabler)

    report = check_all()
    if json_out:
        emit({"ok": report.ok, "problems": report.problems, "notes": report.notes}, True)
    else:
        for line in report.problems:
            sys.stdout.write(line + "\n")
        for note in report.notes:
            sys.stderr.write(f"note: {note}\n")
        if report.ok:
            sys.stderr.write("every enabler honours the contract\n")
        else:
            sys.stderr.write(f"{len(report.problems)} problem(s)\n")
    if not report.ok:
        raise typer.Exit(1)


@dev_app.command("makemigration")
def dev_makemigration(
    key: str, message: Annotated[str, typer.Option("-m", "--message")], data_dir: DataDir = None
) -> None:
    """生成迁移 / Autogenerate a migration on the branch of one enabler (or 'core')."""

    settings = settings_for(data_dir)
    with run_cli():
        migrate.make_migration(settings, key, message)


# ---- operations: check --deploy, backup, restore (docs/settings.md, README "Production") ----


def _passphrase(path: Path | None, *, confirm: bool) -> bytes:
    if path is not None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise fail(
                f"error: cannot read passphrase file {path}: {exc.strerror or exc}", 2
            ) from None
        value = data.rstrip(b"\r\n")
        if not value:
            raise fail(f"error: passphrase file {path} is empty", 2)
        return value
    if not sys.stdin.isatty():
        raise fail("error: no terminal to ask for the passphrase: use --passphrase-file", 2)
    text = typer.prompt("Backup passphrase", hide_input=True, confirmation_prompt=confirm)
    return str(text).encode()


PassphraseFile = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help="File whose first line is the passphrase of the keys (asked for when absent).",
    ),
]


@app.command("check")
def check_cmd(
    deploy: Annotated[
        bool, typer.Option("--deploy", help="Also judge the settings as a production deployment.")
    ] = False,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """就绪检查 / Check readiness (database, Redis, migrations, signing key); with --deploy, production
    settings too. One line per problem; exit 1 on an error, warnings alone exit 0."""
    from mingyue.core.ops import deploy as deploy_checks  # lazy: CLI start-up time
    from mingyue.core.ops.readiness import readiness  # lazy: CLI start-up time

    settings = settings_for(data_dir, read_only=True)
    with run_cli():
        ready = readiness(settings)
        problems = [
            deploy_checks.Problem("error", f"ready.{name}", check.detail or "failed")
            for name, check in ready.checks.items()
            if check.ok is False
        ]
        if deploy:
            problems += deploy_checks.deploy_problems(settings)
    errors = [p for p in problems if p.level == "error"]
    if json_out:
        emit(
            {"ok": not errors, "problems": [p.__dict__ for p in problems]},
            True,
        )
    else:
        for p in problems:
            sys.stdout.write(p.line() + "\n")
        warnings = len(problems) - len(errors)
        if errors:
            sys.stderr.write(f"{len(errors)} error(s), {warnings} warning(s)\n")
        else:
            sys.stderr.write(f"no errors ({warnings} warning(s))\n")
    if errors:
        raise typer.Exit(1)


@app.command()
def backup(
    out: Annotated[Path, typer.Option("--out", help="The archive to write (.tar or .tar.gz).")],
    passphrase_file: PassphraseFile = None,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """备份 / Write the database, the data dir and the encrypted keys to one tar archive."""
    from mingyue.core.ops.backup import create_backup  # lazy: CLI start-up time

    settings = settings_for(data_dir, read_only=True)
    secret = _passphrase(passphrase_file, confirm=True)
    with run_cli():
        manifest = create_backup(settings, out, secret)
    summary = {
        "archive": str(out),
        "database": manifest["database"]["kind"],
        "members": len(manifest["members"]),
        "rows": sum(manifest["counts"].values()),
        "alembic": manifest["alembic"]["current"],
    }
    if json_out:
        emit(summary, True)
    else:
        sys.stderr.write(
            f"backup written to {out}: {summary['database']} database, "
            f"{summary['rows']} rows, {summary['members']} members; keep the passphrase apart\n"
        )


@app.command()
def restore(
    archive: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A backup archive.")
    ],
    passphrase_file: PassphraseFile = None,
    data_dir: DataDir = None,
    json_out: JsonOut = False,
) -> None:
    """恢复备份 / Restore a backup into an empty deployment, then verify the counts and the ledger."""
    from mingyue.core.ops.restore import restore_backup  # lazy: CLI start-up time

    settings = settings_for(data_dir)
    secret = _passphrase(passphrase_file, confirm=False)
    with run_cli():
        report = restore_backup(settings, archive, secret)
    if json_out:
        emit(report.to_dict(), True)
    if not report.ledger_ok:
        raise fail(f"error: restored, but the ledger does not verify: {report.ledger_reason}", 1)
    if not json_out:
        sys.stderr.write(
            f"restored {report.database} database ({sum(report.counts.values())} rows, counts "
            f"match the manifest), {report.files} files; ledger OK: {report.ledger_entries} "
            "entries\n"
        )


class UnavailableGroup(TyperGroup):
    """The CLI group of an enabler that cannot load (a missing extra).

    ``mingyue --help`` lists it with the reason; any use of it (``--help`` included) prints one
    line naming the missing module and the ``pip install`` that fixes it, and exits 1.
    """

    message = ""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Refuse before any option is parsed: the group has no commands to offer."""
        raise fail(self.message, 1)


def unavailable_cli(name: str, module: str, extras: str) -> typer.Typer:
    """Return a stand-in group for ``mingyue <name>``, whose module needs ``module``."""
    message = (
        f"error: `mingyue {name}` is unavailable: it needs the module {module!r}; "
        f"pip install 'mingyue[{extras}]'"
    )
    group = type(f"Unavailable_{name}", (UnavailableGroup,), {"message": message})
    return typer.Typer(
        cls=group,
        no_args_is_help=False,
        # no brackets here: the help screen's rich markup would take "[extra]" for a tag
        help=f"不可用：缺少模块 {module} / unavailable: needs module {module} (extra {extras})",
    )


def _missing_module(exc: ModuleNotFoundError, ref: str) -> str | None:
    """Return the outside module an import of ``ref`` lacks; None when it is our own module."""
    missing = exc.name or ""
    if missing == "mingyue" or missing.startswith("mingyue."):
        return None  # our own module: a bug (or the enabler's CLI is gone), not an extra
    return missing or ref.partition(":")[0]


def _mount_plugins(only: str | None = None) -> None:
    # Like the web app (web/app.py, _mount): an enabler whose extra is missing takes neither the
    # CLI nor the other commands down; its group says what to install.
    names = {"credentials": "credential"}
    reg = registry()
    for en in reg.ordered():
        name = names.get(en.key, en.key)
        if not en.cli:
            continue
        if only is not None and name != only:
            # Importing every enabler's CLI costs start-up time; a command needs only its own.
            continue
        try:
            sub = load_ref(en.cli)
        except ModuleNotFoundError as exc:
            if exc.name and en.cli.split(":")[0].startswith(exc.name):
                continue  # the declared CLI module itself is absent: no group to offer
            missing = _missing_module(exc, en.cli)
            if missing is None:
                raise
            sub = unavailable_cli(name, missing, ",".join(en.extras) or en.key)
        app.add_typer(sub, name=name)
    for key, error in sorted(reg.errors.items()):
        # An enabler whose declaration itself failed to load: say so instead of "No such command".
        if only is not None and key != only:
            continue
        if not error.startswith("ModuleNotFoundError: No module named "):
            continue  # a broken declaration, not a missing extra: the log and `dev check` say so
        module = error.rpartition(" ")[2].strip("'\"")
        app.add_typer(unavailable_cli(key, module, key), name=key)


_mounted = False


def _mount_plugins_once() -> None:
    global _mounted
    if not _mounted:
        _mount_plugins()
        _mounted = True


def main() -> None:
    """Entry point of the console script."""
    global _mounted
    first = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    builtin = {"serve", "demo", "db", "user", "dev", "worker", "check", "backup", "restore"}
    if first is not None and first not in builtin and not _mounted:
        _mount_plugins(only=first)
        _mounted = True
    else:
        _mount_plugins_once()
    app()


__all__ = ["Path", "app", "fail", "json", "main"]


if __name__ == "__main__":
    main()
