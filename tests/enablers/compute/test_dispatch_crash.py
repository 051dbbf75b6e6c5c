"""No job lost when the platform dies during a dispatch (two-phase dispatch), for real.

A child process submits a job and is killed (SIGKILL) right after the engine accepted it and
before the engine's id was committed — or right before the engine call. A fresh platform (new
adapters, the reconciler) then finds the job by its engine-side name and adopts it (billed
once), or, when the engine never got it, dispatches it again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from sqlalchemy import select

from mingyue.core.db import get_engine
from mingyue.core.errors import Conflict, InvalidInput
from mingyue.core.ledger.audit import AuditEntry
from mingyue.core.tenancy.access import SYSTEM
from mingyue.core.uow import unit_of_work
from mingyue.enablers.compute import service
from mingyue.enablers.compute.models import ComputeJob, ComputeUsage

from .helpers import FLAT, add_pool, reconcile, wait_done

CHILD = r"""
import json, os, signal, sys
from pathlib import Path
from mingyue.core import config
from mingyue.core.db import system_session
from mingyue.core.tenancy.identity import User, actor_for
from mingyue.core.plugins import registry
from mingyue.core.uow import unit_of_work
from mingyue.enablers.compute import service
from mingyue.enablers.compute.service import dispatch

registry()  # permissions, audit events, meters: as the platform starts
args = json.loads(sys.argv[1])
settings = config.configure(data_dir=Path(args["data_dir"]), env="test",
                            database_url=args["database_url"])
with system_session(settings, "test child") as s:
    actor = actor_for(s.get(User, args["user_id"]))
real = dispatch.adapter_for


class Dying:
    def __init__(self, ad):
        self.ad = ad

    def __getattr__(self, name):
        return getattr(self.ad, name)

    def submit(self, job_id, spec, owner=None):
        if args["when"] == "before":
            print(json.dumps({"name": job_id}), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        engine_id = self.ad.submit(job_id, spec, owner)
        print(json.dumps({"name": job_id, "engine_id": engine_id}), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # the engine has it; mingyue did not record it


dispatch.adapter_for = lambda uow, pool: Dying(real(uow, pool))  # where the dispatch looks it up
with unit_of_work(actor, settings) as uow:
    service.submit_job(uow=uow, spec=args["spec"])
print("not killed", flush=True)
"""


def submit_and_die(settings: Any, user_id: int, spec: dict[str, Any], when: str) -> dict[str, str]:
    """Submit in a child process that is killed during the dispatch; return what it printed."""
    args = {
        "data_dir": str(settings.data_dir),
        "user_id": user_id,
        "spec": spec,
        "when": when,
        "database_url": get_engine(settings).url.render_as_string(hide_password=False),
    }
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stdout, proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def job_row(settings: Any, job_id: int | None = None) -> ComputeJob:
    with unit_of_work(SYSTEM, settings) as uow, uow.unscoped(reason="test"):
        q = select(ComputeJob).order_by(ComputeJob.id.desc())
        if job_id is not None:
            q = q.where(ComputeJob.id == job_id)
        row = uow.session.scalars(q).first()
        assert row is not None
        uow.session.expunge(row)
        return row


def usage_of(settings: Any, job_id: int) -> list[ComputeUsage]:
    with unit_of_work(SYSTEM, settings) as uow, uow.unscoped(reason="test"):
        rows = list(uow.session.scalars(select(ComputeUsage).where(ComputeUsage.job_id == job_id)))
        for r in rows:
            uow.session.expunge(r)
        return rows


def ledger_actions(settings: Any, job_id: int) -> list[str]:
    with unit_of_work(SYSTEM, settings) as uow, uow.unscoped(reason="test"):
        return [
            e.action
            for e in uow.session.scalars(
                select(AuditEntry)
                .where(AuditEntry.subject == f"compute_job:{job_id}")
                .order_by(AuditEntry.seq)
            )
        ]


def bills_once(settings: Any, job_id: int, cpus: int = 1) -> None:
    done = wait_done(settings, job_id, timeout=90)
    assert done.state == "succeeded", done.reason
    rows = usage_of(settings, job_id)
    assert rows and sum(r.quantity for r in rows) == done.seconds * cpus >= 1
    for _ in range(3):  # more passes and a fresh platform bill nothing more
        service.forget_adapters()
        reconcile(settings)
    assert len(usage_of(settings, job_id)) == len(rows)
    assert job_row(settings, job_id).billed_seconds == done.seconds


def test_local_job_accepted_then_platform_killed_is_adopted_and_billed_once(
    settings: Any, tenants: Any, actor_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_pool(settings, "local-a", cpus=2, tariff=FLAT)
    said = submit_and_die(
        settings, tenants.a.member.id, {"command": "echo ran-$MINGYUE_JOB_ID; sleep 1"}, "after"
    )
    row = job_row(settings)
    # committed before the engine call: the pool and the engine-side name, not the engine id
    assert row.state == "dispatching" and row.pool == "local-a" and row.engine_id == said["name"]
    assert row.dispatching_since is not None
    job_dir = settings.data_dir / "compute" / "local-a" / "jobs" / said["engine_id"]
    assert (job_dir / "job.json").exists()  # the engine has it and runs it
    # a dispatch younger than the grace period may still be in flight: left alone; and it
    # cannot be cancelled until its engine id is known
    service.forget_adapters()
    reconcile(settings)
    assert job_row(settings, row.id).state == "dispatching"
    with pytest.raises(Conflict), unit_of_work(actor_of(tenants.a.member), settings) as uow:
        service.cancel_job(uow=uow, job_id=row.id)
    # a fresh platform's reconciler job (engines polled outside the transaction) adopts it
    monkeypatch.setitem(settings.compute, "dispatch_grace_s", 0)
    polled = service.poll_engines(settings)
    assert polled.found == {row.id: said["engine_id"]}
    with unit_of_work(SYSTEM, settings) as uow:
        service.reconcile(uow=uow, polled=polled)
    adopted = job_row(settings, row.id)
    assert adopted.engine_id == said["engine_id"] and adopted.state in (
        "queued",
        "running",
        "succeeded",
    )
    assert adopted.dispatching_since is None
    bills_once(settings, row.id)
    assert "compute.job.adopted" in ledger_actions(settings, row.id)
    with unit_of_work(actor_of(tenants.a.member), settings) as uow:
        assert service.job_logs(uow=uow, job_id=row.id).strip() == f"ran-{said['engine_id']}"


def test_platform_killed_before_the_pool_got_it_dispatches_again(
    settings: Any, tenants: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_pool(settings, "local-a", cpus=2, tariff=FLAT)
    said = submit_and_die(settings, tenants.a.member.id, {"command": "echo once"}, "before")
    row = job_row(settings)
    assert row.state == "dispatching" and row.engine_id == said["name"]
    jobs_dir = settings.data_dir / "compute" / "local-a" / "jobs"
    assert not (jobs_dir / said["name"]).exists()
    monkeypatch.setitem(settings.compute, "dispatch_grace_s", 0)
    service.forget_adapters()
    out = reconcile(settings)
    assert out.dispatched == 1
    again = job_row(settings, row.id)
    assert again.pool == "local-a" and again.engine_id not in (None, said["name"])
    assert again.state != "dispatching"
    assert "compute.job.redispatch" in ledger_actions(settings, row.id)
    bills_once(settings, row.id)
    # it ran exactly once: one job dir for this job, none under the first name
    assert [p.name for p in jobs_dir.iterdir() if p.name.startswith(f"{row.id}-")] == [
        again.engine_id
    ]


@pytest.mark.service
def test_slurm_job_accepted_then_platform_killed_is_adopted_and_billed_once(
    settings: Any, tenants: Any, slurm_cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_pool(settings, "slurm-a", kind="slurm", endpoint=str(slurm_cluster.conf), tariff=FLAT)
    said = submit_and_die(
        settings,
        tenants.a.member.id,
        {"command": "echo slurm-ran; sleep 1", "max_runtime_s": "2m"},
        "after",
    )
    row = job_row(settings)
    assert row.state == "dispatching" and row.engine_id == said["name"]
    assert said["engine_id"].isdigit()
    monkeypatch.setitem(settings.compute, "dispatch_grace_s", 0)
    service.forget_adapters()
    reconcile(settings)  # asks Slurm by name (squeue --name, then sacct --name)
    adopted = job_row(settings, row.id)
    assert adopted.engine_id == said["engine_id"] and adopted.state != "dispatching"
    bills_once(settings, row.id)
    # one Slurm job of that name: nothing was submitted twice. When slurmctld's end-of-job
    # message reaches slurmdbd before its start message, slurmdbd first stores a placeholder
    # named "allocation" (right times and TRES, so billing is exact) and renames it when the
    # start message lands, seconds later: a query by name waits for that.
    deadline = time.monotonic() + 30
    while True:
        acct = subprocess.run(
            [
                "sacct",
                "-n",
                "-X",
                "-P",
                f"--name=mingyue-{said['name']}",
                "-S",
                "now-1days",
                "-o",
                "JobID",
            ],
            env=slurm_cluster.env,
            capture_output=True,
            text=True,
            check=True,
        )
        if acct.stdout.split() or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert acct.stdout.split() == [said["engine_id"]], acct


@pytest.mark.service
def test_slurm_dispatch_that_never_reached_slurm_runs_once(
    settings: Any, tenants: Any, slurm_cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_pool(settings, "slurm-a", kind="slurm", endpoint=str(slurm_cluster.conf), tariff=FLAT)
    # (a second of work: Slurm bills its ElapsedRaw, 0 for a job under a second)
    submit_and_die(settings, tenants.a.member.id, {"command": "echo once; sleep 1"}, "before")
    row = job_row(settings)
    assert row.state == "dispatching"
    monkeypatch.setitem(settings.compute, "dispatch_grace_s", 0)
    service.forget_adapters()
    assert reconcile(settings).dispatched == 1
    again = job_row(settings, row.id)
    assert again.engine_id is not None and again.engine_id.isdigit()
    bills_once(settings, row.id)


@pytest.mark.service
def test_slurm_refusal_at_submit_keeps_no_job(
    settings: Any, tenants: Any, actor_of: Any, slurm_cluster: Any
) -> None:
    """The job was committed as dispatching before Slurm refused it: the submit answers the
    refusal and no job is left behind (nothing for the reconciler to dispatch again)."""
    add_pool(settings, "slurm-a", kind="slurm", endpoint=str(slurm_cluster.conf), tariff=FLAT)
    with (
        pytest.raises(InvalidInput) as exc,
        unit_of_work(actor_of(tenants.a.member), settings) as uow,
    ):
        service.submit_job(uow=uow, spec={"command": "true", "env": {"1BAD": "x"}})
    assert exc.value.field == "env"
    with unit_of_work(SYSTEM, settings) as uow, uow.unscoped(reason="test"):
        assert uow.session.scalars(select(ComputeJob)).all() == []
