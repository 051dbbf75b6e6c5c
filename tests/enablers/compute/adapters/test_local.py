"""Local backend: real subprocesses under limits, restart-safe records, engine-side kills."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from mingyue.core.errors import InvalidInput
from mingyue.enablers.compute.adapters.base import ComputeAdapter, JobFinished
from mingyue.enablers.compute.adapters.local import LocalAdapter
from mingyue.enablers.compute.engine.spec import load_spec
from mingyue.enablers.compute.engine.states import EngineStatus, JobState


def wait_terminal(ad: LocalAdapter, jid: str, timeout: float = 20) -> EngineStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = ad.status(jid)
        assert st is not None
        if st.state.terminal:
            return st
        time.sleep(0.05)
    raise AssertionError(f"{jid} did not finish: {ad.status(jid)}")


def wait_running(ad: LocalAdapter, jid: str, timeout: float = 20) -> EngineStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = ad.status(jid)
        assert st is not None
        if st.state is JobState.RUNNING:
            return st
        time.sleep(0.02)
    raise AssertionError(f"{jid} did not start: {ad.status(jid)}")


@pytest.fixture
def ad(tmp_path: Path) -> LocalAdapter:
    return LocalAdapter(tmp_path / "jobs", cpus=4)


def test_protocol(ad: LocalAdapter) -> None:
    assert isinstance(ad, ComputeAdapter)


def test_echo_succeeds_with_logs_and_usage(ad: LocalAdapter) -> None:
    jid = ad.submit("j1", load_spec({"command": "echo hi; echo oops >&2", "cpus": 1}))
    st = wait_terminal(ad, jid)
    assert st.state is JobState.SUCCEEDED and st.exit_code == 0
    assert st.seconds is not None and 1 <= st.seconds <= 3  # a started second counts
    logs = ad.logs(jid)
    assert logs.startswith("hi\n") and "--- stderr ---\noops" in logs
    u = ad.usage(jid)
    assert u is not None and u.seconds == st.seconds and u.cpus == 1
    assert u.started_at is not None and u.ended_at is not None


def test_exit_code_and_time_limit(ad: LocalAdapter) -> None:
    bad = ad.submit("bad", load_spec({"command": "exit 3"}))
    slow = ad.submit("slow", load_spec({"command": "sleep 30", "max_runtime_s": 1}))
    st = wait_terminal(ad, bad)
    assert (st.state, st.reason, st.exit_code) == (JobState.FAILED, "exit code 3", 3)
    st = wait_terminal(ad, slow)
    assert st.state is JobState.FAILED and st.reason == "time limit reached (1 s)"
    assert st.seconds is not None and 1 <= st.seconds <= 8


def test_memory_limit(ad: LocalAdapter) -> None:
    jid = ad.submit(
        "mem",
        load_spec(
            {
                "command": 'python3 -c "b = bytearray(400 * 1024 * 1024); print(len(b))"',
                "memory_mb": 100,
            }
        ),
    )
    st = wait_terminal(ad, jid)
    assert st.state is JobState.FAILED
    assert "MemoryError" in ad.logs(jid)


def test_cancel_then_cancel_again(ad: LocalAdapter) -> None:
    jid = ad.submit("c", load_spec({"command": "sleep 30"}))
    wait_running(ad, jid)
    st = ad.cancel(jid)
    assert st.state is JobState.CANCELLED and st.reason == "cancelled by request"
    with pytest.raises(JobFinished) as exc:
        ad.cancel(jid)
    assert "already cancelled" in exc.value.message


def test_killed_inside_engine_is_failed_with_real_seconds(ad: LocalAdapter) -> None:
    jid = ad.submit("k", load_spec({"command": "sleep 30"}))
    wait_running(ad, jid)
    time.sleep(1.2)
    started = json.loads((ad.root / jid / "started.json").read_text())
    os.kill(started["pid"], signal.SIGKILL)
    st = wait_terminal(ad, jid)
    assert st.state is JobState.FAILED and st.reason == "killed by signal SIGKILL"
    # 1.2 s and change (a started second counts; a loaded host adds some): not the 30 asked for
    assert st.seconds is not None and 2 <= st.seconds <= 6


def test_restart_reads_the_same_truth(ad: LocalAdapter) -> None:
    jid = ad.submit("r", load_spec({"command": "sleep 1; echo done"}))
    wait_running(ad, jid)
    again = LocalAdapter(ad.root, cpus=4)  # a restarted platform: no Popen handles
    assert again.status(jid) is not None and again.status(jid).state is JobState.RUNNING  # type: ignore[union-attr]
    assert again.capacity().free_cpus == 3
    st = wait_terminal(again, jid)
    assert st.state is JobState.SUCCEEDED and again.logs(jid) == "done\n"
    assert again.capacity().free_cpus == 4


def test_unknown_duplicate_and_unsupported(ad: LocalAdapter) -> None:
    assert ad.status("nope") is None
    with pytest.raises(InvalidInput):
        ad.status("../etc")
    ad.submit("d", load_spec({"command": "true"}))
    with pytest.raises(Exception, match="already exists"):
        ad.submit("d", load_spec({"command": "true"}))
    no_images = LocalAdapter(ad.root, cpus=4, containers=None)  # image jobs turned off
    with pytest.raises(InvalidInput) as exc:
        no_images.submit("img", load_spec({"image": "alpine"}))
    assert exc.value.field == "image"
    assert not (ad.root / "img").exists()  # nothing half-written
    wait_terminal(ad, "d")


def test_cancel_racing_the_supervisor_start_never_lets_the_job_run(ad: LocalAdapter) -> None:
    # cancel right after submit: either the cancel claims the job before the supervisor starts
    # it, or the supervisor claimed it first and the cancel signals it once it started; in both
    # cases the answer is terminal and the command never finishes on its own
    for n in range(6):
        jid = ad.submit(f"race{n}", load_spec({"command": "sleep 30; touch done", "cpus": 1}))
        st = ad.cancel(jid)
        assert st.state is JobState.CANCELLED, st
    time.sleep(0.5)
    for n in range(6):
        st = ad.status(f"race{n}")
        assert st is not None and st.state is JobState.CANCELLED
        assert not (ad._dir(f"race{n}") / "work" / "done").exists()


def test_claim_is_exclusive(tmp_path: Path) -> None:
    from mingyue.enablers.compute.adapters.local_runner import claim

    assert claim(tmp_path, "run") is True
    assert claim(tmp_path, "cancel") is False
    assert (tmp_path / "claim").read_text() == "run"


def _age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_a_job_no_supervisor_claimed_is_started_again_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the platform died right after writing the job dir: no supervisor came up for it
    dying = LocalAdapter(tmp_path / "jobs", cpus=4)
    monkeypatch.setattr(dying, "_start_supervisor", lambda job_id, job_dir: None)
    jid = dying.submit("j1", load_spec({"command": "echo ran-once", "cpus": 1}))
    fresh = LocalAdapter(tmp_path / "jobs", cpus=4)  # the next platform process
    st = fresh.status(jid)
    assert st is not None and st.state is JobState.QUEUED  # young: may still be starting
    assert not (tmp_path / "jobs" / jid / "revived").exists()
    _age(tmp_path / "jobs" / jid / "job.json", 11)
    st = wait_terminal(fresh, jid)
    assert st.state is JobState.SUCCEEDED, st.reason
    assert (tmp_path / "jobs" / jid / "revived").exists()
    assert fresh.logs(jid) == "ran-once\n"
    # the original supervisor, merely slow, now comes up: the claim keeps it from a second run
    fresh._start_supervisor(jid, tmp_path / "jobs" / jid)
    late = fresh._children.get(jid)  # None: it already ended and its reaper thread let it go
    if late is not None:
        late.wait(timeout=20)
    assert fresh.logs(jid) == "ran-once\n" and fresh.status(jid).state is JobState.SUCCEEDED  # type: ignore[union-attr]


def test_a_job_whose_supervisor_never_comes_up_fails_after_one_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ad = LocalAdapter(tmp_path / "jobs", cpus=4)
    starts: list[str] = []
    monkeypatch.setattr(ad, "_start_supervisor", lambda job_id, job_dir: starts.append(job_id))
    jid = ad.submit("j1", load_spec({"command": "true", "cpus": 1}))
    _age(tmp_path / "jobs" / jid / "job.json", 11)
    assert ad.status(jid).state is JobState.QUEUED  # type: ignore[union-attr]
    assert ad.status(jid).state is JobState.QUEUED  # type: ignore[union-attr]
    assert starts == ["j1", "j1"]  # submit, then one revival however often it is asked
    _age(tmp_path / "jobs" / jid / "revived", 31)
    st = ad.status(jid)
    assert st is not None and st.state is JobState.FAILED
    assert st.reason is not None and "did not start the job (started twice)" in st.reason


def test_a_supervisor_that_died_after_its_claim_fails_the_job(ad: LocalAdapter) -> None:
    jid = ad.submit("j1", load_spec({"command": "sleep 30", "cpus": 1}))
    job_dir = ad.root / jid
    wait_running(ad, jid)
    ad.cancel(jid)
    deadline = time.monotonic() + 20
    while jid in ad._children and time.monotonic() < deadline:  # the supervisor exits
        time.sleep(0.02)
    # what a supervisor killed between its claim and the start leaves: a claim, a dead runner
    for name in ("started.json", "end.json"):
        (job_dir / name).unlink()
    _age(job_dir / "claim", 31)
    st = ad.status(jid)
    assert st is not None and st.state is JobState.FAILED
    assert st.reason is not None and "exited before it started the job" in st.reason
