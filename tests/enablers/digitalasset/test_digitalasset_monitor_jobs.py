"""Monitoring uploads run as jobs: a bad row past the head checked in the request fails the run
with its reason (no alerts, never "clean"); a head that cannot be read is refused at once; a job
that runs again stores nothing twice."""

from __future__ import annotations

from typing import Any

from mingyue.core.jobs import service as jobs
from mingyue.core.tenancy.access import SYSTEM
from mingyue.core.uow import unit_of_work
from mingyue.enablers.digitalasset.service.monitor_jobs import PRECHECK_BYTES, run_monitor_job
from mingyue.sdk import JobContext

HEAD = "ts,collection,token_id,seller,buyer,price_cny\n"


def _post(client: Any, headers: dict[str, str], text: str, name: str = "big.csv") -> Any:
    return client.post(
        "/api/digitalasset/monitor/runs",
        files={"file": (name, text.encode(), "text/csv")},
        headers=headers,
    )


def test_bad_row_past_the_head_fails_the_run(client: Any, tenants: Any, run_jobs: Any) -> None:
    h = tenants.a.headers()
    good = "".join(f"{1700000000 + i},C1,{i},0xa{i:04d},0xb{i:04d},10\n" for i in range(3000))
    assert len(HEAD + good) > PRECHECK_BYTES
    r = _post(client, h, HEAD + good + "1800000000,C1,9,0xa,0xb,free\n")
    assert r.status_code == 202, r.text
    run_id = r.json()["id"]
    run_jobs()
    run = client.get(f"/api/digitalasset/monitor/runs/{run_id}", headers=h).json()
    assert run["status"] == "error" and "price_cny" in run["error"] and "3000" in run["error"]
    assert run["alerts_new"] == 0 and run["finished_at"]
    assert client.get("/api/digitalasset/monitor/alerts", headers=h).json() == []


def test_unreadable_head_is_refused_before_queuing(client: Any, tenants: Any) -> None:
    h = tenants.a.headers()
    assert _post(client, h, "ts,collection\n1,C\n").status_code == 422
    assert _post(client, h, "   \n").status_code == 422
    assert _post(client, h, '{"sales": 3}', name="x.json").status_code == 422
    assert client.get("/api/digitalasset/monitor/runs", headers=h).json() == []


def test_a_job_that_runs_again_counts_nothing_twice(
    client: Any, tenants: Any, settings: Any, run_jobs: Any
) -> None:
    h = tenants.a.headers()
    csv = HEAD + "1700000000,C1,1,0xaaa,0xaaa,10\n"
    r = _post(client, h, csv, name="one.csv")
    assert r.status_code == 202
    queued = r.json()
    run_jobs()
    first = client.get(f"/api/digitalasset/monitor/runs/{queued['id']}", headers=h).json()
    assert first["status"] == "done" and first["alerts_new"] == 1
    # The handler runs once more with the same parameters (a retry after a lost worker).
    with unit_of_work(SYSTEM, settings) as uow, uow.unscoped(reason="test", record=False):
        job = jobs.get_job(uow=uow, actor=SYSTEM, job_id=queued["job_id"])
        assert job.status == "succeeded"
    ctx = JobContext(
        settings=settings,
        job_id=queued["job_id"],
        worker_id="retry",
        attempt=2,
        organization_id=tenants.a.org.id,
        submitted_by_id=tenants.a.member.id,
    )
    out = run_monitor_job(ctx, {"run_id": queued["id"]})
    assert out == {"run_id": queued["id"], "status": "done", "again": True}
    assert ctx._take_pending() is None  # no progress: it did no work
    alerts = client.get("/api/digitalasset/monitor/alerts", headers=h).json()
    assert [(a["pattern"], a["occurrences"]) for a in alerts] == [("self_trade", 1)]
