"""The jobs app: REST API, console page and CLI over real jobs."""

from __future__ import annotations

import json
from typing import Any

from mingyue.core import jobs
from mingyue.core.uow import unit_of_work


def _enqueue(settings: Any, actor: Any, **params: Any) -> jobs.JobOut:
    with unit_of_work(actor, settings) as uow:
        return jobs.enqueue(uow=uow, kind="core.selftest", params=params)


def test_api_list_get_cancel(
    settings: Any, client: Any, tenants: Any, actor_of: Any, run_jobs: Any
) -> None:
    member = actor_of(tenants.a.member)
    done = _enqueue(settings, member, seconds=0, steps=1, echo="x")
    run_jobs()
    waiting = _enqueue(settings, member, seconds=0, steps=1)
    h = tenants.a.headers()
    r = client.get("/api/jobs", headers=h)
    assert r.status_code == 200
    assert [j["id"] for j in r.json()] == [waiting.id, done.id]
    r = client.get(f"/api/jobs/{done.id}", headers=h)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "succeeded" and body["progress"] == 100
    assert body["result"]["echo"] == "x"
    assert client.get("/api/jobs?status=queued", headers=h).json()[0]["id"] == waiting.id
    assert client.get("/api/jobs?status=bogus", headers=h).status_code == 422

    r = client.post(f"/api/jobs/{waiting.id}/cancel", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = client.post(f"/api/jobs/{done.id}/cancel", headers=h)
    assert r.status_code == 409
    assert r.json()["key"] == "core.job.already_finished"
    assert "cannot be cancelled" in r.json()["detail"]

    # another tenant sees nothing and cannot act
    hb = tenants.b.headers(admin=True)
    assert client.get("/api/jobs", headers=hb).json() == []
    assert client.get(f"/api/jobs/{done.id}", headers=hb).status_code == 404
    assert client.post(f"/api/jobs/{done.id}/cancel", headers=hb).status_code == 404
    assert client.get("/api/jobs").status_code == 401
    assert client.get("/api/jobs/999999", headers=h).status_code == 404
    assert client.get(f"/api/jobs/{2**70}", headers=h).status_code == 422
    assert client.get("/api/jobs?offset=-1", headers=h).status_code == 422
    assert client.get("/api/jobs?kind=a%00b", headers=h).status_code == 422


def test_console_page_shows_progress_and_polls(
    settings: Any, client: Any, tenants: Any, actor_of: Any
) -> None:
    member = actor_of(tenants.a.member)
    job = _enqueue(settings, member, seconds=0, steps=1)
    r = client.post(
        "/login",
        data={"username": tenants.a.member.username, "password": "password123"},
        follow_redirects=False,
    )
    assert r.status_code in (302, 303), r.text
    page = client.get("/jobs")
    assert page.status_code == 200
    assert f'id="job-{job.id}"' in page.text and "<progress" in page.text
    assert 'hx-trigger="every 2s"' in page.text  # a queued job keeps the table refreshing
    frag = client.get("/jobs/table")
    assert frag.status_code == 200 and "<html" not in frag.text and f"job-{job.id}" in frag.text
    detail = client.get(f"/jobs/{job.id}")
    assert detail.status_code == 200 and "平台自检" in detail.text
    assert "core.selftest" not in detail.text.split('<details class="tech">')[0]
    # cancel from the console needs the CSRF token
    assert client.post(f"/jobs/{job.id}/cancel").status_code == 403
    token = page.text.split('name="csrf-token" content="')[1].split('"')[0]
    r = client.post(
        f"/jobs/{job.id}/cancel", headers={"X-CSRF-Token": token}, follow_redirects=False
    )
    assert r.status_code == 303
    with unit_of_work(member, settings) as uow:
        assert jobs.get_job(uow=uow, actor=member, job_id=job.id).status == "cancelled"
    page = client.get("/jobs")
    assert 'hx-trigger="every 2s"' not in page.text  # nothing active: no polling
    # core.selftest only occupies a shared worker: the platform admin's tool (issue 12, item 5)
    r = client.post(
        "/jobs/selftest",
        data={"seconds": "1", "csrf_token": token, "form_key": "k" * 32},
        follow_redirects=False,
    )
    assert r.status_code == 403
    client.post("/logout", headers={"X-CSRF-Token": token}, follow_redirects=False)
    client.cookies.clear()
    r = client.post(
        "/login",
        data={"username": tenants.operator.admin.username, "password": "password123"},
        follow_redirects=False,
    )
    assert r.status_code in (302, 303), r.text
    listing = client.get("/jobs").text
    token = listing.split('name="csrf-token" content="')[1].split('"')[0]
    key = listing.split('name="form_key" value="')[1].split('"')[0]
    form = {"seconds": "1", "csrf_token": token, "form_key": key}
    r = client.post("/jobs/selftest", data=form, follow_redirects=False)
    assert r.status_code == 303
    admin = actor_of(tenants.operator.admin)
    with unit_of_work(admin, settings) as uow:
        newest = jobs.list_jobs(uow=uow, actor=admin, limit=1)[0]
    assert r.headers["location"] == f"/jobs/{newest.id}"
    # a reload (the same form posted again) starts nothing and lands on the same job
    again = client.post("/jobs/selftest", data=form, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == f"/jobs/{newest.id}"
    with unit_of_work(admin, settings) as uow:
        mine = jobs.list_jobs(uow=uow, actor=admin, limit=10)
        assert [j.id for j in mine if j.organization_id == tenants.operator.org.id] == [newest.id]
    # a form without its key is refused, readably
    r = client.post(
        "/jobs/selftest",
        data={"seconds": "1", "csrf_token": token},
        headers={"accept": "text/html"},
    )
    assert r.status_code == 422 and "刷新页面" in r.text
    assert newest.kind == "core.selftest" and newest.params == {"seconds": 1.0, "steps": 20}
    assert newest.organization_id == tenants.operator.org.id
    assert client.post("/jobs/selftest", data={"seconds": "1"}).status_code == 403


def test_cli_list_show_cancel(settings: Any, cli: Any, tenants: Any, actor_of: Any) -> None:
    member = actor_of(tenants.a.member)
    user = tenants.a.member.username
    r = cli("jobs", "selftest", "--as", user, "--seconds", "0", "--steps", "1", "--json")
    assert r.exit_code != 0  # a platform admin's tool (issue 12, item 5)
    queued = _enqueue(settings, member, seconds=0, steps=1).model_dump(mode="json")
    assert queued["status"] == "queued" and queued["submitted_by"] == user
    r = cli("jobs", "run-pending", "--json")
    assert r.exit_code == 0, r.stderr
    assert [j["status"] for j in r.json()] == ["succeeded"]
    other = _enqueue(settings, member, seconds=0, steps=1)

    r = cli("jobs", "list", "--as", user, "--json")
    assert r.exit_code == 0, r.stderr
    assert [j["id"] for j in r.json()] == [other.id, queued["id"]]
    r = cli("jobs", "show", str(queued["id"]), "--as", user, "--json")
    assert r.exit_code == 0 and r.json()["result"]["steps_done"] == 1
    r = cli("jobs", "list", "--as", user)
    assert r.exit_code == 0 and "succeeded" in r.stdout and "100%" in r.stdout

    r = cli("jobs", "cancel", str(other.id), "--as", user, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["status"] == "cancelled"
    r = cli("jobs", "cancel", str(queued["id"]), "--as", user)
    assert r.exit_code == 1
    assert r.stderr.count("\n") == 1 and "cannot be cancelled" in r.stderr
    r = cli("jobs", "show", str(queued["id"]), "--as", tenants.b.member.username)
    assert r.exit_code == 1 and "not found" in r.stderr
    r = cli("jobs", "list")
    assert r.exit_code == 2  # --as is required


def test_worker_once_without_redis_runs_the_queue(
    settings: Any, cli: Any, tenants: Any, actor_of: Any
) -> None:
    member = actor_of(tenants.a.member)
    a = _enqueue(settings, member, seconds=0, steps=1)
    b = _enqueue(settings, member, seconds=0, steps=2)
    r = cli("worker", "--once")
    assert r.exit_code == 0, r.stderr
    with unit_of_work(member, settings) as uow:
        assert {jobs.get_job(uow=uow, actor=member, job_id=i).status for i in (a.id, b.id)} == {
            "succeeded"
        }
    c = _enqueue(settings, member, seconds=0, steps=1)
    r = cli("jobs", "worker", "--once")
    assert r.exit_code == 0, r.stderr
    with unit_of_work(member, settings) as uow:
        assert jobs.get_job(uow=uow, actor=member, job_id=c.id).status == "succeeded"


def test_cli_wait_follows_a_job_to_its_end(
    settings: Any, cli: Any, tenants: Any, actor_of: Any
) -> None:
    import threading
    import time

    member = actor_of(tenants.a.member)
    user = tenants.a.member.username
    ok = _enqueue(settings, member, seconds=0.5, steps=5)
    bad = _enqueue(settings, member, seconds=0, steps=1, fail="no disk")

    def later() -> None:
        time.sleep(0.8)
        jobs.run_pending(settings)

    t = threading.Thread(target=later)
    t.start()
    r = cli("jobs", "wait", str(ok.id), "--as", user, "--json")
    t.join()
    assert r.exit_code == 0, r.stderr
    assert r.json()["status"] == "succeeded" and r.json()["progress"] == 100
    r = cli("jobs", "wait", str(bad.id), "--as", user)
    assert r.exit_code == 1 and "failed: RuntimeError: no disk" in r.stderr
    queued = _enqueue(settings, member, seconds=0, steps=1)
    r = cli("jobs", "wait", str(queued.id), "--as", user, "--timeout", "0.2")
    assert r.exit_code == 1 and "still queued" in r.stderr


def test_cli_selftest_wait_with_a_running_runner(settings: Any, cli: Any, tenants: Any) -> None:
    runner = jobs.EmbeddedRunner(settings, threads=1, poll_s=0.05)
    runner.start()
    try:
        r = cli(
            "jobs",
            "selftest",
            "--as",
            tenants.operator.admin.username,
            "--seconds",
            "0.3",
            "--steps",
            "3",
            "--wait",
            "--json",
        )
    finally:
        runner.stop()
    assert r.exit_code == 0, r.stderr
    out = r.json()
    assert out["status"] == "succeeded" and out["result"]["steps_done"] == 3


def test_api_submit_selftest_only(client: Any, tenants: Any, run_jobs: Any) -> None:
    body = {"kind": "core.selftest", "params": {"seconds": 0, "steps": 2}}
    for who in (tenants.a.headers(), tenants.a.headers(admin=True), tenants.regulator.headers()):
        r = client.post("/api/jobs", headers=who, json=body)
        assert r.status_code == 403, r.text  # a platform admin's tool (issue 12, item 5)
    h = tenants.operator.headers(admin=True)
    r = client.post("/api/jobs", headers=h, json=body)
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["status"] == "queued" and job["organization_id"] == tenants.operator.org.id
    run_jobs()
    assert client.get(f"/api/jobs/{job['id']}", headers=h).json()["status"] == "succeeded"
    r = client.post("/api/jobs", headers=h, json={"kind": "appcheck.scan", "params": {}})
    assert r.status_code == 422 and r.json()["key"] == "core.job.not_submittable"
    r = client.post(
        "/api/jobs", headers=h, json={"kind": "core.selftest", "params": {"seconds": "soon"}}
    )
    assert r.status_code == 422 and r.json()["field"] == "params.seconds"
    r = client.post("/api/jobs", headers=h, json={"kind": "core.selftest", "params": {"steps": 0}})
    assert r.status_code == 422
    assert client.post("/api/jobs", headers=h, json={"params": {}}).status_code == 422


def test_served_app_runs_jobs_on_its_embedded_runner(settings: Any, tenants: Any) -> None:
    import time

    from fastapi.testclient import TestClient

    from mingyue.web.app import create_app

    with TestClient(create_app(settings, start_workers=True)) as c:
        h = tenants.operator.headers(admin=True)
        r = c.post(
            "/api/jobs",
            headers=h,
            json={"kind": "core.selftest", "params": {"seconds": 0.2, "steps": 2}},
        )
        assert r.status_code == 201, r.text
        job_id = r.json()["id"]
        deadline = time.monotonic() + 20
        status = "queued"
        while time.monotonic() < deadline and status not in jobs.FINISHED:
            time.sleep(0.1)
            status = c.get(f"/api/jobs/{job_id}", headers=h).json()["status"]
        assert status == "succeeded"


def test_every_message_key_of_the_jobs_app_is_in_both_catalogues() -> None:
    import re
    import tomllib
    from pathlib import Path

    import mingyue

    root = Path(mingyue.__file__).parent
    cats = {
        loc: tomllib.loads((root / "coreapps/jobs/i18n" / f"{loc}.toml").read_text("utf-8"))
        for loc in ("zh_CN", "en")
    }
    assert set(cats["zh_CN"]) == set(cats["en"])
    used: set[str] = {f"core.jobs.status.{s}" for s in jobs.STATUSES}
    for f in [*root.glob("core/jobs/*.py"), *root.glob("coreapps/jobs/*.py")]:
        raised = r'(?:InvalidInput|Conflict|Forbidden|NotFound)\(\s*"(core\.job[^"]*)"'
        used |= set(re.findall(raised, f.read_text("utf-8")))
    for f in (root / "coreapps/jobs/templates/jobs").glob("*.html"):
        used |= {
            k
            for k in re.findall(r't\(\s*["\']([^"\']+)["\']', f.read_text("utf-8"))
            if not k.endswith(".")
        }
    assert len(used) > 30
    missing = sorted(k for k in used for loc in cats if k not in cats[loc])
    assert not missing, missing
