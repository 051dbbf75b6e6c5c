"""Interactive reservations for real: a slot held on the local pool and a real Slurm reservation,
its state following the clock (reserved → active → ended), the slot's seconds billed, cancel,
overlap and maintenance refusals, and the tenant wall."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from mingyue.core.errors import Conflict, InvalidInput, NotFound
from mingyue.core.tenancy.access import SYSTEM
from mingyue.core.uow import unit_of_work
from mingyue.enablers.compute import service
from mingyue.enablers.compute.models import ComputeUsage
from mingyue.enablers.compute.schemas import JobOut

from .helpers import FLAT, TOU, add_pool, reconcile, wait_done


def submit(settings: Any, actor: Any, spec: dict[str, Any]) -> Any:
    with unit_of_work(actor, settings) as uow:
        return service.submit_job(uow=uow, spec=spec)


def status(settings: Any, job_id: int) -> JobOut:
    with unit_of_work(SYSTEM, settings) as uow:
        return service.job_status(uow=uow, job_id=job_id)


def wait_state(settings: Any, job_id: int, state: str, timeout: float = 60) -> JobOut:
    deadline = time.monotonic() + timeout
    j = status(settings, job_id)
    while j.state != state:
        assert time.monotonic() < deadline, f"job {job_id} is {j.state}, not {state}: {j.reason}"
        time.sleep(0.2)
        j = status(settings, job_id)
    return j


def usage_rows(settings: Any, job_id: int) -> list[ComputeUsage]:
    with unit_of_work(SYSTEM, settings) as uow:
        return list(
            uow.session.scalars(select(ComputeUsage).where(ComputeUsage.job_id == job_id)).all()
        )


def slot(start_in_s: float, duration: str, cpus: int = 1) -> dict[str, Any]:
    start = (datetime.now(UTC) + timedelta(seconds=start_in_s)).replace(microsecond=0)
    return {"reservation": {"start": start.isoformat(), "duration_s": duration}, "cpus": cpus}


def test_local_reservation_follows_its_slot_and_bills_it(
    settings: Any, tenants: Any, actor_of: Any
) -> None:
    add_pool(settings, "local-a", cpus=2, tariff=TOU)
    a, b = actor_of(tenants.a.member), actor_of(tenants.b.member)
    out = submit(settings, a, slot(2, "3s", cpus=2))
    assert out.pool == "local-a" and out.state == "queued"
    assert out.detail is not None and out.detail.startswith("reserved ")
    # another tenant's job that would overlap the slot waits for its end, with the reason
    other = submit(settings, b, {"command": "echo after", "max_runtime_s": "1m"})
    assert other.pool is None and "pool local-a: CPUs reserved until" in other.reason
    assert other.detail is not None and other.detail.startswith("waiting:")
    assert status(settings, out.job_id).slot == "reserved"
    active = wait_state(settings, out.job_id, "running", timeout=30)
    assert active.slot == "active"
    assert active.reason is not None and active.reason.startswith("active until")
    ended = wait_state(settings, out.job_id, "succeeded", timeout=30)
    assert ended.slot == "ended" and ended.seconds == 3 and ended.reason == "reservation ended"
    rows = usage_rows(settings, out.job_id)
    # the slot's seconds × its CPUs, used or not, priced in the tariff's windows
    assert sum(r.quantity for r in rows) == Decimal(2 * 3)
    assert sum(r.seconds for r in rows) == Decimal(3)
    assert ended.cost == sum((r.amount for r in rows), Decimal(0)) > 0
    # restart-safe: a fresh adapter and more passes do not bill again
    service.forget_adapters()
    reconcile(settings)
    assert len(usage_rows(settings, out.job_id)) == len(rows)
    # once the slot ended the waiting job is dispatched and runs
    done = wait_done(settings, other.job_id)
    assert done.state == "succeeded" and done.pool == "local-a"


def test_overlap_maintenance_past_and_cancel(settings: Any, tenants: Any, actor_of: Any) -> None:
    add_pool(settings, "local-a", cpus=2, tariff=FLAT)
    a, b = actor_of(tenants.a.member), actor_of(tenants.b.member)
    first = submit(settings, a, slot(3600, "1h", cpus=2))
    with pytest.raises(InvalidInput) as exc:
        submit(settings, b, slot(5400, "1h", cpus=1))
    assert exc.value.key == "compute.no_pool"
    assert "pool local-a rejected: 2 of 2 CPUs already reserved in that slot" in exc.value.message
    after = submit(settings, b, slot(7200, "30m", cpus=1))  # back to back: granted
    assert after.pool == "local-a"
    # a short batch job that ends before the slot starts runs now
    quick = submit(settings, b, {"command": "true", "max_runtime_s": "10m"})
    assert quick.pool == "local-a"
    with unit_of_work(SYSTEM, settings) as uow:
        now = datetime.now(UTC)
        service.add_maintenance(
            uow=uow, name="local-a", start=now + timedelta(hours=5), end=now + timedelta(hours=6)
        )
    with pytest.raises(InvalidInput) as exc:
        submit(settings, a, slot(5 * 3600 + 600, "10m"))
    assert "pool local-a rejected: maintenance during the reservation" in exc.value.message
    with pytest.raises(InvalidInput) as exc:
        submit(settings, a, slot(-7200, "1h"))
    assert exc.value.key == "compute.reservation_past" and exc.value.field == "reservation.start"
    # the tenant wall: b can neither see nor cancel a's reservation
    with pytest.raises(NotFound), unit_of_work(b, settings) as uow:
        service.cancel_job(uow=uow, job_id=first.job_id)
    with unit_of_work(a, settings) as uow:
        j = service.cancel_job(uow=uow, job_id=first.job_id)
    assert j.state == "cancelled" and j.slot == "cancelled" and j.seconds == 0 and j.cost == 0
    assert j.reason == "reservation cancelled before its start"
    assert usage_rows(settings, first.job_id) == []  # cancelled before its start: nothing held
    with pytest.raises(Conflict), unit_of_work(a, settings) as uow:
        service.cancel_job(uow=uow, job_id=first.job_id)
    # the freed slot can be reserved again
    assert submit(settings, b, slot(5400, "1h", cpus=1)).pool == "local-a"
    wait_done(settings, quick.job_id)


def test_reservation_over_the_api(client: Any, tenants: Any, settings: Any) -> None:
    add_pool(settings, "local-a", cpus=2, tariff=FLAT)
    ha, hb = tenants.a.headers(), tenants.b.headers()
    r = client.post("/api/compute/jobs", json=slot(3600, "1h"), headers=ha)
    assert r.status_code == 201, r.text
    job_id = r.json()["job_id"]
    assert r.json()["detail"].startswith("reserved ")
    assert client.post(f"/api/compute/jobs/{job_id}/cancel", headers=hb).status_code == 404
    r = client.post("/api/compute/jobs", json=slot(3600, "1h", cpus=2), headers=hb)
    assert r.status_code == 422, r.text
    assert "already reserved in that slot" in r.json()["params"]["explanation"]
    r = client.post(f"/api/compute/jobs/{job_id}/cancel", headers=ha)
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert r.json()["slot"] == "cancelled"


@pytest.mark.service
def test_slurm_reservation_is_real(
    settings: Any, tenants: Any, actor_of: Any, slurm_cluster: Any
) -> None:
    add_pool(settings, "slurm-a", kind="slurm", endpoint=str(slurm_cluster.conf), tariff=FLAT)
    a, b = actor_of(tenants.a.member), actor_of(tenants.b.member)
    out = submit(settings, a, slot(3, "1m"))
    assert out.pool == "slurm-a" and out.detail is not None
    name = out.detail.split("srun --reservation=")[1].split()[0]
    assert name.startswith("mingyue-")
    shown = subprocess.run(
        ["scontrol", "show", "reservation", name, "-o"],
        env=slurm_cluster.env,
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0 and "CoreCnt=1" in shown.stdout, shown.stderr
    # the other CPU is free; asking for both in the same slot is refused with the reason
    with pytest.raises(InvalidInput) as exc:
        submit(settings, b, slot(3, "1m", cpus=2))
    assert "pool slurm-a rejected: 1 of 2 CPUs already reserved in that slot" in exc.value.message
    j = wait_state(settings, out.job_id, "running", timeout=40)
    assert j.reason is not None and j.reason.startswith("active until")
    # the tenant really uses it: a job step inside the reservation
    ran = subprocess.run(
        ["srun", f"--reservation={name}", "-n1", "echo", "inside"],
        env=slurm_cluster.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0 and ran.stdout.strip() == "inside", ran.stderr
    # a session still inside the slot when it is cancelled: Slurm will not delete a reservation
    # in use, so its jobs are cancelled first
    session = subprocess.Popen(
        ["srun", f"--reservation={name}", "-n1", "sleep", "300"],
        env=slurm_cluster.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while (
        "RUNNING"
        not in subprocess.run(
            ["squeue", "-h", "-R", name, "-o", "%T"],
            env=slurm_cluster.env,
            capture_output=True,
            text=True,
        ).stdout
    ):
        assert time.monotonic() < deadline and session.poll() is None
        time.sleep(0.2)
    with pytest.raises(NotFound), unit_of_work(b, settings) as uow:
        service.cancel_job(uow=uow, job_id=out.job_id)
    with unit_of_work(a, settings) as uow:
        j = service.cancel_job(uow=uow, job_id=out.job_id)
    assert j.state == "cancelled" and 1 <= j.seconds < 60  # only the seconds held
    assert session.wait(timeout=30) != 0  # the session was ended with its reservation
    gone = subprocess.run(
        ["scontrol", "show", "reservation", name],
        env=slurm_cluster.env,
        capture_output=True,
        text=True,
    )
    assert gone.returncode != 0 and "not found" in gone.stdout + gone.stderr
    rows = usage_rows(settings, out.job_id)
    assert sum(r.quantity for r in rows) == Decimal(j.seconds)
    assert j.cost == Decimal(j.seconds) * Decimal("0.0001") - j.free_quota_used * Decimal("0.0001")
