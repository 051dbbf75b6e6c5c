"""Cross-department sharing (跨部门共享): an overloaded truck on a bridge is shared with the traffic
police — inbox delivery at once, webhooks to allow-listed hosts only, retries with back-off, one
idempotency key per event, a delivery log, dead after the last attempt."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mingyue.core import clock
from mingyue.sdk import SYSTEM, enqueue, unit_of_work
from tests.enablers.citygov.citygov_cases_support import (
    GUANYINQIAO,
    City,
    bearer,
    city_fixture,  # noqa: F401 - the shared fixture
    collect,
)


class Hook:
    """A subscriber's webhook: answers the statuses it is given, records every request."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.got: list[tuple[dict[str, str], bytes]] = []


@pytest.fixture
def hook() -> Iterator[tuple[Hook, str]]:
    h = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            h.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(h.statuses.pop(0) if h.statuses else 200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield h, f"http://127.0.0.1:{server.server_address[1]}/citygov-events"
    server.shutdown()
    server.server_close()


@pytest.fixture
def police(
    city: City, client: Any, make_org: Any, make_user: Any, token_for: Any
) -> dict[str, str]:
    org = make_org(kind="enterprise", name="市公安局交通巡逻警察总队")
    admin = make_user(org, roles=("org_admin",))
    r = client.post(
        "/api/citygov/units",
        json={"org_id": org.id, "department": "traffic_police"},
        headers=city.seat,
    )
    assert r.status_code == 200, r.text
    return bearer(token_for(admin))


def _retry(settings: Any, run_jobs: Any, org_id: int) -> None:
    """Enqueue the delivery job as the every-minute schedule does, and run it."""
    with unit_of_work(SYSTEM, settings) as uow:
        enqueue(
            uow=uow, kind="citygov.share.deliver", params={}, organization_id=org_id, platform=True
        )
    run_jobs()


def test_inbox_and_webhook_with_retries(
    client: Any,
    city: City,
    police: dict[str, str],
    hook: tuple[Hook, str],
    settings: Any,
    run_jobs: Any,
) -> None:
    h, url = hook
    r = client.post(
        "/api/citygov/shares",
        json={
            "name": "超载车辆",
            "categories": ["E0404"],
            "events": ["registered", "closed"],
            "url": url,
            "target": "webhook",
        },
        headers=police,
    )
    assert r.status_code == 422 and r.json()["key"] == "citygov.share.host_not_allowed"
    settings.citygov["share_hosts"] = "127.0.0.1"
    r = client.post(
        "/api/citygov/shares",
        json={
            "name": "超载车辆",
            "categories": ["E0404"],
            "events": ["registered", "closed"],
            "url": url,
            "target": "webhook",
        },
        headers=police,
    )
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["secret"] and len(sub["secret"]) > 30
    assert client.get("/api/citygov/shares", headers=police).json()[0]["secret"] is None
    inbox = client.post(
        "/api/citygov/shares", json={"name": "突发事件", "categories": ["E04"]}, headers=police
    ).json()
    # a unit's member cannot subscribe; another unit does not see the police's subscriptions
    assert (
        client.post(
            "/api/citygov/shares",
            json={"name": "x", "categories": ["E0102"]},
            headers=city.sanitation_member,
        ).status_code
        == 403
    )
    assert client.get("/api/citygov/shares", headers=city.sanitation_admin).json() == []
    case = collect(client, city, category="E0404", where=GUANYINQIAO, description="超载货车上桥")
    h.statuses = [500]
    r = client.post(f"/api/citygov/cases/{case['id']}/register", json={}, headers=city.seat)
    assert r.status_code == 200
    log = client.get("/api/citygov/shares/deliveries", headers=police).json()
    by_sub = {d["subscription_id"]: d for d in log}
    assert by_sub[inbox["id"]]["status"] == "delivered"  # the inbox needs no network
    assert by_sub[sub["id"]]["status"] == "pending"
    run_jobs()  # first attempt: 500
    d = next(
        x
        for x in client.get("/api/citygov/shares/deliveries", headers=police).json()
        if x["subscription_id"] == sub["id"]
    )
    assert d["status"] == "pending" and d["attempts"] == 1 and d["last_error"] == "HTTP 500"
    _retry(settings, run_jobs, city.centre_org_id)  # not yet due (back-off 30 s)
    assert len(h.got) == 1
    clock.advance(timedelta(seconds=31))
    _retry(settings, run_jobs, city.centre_org_id)
    d = next(
        x
        for x in client.get("/api/citygov/shares/deliveries", headers=police).json()
        if x["subscription_id"] == sub["id"]
    )
    assert d["status"] == "delivered" and d["attempts"] == 2 and d["response_status"] == 200
    (h1, _), (h2, b2) = h.got
    assert h1["idempotency-key"] == h2["idempotency-key"] == d["idempotency_key"]
    mac = hmac.new(sub["secret"].encode(), b2, hashlib.sha256).hexdigest()
    assert h2["x-citygov-signature"] == f"sha256={mac}"
    payload = json.loads(b2)
    assert payload["event"] == "registered" and payload["case"]["code"] == case["code"]
    # registering again is impossible; the same event is never recorded twice
    client.post(f"/api/citygov/cases/{case['id']}/register", json={}, headers=city.seat)
    assert len(client.get("/api/citygov/shares/deliveries", headers=police).json()) == 2
    # other units see nothing of it
    assert client.get("/api/citygov/shares/deliveries", headers=city.sanitation_admin).json() == []


def test_dead_after_the_last_attempt(
    client: Any,
    city: City,
    police: dict[str, str],
    hook: tuple[Hook, str],
    settings: Any,
    run_jobs: Any,
) -> None:
    h, url = hook
    settings.citygov["share_hosts"] = "127.0.0.1"
    settings.citygov["share_max_attempts"] = 2
    client.post(
        "/api/citygov/shares",
        json={"name": "超载", "categories": ["E0404"], "url": url, "target": "webhook"},
        headers=police,
    )
    case = collect(client, city, category="E0404", where=GUANYINQIAO)
    h.statuses = [503, 503, 503]
    client.post(f"/api/citygov/cases/{case['id']}/register", json={}, headers=city.seat)
    run_jobs()
    clock.advance(timedelta(minutes=5))
    _retry(settings, run_jobs, city.centre_org_id)
    (d,) = client.get("/api/citygov/shares/deliveries", headers=police).json()
    assert d["status"] == "dead" and d["attempts"] == 2 and d["last_error"] == "HTTP 503"


def test_bad_subscriptions(client: Any, city: City, police: dict[str, str], settings: Any) -> None:
    settings.citygov["share_hosts"] = "127.0.0.1"
    for body in (
        {"name": "x", "categories": ["NOPE"]},
        {"name": "x", "categories": []},
        {"name": "x", "categories": ["E0404"], "target": "webhook", "url": "file:///etc/passwd"},
        {
            "name": "x",
            "categories": ["E0404"],
            "target": "webhook",
            "url": "http://169.254.169.254/",
        },
        {
            "name": "x",
            "categories": ["E0404"],
            "target": "webhook",
            "url": "http://user:pw@127.0.0.1/",
        },
        {"name": "x", "categories": ["E0404"], "events": ["deleted"]},
    ):
        r = client.post("/api/citygov/shares", json=body, headers=police)
        assert r.status_code == 422, (body, r.text)
