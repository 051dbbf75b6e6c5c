"""Use cases of the compute enabler, one module per concern; nothing here commits.

- ``pools``: register, list, suspend, maintenance, tariffs; ``engines``: the adapter of a pool
- ``jobs``: submit, status, list, cancel, logs, the quota setting; ``dispatch``: two-phase
- ``reconcile``: the reconciler (also the core job ``compute.reconcile``)
- ``usage``: per-second billing on the pools' tariffs and the month's statement
- ``simulation``: replay a trace through the matcher

Every function takes the unit of work and acts as ``uow.actor``. Callers import this package
(``from mingyue.enablers.compute import service``); the names below are its API.
"""

from mingyue.enablers.compute.engine.spec import Demand
from mingyue.enablers.compute.engine.states import Capacity
from mingyue.enablers.compute.tariffs import CPU_METER, GPU_METER

from .engines import adapter_for, forget_adapters
from .jobs import (
    cancel_job,
    job_logs,
    job_spec,
    job_status,
    list_jobs,
    set_quota_behaviour,
    submit_job,
)
from .pools import add_maintenance, add_pool, list_pools, pool_tariff, suspend_pool
from .reconcile import Polled, poll_engines, reconcile, run_reconcile_job
from .simulation import simulate_trace
from .usage import job_lines, usage

__all__ = [
    "CPU_METER",
    "GPU_METER",
    "Capacity",
    "Demand",
    "Polled",
    "adapter_for",
    "add_maintenance",
    "add_pool",
    "cancel_job",
    "forget_adapters",
    "job_lines",
    "job_logs",
    "job_spec",
    "job_status",
    "list_jobs",
    "list_pools",
    "poll_engines",
    "pool_tariff",
    "reconcile",
    "run_reconcile_job",
    "set_quota_behaviour",
    "simulate_trace",
    "submit_job",
    "suspend_pool",
    "usage",
]
