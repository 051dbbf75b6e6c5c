"""Use cases of satcert: intake, plans, bench runs (jobs), RF imports, review, certificates.

Services never commit; each state change writes one audit entry in the caller's unit of work.
"""

from __future__ import annotations

from typing import Any

from mingyue.sdk import JobContext, JobHandler

from .bench import get_run, list_runs, run_bench_job, run_log, start_run
from .imports import import_export, list_imports
from .plans import get_plan, list_plans, publish_plan
from .review import (
    decide,
    get_certificate,
    list_certificates,
    revoke_certificate,
    search_registry,
    warn_expiring,
)
from .samples import get_sample, list_samples, submit_sample


def run_expiry_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Announce certificates that expire soon and mark expired registry lines (daily)."""
    with ctx.unit_of_work() as uow:
        done = warn_expiring(uow)
    ctx.progress(100, f"{len(done['warned'])} warned, {len(done['expired'])} expired")
    return done


JOBS: tuple[JobHandler, ...] = (run_bench_job, run_expiry_job)

__all__ = [
    "decide",
    "get_certificate",
    "get_plan",
    "get_run",
    "get_sample",
    "import_export",
    "list_certificates",
    "list_imports",
    "list_plans",
    "list_runs",
    "list_samples",
    "publish_plan",
    "revoke_certificate",
    "run_bench_job",
    "run_expiry_job",
    "run_log",
    "search_registry",
    "start_run",
    "submit_sample",
    "warn_expiring",
]
