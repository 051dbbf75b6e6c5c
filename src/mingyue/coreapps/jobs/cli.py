"""CLI: `mingyue jobs list|show|cancel|wait|selftest|run-pending|reap|worker`, `mingyue worker`."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from mingyue.cli_support import (
    AsUser,
    DataDir,
    JsonOut,
    cli_uow,
    emit,
    ensure_database,
    err_console,
    fail,
    run_cli,
    settings_for,
)
from mingyue.core import jobs
from mingyue.core.config import Settings
from mingyue.core.errors import Conflict
from mingyue.core.jobs.queueing import queue_key
from mingyue.core.jobs.redis_queue import RedisWorker
from mingyue.core.ledger import audit

app = typer.Typer(
    help="后台作业 / Background jobs: list, show, cancel; run workers.", no_args_is_help=True
)


def _rows(items: list[jobs.JobOut]) -> list[dict[str, Any]]:
    return [
        {
            "id": j.id,
            "kind": j.kind,
            "status": j.status,
            "progress": f"{j.progress}%",
            "message": j.error if j.status == "failed" else j.message,
            "by": j.submitted_by,
        }
        for j in items
    ]


@app.command("list")
def list_cmd(
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
    status: Annotated[str | None, typer.Option(help="Only jobs in this status.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """列出作业 / List jobs, newest first."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
        items = jobs.list_jobs(uow=uow, actor=uow.actor, status=status, kind=kind, limit=limit)
    emit(items if json_out else _rows(items), json_out, title="jobs")


@app.command()
def show(
    job_id: int, data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False
) -> None:
    """查看作业 / Show one job: status, progress, result or error."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
        out = jobs.get_job(uow=uow, actor=uow.actor, job_id=job_id)
    emit(out, json_out)


@app.command()
def cancel(
    job_id: int, data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False
) -> None:
    """取消作业 / Cancel a queued job, or ask a running one to stop."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        out = jobs.request_cancel(uow=uow, actor=uow.actor, job_id=job_id)
    emit(out, json_out)


@app.command()
def selftest(
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
    seconds: Annotated[float, typer.Option(help="How long it runs.")] = 3.0,
    steps: Annotated[int, typer.Option(help="Progress steps.")] = 10,
    wait: Annotated[bool, typer.Option(help="Follow it until it ends.")] = False,
) -> None:
    """排队一个自检作业 / Queue a self-test job (sleeps with progress; cancellable)."""
    with run_cli():
        with cli_uow(data_dir, as_user, require_user=True) as uow:
            out = jobs.submit(
                uow=uow,
                actor=uow.actor,
                kind="core.selftest",
                params={"seconds": seconds, "steps": steps},
            )
        if wait:
            out = follow(
                out.id, data_dir=data_dir, as_user=as_user, timeout=seconds + 600, show=not json_out
            )
    emit(out, json_out)


@app.command()
def wait(
    job_id: int,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 3600.0,
) -> None:
    """等待作业结束 / Follow a job with a progress bar until it ends; exit non-zero unless it succeeded."""
    with run_cli():
        out = follow(job_id, data_dir=data_dir, as_user=as_user, timeout=timeout, show=not json_out)
    emit(out, json_out)
    if out.status != "succeeded":
        raise fail(f"job {out.id} {out.status}: {out.error or out.message}", 1)


def follow(
    job_id: int, *, data_dir: Path | None, as_user: str | None, timeout: float, show: bool = True
) -> jobs.JobOut:
    """Poll a job until it ends, drawing a progress bar on stderr; return its last state."""
    from rich.progress import (  # lazy: CLI start-up time
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
    )

    def load() -> jobs.JobOut:
        with cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
            return jobs.get_job(uow=uow, actor=uow.actor, job_id=job_id)

    job = load()
    deadline = time.monotonic() + timeout
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[message]}"),
        console=err_console,
        disable=not show,
        transient=True,
    ) as bar:
        task = bar.add_task(f"job {job.id} {job.kind}", total=100, message="")
        while not job.finished:
            bar.update(task, completed=job.progress, message=job.message)
            if time.monotonic() > deadline:
                raise Conflict(
                    "core.job.wait_timeout",
                    f"job {job.id} still {job.status} after {timeout:g}s",
                    job_id=job.id,
                    status=job.status,
                )
            time.sleep(0.5)
            job = load()
        bar.update(task, completed=job.progress, message=job.message)
    return job


@app.command("run-pending")
def run_pending_cmd(data_dir: DataDir = None, json_out: JsonOut = False) -> None:
    """就地运行排队作业 / Run every queued job here, synchronously (embedded mode, maintenance)."""
    with run_cli():
        settings = settings_for(data_dir)
        ensure_database(settings)
        done = jobs.run_pending(settings)
    emit(done if json_out else _rows(done), json_out, title="jobs run")


@app.command()
def reap(data_dir: DataDir = None, json_out: JsonOut = False) -> None:
    """回收失联作业 / Retry or fail running jobs whose worker stopped sending heartbeats."""
    with run_cli():
        settings = settings_for(data_dir)
        ensure_database(settings)
        out = jobs.reap(settings)
    emit(out if json_out else _rows(out), json_out, title="reaped")


def run_worker(settings: Settings, *, once: bool = False) -> int:
    """Run jobs until SIGTERM/SIGINT (or, with ``once``, until the queue is empty)."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return _work(settings, once=once)
    finally:
        # The last entries this worker wrote get a signed head (docs/security.md, "Ledger").
        audit.seal_head(settings, force=True)


def _work(settings: Settings, *, once: bool) -> int:
    stop = threading.Event()
    if not settings.redis_url:
        if once:
            jobs.reap(settings)
            return len(jobs.run_pending(settings))
        # No Redis: poll the database in the foreground, like the runner inside `mingyue serve`.
        runner = jobs.EmbeddedRunner(settings, threads=max(1, settings.embedded_workers))
        _on_signals(stop.set)
        runner.start()
        sys.stderr.write(f"worker {runner.worker_id} polling the database (no Redis)\n")
        stop.wait()
        runner.stop()
        return 0

    worker = RedisWorker(settings)
    _on_signals(worker.stop)
    sys.stderr.write(f"worker {worker.worker_id} on {queue_key(settings)}\n")
    sys.stderr.flush()
    return worker.run(until_empty=once)


def _on_signals(handler: Any) -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _s, _f: handler())


@app.command()
def worker(
    data_dir: DataDir = None,
    once: Annotated[bool, typer.Option(help="Process what is queued, then exit.")] = False,
) -> None:
    """运行后台作业进程 / Run background jobs from Redis (MINGYUE_REDIS_URL); without it, poll the database."""
    with run_cli():
        settings = settings_for(data_dir)
        ensure_database(settings)
        run_worker(settings, once=once)


if __name__ == "__main__":
    app()
