"""Slurm backend against a real single-node slurmctld/slurmd (started by the fixture)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from mingyue.core.errors import InvalidInput
from mingyue.enablers.compute.adapters.base import ComputeAdapter, EngineUnavailable, JobFinished
from mingyue.enablers.compute.adapters.devcluster import SlurmDevCluster
from mingyue.enablers.compute.adapters.slurm import SlurmAdapter, parse_kv_line, parse_tres
from mingyue.enablers.compute.engine.spec import load_spec
from mingyue.enablers.compute.engine.states import EngineStatus, JobState

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def slurm(slurm_cluster: SlurmDevCluster, tmp_path_factory: pytest.TempPathFactory) -> SlurmAdapter:
    return SlurmAdapter(slurm_conf=slurm_cluster.conf, log_dir=tmp_path_factory.mktemp("slogs"),
                        jobcomp_file=slurm_cluster.jobcomp)


def wait_state(ad: SlurmAdapter, jid: str, want: set[JobState], timeout: float = 30) -> EngineStatus:
    deadline = time.monotonic() + timeout
    st = None
    while time.monotonic() < deadline:
        st = ad.status(jid)
        if st is not None and st.state in want:
            return st
        time.sleep(0.1)
    raise AssertionError(f"job {jid} not in {want}: {st}")


def test_protocol(slurm: SlurmAdapter) -> None:
    assert isinstance(slurm, ComputeAdapter)


def test_job_runs_and_is_accounted(slurm: SlurmAdapter, slurm_cluster: SlurmDevCluster) -> None:
    jid = slurm.submit("s1", load_spec({"command": "echo hi from $MINGYUE_JOB_ID; sleep 2",
                                        "cpus": 1, "env": {"GREETING": "a b'c"}}))
    assert jid.isdigit()
    st = wait_state(slurm, jid, {JobState.SUCCEEDED}, timeout=40)
    assert st.exit_code == 0 and st.started_at is not None and st.ended_at is not None
    # billed seconds = the engine's own seconds (start/end to the second)
    assert st.seconds == int((st.ended_at - st.started_at).total_seconds())
    assert 2 <= (st.seconds or 0) <= 15  # a loaded host stretches Slurm start-up and epilog
    assert st.tres["cpu"] == "1" and st.tres["mem"] == "1000M"
    assert "hi from s1" in slurm.logs(jid)
    u = slurm.usage(jid)
    assert u is not None and u.seconds == st.seconds and u.cpus == 1 and u.memory_mb == 1000
    # the job completion record agrees once the controller forgets the job
    deadline = time.monotonic() + 10
    while not slurm_cluster.jobcomp.exists() or f"JobId={jid} " not in slurm_cluster.jobcomp.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    comp = slurm._jobcomp(jid)
    assert comp is not None and comp["JobState"] == "COMPLETED"


def test_failed_exit_code(slurm: SlurmAdapter) -> None:
    jid = slurm.submit("s2", load_spec({"command": "exit 3"}))
    st = wait_state(slurm, jid, {JobState.FAILED}, timeout=40)
    assert st.reason == "Slurm: FAILED (exit code 3)" and st.exit_code == 3


def test_cancel_and_cancel_again(slurm: SlurmAdapter) -> None:
    jid = slurm.submit("s3", load_spec({"command": "sleep 60"}))
    wait_state(slurm, jid, {JobState.RUNNING}, timeout=40)
    cap = slurm.capacity()
    assert cap.cpus == 2 and cap.running >= 1 and cap.free_cpus <= 1
    slurm.cancel(jid)
    st = wait_state(slurm, jid, {JobState.CANCELLED})
    assert st.reason is not None and "CANCELLED" in st.reason
    with pytest.raises(JobFinished):
        slurm.cancel(jid)


def test_killed_inside_slurm_is_failed_with_real_seconds(slurm: SlurmAdapter) -> None:
    jid = slurm.submit("s4", load_spec({"command": "sleep 60", "max_runtime_s": "5m"}))
    wait_state(slurm, jid, {JobState.RUNNING}, timeout=40)
    time.sleep(2)
    # Kill the job's processes on the node, behind Slurm's back (an OOM killer, an admin).
    pids = subprocess.run(["pgrep", "-f", "^sleep 60$"], capture_output=True, text=True).stdout
    mine = [int(p) for p in pids.split()
            if "MINGYUE_JOB_ID=s4" in Path(f"/proc/{p}/environ").read_bytes().decode(
                errors="replace").replace("\0", " ")]
    assert mine, "the job's sleep process was not found"
    for pid in mine:
        os.kill(pid, signal.SIGKILL)
    st = wait_state(slurm, jid, {JobState.FAILED}, timeout=40)
    assert st.reason == "Slurm: FAILED (exit code 137)" or "signal 9" in (st.reason or "")
    assert st.seconds is not None and 2 <= st.seconds <= 30  # not the 5 minutes asked for


def test_unknown_job_and_bad_input(slurm: SlurmAdapter) -> None:
    assert slurm.status("999999") is None
    with pytest.raises(InvalidInput):
        slurm.status("1;rm")
    with pytest.raises(InvalidInput) as exc:
        slurm.submit("s5", load_spec({"command": "true", "gpus": {"count": 1, "model": "A100"}}))
    assert "Slurm refused the job" in exc.value.message
    with pytest.raises(InvalidInput):
        slurm.submit("s6", load_spec({"command": "true", "env": {"BAD-NAME": "x"}}))


def test_controller_down_is_engine_unavailable(tmp_path: Path) -> None:
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=x\nSlurmctldHost=localhost(127.0.0.1)\nSlurmctldPort=1\n"
                    "AuthType=auth/none\nNodeName=localhost CPUs=1\n"
                    "PartitionName=p Nodes=localhost Default=YES\n")
    ad = SlurmAdapter(slurm_conf=conf, log_dir=tmp_path, timeout_s=20)
    with pytest.raises(EngineUnavailable):
        ad.capacity()


def test_parsers() -> None:
    rec = parse_kv_line("JobId=7 JobState=TIMEOUT Reason=TimeLimit ExitCode=0:15 "
                        "TRES=cpu=2,mem=2000M,node=1,gres/gpu=1")
    assert rec["JobState"] == "TIMEOUT" and rec["TRES"] == "cpu=2,mem=2000M,node=1,gres/gpu=1"
    assert parse_tres(rec["TRES"])["gres/gpu"] == "1"
