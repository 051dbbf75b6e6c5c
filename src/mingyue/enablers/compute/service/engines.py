"""Which adapter talks to a pool's engine (one per pool and configuration, cached per process),
the pool credentials it needs, sealed with the platform's secret key, and whom a job runs for
(the operator or a tenant, and the tenant's account on the pool)."""

from __future__ import annotations

import json

from mingyue.enablers.compute.adapters import sandbox
from mingyue.enablers.compute.adapters.base import ComputeAdapter, JobOwner
from mingyue.enablers.compute.adapters.container import RUNTIMES
from mingyue.enablers.compute.adapters.local import LocalAdapter
from mingyue.enablers.compute.adapters.ray import RayAdapter
from mingyue.enablers.compute.adapters.slurm import SlurmAdapter
from mingyue.enablers.compute.models import ComputeJob, ComputePool
from mingyue.sdk import SecretUnreadable, UnitOfWork, actor_of_user, seal, unseal
from mingyue.sdk.errors import Conflict, Forbidden, InvalidInput

OPERATOR_ROLE = "platform_admin"

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
            # isolation of raw commands (bubblewrap): see adapters/sandbox.py
            bwrap=opts.get("bwrap") or None,
            network=opts.get("network") == "allow",
            max_processes=int(opts.get("max_processes") or sandbox.DEFAULT_MAX_PROCESSES),
            ro_paths=sandbox.host_paths(str(opts.get("ro_paths") or "")),
            hide=(str(uow.settings.data_dir.resolve()),),
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


def pool_accounts(pool: ComputePool) -> dict[str, str]:
    """Read the pool option ``accounts`` (``ORG_ID=account,…``): each organization's account."""
    text = str((pool.options or {}).get("accounts") or "")
    out: dict[str, str] = {}
    for item in text.split(","):
        org, sep, account = item.partition("=")
        if sep and org.strip() and account.strip():
            out[org.strip()] = account.strip()
    return out


def job_owner(uow: UnitOfWork, job: ComputeJob, pool: ComputePool) -> JobOwner:
    """Return whom the job runs for on ``pool`` (403 when the pool maps accounts and the
    job's organization has none: its jobs would run as the pool's own user)."""
    actor = uow.actor if uow.actor.label() == job.submitted_by else None
    if actor is None and job.submitted_by.startswith("user:"):  # the reconciler dispatches
        actor = actor_of_user(uow=uow, username=job.submitted_by.removeprefix("user:"))
    operator = actor is not None and actor.has_role(OPERATOR_ROLE)
    accounts = pool_accounts(pool) if pool.kind != "local" else {}
    account = accounts.get(str(job.organization_id))
    if accounts and account is None:
        raise Forbidden(
            "compute.pool_unmapped",
            f"pool {pool.name} runs jobs as each organization's own account and has none "
            f"for organization {job.organization_id}",
            pool=pool.name,
        )
    return JobOwner(organization_id=job.organization_id, operator=operator, account=account)
