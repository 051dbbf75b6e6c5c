"""PostgreSQL restarted under load loses nothing: the bench script, smaller (1,000 transitions).

Runs ``bench/fault_pg_restart.py`` against its own throw-away cluster (initdb on another port;
the shared server is never restarted): 10 clients through `mingyue serve --workers 2`, a fast
restart and an immediate (crash) restart half-way; it exits non-zero on any loss.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


def _bench_module() -> Any:
    spec = importlib.util.spec_from_file_location("fault_pg_restart_bench", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
@pytest.mark.pg
def test_the_scheduler_keeps_firing_across_pg_restarts(tmp_path: Path) -> None:
    # APScheduler 4.0.0a6 retried only InterfaceError/OSError: a restart's OperationalError
    # ("the database system is starting up") ended its loop, and periodic work stopped for good.
    if not _have_postgres_server():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    from sqlalchemy import create_engine, func, select, text

    from mingyue.core import config, migrate
    from mingyue.core.db import dispose_engines, system_session
    from mingyue.core.declaration import Schedule
    from mingyue.core.scheduling.models import ScheduleRun
    from mingyue.core.scheduling.runner import SchedulerRunner
    from mingyue.core.tenancy.identity import Organization

    bench = _bench_module()
    # Under /tmp as in the bench: run as root, the cluster belongs to the postgres account,
    # which must reach it (pytest's own tmp_path is private to root).
    root = Path(tempfile.mkdtemp(prefix="mingyue-sched-pg-"))
    pg = bench.PrivatePostgres(root / "cluster", bench.free_port())
    runner = None
    try:
        pg.init()
        admin = create_engine(pg.url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text('CREATE DATABASE "sched"'))
        admin.dispose()
        data = tmp_path / "data"
        data.mkdir()
        config.reset()
        settings = config.configure(data_dir=data, env="test", database_url=pg.url("sched"))
        migrate.upgrade(settings)
        with system_session(settings, "test") as s:
            s.add(Organization(name="运营方", kind="operator", is_sme=False, settings={}))
        spec = Schedule(job_kind="core.selftest", every_s=1, params={"n": 1})
        runner = SchedulerRunner(settings, schedules={"test.tick": spec}, state_every_s=0.5)
        runner.start()

        def runs() -> int:
            with system_session(settings, "test") as s:
                return int(s.scalar(select(func.count()).select_from(ScheduleRun)) or 0)

        def fires_again(after: int) -> bool:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with contextlib.suppress(Exception):  # the server may still be starting
                    if runs() >= after + 2:
                        return True
                time.sleep(0.25)
            return False

        assert fires_again(0)
        for mode in ("immediate", "fast"):
            before = runs()
            pg.stop(mode)
            time.sleep(3)  # down for three due times: the loop meets a refused connection
            pg.start()
            assert fires_again(before), f"no firing within 30 s of a {mode} restart"
    finally:
        if runner is not None:
            runner.stop()
        dispose_engines()
        config.reset()
        pg.destroy()
        shutil.rmtree(root, ignore_errors=True)
