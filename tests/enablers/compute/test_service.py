"""Service: pools, matching + dispatch, reconciler, per-second billing, quota, faults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mingyue.core import metering
from mingyue.core.errors import Conflict, Forbidden, InvalidInput, NotFound, QuotaExceeded
from mingyue.core.tenancy.access import SYSTEM
from mingyue.core.uow import unit_of_work
from mingyue.enablers.compute import service
from mingyue.enablers.compute.adapters.devcluster import free_port
from mingyue.enablers.compute.models import ComputeJob, ComputeUsage
from mingyue.enablers.compute.schemas import PoolIn
from mingyue.enablers.compute.tariffs import CPU_METER
from mingyue.sdk import local_time

from .helpers import FLAT, TOU, add_pool, reconcile, wait_done


@pytest.fixture
def member_a(tenants: Any, actor_of: Any) -> Any:
    return actor_of(tenants.a.member)


def submit(settings: Any, actor: Any, spec: dict[str, Any]) -> Any:
    with unit_of_work(actor, settings) as uow:
        return service.submit_job(uow=uow, spec=spec)


def test_pool_management_needs_platform_admin(settings: Any, member_a: Any) -> None:
    with pytest.raises(Forbidden), unit_of_work(member_a, settings) as uow:
        service.add_pool(uow=uow, pool=PoolIn(name="x", kind="local"))
    out = add_pool(settings, "local-a", cpus=4, tariff=FLAT, region="liangjiang")
    assert out.cpus == 4 and out.free_cpus == 4 and out.down_reason is None
    with pytest.raises(Conflict), unit_of_work(SYSTEM, settings) as uow:
        service.add_pool(uow=uow, pool=PoolIn(name="local-a", kind="local"))
    with pytest.raises(InvalidInput) as exc, unit_of_work(SYSTEM, settings) as uow:
        service.add_pool(
            uow=uow, pool=PoolIn(name="t", kind="local", tariff={"cpu_second": {"peak": "-1"}})
        )
    assert exc.value.field == "tariff"
    with unit_of_work(member_a, settings) as uow:
        assert [p.name for p in service.list_pools(uow=uow)] == ["local-a"]


def test_submit_runs_bills_engine_seconds_and_free_quota_first(
    settings: Any, member_a: Any, tenants: Any
) -> None:
    add_pool(settings, "local-a", cpus=4, tariff=FLAT)
    with unit_of_work(SYSTEM, settings) as uow:
        metering.set_pool_default(uow=uow, meter=CPU_METER, granted=Decimal(1), sme_only=True)
    out = submit(
        settings, member_a, {"command": "sleep 1.2; echo hi", "cpus": 2, "max_runtime_s": "1m"}
    )
    assert out.pool == "local-a" and out.state == "queued"
    assert out.reason.startswith("pool local-a: ¥0.01, start now")
    assert out.estimated_cost == Decimal("0.0120")  # 2 CPU × 60 s × 0.0001
    job = wait_done(settings, out.job_id)
    assert job.state == "succeeded" and 2 <= job.seconds <= 6
    with unit_of_work(member_a, settings) as uow:
        assert service.job_logs(uow=uow, job_id=out.job_id) == "hi\n"
        lines = service.usage(
            uow=uow,
            month=local_time(job.started_at, settings, "%Y-%m"),
        ).lines
    # billed = engine seconds × CPUs; the SME's 1 free CPU-second is used first
    assert sum(ln.quantity for ln in lines) == Decimal(2 * job.seconds)
    assert sum(ln.free_quantity for ln in lines) == Decimal(1)
    assert job.free_quota_used == Decimal(1)
    assert job.cost == Decimal(2 * job.seconds - 1) * Decimal("0.0001")
    assert job.cost == sum(ln.amount for ln in lines)
    # restart-safe: more reconciler passes do not bill again
    reconcile(settings)
    reconcile(settings)
    with unit_of_work(SYSTEM, settings) as uow:
        n = len(uow.session.scalars(select(ComputeUsage)).all())
        assert n == len(lines)
        recs = metering.list_usage(uow=uow, organization_id=tenants.a.org.id)
        assert [r.quantity for r in recs] == [Decimal(2 * job.seconds)]


def test_time_of_use_windows_priced_exactly(settings: Any, member_a: Any) -> None:
    add_pool(settings, "tou", cpus=4, tariff=TOU)
    out = submit(settings, member_a, {"command": "sleep 1", "cpus": 1})
    job = wait_done(settings, out.job_id)
    with unit_of_work(SYSTEM, settings) as uow:
        rows = uow.session.scalars(
            select(ComputeUsage).where(ComputeUsage.job_id == out.job_id)
        ).all()
    assert sum(r.seconds for r in rows) == job.seconds
    prices = {"peak": Decimal("0.0003"), "flat": Decimal("0.0002"), "valley": Decimal("0.0001")}
    for r in rows:
        assert r.unit_price == prices[r.band]
        assert r.amount == r.unit_price * (r.quantity - r.free_quantity)


def test_invalid_spec_and_no_pool(settings: Any, member_a: Any) -> None:
    add_pool(settings, "local-a", cpus=2, max_runtime_s=600)
    with pytest.raises(InvalidInput) as exc:
        submit(settings, member_a, {"command": "x", "cpus": -1})
    assert exc.value.field == "cpus"
    with pytest.raises(InvalidInput) as exc:
        submit(settings, member_a, {"command": "x", "max_runtime_s": "2h"})
    assert exc.value.field == "max_runtime_s"
    with pytest.raises(InvalidInput) as exc:
        submit(settings, member_a, {"command": "x", "gpus": {"count": 1, "model": "A100"}})
    assert (
        exc.value.key == "compute.no_pool" and "pool local-a rejected: no A100" in exc.value.message
    )
    with unit_of_work(SYSTEM, settings) as uow:
        assert uow.session.scalars(select(ComputeJob)).all() == []  # nothing half-written


def test_suspended_and_down_pools_send_jobs_elsewhere(settings: Any, member_a: Any) -> None:
    add_pool(settings, "cheap", cpus=2, tariff=FLAT)
    ray_down = add_pool(
        settings, "ray-down", kind="ray", endpoint=f"http://127.0.0.1:{free_port()}"
    )
    assert ray_down.down_reason is not None and "unreachable" in ray_down.down_reason
    add_pool(settings, "dear", cpus=2, tariff=TOU)
    with unit_of_work(SYSTEM, settings) as uow:
        service.suspend_pool(uow=uow, name="cheap")
    out = submit(settings, member_a, {"command": "true"})
    assert out.pool == "dear"
    assert "pool cheap rejected: suspended" in out.reason
    assert "pool ray-down rejected: engine down" in out.reason
    wait_done(settings, out.job_id)


def test_all_pools_down_job_waits_then_dispatches(settings: Any, member_a: Any) -> None:
    add_pool(settings, "ray-down", kind="ray", endpoint=f"http://127.0.0.1:{free_port()}")
    out = submit(settings, member_a, {"command": "echo later"})
    assert out.pool is None and out.state == "queued"
    with unit_of_work(member_a, settings) as uow:
        j = service.job_status(uow=uow, job_id=out.job_id)
    assert j.reason is not None and j.reason.startswith("waiting")
    add_pool(settings, "local-a", cpus=2)
    r = reconcile(settings)
    assert r.dispatched == 1
    assert wait_done(settings, out.job_id).state == "succeeded"


def test_cancel_running_then_finished(settings: Any, member_a: Any) -> None:
    add_pool(settings, "local-a", cpus=2)
    out = submit(settings, member_a, {"command": "sleep 30"})
    time.sleep(0.5)
    with unit_of_work(member_a, settings) as uow:
        j = service.cancel_job(uow=uow, job_id=out.job_id)
    assert j.state == "cancelled"
    with pytest.raises(Conflict) as exc, unit_of_work(member_a, settings) as uow:
        service.cancel_job(uow=uow, job_id=out.job_id)
    assert "already cancelled" in exc.value.message


def test_killed_inside_engine_is_failed_and_bills_real_seconds(
    settings: Any, member_a: Any
) -> None:
    add_pool(settings, "local-a", cpus=2, tariff=FLAT)
    out = submit(settings, member_a, {"command": "sleep 30"})
    with unit_of_work(SYSTEM, settings) as uow:
        job = uow.session.scalars(select(ComputeJob)).one()
        started = (
            settings.data_dir / "compute" / "local-a" / "jobs" / job.engine_id / "started.json"
        )
    deadline = time.monotonic() + 20
    while not started.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.0)
    os.kill(json.loads(started.read_text())["pid"], signal.SIGKILL)
    j = wait_done(settings, out.job_id)
    assert j.state == "failed" and j.reason == "killed by signal SIGKILL"
    assert 1 <= j.seconds <= 6
    assert j.cost == Decimal(j.seconds) * Decimal("0.0001")


def test_quota_exhausted_stops_when_org_says_so(
    settings: Any, member_a: Any, tenants: Any, actor_of: Any
) -> None:
    add_pool(settings, "local-a", cpus=2)
    with unit_of_work(actor_of(tenants.a.admin), settings) as uow:
        service.set_quota_behaviour(uow=uow, on_exhausted="stop")
    with pytest.raises(QuotaExceeded) as exc:
        submit(settings, member_a, {"command": "true"})
    assert exc.value.key == "compute.quota_exhausted"
    # tenant b pays: not stopped
    out = submit(settings, actor_of(tenants.b.member), {"command": "true"})
    assert out.pool == "local-a"
    wait_done(settings, out.job_id)


def test_tenant_cannot_see_or_cancel_anothers_job(
    settings: Any, member_a: Any, tenants: Any, actor_of: Any
) -> None:
    add_pool(settings, "local-a", cpus=2)
    out = submit(settings, member_a, {"command": "sleep 5"})
    b = actor_of(tenants.b.member)
    with pytest.raises(NotFound), unit_of_work(b, settings) as uow:
        service.job_status(uow=uow, job_id=out.job_id)
    with pytest.raises(NotFound), unit_of_work(b, settings) as uow:
        service.cancel_job(uow=uow, job_id=out.job_id)
    with pytest.raises(NotFound), unit_of_work(b, settings) as uow:
        service.job_logs(uow=uow, job_id=out.job_id)
    with unit_of_work(b, settings) as uow:
        assert service.list_jobs(uow=uow) == []
    with unit_of_work(member_a, settings) as uow:
        service.cancel_job(uow=uow, job_id=out.job_id)


@pytest.mark.service
def test_slurm_pool_end_to_end(settings: Any, member_a: Any, slurm_cluster: Any) -> None:
    add_pool(
        settings,
        "slurm-a",
        kind="slurm",
        endpoint=str(slurm_cluster.conf),
        tariff=FLAT,
        options={"jobcomp_file": str(slurm_cluster.jobcomp)},
    )
    with unit_of_work(SYSTEM, settings) as uow:
        (p,) = service.list_pools(uow=uow)
    assert p.cpus == 2 and p.down_reason is None
    out = submit(settings, member_a, {"command": "sleep 2", "cpus": 1})
    assert out.pool == "slurm-a"
    j = wait_done(settings, out.job_id, timeout=60)
    assert j.state == "succeeded" and 2 <= j.seconds <= 15
    assert j.started_at is not None and j.ended_at is not None
    assert j.seconds == int((j.ended_at - j.started_at).total_seconds())
    assert j.cost == Decimal(j.seconds) * Decimal("0.0001") - j.free_quota_used * Decimal("0.0001")


def _sacct(cluster: Any, engine_id: str) -> tuple[str, int]:
    out = subprocess.run(
        ["sacct", "-P", "-X", "-n", "-j", engine_id, "-o", "State,ElapsedRaw"],
        env=cluster.env,
        capture_output=True,
        text=True,
        check=True,
    )
    state, elapsed = out.stdout.strip().splitlines()[-1].split("|")
    return state, int(elapsed)


def _engine_id(settings: Any, job_id: int) -> str:
    with unit_of_work(SYSTEM, settings) as uow:
        job = uow.session.get(ComputeJob, job_id)
        assert job is not None and job.engine_id is not None
        return job.engine_id


@pytest.mark.service
def test_slurm_bills_sacct_seconds_once_and_cancel_bills_what_ran(
    settings: Any, member_a: Any, slurm_cluster: Any
) -> None:
    add_pool(settings, "slurm-a", kind="slurm", endpoint=str(slurm_cluster.conf), tariff=FLAT)
    out = submit(settings, member_a, {"command": "sleep 2", "cpus": 2})
    j = wait_done(settings, out.job_id, timeout=60)
    state, elapsed = _sacct(slurm_cluster, _engine_id(settings, out.job_id))
    assert j.state == "succeeded" and state == "COMPLETED" and j.seconds == elapsed
    rows = [r for r in _usage_rows(settings) if r.job_id == out.job_id]
    assert sum(r.quantity for r in rows) == Decimal(2 * elapsed)  # 2 CPUs × sacct's seconds
    # a restart of the platform (fresh adapters, the reconciler again) does not bill again
    service.forget_adapters()
    reconcile(settings)
    reconcile(settings)
    assert len([r for r in _usage_rows(settings) if r.job_id == out.job_id]) == len(rows)
    # scancel through the platform: cancelled, billed the seconds it ran, not its limit
    long = submit(settings, member_a, {"command": "sleep 300", "max_runtime_s": "10m"})
    deadline = time.monotonic() + 40
    with unit_of_work(SYSTEM, settings) as uow:
        while service.job_status(uow=uow, job_id=long.job_id).state != "running":
            assert time.monotonic() < deadline
            time.sleep(0.2)
    time.sleep(2)
    with unit_of_work(member_a, settings) as uow:
        service.cancel_job(uow=uow, job_id=long.job_id)
    j = wait_done(settings, long.job_id, timeout=60)
    state, elapsed = _sacct(slurm_cluster, _engine_id(settings, long.job_id))
    assert (
        j.state == "cancelled" and state.startswith("CANCELLED") and j.reason == f"Slurm: {state}"
    )
    assert j.seconds == elapsed and 2 <= elapsed < 60
    # scancel by the cluster's operator, behind the platform's back: failed, with sacct's state
    other = submit(settings, member_a, {"command": "sleep 300", "max_runtime_s": "10m"})
    deadline = time.monotonic() + 40
    with unit_of_work(SYSTEM, settings) as uow:
        while service.job_status(uow=uow, job_id=other.job_id).state != "running":
            assert time.monotonic() < deadline
            time.sleep(0.2)
    subprocess.run(
        ["scancel", _engine_id(settings, other.job_id)], env=slurm_cluster.env, check=True
    )
    j = wait_done(settings, other.job_id, timeout=60)
    state, elapsed = _sacct(slurm_cluster, _engine_id(settings, other.job_id))
    assert j.state == "failed" and j.reason == f"killed inside the engine: Slurm: {state}"
    assert j.seconds == elapsed


@pytest.mark.slow
@pytest.mark.service
def test_slurm_time_limit_is_failed_with_sacct_state(
    settings: Any, member_a: Any, slurm_cluster: Any
) -> None:
    add_pool(settings, "slurm-a", kind="slurm", endpoint=str(slurm_cluster.conf), tariff=FLAT)
    out = submit(settings, member_a, {"command": "sleep 600", "max_runtime_s": "1m"})
    j = wait_done(settings, out.job_id, timeout=200)
    state, elapsed = _sacct(slurm_cluster, _engine_id(settings, out.job_id))
    assert j.state == "failed" and state == "TIMEOUT" and j.reason == "Slurm: TIMEOUT"
    assert j.seconds == elapsed and 60 <= elapsed <= 150


def _usage_rows(settings: Any) -> list[ComputeUsage]:
    with unit_of_work(SYSTEM, settings) as uow:
        return list(uow.session.scalars(select(ComputeUsage)).all())


def test_simulate_with_registered_pools(settings: Any) -> None:
    add_pool(settings, "local-a", cpus=4, tariff=FLAT)
    fix = Path(__file__).parent / "fixtures"
    with unit_of_work(SYSTEM, settings) as uow:
        with pytest.raises(InvalidInput):
            service.simulate_trace(uow=uow, trace=fix / "missing.csv", pools=None, policy="cost")
        out = service.simulate_trace(
            uow=uow, trace=fix / "trace_small.csv", pools=None, policy="cost"
        )
    # the two GPU jobs and the 8-CPU job cannot run on one 4-CPU pool
    assert out["jobs"] == 6 and out["rejected"] == 3


@pytest.mark.service
def test_ray_pool_end_to_end(settings: Any, member_a: Any, ray_head: Any) -> None:
    add_pool(settings, "ray-a", kind="ray", endpoint=ray_head.address, tariff=FLAT)
    out = submit(settings, member_a, {"command": "echo from ray", "cpus": 1})
    assert out.pool == "ray-a"
    j = wait_done(settings, out.job_id, timeout=90)
    assert j.state == "succeeded" and j.seconds >= 1
    assert j.started_at is not None and j.ended_at is not None
    with unit_of_work(member_a, settings) as uow:
        assert "from ray" in service.job_logs(uow=uow, job_id=out.job_id)
    with unit_of_work(SYSTEM, settings) as uow:
        rows = uow.session.scalars(
            select(ComputeUsage).where(ComputeUsage.job_id == out.job_id)
        ).all()
    assert sum(r.seconds for r in rows) == j.seconds  # billed = Ray's own start/end


def test_submit_queues_the_reconciler_core_job(settings: Any, member_a: Any, run_jobs: Any) -> None:
    from mingyue.core import jobs

    add_pool(settings, "local-a", cpus=2, tariff=FLAT)
    out = submit(settings, member_a, {"command": "echo bg"})
    submit(settings, member_a, {"command": "echo bg2"})
    with unit_of_work(SYSTEM, settings) as uow:
        queued = jobs.list_jobs(uow=uow, actor=SYSTEM, kind="compute.reconcile")
    assert len(queued) == 1 and queued[0].status == "queued"  # one, not one per submit
    run_jobs()  # the core runs it: it polls until no compute job is open
    with unit_of_work(SYSTEM, settings) as uow:
        done = jobs.list_jobs(uow=uow, actor=SYSTEM, kind="compute.reconcile")
        assert done[0].status == "succeeded", done[0]
        assert service.job_status(uow=uow, job_id=out.job_id, refresh=False).state == "succeeded"


def test_pool_enabled_for_a_list_of_organizations(
    settings: Any, member_a: Any, tenants: Any, actor_of: Any
) -> None:
    add_pool(settings, "b-only", cpus=2, enabled_for=[tenants.b.org.id])
    with pytest.raises(InvalidInput) as exc:
        submit(settings, member_a, {"command": "true"})
    assert "pool b-only rejected: not enabled for this organization" in exc.value.message
    out = submit(settings, actor_of(tenants.b.member), {"command": "true"})
    assert out.pool == "b-only"
    wait_done(settings, out.job_id)


def test_maintenance_window_holds_dispatch(settings: Any, member_a: Any) -> None:
    from datetime import UTC, datetime, timedelta

    add_pool(settings, "cheap", cpus=2, tariff=FLAT)
    now = datetime.now(UTC)
    with unit_of_work(SYSTEM, settings) as uow:
        service.add_maintenance(
            uow=uow, name="cheap", start=now - timedelta(minutes=5), end=now + timedelta(hours=1)
        )
        with pytest.raises(InvalidInput):
            service.add_maintenance(uow=uow, name="cheap", start=now, end=now)
    out = submit(settings, member_a, {"command": "true", "max_runtime_s": "10m"})
    assert out.pool is None and "pool cheap: maintenance until" in out.reason
    add_pool(settings, "dear", cpus=2, tariff=TOU)
    assert reconcile(settings).dispatched == 1
    assert wait_done(settings, out.job_id).state == "succeeded"
    with unit_of_work(SYSTEM, settings) as uow:
        assert service.job_status(uow=uow, job_id=out.job_id, refresh=False).pool == "dear"
