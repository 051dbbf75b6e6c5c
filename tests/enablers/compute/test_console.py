"""Console: the compute page lists pools and jobs, and the submit form dispatches a job."""

from __future__ import annotations

import re
from typing import Any

from .helpers import FLAT, add_pool


def _login(client: Any, username: str) -> str:
    r = client.post(
        "/login",
        data={"username": username, "password": "password123", "next": "/compute"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get("/compute")
    assert page.status_code == 200, page.text
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert m
    return m.group(1)


def test_compute_page_and_submit_form(client: Any, tenants: Any, settings: Any) -> None:
    add_pool(settings, "local-a", cpus=2, tariff=FLAT)
    csrf = _login(client, tenants.a.member.username)
    page = client.get("/compute?lang=en")
    assert "local-a" in page.text and "Free quota left" in page.text
    r = client.post(
        "/compute/submit", data={"spec": "command: echo hi\ncpus: 1\n", "csrf_token": csrf}
    )
    assert r.status_code == 200 and "pool local-a: ¥" in r.text
    r = client.post("/compute/submit", data={"spec": "command: x\ncpus: -1\n", "csrf_token": csrf})
    assert r.status_code == 422 and "cpus" in r.text
    assert client.get("/compute/jobs/1").status_code == 200
    r = client.post("/compute/submit", data={"spec": "command: echo hi\n"})
    assert r.status_code == 403  # no CSRF token
