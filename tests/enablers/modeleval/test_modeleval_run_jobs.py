"""Evaluations started from the API and the console as core jobs, against the real (fake)
OpenAI-compatible test server: 202 → the job runs → the run succeeded with its scorecard,
records and signed report; the sealed key only in the Authorization header (not in the job's
arguments, the run, the ledger); another tenant's model is not found; an Idempotency-Key (or
the console's one-time form key) never starts two runs; a failing endpoint is a failed run
with its reason."""

from __future__ import annotations

import json
import re
import socket
from typing import Any

import pytest
from modeleval_fake_openai import FakeOpenAI, base_url
from sqlalchemy import select

from mingyue.core import jobs
from mingyue.core.db import system_session
from mingyue.core.jobs.models import Job
from mingyue.core.ledger.audit import AuditEntry
from mingyue.enablers.modeleval.models import ModelevalRun
from mingyue.sdk import Settings

KEY = "sk-runjob-sealed-7f3a"
QUICK = {"suite": "quick", "limit": 3, "concurrency": 4}


def _model(client: Any, headers: dict[str, str], url: str, **kw: Any) -> dict[str, Any]:
    doc = {
        "name": "district-llm",
        "version": "v1",
        "provider": "明月湖智能",
        "licence": "Apache-2.0",
        "endpoint": url,
        "served_model": "fake-model",
        "visibility": "private",
    }
    doc.update(kw)
    res = client.post("/api/modeleval/models", json=doc, headers=headers)
    assert res.status_code == 201, res.text
    return dict(res.json())


def _start(client: Any, headers: dict[str, str], **body: Any) -> Any:
    return client.post("/api/modeleval/runs", json={**QUICK, **body}, headers=headers)


def _jobs(settings: Settings) -> list[Job]:
    with system_session(settings, "test reads the jobs") as s:
        return list(s.scalars(select(Job).where(Job.kind == "modeleval.run")))


def _audit(settings: Settings) -> list[AuditEntry]:
    with system_session(settings, "test reads the ledger") as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action.like("modeleval.run%"))))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_api_start_runs_the_job_and_records_the_run(
    client: Any, tenants: Any, settings: Settings, fake_openai: FakeOpenAI, run_jobs: Any
) -> None:
    headers = tenants.a.headers()
    model = _model(client, headers, base_url(fake_openai), api_key=KEY)
    res = _start(client, headers, model_id=model["id"])
    assert res.status_code == 202, res.text
    queued = res.json()
    assert queued["status"] == "queued" and queued["job_id"] and queued["model_id"] == model["id"]
    assert queued["request"]["suite"] == "quick" and queued["accuracy"] is None
    assert fake_openai.requests == 0  # nothing is asked inside the request
    assert (
        client.get(f"/api/modeleval/runs/{queued['id']}", headers=headers).json()["status"]
        == "queued"
    )

    run_jobs()

    done = client.get(f"/api/modeleval/runs/{queued['id']}", headers=headers).json()
    assert done["status"] == "succeeded", done
    assert done["error"] is None and done["finished_at"] and done["credential_id"]
    card = done["scorecard"]
    assert set(card) >= {"generality", "efficiency", "robustness", "safety", "run"}
    assert card["generality"]["items"] == 3 and card["generality"]["failed"] == 0
    assert card["run"]["suite"] == "quick" and card["run"]["key"] == done["run_key"]
    assert set(card["efficiency"]["by_concurrency"]) == {"1", "4"}
    assert done["records_sha256"] == card["run"]["records_sha256"]
    records = client.get(f"/api/modeleval/runs/{queued['id']}/records", headers=headers).json()
    assert {r["dimension"] for r in records} >= {"generality", "robustness", "safety"}
    # The same report as a CLI run: verifiable, and on the model's card.
    assert client.get(f"/verify/{done['credential_id']}").status_code == 200
    history = client.get(f"/api/modeleval/models/{model['id']}", headers=headers).json()
    assert [r["run_id"] for r in history["runs"]] == [queued["id"]]
    assert history["runs"][0]["status"] == "succeeded"
    # The sealed key went to the endpoint and nowhere else.
    assert fake_openai.seen_auth and set(fake_openai.seen_auth) == {f"Bearer {KEY}"}
    (job,) = _jobs(settings)
    assert job.params == {"run_id": queued["id"]} and job.status == "succeeded"
    entries = _audit(settings)
    assert {e.action for e in entries} == {"modeleval.run.started", "modeleval.run.recorded"}
    with system_session(settings, "test") as s:
        row = s.get(ModelevalRun, queued["id"])
        assert row is not None
        stored = json.dumps([row.request, row.scorecard, row.error], ensure_ascii=False)
    assert KEY not in stored
    assert all(KEY not in json.dumps(e.payload, ensure_ascii=False) for e in entries)
    # A second run of the job (a retry) finds the run finished and asks nothing.
    asked = fake_openai.requests
    with system_session(settings, "test requeues the job") as s:
        again = s.get(Job, job.id)
        assert again is not None
        again.status, again.attempts = "queued", 0
    jobs.run_pending(settings)
    assert fake_openai.requests == asked


def test_another_tenants_model_is_not_found_and_roles_are_checked(
    client: Any, tenants: Any, settings: Settings, fake_openai: FakeOpenAI, run_jobs: Any
) -> None:
    private = _model(client, tenants.a.headers(), base_url(fake_openai))
    shared = _model(
        client, tenants.a.headers(), base_url(fake_openai), version="v2", visibility="district"
    )
    for model in (private, shared):
        res = _start(client, tenants.b.headers(), model_id=model["id"])
        assert res.status_code == 404, res.text
    # b reads the shared card but may not spend a's endpoint on an evaluation.
    assert (
        client.get(f"/api/modeleval/models/{shared['id']}", headers=tenants.b.headers()).status_code
        == 200
    )
    # A reviewer reads runs but does not start them.
    res = _start(client, tenants.operator.headers(), model_id=private["id"])
    assert res.status_code == 403, res.text
    # A member of a starts one; b does not see it.
    mine = _start(client, tenants.a.headers(admin=False), model_id=private["id"])
    assert mine.status_code == 202, mine.text
    run_id = mine.json()["id"]
    assert (
        client.get(f"/api/modeleval/runs/{run_id}", headers=tenants.b.headers()).status_code == 404
    )
    # The platform admin starts a's model for a (the run belongs to the model's organization).
    admin = _start(client, tenants.operator.headers(admin=True), model_id=private["id"])
    assert admin.status_code == 202, admin.text
    assert admin.json()["organization_id"] == tenants.a.org.id
    assert {j.organization_id for j in _jobs(settings)} == {tenants.a.org.id}
    run_jobs()
    for rid in (run_id, admin.json()["id"]):
        out = client.get(f"/api/modeleval/runs/{rid}", headers=tenants.a.headers()).json()
        assert out["status"] == "succeeded", out


def test_endpoint_runs_are_for_platform_admins_only(
    client: Any, tenants: Any, fake_openai: FakeOpenAI, run_jobs: Any
) -> None:
    body = {"endpoint": base_url(fake_openai), "model": "fake-model"}
    refused = _start(client, tenants.a.headers(), **body)
    assert refused.status_code == 403 and refused.json()["key"] == "modeleval.endpoint_admin_only"
    outside = _start(
        client, tenants.operator.headers(admin=True), endpoint="http://10.9.9.9:8000/v1", model="m"
    )
    assert outside.status_code == 422 and outside.json()["key"] == "modeleval.endpoint_not_allowed"
    both = _start(client, tenants.operator.headers(admin=True), model_id=1, **body)
    assert both.status_code == 422
    res = _start(client, tenants.operator.headers(admin=True), **body)
    assert res.status_code == 202, res.text
    assert res.json()["organization_id"] == tenants.operator.org.id
    run_jobs()
    out = client.get(
        f"/api/modeleval/runs/{res.json()['id']}", headers=tenants.operator.headers(admin=True)
    ).json()
    assert out["status"] == "succeeded" and out["model"] == "fake-model"
    # Concurrency is capped for runs started here.
    capped = _start(client, tenants.operator.headers(admin=True), **body, concurrency=64)
    assert capped.status_code == 422


def test_idempotency_key_never_starts_two_runs(
    client: Any, tenants: Any, settings: Settings, fake_openai: FakeOpenAI
) -> None:
    model = _model(client, tenants.a.headers(), base_url(fake_openai))
    headers = {**tenants.a.headers(), "Idempotency-Key": "eval-0001-abcdef"}
    first = _start(client, headers, model_id=model["id"])
    second = _start(client, headers, model_id=model["id"])
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert len(_jobs(settings)) == 1
    other = _start(client, headers, model_id=model["id"], scoring="loglikelihood")
    assert other.status_code == 409 and other.json()["key"] == "modeleval.idempotency_reused"
    # The key is per organization: b's same key is b's own (here: a's model is not found).
    assert _start(client, {**tenants.b.headers(), "Idempotency-Key": "eval-0001-abcdef"},
                  model_id=model["id"]).status_code == 404  # fmt: skip
    # Without a key each request is a new run.
    assert (
        _start(client, tenants.a.headers(), model_id=model["id"]).json()["id"] != first.json()["id"]
    )
    assert len(_jobs(settings)) == 2


def test_a_failing_endpoint_records_the_reason(
    client: Any,
    tenants: Any,
    settings: Settings,
    run_jobs: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    headers = tenants.a.headers()
    dead = _model(client, headers, f"http://127.0.0.1:{_closed_port()}/v1")
    res = _start(client, headers, model_id=dead["id"])
    assert res.status_code == 202, res.text
    monkeypatch.delenv("MODELEVAL_RUNJOB_TEST_KEY", raising=False)
    nokey = _model(
        client,
        headers,
        "http://127.0.0.1:9/v1",
        version="v2",
        api_key_env="MODELEVAL_RUNJOB_TEST_KEY",
    )
    res2 = _start(client, headers, model_id=nokey["id"])
    assert res2.status_code == 202, res2.text
    run_jobs()
    out = client.get(f"/api/modeleval/runs/{res.json()['id']}", headers=headers).json()
    assert out["status"] == "failed" and out["credential_id"] is None
    assert out["error"].startswith("modeleval.endpoint_failed:") and "connect_error" in out["error"]
    assert out["finished_at"] and out["scorecard"]["generality"]["failed"] == 3
    out2 = client.get(f"/api/modeleval/runs/{res2.json()['id']}", headers=headers).json()
    assert out2["status"] == "failed" and out2["error"].startswith("modeleval.no_api_key:")
    failed = [e for e in _audit(settings) if e.action == "modeleval.run.failed"]
    assert len(failed) == 2
    # The run page says why, in Chinese, with no scorecard.
    _login(client, tenants.a.admin.username)
    page = client.get(f"/modeleval/runs/{res.json()['id']}?lang=zh_CN")
    assert page.status_code == 200 and "模型端点没有成功回答任何一道题" in page.text
    assert 'data-status="failed"' in page.text and 'id="radar"' not in page.text


def _login(client: Any, username: str) -> None:
    res = client.post(
        "/login", data={"username": username, "password": "password123", "next": "/"},
        follow_redirects=False,
    )  # fmt: skip
    assert res.status_code in (302, 303), res.text


def _field(html: str, name: str, form_id: str | None = None) -> str:
    if form_id is not None:
        start = html.index(f'id="{form_id}"')
        html = html[start : html.index("</form>", start)]
    m = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert m, name
    return m.group(1)


def test_console_start_shows_live_status_then_the_scorecard_and_a_reload_starts_nothing(
    client: Any, tenants: Any, settings: Settings, fake_openai: FakeOpenAI, run_jobs: Any
) -> None:
    model = _model(client, tenants.a.headers(), base_url(fake_openai))
    _login(client, tenants.a.member.username)
    card = client.get(f"/modeleval/models/{model['id']}?lang=zh_CN")
    assert card.status_code == 200 and 'id="evaluate-form"' in card.text and "开始评测" in card.text
    form = {
        "csrf_token": _field(card.text, "csrf_token"),
        "form_key": _field(card.text, "form_key", "evaluate-form"),
        "suite": "quick",
        "scoring": "generate",
    }
    url = f"/modeleval/models/{model['id']}/evaluate"
    first = client.post(url, data=form, follow_redirects=False)
    second = client.post(url, data=form, follow_redirects=False)  # a reload of the POST
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert re.fullmatch(r"/modeleval/runs/\d+", first.headers["location"])
    assert len(_jobs(settings)) == 1
    live = client.get(first.headers["location"] + "?lang=zh_CN")
    assert live.status_code == 200 and "排队中" in live.text
    job_id = _jobs(settings)[0].id
    assert f'hx-get="/jobs/{job_id}/status' in live.text and 'id="radar"' not in live.text
    poll = first.headers["location"] + "/live?seen=queued"
    assert "hx-refresh" not in client.get(poll).headers  # nothing moved: no reload
    run_jobs()
    assert client.get(poll).headers["hx-refresh"] == "true"  # it ended: the page reloads
    done = client.get(first.headers["location"] + "?lang=zh_CN")
    assert 'data-status="succeeded"' in done.text and 'id="radar"' in done.text
    assert "已完成" in done.text and 'id="scorecard"' in done.text
    listed = client.get("/modeleval?lang=zh_CN")
    assert listed.status_code == 200 and "已完成" in listed.text
    assert 'hx-get="/jobs/' not in done.text
    assert len(_jobs(settings)) == 1
    # A refused start shows the card again with the reason (no 500, no raw JSON).
    other = client.get(f"/modeleval/models/{model['id']}?lang=zh_CN")
    bad = client.post(
        url,
        data={**form, "form_key": _field(other.text, "form_key", "evaluate-form"), "suite": "all"},
        follow_redirects=False,
    )
    assert bad.status_code == 422 and 'id="form-error"' in bad.text
    assert len(_jobs(settings)) == 1
    # Another tenant's member gets no form and no start.
    _login(client, tenants.b.member.username)
    assert client.get(f"/modeleval/models/{model['id']}").status_code == 404
    mine = client.get("/modeleval/models")
    other_form = {**form, "csrf_token": _field(mine.text, "csrf_token"), "form_key": "z" * 32}
    refused = client.post(url, data=other_form, follow_redirects=False)
    assert refused.status_code == 404
    assert len(_jobs(settings)) == 1
