"""Demo data for `mingyue demo`: the operator's local pool on this machine (time-of-use tariff),
this month's free CPU quota for the SME (ent1, 10 CPU-hours), and one small job of ent1 that
runs on it."""

from __future__ import annotations

import logging
import os

from sqlalchemy import select

from mingyue.sdk import (
    SYSTEM,
    Forbidden,
    Settings,
    actor_of_user,
    local_time,
    now,
    set_free_pool,
    unit_of_work,
)

from . import service
from .models import ComputePool
from .schemas import PoolIn

log = logging.getLogger(__name__)

DEMO_POOL = "liangjiang-local"
# CNY per CPU-second at peak / flat / valley (≈ ¥0.58 / 0.36 / 0.14 per CPU-hour).
DEMO_TARIFF = {"cpu_second": {"peak": "0.00016", "flat": "0.0001", "valley": "0.00004"}}
SME_FREE_CPU_SECONDS = "36000"


def seed(settings: Settings, org_ids: dict[str, int]) -> None:
    """Register the demo pool and submit one job, once (idempotent)."""
    with unit_of_work(SYSTEM, settings) as uow:  # pools are shared: the platform reads them
        if uow.session.scalars(select(ComputePool.id).limit(1)).first() is not None:
            return
        op_admin = actor_of_user(uow=uow, username="op_admin")
        ent1_admin = actor_of_user(uow=uow, username="ent1_admin")
    if op_admin is None:
        return
    with unit_of_work(op_admin, settings) as uow:
        service.add_pool(
            uow=uow,
            pool=PoolIn(
                name=DEMO_POOL,
                kind="local",
                region="chongqing-liangjiang",
                tariff=DEMO_TARIFF,
                cpus=max(1, os.cpu_count() or 1),
                max_runtime_s=3600,
            ),
        )
        if "ent1" in org_ids:
            set_free_pool(
                uow=uow,
                organization_id=org_ids["ent1"],
                meter=service.CPU_METER,
                month=local_time(now(), settings, "%Y-%m"),
                granted=SME_FREE_CPU_SECONDS,
            )
    if ent1_admin is not None:
        try:
            with unit_of_work(ent1_admin, settings) as uow:
                service.submit_job(
                    uow=uow,
                    spec={"name": "demo-hello", "cpus": 1, "command": "echo 你好，明月湖; sleep 2"},
                )
        except Forbidden as exc:
            # Without bubblewrap the local pool refuses tenants' commands (docs/security.md); the
            # demo still starts, and says how to get the job.
            if exc.key != "compute.local_unisolated":
                raise
            log.warning(
                "compute demo: no demo job - the local pool cannot isolate job code "
                "(install bubblewrap: scripts/compute-setup.sh)"
            )
