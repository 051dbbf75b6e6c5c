"""/metrics: latency per route template, job and ledger figures, access rules; request ids and
JSON logs that carry them and never a secret."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from mingyue.core import clock, config, jobs
from mingyue.core.db import system_session
from mingyue.core.ledger.audit import AuditEntry
from mingyue.web.app import create_app
from mingyue.web.logs import redact

LOCAL = ("127.0.0.1", 40000)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _scrape(app) -> str:
    with TestClient(app, client=LOCAL) as c:
        r = c.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return r.text


def test_latency_is_labelled_by_route_template(app, tenants) -> None:
    with TestClient(app, client=LOCAL) as c:
        for case_id in (987654, 987655, 987656):
            assert c.get(f"/api/cases/{case_id}", headers=tenants.a.headers()).status_code == 404
        for n in range(3):
            c.get(f"/no/such/page/{n}")
        text = c.get("/metrics").text
    samples = _samples(text)
    key = (
        "mingyue_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "/api/cases/{case_id}"), ("status", "404")),
    )
    assert samples[key] >= 3
    unmatched = (
        "mingyue_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "<unmatched>"), ("status", "404")),
    )
    assert samples[unmatched] >= 3
    # No label carries a raw path (sample values such as *_created timestamps may hold any digits).
    labels = [line[: line.rindex("}") + 1] for line in text.splitlines() if "{" in line]
    assert not any("987654" in x or "/no/such/page" in x for x in labels)


def test_job_and_ledger_figures(app, settings, tenants, uow_as, actor_of, run_jobs) -> None:
    actor = actor_of(tenants.a.admin)
    for _ in range(2):
        with uow_as(actor) as uow:
            jobs.enqueue(uow=uow, kind="core.selftest", params={"seconds": 0, "steps": 1})
    with clock.frozen(clock.now() + timedelta(seconds=90)):
        samples = _samples(_scrape(app))
    assert samples[("mingyue_jobs_queued", (("kind", "core.selftest"),))] == 2
    assert 89 <= samples[("mingyue_jobs_oldest_queued_age_seconds", ())] <= 120
    with system_session(settings, "test") as s:
        entries = s.query(AuditEntry).count()
    assert samples[("mingyue_ledger_entries", ())] == entries
    assert samples[("mingyue_database_up", ())] == 1
    run_jobs()
    samples = _samples(_scrape(app))
    outcome = ("mingyue_job_outcomes_total", (("kind", "core.selftest"), ("status", "succeeded")))
    assert samples[outcome] == 2
    assert ("mingyue_jobs_queued", (("kind", "core.selftest"),)) not in samples


def test_metrics_refused_to_outside_and_proxied_clients(app) -> None:
    with TestClient(app, client=("203.0.113.9", 5000)) as c:
        assert c.get("/metrics").status_code == 403
    with TestClient(app, client=LOCAL) as c:
        assert c.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403
        assert c.get("/metrics").status_code == 200
    with TestClient(app, client=("::1", 5000)) as c:
        assert c.get("/metrics").status_code == 200


def test_metrics_token(settings) -> None:
    s = config.configure(metrics_token="scrape-token-0123456789")
    with TestClient(create_app(s, start_workers=False), client=("203.0.113.9", 1)) as c:
        r = c.get("/metrics")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = c.get("/metrics", headers={"Authorization": "Bearer scrape-token-0123456789"})
        assert ok.status_code == 200 and "mingyue_ledger_entries" in ok.text


def test_request_id_echoed_or_generated(client) -> None:
    r = client.get("/api/health", headers={"X-Request-ID": "lb-7f3a.42:x"})
    assert r.headers["x-request-id"] == "lb-7f3a.42:x"
    for bad in ("has space", "x" * 200, "<script>", ""):
        r = client.get("/api/health", headers={"X-Request-ID": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"]), bad
    a = client.get("/api/health").headers["x-request-id"]
    assert a != client.get("/api/health").headers["x-request-id"]


def test_json_logs_carry_the_request_id_and_no_secret(settings, tenants, capsys) -> None:
    s = config.configure(log_format="json")
    app = create_app(s, start_workers=False)  # the log handler binds to the captured stderr
    token = tenants.a.admin_token
    with TestClient(app) as c:
        r = c.get(
            "/api/cases?token=should-not-appear",
            headers={"X-Request-ID": "req-abc-1", "Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    access = [x for x in lines if x["logger"] == "mingyue.access"]
    assert access and access[-1]["request_id"] == "req-abc-1"
    assert access[-1]["route"] == "/api/cases" and access[-1]["status"] == 200
    assert token not in err and "should-not-appear" not in err


def test_redaction() -> None:
    line = redact("auth Bearer my-abc.def password=hunter2 token: xyz {'secret': 's3'}")
    for secret in ("my-abc.def", "hunter2", "xyz", "s3"):
        assert secret not in line
    assert line.count("[redacted]") == 4


MULTI = r"""
import sys
from mingyue.web.metrics import REQUEST_SECONDS, exposition
from mingyue.core.config import Settings
if sys.argv[1] == "observe":
    REQUEST_SECONDS.labels("GET", "/api/cases", "200").observe(0.01)
else:
    body, _ = exposition(Settings(data_dir=sys.argv[2], env="test"))
    sys.stdout.write(body.decode())
"""


def test_multiprocess_mode_adds_up_every_worker(tmp_path) -> None:
    folder = tmp_path / "prom"
    folder.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    for _ in range(3):
        subprocess.run([sys.executable, "-c", MULTI, "observe"], env=env, check=True)
    out = subprocess.run(
        [sys.executable, "-c", MULTI, "scrape", str(tmp_path / "d")],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    samples = _samples(out)
    key = (
        "mingyue_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "/api/cases"), ("status", "200")),
    )
    assert samples[key] == 3


def test_grafana_dashboard_uses_exposed_metric_names(
    app, tenants, uow_as, actor_of, run_jobs
) -> None:
    from pathlib import Path

    with uow_as(actor_of(tenants.a.admin)) as uow:
        jobs.enqueue(uow=uow, kind="core.selftest", params={"seconds": 0, "steps": 1})
    run_jobs()
    with uow_as(actor_of(tenants.a.admin)) as uow:
        jobs.enqueue(uow=uow, kind="core.selftest", params={"seconds": 0, "steps": 1})
    with TestClient(app, client=LOCAL) as c:
        c.get("/api/health")
        text = c.get("/metrics").text
    exposed = {s[0] for s in _samples(text)} | set(re.findall(r"# TYPE (\S+)", text))
    dashboard = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "mingyue.json"
    exprs = re.findall(r'"expr": "([^"]+)"', dashboard.read_text(encoding="utf-8"))
    used = {n for e in exprs for n in re.findall(r"mingyue_[a-z_]+", e)}
    optional = {  # present once a checkpoint was signed / a scheduler ran
        "mingyue_ledger_last_checkpoint_age_seconds",
        "mingyue_scheduler_last_firing_lag_seconds",
        "mingyue_scheduler_overdue_seconds",
    }
    assert used and used - exposed <= optional, used - exposed


def test_scheduler_lag(app, settings) -> None:
    from mingyue.core.scheduling.models import ScheduleRun, ScheduleState

    now = clock.now()
    with system_session(settings, "test") as s:
        s.add(
            ScheduleState(
                name="core.t",
                trigger="every 60s",
                next_run_at=now - timedelta(seconds=120),
                scheduler="a",
            )
        )
        s.add(
            ScheduleRun(
                schedule="core.t",
                due_at=now - timedelta(seconds=180),
                fired_at=now - timedelta(seconds=177),
                status="queued",
                scheduler="a",
            )
        )
    samples = _samples(_scrape(app))
    assert samples[("mingyue_scheduler_last_firing_lag_seconds", ())] == 3
    assert 120 <= samples[("mingyue_scheduler_overdue_seconds", ())] < 180
