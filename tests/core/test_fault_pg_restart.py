"""PostgreSQL restarted under load loses nothing: the bench script, smaller (1,000 transitions).

Runs ``bench/fault_pg_restart.py`` against its own throw-away cluster (initdb on another port;
the shared server is never restarted): 10 clients through `mingyue serve --workers 2`, a fast
restart and an immediate (crash) restart half-way; it exits non-zero on any loss.
"""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fault_pg_restart.py"


def _have_postgres_server() -> bool:
    return bool(shutil.which("initdb") or glob.glob("/usr/lib/postgresql/*/bin/initdb"))


@pytest.mark.slow
@pytest.mark.pg
def test_pg_restart_loses_no_transition(tmp_path: Path) -> None:
    if not _have_postgres_server():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--transitions=1000",
            "--clients=10",
            "--cases-per-client=5",
            "--restart-modes=fast,immediate",
            f"--json={out}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    figs = json.loads(out.read_text())
    assert figs["lost"] == []
    assert figs["transitions_attempted"] == figs["transitions_committed"] == 1000
    assert figs["transition_entries"] == 1000
    assert figs["duplicate_keys"] == [] and figs["missing_keys"] == []
    assert figs["audit_verify_rc"] == 0
    # Both restarts happened under load and were seen by the clients as retryable answers only.
    assert [r["mode"] for r in figs["restarts"]] == ["fast", "immediate"]
    assert figs["retried_requests"] > 0 and figs["non_retryable_failure_count"] == 0
    assert figs["server_tracebacks"] == 0 and figs["server_errors_logged"] == 0
