"""The reconciler's batch status: one engine query per pass, the same answers as ``status``.

Slurm: one ``squeue -j`` plus one ``sacct -j`` for any number of jobs; Ray: one ``list_jobs``;
local: the job files. And ``find``: the job a dispatch cut short, found by its name.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mingyue.core.tenancy.access import SYSTEM
from mingyue.core.uow import unit_of_work
from mingyue.enablers.compute import service
from mingyue.enablers.compute.adapters.devcluster import RayDevHead, SlurmDevCluster
from mingyue.enablers.compute.adapters.local import LocalAdapter
from mingyue.enablers.compute.adapters.ray import RayAdapter
from mingyue.enablers.compute.adapters.slurm import SlurmAdapter
from mingyue.enablers.compute.engine.spec import load_spec
from mingyue.enablers.compute.engine.states import EngineStatus, JobState

from ..helpers import FLAT, add_pool  # noqa: TID252 - the tests are no installed package


def same(a: EngineStatus | None, b: EngineStatus | None) -> bool:
    """Compare what the reconciler uses (the live ``squeue`` line carries no TRES)."""
    if a is None or b is None:
        return a is b
    return (a.state, a.started_at, a.ended_at, a.exit_code, a.seconds) == (
        b.state,
        b.started_at,
        b.ended_at,
        b.exit_code,
        b.seconds,
    )


def until(pred: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def counting(obj: Any, name: str, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record each call's command line (Slurm ``_run``) or Ray method name (``_call``)."""
    calls: list[Any] = []
    real = getattr(obj, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(next((a for a in args if isinstance(a, list | str)), name))
        return real(*args, **kwargs)

    monkeypatch.setattr(obj, name, wrapper)
    return calls


def test_local_statuses_and_find(tmp_path: Path) -> None:
    ad = LocalAdapter(tmp_path / "jobs", cpus=2, containers=None)
    a = ad.submit("7-aa", load_spec({"command": "echo a"}))
    b = ad.submit("8-bb", load_spec({"command": "exit 3"}))
    until(lambda: all(s is not None and s.state.terminal for s in ad.statuses([a, b]).values()))
    got = ad.statuses([a, b, "9-cc"])
    assert got[a] is not None and got[a].state is JobState.SUCCEEDED
    assert got[b] is not None and got[b].state is JobState.FAILED and got[b].exit_code == 3
    assert got["9-cc"] is None and all(same(got[e], ad.status(e)) for e in (a, b))
    assert ad.find("7-aa") == a and ad.find("9-cc") is None


@pytest.mark.service
def test_slurm_statuses_two_processes_for_many_jobs(
    slurm_cluster: SlurmDevCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ad = SlurmAdapter(
        slurm_conf=slurm_cluster.conf, log_dir=tmp_path / "logs", jobcomp_file=slurm_cluster.jobcomp
    )
    done = [ad.submit(f"b{i}-x", load_spec({"command": f"exit {i}"})) for i in range(3)]
    long = ad.submit("blong-x", load_spec({"command": "sleep 60"}))

    def settled() -> bool:  # the ended ones have their sacct record, the long one runs
        recs = [ad._record(j) for j in done]
        st = ad.status(long)
        return (
            all(r is not None and r[1] == "sacct" for r in recs)
            and st is not None
            and st.state is JobState.RUNNING
        )

    until(settled, timeout=90)
    one_by_one = {j: ad.status(j) for j in [*done, long]}
    calls = counting(ad, "_run", monkeypatch)
    got = ad.statuses([*done, long])
    assert [c[0] for c in calls] == ["squeue", "sacct"]  # not one process per job
    assert all(same(got[j], one_by_one[j]) for j in [*done, long]), (got, one_by_one)
    assert got[done[0]] is not None and got[done[0]].state is JobState.SUCCEEDED
    assert got[done[2]] is not None and got[done[2]].state is JobState.FAILED
    assert got[long] is not None and got[long].state is JobState.RUNNING
    # live jobs alone: squeue only
    calls.clear()
    assert ad.statuses([long])[long].state is JobState.RUNNING  # type: ignore[union-attr]
    assert [c[0] for c in calls] == ["squeue"]
    # find by the name given at submit; a name Slurm never got: None
    assert ad.find("blong-x") == long and ad.find("b1-x") == done[1]
    assert ad.find("never-x") is None
    ad.cancel(long)


@pytest.mark.service
def test_ray_statuses_one_list_jobs(ray_head: RayDevHead, monkeypatch: pytest.MonkeyPatch) -> None:
    ad = RayAdapter(ray_head.address)
    a = ad.submit("r1-x", load_spec({"command": "echo a"}))
    b = ad.submit("r2-x", load_spec({"command": "exit 4"}))
    until(lambda: all(s is not None and s.state.terminal for s in (ad.status(a), ad.status(b))))
    one_by_one = {j: ad.status(j) for j in (a, b)}
    calls = counting(ad, "_call", monkeypatch)
    got = ad.statuses([a, b, "mingyue-unknown"])
    assert calls == ["list_jobs"]
    assert same(got[a], one_by_one[a]) and same(got[b], one_by_one[b])
    assert got["mingyue-unknown"] is None
    # in a reconciler pass statuses() reuses the list capacity() just read: one list_jobs
    calls.clear()
    ad.capacity()
    assert same(ad.statuses([a, b])[b], one_by_one[b]) and calls == ["list_jobs"]
    # ... but never answers "unknown" from a list older than the job: it asks again
    ad.capacity()
    c = ad.submit("r3-x", load_spec({"command": "true"}))
    calls.clear()
    st = ad.statuses([a, c])[c]
    assert st is not None and calls == ["list_jobs"]
    assert ad.find("r1-x") == a and ad.find("r9-x") is None


@pytest.mark.service
def test_reconciler_pass_engine_processes_do_not_grow_with_jobs(
    settings: Any,
    tenants: Any,
    actor_of: Any,
    slurm_cluster: SlurmDevCluster,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_pool(settings, "slurm-a", kind="slurm", endpoint=str(slurm_cluster.conf), tariff=FLAT)
    a = actor_of(tenants.a.member)
    ids = []
    for _ in range(5):
        with unit_of_work(a, settings) as uow:
            ids.append(service.submit_job(uow=uow, spec={"command": "sleep 30"}).job_id)
    calls = counting(SlurmAdapter, "_run", monkeypatch)
    polled = service.poll_engines(settings)
    # sinfo + squeue (capacity), squeue -j (the five jobs' states): not 5 scontrol processes
    programs = [c[0] for c in calls]
    assert programs.count("scontrol") == 0 and len(programs) <= 4, programs
    assert set(polled.seen) == set(ids)
    with unit_of_work(SYSTEM, settings) as uow:
        for j in ids:
            service.cancel_job(uow=uow, job_id=j)
