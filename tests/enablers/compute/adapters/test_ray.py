"""Ray backend against a real `ray start --head` (started by the fixture)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from mingyue.core.errors import InvalidInput
from mingyue.enablers.compute.adapters.base import ComputeAdapter, EngineUnavailable, JobFinished
from mingyue.enablers.compute.adapters.devcluster import RayDevHead, free_port
from mingyue.enablers.compute.adapters.ray import RayAdapter, ray_seconds
from mingyue.enablers.compute.engine.spec import load_spec
from mingyue.enablers.compute.engine.states import EngineStatus, JobState

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def ray_ad(ray_head: RayDevHead) -> RayAdapter:
    return RayAdapter(ray_head.address)


def wait_state(ad: RayAdapter, jid: str, want: set[JobState], timeout: float = 60) -> EngineStatus:
    deadline = time.monotonic() + timeout
    st = None
    while time.monotonic() < deadline:
        st = ad.status(jid)
        if st is not None and st.state in want:
            return st
        time.sleep(0.1)
    raise AssertionError(f"job {jid} not in {want}: {st}")


def test_protocol_and_capacity(ray_ad: RayAdapter) -> None:
    assert isinstance(ray_ad, ComputeAdapter)
    cap = ray_ad.capacity()
    assert cap.cpus == 2 and cap.nodes == 1 and cap.down_reason is None


def test_job_runs_and_is_accounted(ray_ad: RayAdapter) -> None:
    jid = ray_ad.submit(
        "r1",
        load_spec(
            {"command": "echo hi $GREETING; sleep 1", "cpus": 1, "env": {"GREETING": "from ray"}}
        ),
    )
    assert jid == "mingyue-r1"
    st = wait_state(ray_ad, jid, {JobState.SUCCEEDED})
    assert st.started_at is not None and st.ended_at is not None and st.exit_code == 0
    assert st.seconds is not None and st.seconds >= 1
    assert "hi from ray" in ray_ad.logs(jid)
    u = ray_ad.usage(jid)
    assert u is not None and u.seconds == st.seconds and u.cpus == 1


def test_failed_time_limit_and_cancel(ray_ad: RayAdapter) -> None:
    bad = ray_ad.submit("r2", load_spec({"command": "exit 3"}))
    st = wait_state(ray_ad, bad, {JobState.FAILED})
    assert st.reason is not None and st.reason.startswith("Ray: FAILED")
    slow = ray_ad.submit("r3", load_spec({"command": "sleep 60", "max_runtime_s": 2}))
    st = wait_state(ray_ad, slow, {JobState.FAILED})
    assert st.reason == "Ray: FAILED (time limit reached)"
    # Ray counts its own job start-up (runtime env) too: seconds on a busy host, never 60.
    assert st.seconds is not None and st.seconds < 30
    c = ray_ad.submit("r4", load_spec({"command": "sleep 60"}))
    wait_state(ray_ad, c, {JobState.RUNNING})
    ray_ad.cancel(c)
    st = wait_state(ray_ad, c, {JobState.CANCELLED})
    assert st.reason is not None and "STOPPED" in st.reason
    with pytest.raises(JobFinished):
        ray_ad.cancel(c)


def test_killed_inside_ray_is_failed_with_real_seconds(ray_ad: RayAdapter) -> None:
    jid = ray_ad.submit("r5", load_spec({"command": "sleep 61"}))
    wait_state(ray_ad, jid, {JobState.RUNNING})
    time.sleep(1.5)
    killed = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            env = (proc / "environ").read_bytes()
        except OSError:
            continue
        if cmd[:2] == [b"sleep", b"61"] and b"MINGYUE_JOB_ID=r5" in env:
            os.kill(int(proc.name), signal.SIGKILL)
            killed += 1
    assert killed == 1
    st = wait_state(ray_ad, jid, {JobState.FAILED})
    assert st.reason is not None and st.reason.startswith("Ray: FAILED")
    assert st.seconds is not None and 1 <= st.seconds < 30  # not the 61 s asked for


def test_unknown_and_unsupported(ray_ad: RayAdapter) -> None:
    assert ray_ad.status("mingyue-nope") is None
    with pytest.raises(InvalidInput):
        ray_ad.submit("r6", load_spec({"image": "alpine"}))


def test_submit_is_one_request_and_a_failed_client_is_rebuilt(ray_head: RayDevHead) -> None:
    ad = RayAdapter(ray_head.address)
    spec = load_spec({"command": "true", "cpus": 1, "memory_mb": 64})
    ad.submit("r7", spec)  # the client checked the version when it was built
    client = ad.client
    calls: list[tuple[str, str]] = []
    real = client._do_request

    def counting(method: str, endpoint: str, **kw: object) -> object:
        calls.append((method, endpoint))
        return real(method, endpoint, **kw)

    client._do_request = counting
    ad.submit("r8", spec)
    assert calls == [("POST", "/api/jobs/")]  # no GET /api/version per submit
    # a connection error drops the client; the next call builds (and checks) a new one
    client._address = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(EngineUnavailable):
        ad.status("mingyue-r8")
    assert ad._client is None
    assert ad.status("mingyue-r8") is not None and ad.client is not client


def test_down_is_engine_unavailable() -> None:
    ad = RayAdapter(f"http://127.0.0.1:{free_port()}", timeout_s=3)
    with pytest.raises(EngineUnavailable):
        ad.capacity()
    with pytest.raises(EngineUnavailable):
        ad.status("mingyue-x")


def test_ray_seconds() -> None:
    assert ray_seconds(1000, 2500) == 2
    assert ray_seconds(1000, 2000) == 1
    assert ray_seconds(None, 2000) == 0


def test_a_second_head_on_the_machine_starts_beside_the_first(
    ray_head: RayDevHead, tmp_path: Path
) -> None:
    # Ray's fixed default ports (GCS 6379/6380, client server 10001, dashboard agent 52365)
    # made a second head (another test worker, a bench) join the first one's GCS and die.
    second = RayDevHead(tmp_path / "second")
    try:
        second.start()
        assert second.port != ray_head.port and second.address != ray_head.address
        for head in (second, ray_head):  # each its own one-node cluster; the first unharmed
            cap = RayAdapter(head.address).capacity()
            assert cap.nodes == 1 and cap.cpus == 2 and cap.down_reason is None
    finally:
        second.stop()
