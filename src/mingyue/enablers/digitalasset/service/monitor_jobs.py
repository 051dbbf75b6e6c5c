"""Monitoring uploads as background jobs (``digitalasset.monitor``): a 400 k-row export is read
and checked by a worker, never inside the request.

The request stores the upload, checks its head (a CSV's header and first rows, a small JSON
whole) so that a wrong file is refused at once, and queues the job; the run reads ``queued`` ->
``running`` -> ``done`` | ``error``. A job that runs again (a retry) finds its run finished and
stores nothing twice.
"""

from __future__ import annotations

import time
from pathlib import PurePosixPath
from typing import Any, Final

from mingyue.enablers.digitalasset.engine.monitor import MonitorResult, detect, read_csv, read_json
from mingyue.enablers.digitalasset.models_monitor import DigitalassetMonitorRun
from mingyue.enablers.digitalasset.schemas_monitor import MonitorRunOut
from mingyue.enablers.digitalasset.service.monitor import (
    finish_run,
    label_store,
    read_events,
    suppressed_keys,
)
from mingyue.enablers.digitalasset.settings import options
from mingyue.sdk import (
    Actor,
    JobContext,
    UnitOfWork,
    check,
    enqueue,
    get_visible,
    now,
    require_org,
    store_upload,
    stored_path,
)
from mingyue.sdk.errors import InvalidInput, PayloadTooLarge

# The head of a CSV checked in the request; a JSON export up to this size is parsed whole there
# (a larger one is checked by the job, which reports a bad file as the run's error).
PRECHECK_BYTES: Final = 64 * 1024
PRECHECK_JSON_BYTES: Final = 2 * 1024 * 1024
FINISHED: Final = ("done", "error")


def precheck(data: bytes, filename: str) -> None:
    """Refuse an export whose head cannot be read (missing columns, bad values) before queuing."""
    if not data.strip():
        raise InvalidInput(
            "digitalasset.monitor.bad_events", "the file is empty", field="file", reason="empty"
        )
    if filename.lower().endswith(".json"):
        if len(data) <= PRECHECK_JSON_BYTES:
            read_json(data)
        return
    head = data
    if len(data) > PRECHECK_BYTES:
        cut = data.rfind(b"\n", 0, PRECHECK_BYTES)
        head = data[: cut + 1] if cut > 0 else data[:PRECHECK_BYTES]
    read_csv(head)


def submit_monitor(*, uow: UnitOfWork, actor: Actor, data: bytes, filename: str) -> MonitorRunOut:
    """Store an export and queue the job that checks it for wash trading."""
    check(actor, "digitalasset.monitor.run")
    org = require_org(actor)
    limit = options(uow.settings).max_events_bytes
    if len(data) > limit:
        raise PayloadTooLarge(
            "digitalasset.monitor.too_large",
            f"the export is larger than {limit} bytes",
            field="file",
        )
    name = PurePosixPath(filename.replace("\\", "/")).name or "events.csv"
    precheck(data, name)
    stored = store_upload(
        uow=uow, upload=data, filename=name, purpose="digitalasset.monitor", max_bytes=limit
    )
    run = DigitalassetMonitorRun(
        organization_id=org,
        created_by=actor.username,
        source=name[:255],
        sha256=stored.sha256,
        status="queued",
        file_id=stored.id,
    )
    uow.session.add(run)
    uow.session.flush()
    job = enqueue(uow=uow, kind="digitalasset.monitor", params={"run_id": run.id})
    run.job_id = job.id
    uow.session.flush()
    return MonitorRunOut.model_validate(run)


def get_run(*, uow: UnitOfWork, actor: Actor, run_id: int) -> MonitorRunOut:
    """One monitoring run with its status (NotFound if absent or foreign)."""
    check(actor, "digitalasset.alert.read")
    return MonitorRunOut.model_validate(get_visible(uow, DigitalassetMonitorRun, run_id))


def run_monitor_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Job handler: read the stored export, run the detectors, store the alerts."""
    run_id = int(params["run_id"])
    with ctx.unit_of_work() as uow:
        run = get_visible(uow, DigitalassetMonitorRun, run_id)
        if run.status in FINISHED:
            return {"run_id": run.id, "status": run.status, "again": True}
        if run.file_id is None:
            raise ValueError(f"monitoring run {run_id} has no stored export")
        path = stored_path(uow=uow, file_id=run.file_id)
        org = run.organization_id
        labels = label_store(uow, org)
        muted = suppressed_keys(uow, org)
        name = run.source
        run.status = "running"
    ctx.progress(5, "reading the export")
    result: MonitorResult | None = None
    error = ""
    t0 = time.perf_counter()
    try:
        table = read_events(path.read_bytes(), name)
        ctx.progress(35, f"{table.height} events: running the detectors")
        t0 = time.perf_counter()
        result = detect(table, labels=labels, suppressed=muted)
    except InvalidInput as exc:
        error = str(exc.params.get("reason") or exc.message)[:2000]
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
    seconds = time.perf_counter() - t0
    ctx.progress(90, "storing the alerts")
    with ctx.unit_of_work() as uow:
        run = get_visible(uow, DigitalassetMonitorRun, run_id)
        if result is None:
            run.status = "error"
            run.error = error
            run.finished_at = now()
        else:
            finish_run(uow, run, result, seconds)
        return {
            "run_id": run.id,
            "status": run.status,
            "events": run.events,
            "alerts_new": run.alerts_new,
            "alerts_seen": run.alerts_seen,
        }
