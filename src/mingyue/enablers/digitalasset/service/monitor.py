"""Wash-trade monitoring: runs over exports or chain events, alerts, analyst verdicts, labels.

An alert is identified by its fingerprint (pattern, parties, tokens): a later run that finds it
again counts an occurrence instead of opening a second alert. A false-positive verdict stores a
suppression for the pattern and those parties, which every later run honours.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import func, select

from mingyue.enablers.digitalasset.engine.labels import (
    AddressLabel,
    LabelStore,
    normalise_address,
    parse_labels_csv,
)
from mingyue.enablers.digitalasset.engine.monitor import (
    Alert,
    MonitorResult,
    detect,
    from_records,
    read_csv,
    read_json,
    suppression_key,
)
from mingyue.enablers.digitalasset.models_monitor import (
    DigitalassetAddressLabel,
    DigitalassetAlert,
    DigitalassetMonitorRun,
    DigitalassetSuppression,
)
from mingyue.enablers.digitalasset.schemas_monitor import (
    AlertOut,
    LabelIn,
    LabelOut,
    MonitorRunOut,
)
from mingyue.enablers.digitalasset.settings import options
from mingyue.sdk import Actor, UnitOfWork, check, get_visible, now, require_org
from mingyue.sdk.errors import Conflict, InvalidInput, PayloadTooLarge

ALERT_STATUSES = ("open", "confirmed", "false_positive")


def read_events(data: bytes, filename: str) -> pl.DataFrame:
    """Parse an export by its name: ``.json`` as JSON, anything else as CSV."""
    if filename.lower().endswith(".json"):
        return read_json(data)
    return read_csv(data)


def monitor_file(path: Path, *, labels_csv: str | None = None) -> MonitorResult:
    """Run the detectors on a local export (no database): the CLI's ``monitor``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(
            "digitalasset.monitor.bad_events",
            f"cannot read {path}: {exc.strerror or exc}",
            field="file",
        ) from exc
    store = LabelStore(parse_labels_csv(labels_csv) if labels_csv else ())
    return detect(read_events(data, path.name), labels=store)


def label_store(uow: UnitOfWork, organization_id: int) -> LabelStore:
    """The organization's address labels as the detectors read them."""
    rows = uow.session.scalars(
        select(DigitalassetAddressLabel).where(
            DigitalassetAddressLabel.organization_id == organization_id
        )
    )
    return LabelStore(AddressLabel(r.address, r.kind, r.source, r.confidence, r.note) for r in rows)


def suppressed_keys(uow: UnitOfWork, organization_id: int) -> set[tuple[str, frozenset[str]]]:
    """Patterns and parties an analyst marked false positive in this organization."""
    rows = uow.session.scalars(
        select(DigitalassetSuppression).where(
            DigitalassetSuppression.organization_id == organization_id
        )
    )
    return {suppression_key(r.pattern, r.parties.split(",")) for r in rows}


def run_monitor(
    *,
    uow: UnitOfWork,
    actor: Actor,
    data: bytes | None = None,
    filename: str = "events.csv",
    records: Iterable[Mapping[str, Any]] | None = None,
) -> MonitorRunOut:
    """Run the detectors on an uploaded export (or chain adapter records) and store the alerts."""
    check(actor, "digitalasset.monitor.run")
    org = require_org(actor)
    opts = options(uow.settings)
    if data is not None and len(data) > opts.max_events_bytes:
        raise PayloadTooLarge(
            "digitalasset.monitor.too_large",
            f"the export is larger than {opts.max_events_bytes} bytes",
            field="file",
        )
    if records is not None:
        items = [dict(r) for r in records]
        table = from_records(items)
        raw = json.dumps(items, sort_keys=True, default=str).encode()
    elif data is not None:
        table = read_events(data, filename)
        raw = data
    else:
        raise InvalidInput("digitalasset.monitor.bad_events", "no events given", field="file")
    t0 = time.perf_counter()
    result = detect(table, labels=label_store(uow, org), suppressed=suppressed_keys(uow, org))
    seconds = time.perf_counter() - t0
    run = DigitalassetMonitorRun(
        organization_id=org,
        created_by=actor.username,
        source=filename[:255],
        sha256=hashlib.sha256(raw).hexdigest(),
    )
    uow.session.add(run)
    uow.session.flush()
    finish_run(uow, run, result, seconds)
    return MonitorRunOut.model_validate(run)


def finish_run(
    uow: UnitOfWork, run: DigitalassetMonitorRun, result: MonitorResult, seconds: float
) -> None:
    """Store a run's alerts (de-duplicated by fingerprint), its counts, and audit it."""
    run.events = result.events
    run.suppressed = result.suppressed
    run.inferred_hubs = [
        {"address": h.address, "kind": h.kind, "source": h.source, "confidence": h.confidence}
        for h in result.inferred_hubs[:200]
    ]
    run.seconds = round(seconds, 4)
    new, seen = store_alerts(uow, run.organization_id, run.id, result.alerts)
    run.alerts_new, run.alerts_seen = new, seen
    run.status = "done"
    run.finished_at = now()
    uow.audit(
        "digitalasset.monitor.ran",
        f"digitalasset_monitor_run:{run.id}",
        {"sha256": run.sha256, "events": run.events, "alerts_new": new, "alerts_seen": seen},
        organization_id=run.organization_id,
    )


def store_alerts(uow: UnitOfWork, org: int, run_id: int, alerts: list[Alert]) -> tuple[int, int]:
    """Open new alerts; count another occurrence of those already known (same fingerprint)."""
    prints = [a.fingerprint for a in alerts]
    existing = (
        {
            a.fingerprint: a
            for a in uow.session.scalars(
                select(DigitalassetAlert).where(
                    DigitalassetAlert.organization_id == org,
                    DigitalassetAlert.fingerprint.in_(prints),
                )
            )
        }
        if prints
        else {}
    )
    new = seen = 0
    at = now()
    for a in alerts:
        row = existing.get(a.fingerprint)
        if row is not None:
            row.occurrences += 1
            row.last_seen = at
            row.run_id = run_id
            row.severity = a.severity
            seen += 1
            continue
        uow.session.add(
            DigitalassetAlert(
                organization_id=org,
                fingerprint=a.fingerprint,
                pattern=a.pattern,
                severity=a.severity,
                addresses=a.addresses,
                tokens=a.tokens,
                rows=a.rows[:5000],
                evidence=_plain(a.evidence),
                first_seen=at,
                last_seen=at,
                run_id=run_id,
            )
        )
        new += 1
    uow.session.flush()
    return new, seen


def _plain(value: Any) -> Any:
    """JSON-safe copy (numpy floats, NaN) of an alert's evidence."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) or hasattr(value, "item"):
        f = float(value)
        return None if f != f else f  # NaN is not JSON
    return value


def list_alerts(
    *,
    uow: UnitOfWork,
    actor: Actor,
    status: str | None = None,
    pattern: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AlertOut]:
    """Alerts the actor may see, most severe and newest first."""
    check(actor, "digitalasset.alert.read")
    q = select(DigitalassetAlert)
    if status:
        if status not in ALERT_STATUSES:
            raise InvalidInput(
                "digitalasset.alert.bad_status", f"unknown status {status!r}", field="status"
            )
        q = q.where(DigitalassetAlert.status == status)
    if pattern:
        q = q.where(DigitalassetAlert.pattern == pattern)
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    rows = list(
        uow.session.scalars(
            q.order_by(DigitalassetAlert.last_seen.desc(), DigitalassetAlert.id.desc())
        )
    )
    rows.sort(key=lambda r: (order.get(r.severity, 9), -r.id))
    return [AlertOut.model_validate(r) for r in rows[offset : offset + max(1, min(limit, 500))]]


def count_alerts(*, uow: UnitOfWork, actor: Actor) -> dict[str, int]:
    """Alert counts by status."""
    check(actor, "digitalasset.alert.read")
    rows = uow.session.execute(
        select(DigitalassetAlert.status, func.count()).group_by(DigitalassetAlert.status)
    )
    return {str(s): int(n) for s, n in rows}


def get_alert(*, uow: UnitOfWork, actor: Actor, alert_id: int) -> AlertOut:
    """One alert (NotFound if absent or foreign)."""
    check(actor, "digitalasset.alert.read")
    return AlertOut.model_validate(get_visible(uow, DigitalassetAlert, alert_id))


def decide_alert(
    *, uow: UnitOfWork, actor: Actor, alert_id: int, verdict: str, note: str = ""
) -> AlertOut:
    """Record an analyst's verdict; a false positive silences the pattern for these parties."""
    check(actor, "digitalasset.alert.decide")
    if verdict not in ("confirmed", "false_positive"):
        raise InvalidInput(
            "digitalasset.alert.bad_verdict", f"unknown verdict {verdict!r}", field="verdict"
        )
    alert = get_visible(uow, DigitalassetAlert, alert_id, "digitalasset.alert.decide")
    if alert.status != "open":
        raise Conflict("digitalasset.alert.decided", "this alert has a verdict already")
    if verdict == "false_positive" and not note.strip():
        raise InvalidInput(
            "digitalasset.alert.note_required", "say why it is a false positive", field="note"
        )
    alert.status = verdict
    alert.decided_by = actor.username
    alert.decided_at = now()
    alert.decision_note = note.strip()
    if verdict == "false_positive":
        parties = ",".join(sorted(a.lower() for a in alert.addresses))
        exists = uow.session.scalar(
            select(DigitalassetSuppression).where(
                DigitalassetSuppression.organization_id == alert.organization_id,
                DigitalassetSuppression.pattern == alert.pattern,
                DigitalassetSuppression.parties == parties,
            )
        )
        if exists is None:
            uow.session.add(
                DigitalassetSuppression(
                    organization_id=alert.organization_id,
                    created_by=actor.username,
                    pattern=alert.pattern,
                    parties=parties,
                    alert_id=alert.id,
                    reason=alert.decision_note,
                )
            )
    uow.session.flush()
    uow.audit(
        "digitalasset.alert.decided",
        f"digitalasset_alert:{alert.id}",
        {"verdict": verdict, "pattern": alert.pattern},
        organization_id=alert.organization_id,
    )
    return AlertOut.model_validate(alert)


def add_label(*, uow: UnitOfWork, actor: Actor, label: LabelIn) -> LabelOut:
    """Add an address label to the actor's organization's store."""
    check(actor, "digitalasset.label.manage")
    org = require_org(actor)
    checked = AddressLabel(
        normalise_address(label.address),
        label.kind.lower(),
        label.source,
        label.confidence,
        label.note,
    )
    dup = uow.session.scalar(
        select(DigitalassetAddressLabel).where(
            DigitalassetAddressLabel.organization_id == org,
            DigitalassetAddressLabel.address == checked.address,
            DigitalassetAddressLabel.kind == checked.kind,
            DigitalassetAddressLabel.source == checked.source,
        )
    )
    if dup is not None:
        raise Conflict(
            "digitalasset.label.exists", "this address already has this label from this source"
        )
    row = DigitalassetAddressLabel(
        organization_id=org,
        created_by=actor.username,
        address=checked.address,
        kind=checked.kind,
        source=checked.source,
        confidence=checked.confidence,
        note=checked.note,
    )
    uow.session.add(row)
    uow.session.flush()
    uow.audit(
        "digitalasset.label.added",
        f"digitalasset_address_label:{row.id}",
        {"address": row.address, "kind": row.kind, "source": row.source},
    )
    return LabelOut.model_validate(row)


def import_labels(*, uow: UnitOfWork, actor: Actor, text: str, source: str = "import") -> int:
    """Import a label CSV (address,kind[,source,confidence,note]); returns how many were added."""
    check(actor, "digitalasset.label.manage")
    added = 0
    for lab in parse_labels_csv(text, default_source=source):
        try:
            add_label(
                uow=uow,
                actor=actor,
                label=LabelIn(
                    address=lab.address,
                    kind=lab.kind,
                    source=lab.source,
                    confidence=lab.confidence,
                    note=lab.note,
                ),
            )
            added += 1
        except Conflict:
            continue
    return added


def list_labels(*, uow: UnitOfWork, actor: Actor, limit: int = 500) -> list[LabelOut]:
    """Labels the actor may see."""
    check(actor, "digitalasset.alert.read")
    rows = uow.session.scalars(
        select(DigitalassetAddressLabel)
        .order_by(DigitalassetAddressLabel.id.desc())
        .limit(max(1, min(limit, 5000)))
    )
    return [LabelOut.model_validate(r) for r in rows]


def list_runs(*, uow: UnitOfWork, actor: Actor, limit: int = 50) -> list[MonitorRunOut]:
    """Monitoring runs the actor may see, newest first."""
    check(actor, "digitalasset.alert.read")
    rows = uow.session.scalars(
        select(DigitalassetMonitorRun)
        .order_by(DigitalassetMonitorRun.id.desc())
        .limit(max(1, min(limit, 500)))
    )
    return [MonitorRunOut.model_validate(r) for r in rows]
