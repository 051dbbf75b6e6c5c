"""Reconciler: transitions, lost jobs, idempotence, billing exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from mingyue.enablers.compute.engine.reconcile import (
    UNREACHABLE,
    JobRecord,
    Observation,
    apply,
    reconcile,
    reconcile_one,
)
from mingyue.enablers.compute.engine.states import EngineStatus, JobState

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def rec(state: JobState = JobState.QUEUED, **kw: object) -> JobRecord:
    return JobRecord("j1", state, "slurm-a", "42", **kw)  # type: ignore[arg-type]


def test_queued_running_succeeded() -> None:
    r = rec()
    t = reconcile_one(r, EngineStatus(JobState.RUNNING, started_at=T0))
    assert t is not None and t.to_state is JobState.RUNNING and t.bill_seconds == 0
    r = apply(r, t)
    assert reconcile_one(r, EngineStatus(JobState.RUNNING, started_at=T0)) is None
    end = T0 + timedelta(seconds=75)
    t = reconcile_one(
        r, EngineStatus(JobState.SUCCEEDED, started_at=T0, ended_at=end, exit_code=0, seconds=75)
    )
    assert t is not None and (t.to_state, t.bill_seconds, t.total_seconds) == (
        JobState.SUCCEEDED,
        75,
        75,
    )
    r = apply(r, t)
    # a restart polls again: the terminal record does not change and is not billed twice
    assert reconcile_one(r, EngineStatus(JobState.SUCCEEDED, seconds=75)) is None


def test_queued_straight_to_failed_with_engine_reason() -> None:
    t = reconcile_one(
        rec(),
        EngineStatus(
            JobState.FAILED,
            reason="TIMEOUT",
            seconds=60,
            started_at=T0,
            ended_at=T0 + timedelta(seconds=60),
        ),
    )
    assert t is not None and t.to_state is JobState.FAILED and t.reason == "TIMEOUT"
    assert t.bill_seconds == 60 and t.started_at == T0


def test_lost_and_unreachable() -> None:
    r = rec(JobState.RUNNING, started_at=T0)
    assert reconcile_one(r, UNREACHABLE) is None
    t = reconcile_one(r, None)
    assert t is not None and t.to_state is JobState.LOST
    assert "no longer knows job 42" in (t.reason or "")
    assert t.bill_seconds == 0


def test_never_backwards_and_unpolled_left_alone() -> None:
    r = rec(JobState.RUNNING, started_at=T0)
    assert reconcile_one(r, EngineStatus(JobState.QUEUED)) is None
    assert reconcile([r], {}) == []
    assert len(reconcile([r], {"j1": None})) == 1


STATES = st.sampled_from(
    [JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED]
)
OBS = st.one_of(
    st.just(UNREACHABLE),
    st.builds(
        lambda s, n: EngineStatus(s, seconds=n, started_at=T0), STATES, st.integers(0, 10_000)
    ),
)


@given(st.lists(OBS, min_size=1, max_size=12), st.integers(1, 4))
def test_property_billed_once_monotone(observations: list[Observation], repeats: int) -> None:
    r = rec()
    first_terminal: EngineStatus | None = None
    for obs in observations:
        for _ in range(repeats):  # the reconciler may run several times on the same facts
            before = r.state
            t = reconcile_one(r, obs)
            if t is not None:
                assert t.to_state.rank >= before.rank
                r = apply(r, t)
        if first_terminal is None and isinstance(obs, EngineStatus) and obs.state.terminal:
            first_terminal = obs
    if first_terminal is None:
        assert not r.state.terminal and r.billed_seconds == 0
    else:
        assert r.state is first_terminal.state
        assert r.billed_seconds == first_terminal.seconds
