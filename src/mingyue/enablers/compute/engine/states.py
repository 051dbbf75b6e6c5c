"""Job states and what an engine reports about one job."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class JobState(StrEnum):
    """Where a job is in its life. ``lost``: the engine no longer knows it.

    ``dispatching``: the pool and the engine-side name are committed, the engine's answer is
    not yet recorded (a platform that stops here leaves it for the reconciler to resolve).
    """

    DISPATCHING = "dispatching"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"

    @property
    def terminal(self) -> bool:
        """Say whether the job can no longer change."""
        return self in TERMINAL

    @property
    def rank(self) -> int:
        """Order states so a job never moves backwards (queued < running < terminal)."""
        if self in (JobState.DISPATCHING, JobState.QUEUED):
            return 0
        return 1 if self is JobState.RUNNING else 2


TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.LOST})


@dataclass(frozen=True, slots=True)
class EngineStatus:
    """One job as its engine reports it, with the engine's own accounting."""

    state: JobState
    reason: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    exit_code: int | None = None
    seconds: int | None = None  # elapsed seconds by the engine's accounting
    tres: Mapping[str, str] = field(default_factory=dict)  # allocated resources, e.g. cpu=1


@dataclass(frozen=True, slots=True)
class Usage:
    """What a finished (or running) job used, from the engine's accounting."""

    seconds: int
    started_at: datetime | None
    ended_at: datetime | None
    cpus: int
    gpus: int = 0
    memory_mb: int = 0
    tres: Mapping[str, str] = field(default_factory=dict)
    source: str = ""


@dataclass(frozen=True, slots=True)
class Capacity:
    """A pool's capacity and load as its engine reports it (``sinfo``/``squeue``, Ray)."""

    cpus: int
    free_cpus: int
    gpus: Mapping[str, int] = field(default_factory=dict)
    free_gpus: Mapping[str, int] = field(default_factory=dict)
    memory_mb: int | None = None
    queued: int = 0
    running: int = 0
    nodes: int = 1
    down_reason: str | None = None
    container_runtime: str | None = None  # a runtime that answered ``info`` (image jobs)
    # local pools: whether job code runs isolated (bubblewrap), and how, or why not
    isolated: bool | None = None
    isolation: str | None = None
