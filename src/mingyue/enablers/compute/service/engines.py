"""Which adapter talks to a pool's engine (one per pool and configuration, cached per process),
and the pool credentials it needs, sealed with the platform's secret key."""

from __future__ import annotations

import json

from mingyue.enablers.compute.adapters.base import ComputeAdapter
from mingyue.enablers.compute.adapters.container import RUNTIMES
from mingyue.enablers.compute.adapters.local import LocalAdapter
from mingyue.enablers.compute.adapters.ray import RayAdapter
from mingyue.enablers.compute.adapters.slurm import SlurmAdapter
from mingyue.enablers.compute.models import ComputePool
from mingyue.sdk import SecretUnreadable, UnitOfWork, seal, unseal
from mingyue.sdk.errors import Conflict, InvalidInput

_ADAPTERS: dict[tuple[str, ...], ComputeAdapter] = {}


def forget_adapters() -> None:
    """Drop the cached adapters (the next call builds them again, as a restarted platform)."""
    _ADAPTERS.clear()


def seal_credentials(uow: UnitOfWork, creds: dict[str, str] | None) -> str | None:
    """Seal a pool's credentials for storage (None when there are none)."""
    if not creds:
        return None
    return seal(uow.settings, "compute.credentials", creds)


def open_credentials(uow: UnitOfWork, token: str | None) -> dict[str, str]:
    """Open a pool's sealed credentials (409 when this secret key cannot read them)."""
    if not token:
        return {}
    try:
        return unseal(uow.settings, "compute.credentials", token)
    except SecretUnreadable as exc:
        raise Conflict(
            "compute.credentials_unreadable",
            "the pool's credentials cannot be decrypted with this secret key",
        ) from exc


def adapter_for(uow: UnitOfWork, pool: ComputePool) -> ComputeAdapter:
    """Return the adapter that talks to the pool's engine (cached per process)."""
    opts = pool.options or {}
    key = (
        str(uow.settings.data_dir.resolve()),
        pool.name,
        pool.kind,
        pool.endpoint or "",
        json.dumps(opts, sort_keys=True),
        pool.credentials_enc or "",
    )
    ad = _ADAPTERS.get(key)
    if ad is not None:
        return ad
    base = uow.settings.data_dir / "compute" / pool.name
    if pool.kind == "local":
        # option containers: "off", or the runtimes to look for ("podman,docker" by default)
        wanted = str(opts.get("containers") or ",".join(RUNTIMES))
        ad = LocalAdapter(
            base / "jobs",
            cpus=int(opts["cpus"]) if opts.get("cpus") else None,
            containers=None
            if wanted == "off"
            else tuple(w.strip() for w in wanted.split(",") if w.strip()),
        )
    elif pool.kind == "slurm":
        ad = SlurmAdapter(
            slurm_conf=pool.endpoint or opts.get("slurm_conf"),
            partition=opts.get("partition"),
            log_dir=base / "logs",
            jobcomp_file=opts.get("jobcomp_file"),
            account=opts.get("account"),
            reservation_users=opts.get("reservation_users"),
        )
    elif pool.kind == "ray":
        if not pool.endpoint:
            raise InvalidInput(
                "compute.pool_invalid", "a Ray pool needs --endpoint URL", field="endpoint"
            )
        creds = open_credentials(uow, pool.credentials_enc)
        headers = {"Authorization": f"Bearer {creds['token']}"} if creds.get("token") else None
        ad = RayAdapter(pool.endpoint, headers=headers)
    else:  # pragma: no cover - PoolIn validates the kind
        raise InvalidInput("compute.pool_invalid", f"unknown pool kind {pool.kind}", field="kind")
    _ADAPTERS[key] = ad
    return ad
