"""The queue bench runs end to end for our own queue (no timing asserted, no peers needed).

``bench/queue_throughput.py`` compares ours with RQ, Dramatiq, arq, SAQ and Procrastinate from
their own virtualenv (ADR 0004); here only its mingyue side runs, with a handful of jobs, so the
script cannot rot: a private PostgreSQL database, the shared Redis, 2 worker processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

BENCH = Path(__file__).resolve().parents[2] / "bench" / "queue_throughput.py"
REDIS_URL = os.environ.get("MINGYUE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.pg
def test_queue_bench_runs_for_our_queue(tmp_path: Path) -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        print(f"SKIP: Redis unreachable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis unreachable at {REDIS_URL}: {exc}")
    out = tmp_path / "results.json"
    args = ["--libs", "mingyue", "--n", "6", "--redis", REDIS_URL, "--json", str(out)]
    done = subprocess.run(
        [sys.executable, str(BENCH), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert {(r["lib"], r["kind"]) for r in results} == {("mingyue", "noop"), ("mingyue", "small")}
    assert all(r["jobs_per_s"] > 0 and r["drain_per_s"] > 0 for r in results)
    assert "end-to-end/s" in done.stdout
