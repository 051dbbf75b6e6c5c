"""Prometheus metrics: request latency per route template, and the operational figures.

Request latencies are counted in the process that served the request. With several uvicorn
workers set ``PROMETHEUS_MULTIPROC_DIR`` (an empty folder, writable, emptied before start) in the
environment of every process: each writes its samples there and ``/metrics`` adds them up, so a
scrape answered by any worker covers all. Job and ledger figures are read from the database at
scrape time (``mingyue.core.ops.figures``), so they are the same whoever answers.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
import uuid
from collections.abc import MutableMapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from mingyue import __version__
from mingyue.core.config import Settings
from mingyue.core.ops import figures
from mingyue.web.logs import request_id_var, well_formed_request_id

log = logging.getLogger(__name__)
access_log = logging.getLogger("mingyue.access")
Scope = dict[str, Any]

UNMATCHED = "<unmatched>"  # every path no route matched shares one label: no cardinality blow-up
REQUEST_SECONDS = Histogram(
    "mingyue_http_request_duration_seconds",
    "Time from request start to the end of the response, by route template.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestContext:
    """Give each HTTP request an id (echoed as X-Request-ID), time it, log one access line."""

    def __init__(self, app: Any, *, access: bool = True) -> None:
        self.app = app
        self.access = access
        self._children: dict[tuple[str, str, str], Any] = {}
        self._templates: dict[int, str] = {}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        rid = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if well_formed_request_id(candidate):
                    rid = candidate
                break
        rid = rid or uuid.uuid4().hex
        token = request_id_var.set(rid)
        root = scope.get("root_path", "")
        status = 500
        header = (b"x-request-id", rid.encode())

        async def send_with_id(msg: Any) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = msg["status"]
                msg = {**msg, "headers": [*msg.get("headers", ()), header]}
            await send(msg)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            self._observe(scope, root, status, elapsed)
            request_id_var.reset(token)

    def _template(self, scope: Scope, root: str) -> str:
        route = scope.get("route")
        if route is None:
            mounted = scope.get("root_path", "")
            # A Mount (static files) extends root_path by its own prefix.
            return f"{mounted}/{{path}}" if mounted != root else UNMATCHED
        template = self._templates.get(id(route))
        if template is None:
            # An included router's route knows only its own part of the path; the app lists
            # every route with its full path (``app.state.routes``, built by ``_mount``).
            app = scope.get("app")
            full = {id(r): path for path, _m, r in getattr(app.state, "routes", ())} if app else {}
            template = full.get(id(route)) or getattr(route, "path", None) or UNMATCHED
            self._templates[id(route)] = template
        return template

    def _observe(self, scope: Scope, root: str, status: int, elapsed: float) -> None:
        template = self._template(scope, root)
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        key = (method, template, str(status))
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = REQUEST_SECONDS.labels(*key)
        child.observe(elapsed)
        if self.access and access_log.isEnabledFor(logging.INFO):
            ms = round(elapsed * 1000, 1)
            access_log.info(
                "%s %s %s %.1fms",
                method,
                template,
                status,
                ms,
                extra={"method": method, "route": template, "status": status, "duration_ms": ms},
            )


class OpsCollector(Collector):
    """Read the job queue and the ledger from the database on each scrape."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> list[Metric]:
        """Return the figures as metric families (``mingyue_database_up`` 0 on failure)."""
        up = GaugeMetricFamily("mingyue_database_up", "1 when the figures below could be read.")
        info = GaugeMetricFamily("mingyue_build_info", "The running version.", labels=["version"])
        info.add_metric([__version__], 1)
        try:
            f = figures.collect(self.settings)
        except Exception as exc:
            log.warning("metrics: database figures unavailable: %s", type(exc).__name__)
            up.add_metric([], 0)
            return [up, info]
        up.add_metric([], 1)
        queued = GaugeMetricFamily(
            "mingyue_jobs_queued", "Jobs waiting for a worker.", labels=["kind"]
        )
        for kind, n in sorted(f.jobs_queued.items()):
            queued.add_metric([kind], n)
        running = GaugeMetricFamily("mingyue_jobs_running", "Jobs running now.", labels=["kind"])
        for kind, n in sorted(f.jobs_running.items()):
            running.add_metric([kind], n)
        oldest = GaugeMetricFamily(
            "mingyue_jobs_oldest_queued_age_seconds",
            "Age of the oldest queued job (0 when none waits).",
        )
        oldest.add_metric([], f.oldest_queued_age_s)
        outcomes = CounterMetricFamily(
            "mingyue_job_outcomes", "Finished jobs by kind and outcome.", labels=["kind", "status"]
        )
        for (kind, status), n in sorted(f.job_outcomes.items()):
            outcomes.add_metric([kind, status], n)
        entries = GaugeMetricFamily("mingyue_ledger_entries", "Entries in the audit ledger.")
        entries.add_metric([], f.ledger_entries)
        signed = GaugeMetricFamily(
            "mingyue_ledger_checkpointed_entries",
            "Entries covered by the latest signed checkpoint.",
        )
        signed.add_metric([], f.ledger_checkpointed_entries)
        out: list[Metric] = [up, info, queued, running, oldest, outcomes, entries, signed]
        if f.last_checkpoint_age_s is not None:
            age = GaugeMetricFamily(
                "mingyue_ledger_last_checkpoint_age_seconds", "Age of the latest signed checkpoint."
            )
            age.add_metric([], f.last_checkpoint_age_s)
            out.append(age)
        if f.scheduler_last_lag_s is not None:
            lag = GaugeMetricFamily(
                "mingyue_scheduler_last_firing_lag_seconds",
                "How late the latest scheduled firing came after its due time.",
            )
            lag.add_metric([], f.scheduler_last_lag_s)
            out.append(lag)
        if f.scheduler_overdue_s is not None:
            overdue = GaugeMetricFamily(
                "mingyue_scheduler_overdue_seconds",
                "How long the earliest next due time of any schedule has passed unfired (0: none).",
            )
            overdue.add_metric([], f.scheduler_overdue_s)
            out.append(overdue)
        return out


def exposition(settings: Settings) -> tuple[bytes, str]:
    """Return the text of a scrape and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        MultiProcessCollector(processes)  # type: ignore[no-untyped-call]
        own = generate_latest(processes)
    else:
        own = generate_latest(REGISTRY)
    ops = CollectorRegistry(auto_describe=False)
    ops.register(OpsCollector(settings))
    return own + generate_latest(ops), CONTENT_TYPE_LATEST


_FORWARDED = (b"forwarded", b"x-forwarded-for", b"x-real-ip")


def scrape_allowed(settings: Settings, scope: MutableMapping[str, Any]) -> bool:
    """Tell whether this request may read /metrics (docs/settings.md, MINGYUE_METRICS_TOKEN).

    With a token configured: a matching ``Authorization: Bearer`` header, from anywhere.
    Without: a loopback client whose request came through no proxy (a proxy on the same host
    would otherwise make every outside client look local).
    """
    headers = dict(scope.get("headers") or ())
    if settings.metrics_token:
        given = headers.get(b"authorization", b"").decode("latin-1")
        expected = f"Bearer {settings.metrics_token}"
        return hmac.compare_digest(given.encode(), expected.encode())
    if any(h in headers for h in _FORWARDED):
        return False
    client = scope.get("client")
    host = client[0] if client else ""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback
