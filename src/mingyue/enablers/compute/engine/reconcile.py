"""Reconciler logic: bring stored job records in line with what the engines report.

Pure: it takes the stored records and one observation per job and returns the transitions to
apply. Applying them is the service's business (one unit of work). The rules make it safe to run
again after a crash or a restart:

- a job never moves backwards (queued → running → succeeded|failed|cancelled|lost);
- a terminal record is never touched again, so its seconds are billed exactly once;
- the seconds to bill are the engine's seconds minus what the record already billed;
- an engine that does not answer changes nothing; an engine that answers but does not know the
  job makes it ``lost``, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from .states import EngineStatus, JobState


class _Unreachable:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNREACHABLE"


UNREACHABLE: Final = _Unreachable()
Observation = EngineStatus | None | _Unreachable


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job as the platform stored it."""

    job_id: str
    state: JobState
    pool: str
    engine_id: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    billed_seconds: int = 0


@dataclass(frozen=True, slots=True)
class Transition:
    """One change to apply to a stored job."""

    job_id: str
    from_state: JobState
    to_state: JobState
    reason: str | None
    started_at: datetime | None
    ended_at: datetime | None
    exit_code: int | None
    bill_seconds: int  # new seconds to bill now (0 unless the job just ended)
    total_seconds: int


def reconcile_one(rec: JobRecord, obs: Observation) -> Transition | None:
    """Return the transition one observation implies for one record, or None."""
    if rec.state.terminal or isinstance(obs, _Unreachable):
        return None
    if obs is None:
        return Transition(
            rec.job_id,
            rec.state,
            JobState.LOST,
            f"the engine of pool {rec.pool} no longer knows job {rec.engine_id or rec.job_id}",
            rec.started_at,
            rec.ended_at,
            None,
            0,
            rec.billed_seconds,
        )
    new = obs.state
    if new.rank < rec.state.rank or new is JobState.LOST:
        return None
    started = rec.started_at or obs.started_at
    if new is rec.state and not (new is JobState.RUNNING and rec.started_at is None and started):
        return None
    bill = 0
    total = rec.billed_seconds
    if new.terminal:
        total = max(obs.seconds or 0, rec.billed_seconds)
        bill = total - rec.billed_seconds
    return Transition(
        rec.job_id, rec.state, new, obs.reason, started, obs.ended_at, obs.exit_code, bill, total
    )


def reconcile(
    records: Iterable[JobRecord], observations: Mapping[str, Observation]
) -> list[Transition]:
    """Return the transitions for every record whose engine reported a change.

    A record without an entry in ``observations`` is left alone (its pool was not polled).
    """
    out: list[Transition] = []
    for rec in records:
        if rec.job_id not in observations:
            continue
        t = reconcile_one(rec, observations[rec.job_id])
        if t is not None:
            out.append(t)
    return out


def apply(rec: JobRecord, t: Transition) -> JobRecord:
    """Return the record after a transition (what the service stores)."""
    return JobRecord(
        rec.job_id,
        t.to_state,
        rec.pool,
        rec.engine_id,
        t.started_at,
        t.ended_at,
        rec.billed_seconds + t.bill_seconds,
    )
