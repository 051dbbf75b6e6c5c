"""The one interface every compute backend implements (local, Slurm, Ray)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from mingyue.enablers.compute.engine.spec import JobSpec
from mingyue.enablers.compute.engine.states import Capacity, EngineStatus, Usage
from mingyue.sdk.errors import Conflict, MingyueError


class EngineUnavailable(MingyueError):
    """The pool's engine does not answer (HTTP 503): jobs go elsewhere or wait."""

    status = 503
    exit_code = 1


class JobFinished(Conflict):
    """The job already ended; there is nothing to cancel (HTTP 409)."""


@dataclass(frozen=True)
class JobOwner:
    """Whom a job runs for: what an engine may run it as depends on it."""

    organization_id: int
    # the platform operator (platform_admin) submitted it: a local pool that cannot isolate
    # job code still runs the operator's own commands
    operator: bool = False
    # the pool's account for the organization (pool option ``accounts``): Slurm runs the job
    # as that user (``sbatch --uid``)
    account: str | None = None


@runtime_checkable
class ComputeAdapter(Protocol):
    """Submit, watch, stop and account jobs on one engine."""

    kind: str

    def submit(self, job_id: str, spec: JobSpec, owner: JobOwner | None = None) -> str:
        """Start or queue the job; return the engine's id for it.

        ``owner`` is whom it runs for (the service always says; None: the platform itself).
        """
        ...

    def status(self, engine_id: str) -> EngineStatus | None:
        """Return the engine's view of the job, or None when the engine does not know it.

        Raise EngineUnavailable when the engine does not answer.
        """
        ...

    def statuses(self, engine_ids: Sequence[str]) -> dict[str, EngineStatus | None]:
        """Return ``status`` of many jobs with as few engine calls as the engine allows (the
        reconciler's one query per pass); every id given is a key of the answer.

        Raise EngineUnavailable when the engine does not answer.
        """
        ...

    def find(self, job_id: str) -> str | None:
        """Return the engine id of the job submitted as ``submit(job_id, …)``, or None when the
        engine never received it (the reconciler adopts a job whose dispatch was cut short).

        Raise EngineUnavailable when the engine does not answer.
        """
        ...

    def cancel(self, engine_id: str) -> EngineStatus:
        """Stop the job; raise JobFinished when it already ended."""
        ...

    def logs(self, engine_id: str, tail_bytes: int = 65536) -> str:
        """Return the end of the job's output."""
        ...

    def usage(self, engine_id: str) -> Usage | None:
        """Return seconds and resources from the engine's accounting (None until it started)."""
        ...

    def capacity(self) -> Capacity:
        """Return the engine's capacity and queue state, read from the engine itself."""
        ...


def finished_error(engine_id: str, state: str) -> JobFinished:
    """Build the clear message for cancelling a job that already ended."""
    return JobFinished(
        "compute.job_finished",
        f"job {engine_id} already {state}; there is nothing to cancel",
        state=state,
    )
