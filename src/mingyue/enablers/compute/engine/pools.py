"""Pools: what a provider offers (static) and how busy it is now (refreshed from its engine)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml

from mingyue.sdk.errors import InvalidInput

from .pricing import FlatRate, Pricer, flat_rate_from_mapping
from .spec import Demand, known_gpu_models

PoolKind = Literal["local", "slurm", "ray"]
POOL_KINDS: tuple[str, ...] = ("local", "slurm", "ray")


@dataclass(frozen=True, slots=True)
class Pool:
    """A provider's pool as the matcher sees it."""

    name: str
    cpus: int
    pricer: Pricer = field(default_factory=FlatRate)
    kind: str = "local"
    region: str | None = None
    gpus: Mapping[str, int] = field(default_factory=dict)
    memory_mb: int | None = None
    max_runtime_s: int | None = None
    suspended: bool = False
    enabled_for: frozenset[str] | None = None
    maintenance: tuple[tuple[datetime, datetime], ...] = ()
    supports_images: bool = False
    # Reservations already granted on this pool: (start, end, CPUs) each.
    holds: tuple[tuple[datetime, datetime, int], ...] = ()

    @property
    def total_gpus(self) -> int:
        """Return the number of GPUs of all models."""
        return sum(self.gpus.values())


@dataclass(frozen=True, slots=True)
class PoolLoad:
    """A pool's live state, refreshed from its engine (``sinfo``/``squeue``, Ray's job list)."""

    free_cpus: int
    free_gpus: Mapping[str, int] = field(default_factory=dict)
    queued: int = 0
    running: int = 0
    backlog_cpu_s: float = 0.0
    down_reason: str | None = None

    def expected_wait_s(self, pool: Pool, demand: Demand) -> float:
        """Estimate how long a new job waits before it starts on this pool.

        Zero when it fits in the free resources and nobody is queued; otherwise the queued and
        running work spread over the pool's CPUs (or one mean job length per queued job when
        the engine reports counts only).
        """
        fits_now = demand.cpus <= self.free_cpus and _gpus_fit(self.free_gpus, demand)
        if fits_now and self.queued == 0:
            return 0.0
        if self.backlog_cpu_s > 0:
            return self.backlog_cpu_s / max(pool.cpus, 1)
        per_job = float(demand.runtime_s)
        slots = max(pool.cpus // max(demand.cpus, 1), 1)
        return per_job * (self.queued + (0 if fits_now else 1)) / slots


def _gpus_fit(have: Mapping[str, int], demand: Demand) -> bool:
    if demand.gpus == 0:
        return True
    if demand.gpu_model is None:
        return max(have.values(), default=0) >= demand.gpus
    return have.get(demand.gpu_model, 0) >= demand.gpus


def pool_from_mapping(data: Mapping[str, Any], *, index: int = 0) -> Pool:
    """Build a pool from one POOLS.yaml entry, or raise InvalidInput naming the field."""
    where = f"pools[{index}]"
    if not isinstance(data, Mapping):
        raise InvalidInput("compute.pools_invalid", f"{where}: each pool is a mapping", field=where)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(
            "compute.pools_invalid", f"{where}.name: a pool needs a name", field=f"{where}.name"
        )
    cpus = data.get("cpus")
    if not isinstance(cpus, int) or isinstance(cpus, bool) or cpus < 0:
        raise InvalidInput(
            "compute.pools_invalid", f"{where}.cpus: a whole number ≥ 0", field=f"{where}.cpus"
        )
    gpus_raw = data.get("gpus") or {}
    if not isinstance(gpus_raw, Mapping):
        raise InvalidInput(
            "compute.pools_invalid", f"{where}.gpus: a mapping MODEL: count", field=f"{where}.gpus"
        )
    known = known_gpu_models()
    gpus: dict[str, int] = {}
    for model, count in gpus_raw.items():
        if str(model) not in known:
            raise InvalidInput(
                "compute.pools_invalid",
                f"{where}.gpus.{model}: unknown GPU model",
                field=f"{where}.gpus",
            )
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise InvalidInput(
                "compute.pools_invalid", f"{where}.gpus.{model}: count ≥ 0", field=f"{where}.gpus"
            )
        gpus[str(model)] = count
    kind = str(data.get("kind", "local"))
    if kind not in POOL_KINDS:
        raise InvalidInput(
            "compute.pools_invalid", f"{where}.kind: one of {POOL_KINDS}", field=f"{where}.kind"
        )
    enabled = data.get("enabled_for")
    return Pool(
        name=name.strip(),
        cpus=cpus,
        pricer=flat_rate_from_mapping(data, where),
        kind=kind,
        region=data.get("region"),
        gpus=gpus,
        memory_mb=data.get("memory_mb"),
        max_runtime_s=data.get("max_runtime_s"),
        suspended=bool(data.get("suspended", False)),
        enabled_for=frozenset(map(str, enabled)) if enabled else None,
        supports_images=bool(data.get("supports_images", False)),
    )


def load_pools_yaml(path: str | Path) -> list[Pool]:
    """Read a POOLS.yaml file (a list of pools) into pools."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(
            "compute.pools_unreadable", f"cannot read {p}: {exc.strerror}", field="pools"
        ) from exc
    except yaml.YAMLError as exc:
        raise InvalidInput(
            "compute.pools_unreadable", f"cannot parse {p}: {exc}", field="pools"
        ) from exc
    if isinstance(doc, Mapping) and "pools" in doc:
        doc = doc["pools"]
    if not isinstance(doc, list) or not doc:
        raise InvalidInput(
            "compute.pools_invalid", f"{p}: expected a non-empty list of pools", field="pools"
        )
    pools = [pool_from_mapping(item, index=i) for i, item in enumerate(doc)]
    names = [pl.name for pl in pools]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InvalidInput("compute.pools_invalid", f"duplicate pool names: {dup}", field="pools")
    return pools
