"""Plain helpers for the compute service/API/CLI tests."""

from __future__ import annotations

import time
from typing import Any

from mingyue.core.tenancy.access import SYSTEM
from mingyue.core.uow import unit_of_work
from mingyue.enablers.compute import service
from mingyue.enablers.compute.schemas import JobOut, PoolIn

FLAT = {"cpu_second": {"peak": "0.0001", "flat": "0.0001", "valley": "0.0001"}}
TOU = {"cpu_second": {"peak": "0.0003", "flat": "0.0002", "valley": "0.0001"}}


def add_pool(settings: Any, name: str, kind: str = "local", **kw: Any) -> Any:
    with unit_of_work(SYSTEM, settings) as uow:
        return service.add_pool(uow=uow, pool=PoolIn(name=name, kind=kind, **kw))  # type: ignore[arg-type]


def reconcile(settings: Any) -> Any:
    with unit_of_work(SYSTEM, settings) as uow:
        return service.reconcile(uow=uow)


def wait_done(settings: Any, job_id: int, timeout: float = 40) -> JobOut:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reconcile(settings)
        with unit_of_work(SYSTEM, settings) as uow:
            j = service.job_status(uow=uow, job_id=job_id, refresh=False)
        if j.state in ("succeeded", "failed", "cancelled", "lost"):
            return j
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")
