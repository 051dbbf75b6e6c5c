"""REST API of monitoring and contract audit (``/api/digitalasset/monitor/…``, ``/audit/…``).

``api.py`` includes this router; every route depends on a permission.
"""

from __future__ import annotations

from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, File, Query, UploadFile

from mingyue.enablers.digitalasset.schemas_monitor import (
    AlertOut,
    AuditOut,
    DecisionIn,
    LabelIn,
    LabelOut,
    MonitorRunOut,
)
from mingyue.enablers.digitalasset.service import audit as audit_service
from mingyue.enablers.digitalasset.service import monitor as monitor_service
from mingyue.enablers.digitalasset.service import monitor_jobs
from mingyue.enablers.digitalasset.settings import options
from mingyue.sdk import Actor
from mingyue.sdk.errors import PayloadTooLarge
from mingyue.web.deps import IdPath, UoW, require

router = APIRouter(tags=["digitalasset"])

AlertReader = Annotated[Actor, Depends(require("digitalasset.alert.read"))]
AuditReader = Annotated[Actor, Depends(require("digitalasset.audit.read"))]
MAX_LABELS_BYTES = 8 * 1024 * 1024


def _read_capped(fh: BinaryIO, limit: int, key: str) -> bytes:
    data = fh.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(key, f"the file is larger than {limit} bytes", field="file")
    return data


@router.post("/monitor/runs", operation_id="digitalasset-monitor_run", status_code=202)
def run_monitor(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("digitalasset.monitor.run"))],
    file: Annotated[UploadFile, File(description="marketplace export: CSV or JSON")],
) -> MonitorRunOut:
    """Queue a wash-trading check of a marketplace export (a job: follow ``GET /monitor/runs/{id}``)."""
    limit = options(uow.settings).max_events_bytes
    data = _read_capped(file.file, limit, "digitalasset.monitor.too_large")
    return monitor_jobs.submit_monitor(
        uow=uow, actor=actor, data=data, filename=file.filename or "events.csv"
    )


@router.get("/monitor/runs/{run_id}", operation_id="digitalasset-get_monitor_run")
def get_run(run_id: IdPath, uow: UoW, actor: AlertReader) -> MonitorRunOut:
    """One monitoring run: ``status`` queued, running, done or error, its job, its counts."""
    return monitor_jobs.get_run(uow=uow, actor=actor, run_id=run_id)


@router.get("/monitor/runs", operation_id="digitalasset-list_monitor_runs")
def list_runs(uow: UoW, actor: AlertReader) -> list[MonitorRunOut]:
    """Monitoring runs, newest first."""
    return monitor_service.list_runs(uow=uow, actor=actor)


@router.get("/monitor/alerts", operation_id="digitalasset-list_alerts")
def list_alerts(
    uow: UoW,
    actor: AlertReader,
    status: Annotated[str | None, Query(max_length=20)] = None,
    pattern: Annotated[str | None, Query(max_length=30)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[AlertOut]:
    """Alerts, most severe first (``status``: open, confirmed, false_positive)."""
    return monitor_service.list_alerts(
        uow=uow, actor=actor, status=status, pattern=pattern, limit=limit, offset=offset
    )


@router.get("/monitor/alerts/{alert_id}", operation_id="digitalasset-get_alert")
def get_alert(alert_id: IdPath, uow: UoW, actor: AlertReader) -> AlertOut:
    """One alert with its evidence (sales, parties, funders, graph)."""
    return monitor_service.get_alert(uow=uow, actor=actor, alert_id=alert_id)


@router.post("/monitor/alerts/{alert_id}/decision", operation_id="digitalasset-decide_alert")
def decide_alert(
    alert_id: IdPath,
    body: DecisionIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("digitalasset.alert.decide"))],
) -> AlertOut:
    """Confirm an alert, or mark it a false positive (silences the pattern for these parties)."""
    return monitor_service.decide_alert(
        uow=uow, actor=actor, alert_id=alert_id, verdict=body.verdict, note=body.note
    )


@router.get("/monitor/labels", operation_id="digitalasset-list_labels")
def list_labels(uow: UoW, actor: AlertReader) -> list[LabelOut]:
    """Address labels (exchange hot wallets, platform wallets, mixers…)."""
    return monitor_service.list_labels(uow=uow, actor=actor)


@router.post("/monitor/labels", operation_id="digitalasset-add_label", status_code=201)
def add_label(
    body: LabelIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("digitalasset.label.manage"))],
) -> LabelOut:
    """Add one address label with its source and confidence."""
    return monitor_service.add_label(uow=uow, actor=actor, label=body)


@router.post("/monitor/labels/import", operation_id="digitalasset-import_labels")
def import_labels(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("digitalasset.label.manage"))],
    file: Annotated[UploadFile, File(description="CSV: address,kind[,source,confidence,note]")],
) -> dict[str, int]:
    """Import a label list; labels already present are skipped."""
    data = _read_capped(file.file, MAX_LABELS_BYTES, "digitalasset.label.too_large")
    text = data.decode("utf-8", errors="replace")
    return {"added": monitor_service.import_labels(uow=uow, actor=actor, text=text)}


@router.post("/audit/runs", operation_id="digitalasset-submit_audit", status_code=201)
def submit_audit(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("digitalasset.audit.submit"))],
    file: Annotated[UploadFile, File(description="a .sol file or a .zip of .sol files")],
) -> AuditOut:
    """Queue a security audit of contract sources (Slither + our rules, as a background job)."""
    data = _read_capped(file.file, audit_service.MAX_UPLOAD, "digitalasset.audit.too_large")
    return audit_service.submit_audit(
        uow=uow, actor=actor, data=data, filename=file.filename or "contract.sol"
    )


@router.get("/audit/runs", operation_id="digitalasset-list_audits")
def list_audits(uow: UoW, actor: AuditReader) -> list[AuditOut]:
    """Audits, newest first."""
    return audit_service.list_audits(uow=uow, actor=actor)


@router.get("/audit/runs/{audit_id}", operation_id="digitalasset-get_audit")
def get_audit(audit_id: IdPath, uow: UoW, actor: AuditReader) -> AuditOut:
    """One audit: status, and per-file results when done."""
    return audit_service.get_audit(uow=uow, actor=actor, audit_id=audit_id)


@router.get("/audit/runs/{audit_id}/sarif", operation_id="digitalasset-audit_sarif")
def audit_sarif(audit_id: IdPath, uow: UoW, actor: AuditReader) -> dict[str, Any]:
    """The audit's SARIF 2.1.0 log (for code-scanning tools)."""
    return audit_service.audit_sarif(uow=uow, actor=actor, audit_id=audit_id)
