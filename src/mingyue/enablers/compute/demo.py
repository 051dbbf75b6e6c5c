"""Demo data for `mingyue demo`: the operator's local pool on this machine (time-of-use tariff),
this month's free CPU quota for the SME (ent1, 10 CPU-hours), and one small job of ent1 that
runs on it."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

DEMO_POOL = "liangjiang-local"
# CNY per CPU-second at peak / flat / valley (≈ ¥0.58 / 0.36 / 0.14 per CPU-hour).
DEMO_TARIFF = {"cpu_second": {"peak": "0.00016", "flat": "0.0001", "valley": "0.00004"}}
SME_FREE_CPU_SECONDS = "36000"


def seed(settings: Any, org_ids: dict[str, int]) -> None:
    """Register the demo pool and submit one job, once (idempotent)."""
    from sqlalchemy import select

    from mingyue.core import metering
    from mingyue.core.db import system_session
    from mingyue.core.tenancy.identity import User, actor_for
    from mingyue.core.uow import unit_of_work

    from . import service
    from .models import ComputePool
    from .schemas import PoolIn

    with system_session(settings, "compute demo: existing pools") as s:
        if s.scalars(select(ComputePool.id).limit(1)).first() is not None:
            return
        users = {
            u.username: actor_for(u)
            for u in s.scalars(
                select(User).where(User.username.in_(("op_admin", "ent1_admin")))
            ).all()
        }
    if "op_admin" not in users:
        return
    with unit_of_work(users["op_admin"], settings) as uow:
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
            month = datetime.now(ZoneInfo(settings.timezone)).strftime("%Y-%m")
            metering.set_free_pool(
                uow=uow,
                organization_id=org_ids["ent1"],
                meter=service.CPU_METER,
                month=month,
                granted=SME_FREE_CPU_SECONDS,
            )
    if "ent1_admin" in users:
        with unit_of_work(users["ent1_admin"], settings) as uow:
            service.submit_job(
                uow=uow,
                spec={"name": "demo-hello", "cpus": 1, "command": "echo 你好，明月湖; sleep 2"},
            )
