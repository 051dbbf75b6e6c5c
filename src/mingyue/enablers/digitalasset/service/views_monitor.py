"""What the monitoring and contract-audit pages show, gathered in one unit of work (no HTML).

An alert's page reads the sales of its evidence graph as rows, the address labels its
organization keeps for the parties, and an ECharts graph; an audit's page groups each file's
findings by DASP category and reads the flagged source lines from the stored upload.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select

from mingyue.enablers.digitalasset.engine.labels import HUB_KINDS, LABEL_KINDS
from mingyue.enablers.digitalasset.engine.monitor.alerts import PATTERNS
from mingyue.enablers.digitalasset.models_monitor import (
    DigitalassetAddressLabel,
    DigitalassetContractAudit,
)
from mingyue.enablers.digitalasset.schemas_monitor import (
    AlertOut,
    AuditOut,
    LabelOut,
    MonitorRunOut,
)
from mingyue.enablers.digitalasset.service import audit as audit_service
from mingyue.enablers.digitalasset.service import monitor
from mingyue.sdk import Actor, UnitOfWork, can, get_visible, stored_path
from mingyue.sdk.errors import MingyueError

# DASP 10 order (https://dasp.co), "other" last.
CATEGORIES = (
    "reentrancy",
    "access_control",
    "arithmetic",
    "unchecked_low_level_calls",
    "denial_of_service",
    "bad_randomness",
    "front_running",
    "time_manipulation",
    "short_addresses",
    "other",
)
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
# Facts of an alert's evidence that the page names (the rest stays in the API's JSON).
FACTS = (
    "length",
    "span_s",
    "window",
    "buyer",
    "funder",
    "funded_by_counterparty",
    "ratio",
    "robust_z",
    "flips",
    "flip_window_s",
    "collection",
    "share",
    "held",
)
MAX_SOURCE_BYTES = 4 * 1024 * 1024


@dataclass
class MonitorPage:
    """Alerts (filtered), their counts, recent runs, the labels, what the actor may do."""

    alerts: list[AlertOut]
    counts: dict[str, int]
    runs: list[MonitorRunOut]
    labels: list[LabelOut]
    run: MonitorRunOut | None
    status: str
    pattern: str
    patterns: tuple[str, ...] = PATTERNS
    statuses: tuple[str, ...] = monitor.ALERT_STATUSES
    label_kinds: tuple[str, ...] = LABEL_KINDS
    can_run: bool = False
    can_label: bool = False
    label_map: dict[str, str] = field(default_factory=dict)


def monitor_page(
    *, uow: UnitOfWork, actor: Actor, status: str = "", pattern: str = "", run_id: int | None = None
) -> MonitorPage:
    """Gather the monitoring page."""
    runs = monitor.list_runs(uow=uow, actor=actor, limit=20)
    labels = monitor.list_labels(uow=uow, actor=actor, limit=200)
    label_map: dict[str, str] = {}
    for lab in sorted(labels, key=lambda x: x.confidence):
        label_map[lab.address] = lab.kind
    run = next((r for r in runs if r.id == run_id), None) if run_id else None
    return MonitorPage(
        alerts=monitor.list_alerts(
            uow=uow,
            actor=actor,
            status=status or None,
            pattern=pattern if pattern in PATTERNS else None,
            limit=200,
        ),
        counts=monitor.count_alerts(uow=uow, actor=actor),
        runs=runs,
        labels=labels,
        run=run,
        status=status,
        pattern=pattern if pattern in PATTERNS else "",
        can_run=can(actor, "digitalasset.monitor.run"),
        can_label=can(actor, "digitalasset.label.manage"),
        label_map=label_map,
    )


@dataclass
class SaleRow:
    """One sale an alert covers, as the page lists it."""

    row: int
    at: datetime | None
    token: str
    seller: str
    buyer: str
    price_cny: float | None


@dataclass
class AlertPage:
    """An alert with its sales, the parties' labels, facts, its graph and what the actor may do."""

    alert: AlertOut
    sales: list[SaleRow]
    funders: list[tuple[str, str]]
    labels: dict[str, list[LabelOut]]
    facts: list[tuple[str, Any]]
    corroborated_by: list[str]
    graph: dict[str, Any]
    rows_total: int
    can_decide: bool
    can_label: bool
    parties: list[tuple[str, str]] = field(default_factory=list)
    label_kinds: tuple[str, ...] = LABEL_KINDS
    more_rows: int = field(default=0)


def _labels_for(uow: UnitOfWork, org: int, addresses: set[str]) -> dict[str, list[LabelOut]]:
    wanted = {a.lower() for a in addresses if a}
    if not wanted:
        return {}
    rows = uow.session.scalars(
        select(DigitalassetAddressLabel)
        .where(
            DigitalassetAddressLabel.organization_id == org,
            DigitalassetAddressLabel.address.in_(wanted),
        )
        .order_by(DigitalassetAddressLabel.confidence.desc())
    )
    out: dict[str, list[LabelOut]] = {}
    for r in rows:
        out.setdefault(r.address, []).append(LabelOut.model_validate(r))
    return out


def _at(ts: Any) -> datetime | None:
    if isinstance(ts, int | float) and 0 <= ts < 2**33:
        return datetime.fromtimestamp(float(ts), tz=UTC)
    return None


def alert_page(*, uow: UnitOfWork, actor: Actor, alert_id: int) -> AlertPage:
    """Gather an alert's page."""
    alert = monitor.get_alert(uow=uow, actor=actor, alert_id=alert_id)
    ev = alert.evidence
    g = ev.get("graph") or {}
    edges = [e for e in g.get("edges", []) if isinstance(e, dict)]
    sales = [
        SaleRow(
            row=int(e.get("row", -1)),
            at=_at(e.get("ts")),
            token=str(e.get("token", "")),
            seller=str(e.get("from", "")),
            buyer=str(e.get("to", "")),
            price_cny=e.get("price_cny"),
        )
        for e in edges
        if e.get("kind") == "sale"
    ]
    funders = [(str(e["from"]), str(e["to"])) for e in edges if e.get("kind") == "funded"]
    every = set(alert.addresses) | {a for f in funders for a in f}
    labels = _labels_for(uow, alert.organization_id, every)
    hub_at_run = {
        str(n["id"]).lower(): n["label"]
        for n in g.get("nodes", [])
        if isinstance(n, dict) and isinstance(n.get("label"), dict)
    }
    rows_total = int(ev.get("rows_total") or len(alert.rows))
    parties = [(a, "party") for a in alert.addresses]
    seen = {a.lower() for a in alert.addresses}
    for f, _ in funders:
        if f.lower() not in seen:
            seen.add(f.lower())
            parties.append((f, "funder"))
    return AlertPage(
        alert=alert,
        sales=sales,
        funders=funders,
        labels=labels,
        facts=[(k, ev[k]) for k in FACTS if k in ev and ev[k] is not None],
        corroborated_by=[p for p in ev.get("corroborated_by", []) if p in PATTERNS],
        graph=alert_graph(alert, funders, labels, hub_at_run),
        rows_total=rows_total,
        can_decide=alert.status == "open" and can(actor, "digitalasset.alert.decide"),
        can_label=can(actor, "digitalasset.label.manage")
        and actor.organization_id == alert.organization_id,
        more_rows=max(0, len(alert.rows) - len(sales)),
        parties=parties,
    )


def _short(address: str) -> str:
    return address[:6] + "…" + address[-4:] if len(address) > 14 else address


def alert_graph(
    alert: AlertOut,
    funders: list[tuple[str, str]],
    labels: dict[str, list[LabelOut]],
    hub_at_run: dict[str, Any],
) -> dict[str, Any]:
    """Return the alert's sales and first-funder links as ECharts graph data.

    Categories: 0 a party of the alert, 1 a first funder, 2 a labelled hub (an exchange or the
    platform's own wallet: its funding is no evidence of common control).
    """
    parties = {a.lower() for a in alert.addresses}
    nodes: dict[str, dict[str, Any]] = {}

    def node(address: str) -> None:
        key = address.lower()
        if key in nodes:
            return
        kinds = [lab.kind for lab in labels.get(key, [])]
        if key in hub_at_run:
            kinds.append(str(hub_at_run[key].get("kind", "")))
        hub = any(k in HUB_KINDS for k in kinds)
        category = 2 if hub else 0 if key in parties else 1
        nodes[key] = {
            "id": key,
            "name": _short(address),
            "category": category,
            "symbolSize": 44 if category == 0 else 30,
            "kinds": sorted({k for k in kinds if k in LABEL_KINDS}),
        }

    links: list[dict[str, Any]] = []
    for e in alert.evidence.get("graph", {}).get("edges", []):
        if not isinstance(e, dict) or e.get("kind") != "sale":
            continue
        s, b = str(e.get("from", "")), str(e.get("to", ""))
        node(s)
        node(b)
        links.append(
            {
                "source": s.lower(),
                "target": b.lower(),
                "kind": "sale",
                "token": str(e.get("token", "")),
                "price": e.get("price_cny"),
            }
        )
    for f, to in funders:
        node(f)
        node(to)
        links.append({"source": f.lower(), "target": to.lower(), "kind": "funded"})
    return {"nodes": list(nodes.values()), "links": links}


@dataclass
class FindingRow:
    """One finding as the report lists it, with its source line."""

    line: int
    severity: str
    swc: str
    detector: str
    message: str
    source: str


@dataclass
class FileReport:
    """One file of an audit: analysed or not (an error is never shown as clean), findings by
    category."""

    file: str
    status: str
    error: str
    compiler: str
    relaxed_pragma: bool
    total: int
    groups: list[tuple[str, list[FindingRow]]]


@dataclass
class AuditPage:
    """An audit, its per-file report and what the actor may do."""

    audit: AuditOut
    files: list[FileReport]
    running: bool


def _source_lines(
    uow: UnitOfWork, row: DigitalassetContractAudit, files: set[str]
) -> dict[str, list[str]]:
    """The text of each audited file, read from the stored upload (a .sol, or a zip member)."""
    try:
        path = stored_path(uow=uow, file_id=row.file_id)
    except (MingyueError, OSError):  # the report stands without its source lines
        return {}
    out: dict[str, list[str]] = {}
    try:
        if row.filename.lower().endswith(".sol"):
            if row.filename in files and Path(path).stat().st_size <= MAX_SOURCE_BYTES:
                out[row.filename] = Path(path).read_text("utf-8", "replace").splitlines()
            return out
        with zipfile.ZipFile(path) as zf:
            for m in zf.infolist():
                name = PurePosixPath(m.filename.replace("\\", "/")).as_posix()
                if name in files and m.file_size <= MAX_SOURCE_BYTES:
                    with zf.open(m) as fh:
                        out[name] = fh.read().decode("utf-8", "replace").splitlines()
    except (OSError, zipfile.BadZipFile):
        return out
    return out


def audit_page(*, uow: UnitOfWork, actor: Actor, audit_id: int) -> AuditPage:
    """Gather an audit's page: per file, findings grouped by DASP category, source lines."""
    audit = audit_service.get_audit(uow=uow, actor=actor, audit_id=audit_id)
    running = audit.status in ("queued", "running")
    sources: dict[str, list[str]] = {}
    if not running and audit.results:
        row = get_visible(uow, DigitalassetContractAudit, audit_id)
        sources = _source_lines(uow, row, {str(r.get("file", "")) for r in audit.results})
    files: list[FileReport] = []
    for r in audit.results:
        name = str(r.get("file", ""))
        lines = sources.get(name, [])
        grouped: dict[str, list[FindingRow]] = {}
        for f in r.get("findings", []):
            line = int(f.get("line") or 0)
            category = str(f.get("category", "other"))
            grouped.setdefault(category if category in CATEGORIES else "other", []).append(
                FindingRow(
                    line=line,
                    severity=str(f.get("severity", "medium")),
                    swc=str(f.get("swc") or ""),
                    detector=str(f.get("detector", "")),
                    message=str(f.get("message") or ""),
                    source=lines[line - 1].strip()[:300] if 0 < line <= len(lines) else "",
                )
            )
        for rows in grouped.values():
            rows.sort(key=lambda x: (SEVERITY_ORDER.get(x.severity, 9), x.line))
        files.append(
            FileReport(
                file=name,
                status=str(r.get("status", "error")),
                error=str(r.get("error") or ""),
                compiler=str(r.get("compiler") or ""),
                relaxed_pragma=bool(r.get("relaxed_pragma")),
                total=sum(len(v) for v in grouped.values()),
                groups=[(c, grouped[c]) for c in CATEGORIES if c in grouped],
            )
        )
    return AuditPage(audit=audit, files=files, running=running)
