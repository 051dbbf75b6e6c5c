"""Which ends of compute jobs are breaches of the pools' enforced limits, as core findings.

The compute enabler already enforces each job's limits and records how a job ended: the local
runner's "time limit reached" / "CPU time limit reached (SIGXCPU)", Ray's "time limit reached",
Slurm's ``TIMEOUT`` and ``OUT_OF_MEMORY``. Such an end raises ``compute.policy_violation`` for
the job's organization, the subject being the limit (``runtime_limit``, ``cpu_limit``,
``memory_limit``); a further breach of the same limit counts the same finding again. A job that
someone else killed inside the engine, a refusal at dispatch (a pool that cannot isolate job
code refuses every tenant alike) and a stopped free quota (the organization's own choice) are
not the organization's breach and raise nothing. Only the sdk and the enabler's tables:
:mod:`.service.reconcile` imports this module.
"""

from __future__ import annotations

from mingyue.sdk import EvidenceRef, FindingOut, UnitOfWork, raise_finding

from .models import ComputeJob

POLICY_VIOLATION = "compute.policy_violation"
LIMITS = ("runtime_limit", "cpu_limit", "memory_limit")


def breach_of(reason: str | None) -> str | None:
    """Return the limit a failed job's recorded reason says it broke, or None."""
    text = reason or ""
    if not text or text.startswith("killed inside the engine"):
        return None
    if text.startswith("CPU time limit reached"):
        return "cpu_limit"
    if "time limit reached" in text or text.startswith("Slurm: TIMEOUT"):
        return "runtime_limit"
    if text.startswith("Slurm: OUT_OF_MEMORY"):
        return "memory_limit"
    return None


def job_evidence(job: ComputeJob) -> EvidenceRef:
    """Return the reference to a job as finding evidence."""
    return EvidenceRef(
        kind="compute.job",
        ref=str(job.id),
        path=f"/compute/jobs/{job.id}",
        label=f"{job.name}: {job.reason or ''}"[:200],
    )


def raise_for_job(*, uow: UnitOfWork, job: ComputeJob) -> FindingOut | None:
    """Raise ``compute.policy_violation`` when a failed job broke an enforced limit."""
    if job.state != "failed":
        return None
    limit = breach_of(job.reason)
    if limit is None:
        return None
    spec = job.spec or {}
    return raise_finding(
        uow=uow,
        organization_id=job.organization_id,
        rule=POLICY_VIOLATION,
        subject=limit,
        evidence=[job_evidence(job)],
        detail={
            "limit": limit,
            "job_id": job.id,
            "pool": job.pool,
            "reason": job.reason,
            "max_runtime_s": spec.get("max_runtime_s"),
            "cpus": spec.get("cpus"),
            "memory_mb": spec.get("memory_mb"),
        },
    )
