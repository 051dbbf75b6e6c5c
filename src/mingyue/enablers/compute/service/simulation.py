"""Replay a job trace through the matcher, on a POOLS.yaml or on the registered pools."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from mingyue.enablers.compute.engine.pools import load_pools_yaml
from mingyue.enablers.compute.engine.simulate import FreeQuota, simulate
from mingyue.enablers.compute.engine.trace import read_trace_csv
from mingyue.sdk import UnitOfWork, check
from mingyue.sdk.errors import InvalidInput

from .pools import all_pools, engine_pool


def simulate_trace(
    *,
    uow: UnitOfWork | None,
    trace: Path,
    pools: Path | None,
    policy: str,
    free_quota: Decimal | None = None,
) -> dict[str, Any]:
    """Replay a trace through the matcher (POOLS.yaml, or the registered pools)."""
    if pools is not None:
        engine_pools = load_pools_yaml(pools)
    else:
        if uow is None:
            raise InvalidInput("compute.pools_missing", "give --pools POOLS.yaml", field="pools")
        check(uow.actor, "compute.pool.read")
        engine_pools = [engine_pool(r) for r in all_pools(uow)]
        if not engine_pools:
            raise InvalidInput(
                "compute.pools_missing",
                "no pools registered; give --pools POOLS.yaml",
                field="pools",
            )
    jobs = read_trace_csv(trace)
    quota = FreeQuota(amount=free_quota) if free_quota is not None else None
    return simulate(jobs, engine_pools, policy, free_quota=quota).to_json()
