"""The real server stays responsive while a large upload is scanned (GitHub issue 12, item 4).

The attack: a 1.46 MB upload of Chinese text kept ``mingyue serve`` at 100 % CPU and unresponsive
for over 15 minutes. Here uvicorn serves the app on a free loopback port with its embedded job
workers; a 1.5 MB file of names, addresses and phone numbers is uploaded while ``/api/health`` is
polled every 50 ms, and the answers must come within 200 ms until the scan job is done.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpx
import pytest
import uvicorn

from mingyue.web.app import create_app

HEALTH_MAX_S = 0.2


def _chinese_pii_text(size: int) -> bytes:
    faker = pytest.importorskip("faker")
    fake = faker.Faker("zh_CN")
    fake.seed_instance(12)
    lines: list[str] = []
    total = 0
    while total < size:
        line = (
            f"{fake.name()}，住{fake.address()}，手机{fake.phone_number()}，"
            f"就职于{fake.company()}。{fake.sentence()}\n"
        )
        lines.append(line)
        total += len(line.encode())
    return "".join(lines).encode()


@pytest.mark.slow
def test_health_answers_within_200ms_while_a_large_upload_is_scanned(
    settings: Any, tenants: Any
) -> None:
    settings.crossborder = {"ner_budget_s": 5}  # NER stops after 5 s; the file needs minutes
    settings.embedded_workers = 1
    body = _chinese_pii_text(1_500_000)
    assert 1_450_000 < len(body) < 2 << 20  # under the 2 MiB automatic-NER threshold
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)

    latencies: list[float] = []
    failures: list[str] = []
    done = threading.Event()

    def poll() -> None:
        with httpx.Client(base_url=base, timeout=10) as c:
            while not done.is_set():
                t0 = time.perf_counter()
                try:
                    r = c.get("/api/health")
                    if r.status_code != 200:
                        failures.append(f"health answered {r.status_code}")
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                latencies.append(time.perf_counter() - t0)
                time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    try:
        poller.start()
        with httpx.Client(base_url=base, timeout=60, headers=tenants.a.headers()) as c:
            r = c.post("/api/crossborder/scans", files={"file": ("clients.txt", body)})
            assert r.status_code == 202, r.text
            status_url = r.json()["status_url"]
            assert r.json()["ner"] is True
            job: dict[str, Any] = {}
            until = time.monotonic() + 300
            while time.monotonic() < until:
                job = c.get(status_url).json()
                if job["status"] in ("succeeded", "failed", "cancelled"):
                    break
                time.sleep(0.5)
            assert job.get("status") == "succeeded", job
            report = c.get(job["result"]["report_url"]).json()
    finally:
        done.set()
        poller.join(15)
        server.should_exit = True
        serving.join(30)
    assert report["ner"] is True and report["ner_truncated"] is True
    # The pattern path completed over the whole file: one mobile number per line.
    assert report["counts"]["CN_MOBILE"] >= 0.95 * body.count(b"\n")
    assert not failures, failures[:5]
    assert len(latencies) > 50
    ranked = sorted(latencies)
    slow = [round(x, 3) for x in ranked[-5:]]
    # Within 200 ms throughout; one answer in a hundred may be late by the scheduler of a shared
    # two-core test machine (the test's own client shares the process), never by the scan: the
    # attack kept every answer waiting for 10 s to 15 minutes.
    assert ranked[int(len(ranked) * 0.99) - 1] < HEALTH_MAX_S, f"slowest answers (s): {slow}"
    assert ranked[-1] < 5 * HEALTH_MAX_S, f"slowest answers (s): {slow}"
