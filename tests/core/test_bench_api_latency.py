"""The API bench's parts start: the bare app answers in-process, the wrk script runs (no timing).

``bench/api_latency.py`` itself (PostgreSQL, two servers, minutes of load) is not run here;
docs/performance.md says how. wrk is a bench tool (scripts/bench-setup.sh): without it the
script test is skipped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_bare_app_check_passes() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "api_bare.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "check passed" in done.stdout


class _Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str, str]] = []  # noqa: RUF012 - one server per test

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.seen.append(
            (
                self.command,
                self.path,
                self.headers.get("authorization", ""),
                self.headers.get("idempotency-key", "") + body,
            )
        )
        payload = b"[]"
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed (bench-setup.sh)")
def test_wrk_script_sends_reads_and_keyed_writes(tmp_path: Path) -> None:
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(str(i) for i in range(100, 140)) + "\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "BENCH_READ_PATH": "/cases?limit=20",
        "BENCH_READ_TOKEN": "reader-token",
        "BENCH_WRITE_PATH": "/cases/%d/transitions",
        "BENCH_WRITE_TOKEN": "writer-token",
        "BENCH_WRITE_BODY": '{"name":"start_review"}',
        "BENCH_WRITE_EVERY": "2",
        "BENCH_IDS": str(ids),
        "BENCH_THREADS": "1",
        "BENCH_RATE": "40",
        "BENCH_RUN_ID": "t",
    }
    try:
        done = subprocess.run(
            [
                "wrk",
                "-t1",
                "-c2",
                "-d1s",
                "-s",
                str(BENCH / "wrk" / "mixed.lua"),
                f"http://127.0.0.1:{server.server_port}",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("WRKJSON "))
    figures = json.loads(line.removeprefix("WRKJSON "))
    assert figures["errors"]["status"] == 0
    # Paced at 40 req/s for 1 s (not 1000s as a closed loop against this server would send).
    assert 10 <= figures["requests"] <= 80
    posts = [s for s in _Recorder.seen if s[0] == "POST"]
    gets = [s for s in _Recorder.seen if s[0] == "GET"]
    assert posts and gets and figures["writes"] == len(posts)
    assert all(g[1] == "/cases?limit=20" and g[2] == "Bearer reader-token" for g in gets)
    moved = [p[1] for p in posts]
    assert moved == [f"/cases/{i}/transitions" for i in range(100, 100 + len(posts))]
    assert all(p[2] == "Bearer writer-token" for p in posts)
    keys = [p[3].removesuffix('{"name":"start_review"}') for p in posts]
    assert len(set(keys)) == len(keys) and all(k.startswith("bench-t-0-") for k in keys)
