"""Slurm backend against a real single-node slurmctld/slurmd (started by the fixture)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mingyue.core.errors import InvalidInput
from mingyue.enablers.compute.adapters.base import ComputeAdapter, EngineUnavailable, JobFinished
from mingyue.enablers.compute.adapters.devcluster import EngineStartError, SlurmDevCluster
from mingyue.enablers.compute.adapters.slurm import (
    SlurmAdapter,
    _gpus,
    _mem_mb,
    parse_sacct,
    parse_tres,
)
from mingyue.enablers.compute.adapters.slurm_cli import parse_kv_line, parse_slurm_time
from mingyue.enablers.compute.engine.spec import JobSpec, load_spec
from mingyue.enablers.compute.engine.states import EngineStatus, JobState

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def slurm(slurm_cluster: SlurmDevCluster, tmp_path_factory: pytest.TempPathFactory) -> SlurmAdapter:
    return SlurmAdapter(
        slurm_conf=slurm_cluster.conf,
        log_dir=tmp_path_factory.mktemp("slogs"),
        jobcomp_file=slurm_cluster.jobcomp,
    )


def wait_state(
    ad: SlurmAdapter, jid: str, want: set[JobState], timeout: float = 30
) -> EngineStatus:
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
    jid = slurm.submit(
        "s1",
        load_spec(
            {
                "command": "echo hi from $MINGYUE_JOB_ID; sleep 2",
                "cpus": 1,
                "env": {"GREETING": "a b'c"},
            }
        ),
    )
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
    while (
        not slurm_cluster.jobcomp.exists()
        or f"JobId={jid} " not in slurm_cluster.jobcomp.read_text()
    ):
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
    mine = [
        int(p)
        for p in pids.split()
        if "MINGYUE_JOB_ID=s4"
        in Path(f"/proc/{p}/environ").read_bytes().decode(errors="replace").replace("\0", " ")
    ]
    assert mine, "the job's sleep process was not found"
    for pid in mine:
        os.kill(pid, signal.SIGKILL)
    st = wait_state(slurm, jid, {JobState.FAILED}, timeout=40)
    # scontrol reports the shell's 137 (128 + 9); sacct's ExitCode for it reads 9:0
    assert st.reason in (
        "Slurm: FAILED (exit code 137)",
        "Slurm: FAILED (exit code 9)",
    ) or "signal 9" in (st.reason or "")
    assert st.seconds is not None and 2 <= st.seconds <= 30  # not the 5 minutes asked for


def sacct_row(cluster: SlurmDevCluster, jid: str) -> dict[str, str]:
    """Read the job's accounting record with sacct itself (what the adapter must agree with)."""
    out = (
        subprocess.run(
            ["sacct", "-P", "-X", "-n", "-j", jid, "-o", "State,ElapsedRaw,AllocTRES,Start,End"],
            env=cluster.env,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()
    )
    state, elapsed, tres, start, end = out[-1].split("|")
    return {"State": state, "ElapsedRaw": elapsed, "AllocTRES": tres, "Start": start, "End": end}


def test_accounting_is_sacct_elapsed_raw(
    slurm: SlurmAdapter, slurm_cluster: SlurmDevCluster
) -> None:
    assert slurm.has_sacct and slurm.accounting() == "accounting_storage/slurmdbd"
    jid = slurm.submit("a1", load_spec({"command": "sleep 3", "cpus": 2, "memory_mb": "1500M"}))
    st = wait_state(slurm, jid, {JobState.SUCCEEDED}, timeout=40)
    row = sacct_row(slurm_cluster, jid)
    assert row["State"] == "COMPLETED"
    assert st.seconds == int(row["ElapsedRaw"]) and 3 <= (st.seconds or 0) <= 15
    u = slurm.usage(jid)
    assert u is not None and u.source == "Slurm sacct" and u.seconds == int(row["ElapsedRaw"])
    assert u.cpus == 2 and u.memory_mb == 1500 and u.tres["cpu"] == "2"
    assert u.started_at == parse_slurm_time(row["Start"])
    assert u.ended_at == parse_slurm_time(row["End"])
    assert parse_tres(row["AllocTRES"]) == dict(u.tres)


def test_scancel_bills_only_the_seconds_used(
    slurm: SlurmAdapter, slurm_cluster: SlurmDevCluster
) -> None:
    jid = slurm.submit("a2", load_spec({"command": "sleep 120", "max_runtime_s": "10m"}))
    wait_state(slurm, jid, {JobState.RUNNING}, timeout=40)
    time.sleep(2)
    slurm.cancel(jid)
    st = wait_state(slurm, jid, {JobState.CANCELLED}, timeout=40)
    row = sacct_row(slurm_cluster, jid)
    assert row["State"].startswith("CANCELLED") and st.reason == f"Slurm: {row['State']}"
    assert st.seconds == int(row["ElapsedRaw"]) and 2 <= (st.seconds or 0) <= 20


def test_cancelled_while_pending_bills_nothing(slurm: SlurmAdapter) -> None:
    # Two CPUs on the node: a 2-CPU job waits behind a --begin in the future.
    args = [*slurm.sbatch_args("a3", load_spec({"command": "true"})), "--begin=now+600"]
    out = slurm._run(args, stdin=slurm.batch_script("a3", load_spec({"command": "true"})))
    jid = out.stdout.strip()
    assert wait_state(slurm, jid, {JobState.QUEUED}).started_at is None
    slurm.cancel(jid)
    st = wait_state(slurm, jid, {JobState.CANCELLED})
    assert st.seconds == 0 and st.started_at is None


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
    conf.write_text(
        "ClusterName=x\nSlurmctldHost=localhost(127.0.0.1)\nSlurmctldPort=1\n"
        "AuthType=auth/none\nNodeName=localhost CPUs=1\n"
        "PartitionName=p Nodes=localhost Default=YES\n"
    )
    ad = SlurmAdapter(slurm_conf=conf, log_dir=tmp_path, timeout_s=20)
    with pytest.raises(EngineUnavailable):
        ad.capacity()


def test_fallback_without_slurmdbd_reads_jobcomp(tmp_path_factory: pytest.TempPathFactory) -> None:
    cluster = SlurmDevCluster(tmp_path_factory.mktemp("slurm-nodbd"), accounting=False)
    try:
        cluster.start()
    except EngineStartError as exc:
        pytest.skip(f"Slurm could not start: {exc}")
    try:
        # no jobcomp_file given: the adapter finds JobCompLoc in `scontrol show config`
        ad = SlurmAdapter(slurm_conf=cluster.conf, log_dir=tmp_path_factory.mktemp("nodbd"))
        assert not ad.has_sacct and ad.accounting() == "accounting_storage/none"
        assert ad.jobcomp_file == cluster.jobcomp
        jid = ad.submit("f1", load_spec({"command": "sleep 1"}))
        st = wait_state(ad, jid, {JobState.SUCCEEDED}, timeout=40)
        deadline = time.monotonic() + 10
        while ad._jobcomp(jid) is None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        comp = ad._jobcomp(jid)
        assert comp is not None and comp["JobState"] == "COMPLETED"
        assert st.seconds == ad._seconds(
            parse_slurm_time(comp["StartTime"]), parse_slurm_time(comp["EndTime"])
        )
    finally:
        cluster.stop()


def test_parsers() -> None:
    rec = parse_sacct(
        "7|mingyue-3|CANCELLED by 0|2026-11-23T13:40:55|2026-11-23T13:40:57|2|"
        "billing=1,cpu=1,mem=1000M,node=1|0:0|None\n"
    )
    assert rec is not None and rec["JobState"] == "CANCELLED by 0" and rec["ElapsedRaw"] == "2"
    assert rec["TRES"].startswith("billing=1") and rec["StartTime"] == "2026-11-23T13:40:55"
    never = parse_sacct(
        "8|allocation|CANCELLED by 0|2026-11-23T13:41:00|2026-11-23T13:41:00|0||0:0|None"
    )
    assert never is not None and never["StartTime"] == "None"
    assert parse_sacct("") is None
    gpu = parse_sacct(
        "9|mingyue-4|COMPLETED|2026-11-23T13:40:55|2026-11-23T13:41:55|60|"
        "billing=8,cpu=8,gres/gpu=2,gres/gpu:a100=2,mem=64G,node=1|0:0|None"
    )
    assert gpu is not None
    tres = parse_tres(gpu["TRES"])
    assert _gpus(tres) == 2 and _mem_mb(tres["mem"]) == 65536  # the typed count is not added
    rec = parse_kv_line(
        "JobId=7 JobState=TIMEOUT Reason=TimeLimit ExitCode=0:15 "
        "TRES=cpu=2,mem=2000M,node=1,gres/gpu=1"
    )
    assert rec["JobState"] == "TIMEOUT" and rec["TRES"] == "cpu=2,mem=2000M,node=1,gres/gpu=1"
    assert parse_tres(rec["TRES"])["gres/gpu"] == "1"


def _resv_spec(start_in_s: float, duration: str, cpus: int = 1) -> JobSpec:
    start = datetime.now(UTC) + timedelta(seconds=start_in_s)
    return load_spec(
        {"reservation": {"start": start.isoformat(), "duration_s": duration}, "cpus": cpus}
    )


def test_reservation_overlap_is_refused_by_slurm_and_delete_inside_slurm_is_seen(
    slurm: SlurmAdapter, slurm_cluster: SlurmDevCluster
) -> None:
    rid = slurm.submit("r1", _resv_spec(3600, "1h", cpus=2))
    assert rid == "resv:mingyue-r1"
    st = slurm.status(rid)
    assert (
        st is not None
        and st.state is JobState.QUEUED
        and "srun --reservation=mingyue-r1" in (st.reason or "")
    )
    # Slurm itself refuses a second reservation on the same cores (the matcher does too)
    with pytest.raises(InvalidInput) as exc:
        slurm.submit("r2", _resv_spec(5400, "1h", cpus=1))
    assert "Slurm refused the reservation" in exc.value.message and "busy" in exc.value.message
    with pytest.raises(InvalidInput) as exc:
        slurm.submit("r3", _resv_spec(9000, "90s"))
    assert exc.value.key == "compute.slurm_reservation_minutes"
    # an operator deletes it inside Slurm before its start: cancelled, nothing held
    subprocess.run(
        ["scontrol", "delete", "ReservationName=mingyue-r1"], env=slurm_cluster.env, check=True
    )
    st = slurm.status(rid)
    assert st is not None and st.state is JobState.CANCELLED and st.seconds == 0
    assert st.reason == "reservation deleted inside Slurm"
    assert slurm.logs(rid) == "" and slurm.usage(rid) is None
    assert slurm.status("resv:mingyue-none") is None
    with pytest.raises(InvalidInput):
        slurm.status("resv:../etc")


@pytest.mark.slow
def test_reservation_runs_its_whole_slot(slurm: SlurmAdapter) -> None:
    rid = slurm.submit("r4", _resv_spec(0, "1m"))
    st = wait_state(slurm, rid, {JobState.RUNNING}, timeout=30)
    assert st.started_at is not None
    u = slurm.usage(rid)
    assert u is not None and u.cpus == 1 and 0 <= u.seconds <= 60
    st = wait_state(slurm, rid, {JobState.SUCCEEDED}, timeout=120)
    assert st.seconds == 60 and st.reason == "reservation ended"  # the whole slot, used or not
    with pytest.raises(JobFinished):
        slurm.cancel(rid)
