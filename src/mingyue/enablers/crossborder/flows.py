"""Flow monitoring: read proxy/Zeek logs and captures against the declared transfers, count the
distinct individuals per recipient and year, and open an alert case per new alert.

The monitor's own state (keyed hashes of individuals, offsets) lives in one SQLite file per
organization under the data dir; the cases, audit entries and the job live in the platform.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event

from mingyue.sdk import (
    OVERSIGHT_ROLES,
    Actor,
    EvidenceRef,
    InvalidInput,
    JobContext,
    JobHandler,
    JobOut,
    NotFound,
    Settings,
    UnitOfWork,
    check,
    enqueue,
    open_case,
    organization,
    require_org,
    stored_path,
)

from . import findings
from .engine.flows.geo import open_resolver
from .engine.flows.monitor import Alert, DeclaredTransfer, FlowMonitor, FlowStore
from .engine.flows.watch import WatchProgress, watch_log, watch_pcap
from .scans import hash_key
from .settings import options
from .transfers import list_transfers

WATCH_FORMATS = ("combined", "nginx", "squid", "zeek", "pcap")
_PCAP_MAGIC = (
    b"\xd4\xc3\xb2\xa1",
    b"\xa1\xb2\xc3\xd4",
    b"\x4d\x3c\xb2\xa1",
    b"\xa1\xb2\x3c\x4d",
    b"\x0a\x0d\x0d\x0a",  # pcapng section header
)


def flow_store_path(settings: Settings, organization_id: int) -> Path:
    """Return where an organization's flow-monitor state lives (individual sets, offsets)."""
    path = settings.data_dir / "crossborder" / f"org_{organization_id}" / "flows.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def build_monitor(*, uow: UnitOfWork, actor: Actor, geoip: Path | None = None) -> FlowMonitor:
    """Return a flow monitor over the organization's declared transfers."""
    check(actor, "crossborder.watch")
    org = require_org(actor, field="--as")
    transfers = [
        DeclaredTransfer(
            str(t.id),
            t.recipient,
            t.country,
            tuple(t.endpoints),
            tuple(t.categories),
            t.legal_basis,
        )
        for t in list_transfers(uow=uow, actor=actor)
        if t.organization_id == org
    ]
    geo = options(uow.settings).geoip if geoip is None else geoip
    try:
        resolver = open_resolver(geo)
    except (ValueError, OSError) as exc:
        raise InvalidInput(
            "crossborder.bad_geoip", str(exc), field="--geoip", reason=str(exc)
        ) from None
    return FlowMonitor(
        FlowStore(flow_store_path(uow.settings, org)),
        transfers,
        hash_key=hash_key(uow.settings),
        geo=resolver,
    )


def _alert_title(a: Alert) -> str:
    if a.kind == "undeclared_overseas_endpoint":
        return f"未申报的境外端点 {a.detail.get('endpoint')} ({a.detail.get('country')})"
    return f"{a.recipient}: {a.kind} ({a.count} ≥ {a.threshold})"


def raise_alert_cases(
    *,
    uow: UnitOfWork,
    actor: Actor,
    alerts: list[Alert],
    raised: set[findings.Sighting] | None = None,
) -> list[int]:
    """Open one flow-alert case per new alert, and raise the finding it stands for.

    Returns the case ids; the (rule, subject) of each finding raised is added to ``raised``.
    """
    org = require_org(actor, field="--as")
    ids = []
    for a in alerts:
        title = _alert_title(a)[:200]
        case = open_case(
            uow=uow,
            kind="crossborder.flow_alert",
            title=title,
            organization_id=org,
            subject=a.recipient[:200],
            data=a.to_dict(),
        )
        uow.audit(
            "crossborder.flow.alerted", f"core_case:{case.id}", a.to_dict(), organization_id=org
        )
        sighting = findings.raise_for_alert(
            uow=uow, organization_id=org, alert=a, case_id=case.id, title=title
        )
        if sighting is not None and raised is not None:
            raised.add(sighting)
        ids.append(case.id)
    return ids


def _read(
    monitor: FlowMonitor,
    source: Path,
    fmt: str | None,
    *,
    follow: bool,
    workers: int,
    on_progress: Callable[[WatchProgress], None] | None,
    should_stop: Callable[[], bool],
) -> WatchProgress | None:
    """Read the source into the monitor; None when following was interrupted with Ctrl-C."""
    try:
        with source.open("rb") as fp:
            magic = fp.read(4)
        if fmt == "pcap" or magic in _PCAP_MAGIC:
            return watch_pcap(monitor, source, follow=follow, should_stop=should_stop)
        return watch_log(
            monitor,
            source,
            fmt,
            follow=follow,
            workers=workers,
            on_progress=on_progress,
            should_stop=should_stop,
        )
    except KeyboardInterrupt:
        if not follow:
            raise
        return None
    except ValueError as exc:
        monitor.store.close()
        raise InvalidInput(
            "crossborder.bad_source", str(exc), field="source", reason=str(exc)
        ) from None


def watch_source(
    *,
    uow: UnitOfWork,
    actor: Actor,
    source: Path,
    fmt: str | None = None,
    geoip: Path | None = None,
    follow: bool = False,
    workers: int = 1,
    on_progress: Callable[[WatchProgress], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, Any]:
    """Read a log or pcap from its last offset, count individuals, open alert cases.

    With ``follow`` it tails the source until interrupted (Ctrl-C ends it cleanly: every batch read
    so far is already committed). Alerts the monitor stored but that never became cases (a crash
    between the two) are opened now.
    """
    monitor = build_monitor(uow=uow, actor=actor, geoip=geoip)
    org = require_org(actor, field="--as")
    if not source.is_file():
        monitor.store.close()
        raise InvalidInput(
            "crossborder.bad_file",
            f"no such file: {source}",
            field="source",
            reason=f"no such file: {source}",
        )
    seen_before = monitor.store.observed()
    progress = _read(
        monitor,
        source,
        fmt,
        follow=follow,
        workers=workers,
        on_progress=on_progress,
        should_stop=should_stop,
    )
    store = monitor.store
    try:
        cp = store.checkpoint(str(source.resolve()))
        totals = store.counts()
        # the run is a fresh check of what it saw: observed before its alerts raise anything
        run_ref = EvidenceRef(
            kind="crossborder.flow_source",
            ref=f"{source.name}@{cp.offset if cp else 0}"[:200],
            label=f"流量监测 / flow watch: {source.name}"[:200],
            path="/crossborder",
        )
        present = findings.observe_run(
            uow=uow,
            organization_id=org,
            monitor=monitor,
            before=seen_before,
            after=store.observed(),
            counts=totals,
            evidence=run_ref,
        )
        pending = store.pending_alerts()
        raised: set[findings.Sighting] = set()
        case_ids = raise_alert_cases(
            uow=uow, actor=actor, alerts=[a for _, a in pending], raised=raised
        )
        findings.raise_sightings(
            uow=uow, organization_id=org, present=present, already=raised, evidence=run_ref
        )
        uow.flush()
        counts = [
            {"recipient": r, "year": y, "kind": k, "individuals": n}
            for (r, y, k), n in sorted(totals.items())
        ]
    finally:
        store.close()
    # Marked handed over only once the cases are committed with the platform's unit of work; a
    # crash before that leaves them pending, and the next run opens them.
    store_path = flow_store_path(uow.settings, org)
    ids = [i for i, _ in pending]

    def _handed_over(_session: object) -> None:
        done = FlowStore(store_path)
        try:
            done.mark_handed_over(ids)
        finally:
            done.close()

    if ids:
        event.listen(uow.session, "after_commit", _handed_over, once=True)
    lines = cp.lines if cp else 0
    events = cp.events if cp else 0
    offset = cp.offset if cp else 0
    uow.audit(
        "crossborder.flow.watched",
        f"source:{source.name}",
        {"lines": lines, "events": events, "offset": offset},
        organization_id=org,
    )
    out = (
        progress.to_dict()
        if progress
        else {
            "source": str(source.resolve()),
            "offset": offset,
            "lines": lines,
            "events": events,
            "bad_lines": cp.bad_lines if cp else 0,
        }
    )
    out["alerts"] = [a.to_dict() for _, a in pending]
    return {**out, "alert_cases": case_ids, "counts": counts}


def flow_counts(
    *, uow: UnitOfWork, actor: Actor, organization_id: int | None = None
) -> dict[str, Any]:
    """Return the distinct individuals per recipient and year, observed endpoints (declared or
    not) and alerts of one organization: the caller's own, or any one for oversight roles."""
    check(actor, "crossborder.read")
    org = organization_id if organization_id is not None else require_org(actor, field="--as")
    if org != actor.organization_id and not actor.has_role(*OVERSIGHT_ROLES):
        raise NotFound(
            "crossborder.flows_not_found",
            f"no flow data for organization {org}",
            field="organization_id",
        )
    if organization_id is not None and organization(uow=uow, organization_id=org) is None:
        raise NotFound(
            "crossborder.flows_not_found", f"no organization {org}", field="organization_id"
        )
    store = FlowStore(flow_store_path(uow.settings, org))
    try:
        return {
            "counts": [
                {"recipient": r, "year": y, "kind": k, "individuals": n}
                for (r, y, k), n in sorted(store.counts().items())
            ],
            "observed": store.observed(),
            "alerts": [a.to_dict() for a in store.alerts()],
        }
    finally:
        store.close()


def enqueue_watch(*, uow: UnitOfWork, actor: Actor, file_id: int, fmt: str | None = None) -> JobOut:
    """Queue a job that reads a stored log or pcap (core file) into the flow monitor."""
    check(actor, "crossborder.watch")
    stored_path(uow=uow, file_id=file_id)  # NotFound for an absent or foreign file
    if fmt is not None and fmt not in WATCH_FORMATS:
        raise InvalidInput(
            "crossborder.bad_source",
            f"unknown format {fmt!r}",
            field="format",
            reason=f"unknown format {fmt!r}",
        )
    return enqueue(uow=uow, kind="crossborder.watch", params={"file_id": file_id, "format": fmt})


def run_watch_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Read the stored file from its last offset, with progress and cancellation (job handler)."""

    def progress(p: WatchProgress) -> None:
        ctx.progress(
            min(99.0, 100.0 * p.offset / p.size) if p.size else 99.0,
            f"{p.lines} lines, {p.events} events",
        )

    with ctx.unit_of_work() as uow:
        path = stored_path(uow=uow, file_id=int(params["file_id"]))
        out = watch_source(
            uow=uow,
            actor=uow.actor,
            source=path,
            fmt=params.get("format"),
            on_progress=progress,
            should_stop=ctx.cancelled,
        )
    return {k: v for k, v in out.items() if k != "source"}


# The job handler named in the declaration, checked against the sdk's protocol by mypy.
_WATCH_JOB: JobHandler = run_watch_job
