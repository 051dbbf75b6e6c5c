"""`mingyue compute …` commands. Thin: parse → service → emit."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from mingyue.cli_support import AsUser, DataDir, JsonOut, cli_uow, emit, run_cli
from mingyue.sdk import local_time, now
from mingyue.sdk.errors import InvalidInput

from . import service
from .schemas import PoolIn
from .tariffs import read_tariff_arg

app = typer.Typer(
    help="公共算力调度 / Public compute: pools, jobs, usage, simulation", no_args_is_help=True
)
pool_app = typer.Typer(help="算力池 / Compute pools", no_args_is_help=True)
app.add_typer(pool_app, name="pool")


def _options(values: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values or []:
        if "=" not in v:
            raise InvalidInput(
                "compute.option_invalid", f"--option {v!r}: use KEY=VALUE", field="--option"
            )
        k, val = v.split("=", 1)
        out[k.strip()] = val.strip()
    return out


@pool_app.command("add")
def pool_add(
    name: Annotated[str, typer.Option("--name", help="Pool name")],
    kind: Annotated[str, typer.Option("--kind", help="local | slurm | ray")],
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint", help="Ray dashboard URL, or the path of the Slurm cluster's slurm.conf"
        ),
    ] = None,
    tariff: Annotated[
        str | None,
        typer.Option(
            "--tariff",
            help="Tariff file (YAML/JSON), inline JSON, or peak=..,flat=..,valley=.. "
            "(CNY per CPU-second)",
        ),
    ] = None,
    region: Annotated[str | None, typer.Option("--region")] = None,
    cpus: Annotated[int | None, typer.Option("--cpus", help="CPUs of a local pool")] = None,
    max_runtime: Annotated[int | None, typer.Option("--max-runtime-s")] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option", help="KEY=VALUE adapter option (partition, jobcomp_file, account)"
        ),
    ] = None,
    enabled_for: Annotated[
        list[int] | None,
        typer.Option(
            "--enabled-for",
            help="Organization id allowed to use the pool (repeatable; "
            "default: every organization)",
        ),
    ] = None,
    token_env: Annotated[
        str | None,
        typer.Option(
            "--token-env",
            help="Read the engine's bearer token from this environment variable (stored encrypted)",
        ),
    ] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """登记算力池 / Register a pool: `mingyue compute pool add --name N --kind local|slurm|ray`."""
    with run_cli():
        creds = None
        if token_env:
            token = os.environ.get(token_env)
            if not token:
                raise InvalidInput(
                    "compute.credentials_missing",
                    f"environment variable {token_env} is empty",
                    field="--token-env",
                )
            creds = {"token": token}
        body = PoolIn(
            name=name,
            kind=kind,
            endpoint=endpoint,
            region=region,
            tariff=read_tariff_arg(tariff) if tariff else None,
            cpus=cpus,
            max_runtime_s=max_runtime,
            options=_options(option),
            credentials=creds,
            enabled_for=enabled_for or None,
        )
        with cli_uow(data_dir, as_user) as uow:
            emit(service.add_pool(uow=uow, pool=body), json_out)


@pool_app.command("list")
def pool_list(
    refresh: Annotated[bool, typer.Option("--refresh")] = False,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """列出算力池 / List pools with capacity and utilisation (--refresh asks the engines)."""
    with run_cli(), cli_uow(data_dir, as_user) as uow:
        rows = service.list_pools(uow=uow, refresh=refresh)
        if json_out:
            emit(rows, True)
        else:
            emit(
                [
                    {
                        k: getattr(r, k)
                        for k in (
                            "name",
                            "kind",
                            "region",
                            "suspended",
                            "cpus",
                            "free_cpus",
                            "queued",
                            "running",
                            "down_reason",
                        )
                    }
                    for r in rows
                ],
                False,
            )


@pool_app.command("suspend")
def pool_suspend(
    name: str,
    resume: Annotated[bool, typer.Option("--resume")] = False,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """暂停算力池 / Suspend a pool (running jobs finish, new ones go elsewhere); --resume undoes it."""
    with run_cli(), cli_uow(data_dir, as_user) as uow:
        emit(service.suspend_pool(uow=uow, name=name, suspended=not resume), json_out)


@pool_app.command("maintenance")
def pool_maintenance(
    name: str,
    start: Annotated[str, typer.Option("--start", help="ISO time with zone")],
    end: Annotated[str, typer.Option("--end", help="ISO time with zone")],
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """声明维护窗口 / Declare a maintenance window (no dispatch that would overlap it)."""
    with run_cli():
        try:
            s, e = datetime.fromisoformat(start), datetime.fromisoformat(end)
        except ValueError as exc:
            raise InvalidInput(
                "compute.maintenance_invalid", f"not an ISO time: {exc}", field="--start"
            ) from exc
        with cli_uow(data_dir, as_user) as uow:
            emit(service.add_maintenance(uow=uow, name=name, start=s, end=e), json_out)


@app.command()
def submit(
    spec: Annotated[Path, typer.Argument(help="SPEC.yaml or SPEC.json ('-': stdin)")],
    policy: Annotated[str, typer.Option("--policy")] = "cost",
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """提交作业 / Submit a job spec; prints {job_id, pool, reason, estimated_cost}."""
    with run_cli():
        text = sys.stdin.read() if str(spec) == "-" else spec.read_text(encoding="utf-8")
        try:
            data: Any = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidInput(
                "compute.spec_unreadable", f"cannot parse {spec}: {exc}", field="spec"
            ) from exc
        with cli_uow(data_dir, as_user, require_user=True) as uow:
            out = service.submit_job(uow=uow, spec=data, policy=policy)
        emit(
            {
                "job_id": out.job_id,
                "pool": out.pool,
                "reason": out.reason,
                "estimated_cost": out.estimated_cost,
                **({"detail": out.detail} if out.detail else {}),
            },
            json_out,
        )


@app.command()
def status(
    job: int, data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False
) -> None:
    """查看作业 / Show a job: {state, pool, seconds, cost, free_quota_used}."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        j = service.job_status(uow=uow, job_id=job)
        emit(
            {
                "state": j.state,
                "pool": j.pool,
                "seconds": j.seconds,
                "cost": j.cost,
                "free_quota_used": j.free_quota_used,
                "reason": j.reason,
                **({"slot": j.slot} if j.slot else {}),
            },
            json_out,
        )


@app.command()
def logs(
    job: int, data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False
) -> None:
    """查看作业输出 / Print the end of a job's output."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        text = service.job_logs(uow=uow, job_id=job)
    if json_out:
        emit({"job_id": job, "logs": text}, True)
    else:
        sys.stdout.write(text)


@app.command()
def cancel(
    job: int, data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False
) -> None:
    """取消作业 / Cancel a job (a finished job gets a clear message)."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        j = service.cancel_job(uow=uow, job_id=job)
        emit(
            {
                "state": j.state,
                "pool": j.pool,
                "seconds": j.seconds,
                "cost": j.cost,
                "reason": j.reason,
            },
            json_out,
        )


@app.command()
def usage(
    month: Annotated[
        str | None,
        typer.Option(
            "--month",
            help="月份 YYYY-MM，默认本月（显示时区）/ YYYY-MM; default: the current month "
            "in the display time zone",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """月度算力账单 / Print the month's compute statement: each job's seconds, windows, prices."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        month = month or local_time(now(), uow.settings, "%Y-%m")
        out = service.usage(uow=uow, month=month)
    if json_out:
        emit(out, True)
    else:
        emit([ln.model_dump() for ln in out.lines], False, title=f"{month}: total {out.total}")


@app.command()
def reconcile(data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False) -> None:
    """对账一轮 / Run one reconciler pass (poll engines, move states, bill finished jobs)."""
    with run_cli(), cli_uow(data_dir, as_user) as uow:
        emit(service.reconcile(uow=uow), json_out)


@app.command()
def simulate(
    trace: Path,
    pools: Annotated[Path | None, typer.Option("--pools", help="POOLS.yaml")] = None,
    policy: Annotated[str, typer.Option("--policy", help="cost | fifo | soonest")] = "cost",
    free_quota: Annotated[
        str | None,
        typer.Option("--free-quota", help="SME free quota per organization per 30 days (CNY)"),
    ] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """回放作业轨迹 / Replay a trace through the matcher: waits, utilisation per pool, total cost."""
    with run_cli():
        quota = None
        if free_quota is not None:
            try:
                quota = Decimal(free_quota)
            except InvalidOperation:
                raise InvalidInput(
                    "compute.quota_invalid", "--free-quota: an amount in CNY", field="--free-quota"
                ) from None
        if pools is not None:
            out = service.simulate_trace(
                uow=None, trace=trace, pools=pools, policy=policy, free_quota=quota
            )
        else:
            with cli_uow(data_dir, as_user) as uow:
                out = service.simulate_trace(
                    uow=uow, trace=trace, pools=None, policy=policy, free_quota=quota
                )
        emit(out, json_out)
