"""Isolation of job code on local pools (GitHub issue 12, item 1).

A tenant's command must not read the signing key, the database, another tenant's job output or
the platform's environment (``/proc/<pid>/environ``), nor write into the data directory; a fork
bomb is stopped by the process limit and the platform survives; the network is down unless the
pool allows it. Where bubblewrap cannot work, the pool refuses tenants' commands (403) and says
why, and these tests assert that instead.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from mingyue.core.ledger import keys
from mingyue.core.tenancy.access import SYSTEM
from mingyue.core.uow import unit_of_work
from mingyue.enablers.compute import service

from .helpers import add_pool, wait_done

MARKER = "mingyue-isolation-canary-7c41"
_said: list[str] = []


def _submit(client: Any, headers: dict[str, str], spec: dict[str, Any]) -> Any:
    return client.post("/api/compute/jobs", json=spec, headers=headers)


def _run(client: Any, settings: Any, headers: dict[str, str], spec: dict[str, Any]) -> Any:
    r = _submit(client, headers, spec)
    assert r.status_code == 201, r.text
    job = wait_done(settings, r.json()["job_id"], timeout=60)
    logs = client.get(f"/api/compute/jobs/{job.job_id}/logs", headers=headers).json()["logs"]
    return job, logs


def _isolation(client: Any, headers: dict[str, str], pool: str) -> tuple[bool, str]:
    pools = {p["name"]: p for p in client.get("/api/compute/pools", headers=headers).json()}
    return bool(pools[pool]["isolated"]), str(pools[pool]["isolation"])


def _isolated_or_refused(client: Any, tenants: Any, settings: Any, pool: str) -> bool:
    """True when the pool isolates jobs here; else assert the refusal path and say why once."""
    ok, how = _isolation(client, tenants.a.headers(), pool)
    if ok:
        return True
    if not _said:
        _said.append(how)
        print(f"\n[compute] no job isolation on this machine: {how}")
    _assert_refused(client, tenants, settings)
    return False


def _assert_refused(client: Any, tenants: Any, settings: Any) -> None:
    r = _submit(client, tenants.a.headers(), {"command": "echo hi"})
    assert r.status_code == 403, r.text
    assert r.json()["key"] == "compute.local_unisolated" and r.json()["params"]["reason"]
    # the platform operator may still run commands on the pool
    job, logs = _run(client, settings, tenants.operator.headers(admin=True), {"command": "echo op"})
    assert job.state == "succeeded" and logs == "op\n"


def test_a_pool_without_isolation_refuses_tenants_commands(
    client: Any, tenants: Any, settings: Any
) -> None:
    add_pool(settings, "local-open", cpus=2, options={"bwrap": "/nonexistent/bwrap"})
    ok, how = _isolation(client, tenants.a.headers(), "local-open")
    assert not ok and "bubblewrap (bwrap) not found" in how
    _assert_refused(client, tenants, settings)


def test_job_sees_no_key_database_other_tenant_or_platform_environment(
    client: Any, tenants: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the platform's environment holds secrets: the job must not find them in any /proc entry
    monkeypatch.setenv("MINGYUE_ISOLATION_SECRET", MARKER)
    add_pool(settings, "local-iso", cpus=2)
    if not _isolated_or_refused(client, tenants, settings, "local-iso"):
        return
    data = Path(settings.data_dir).resolve()
    keys.signing_key(settings)  # the platform's real signing key, made on first use
    key = data / "keys" / "platform_ed25519.pem"
    key_body = key.read_text().splitlines()[1]
    db = data / "mingyue.sqlite3"
    # tenant B's job leaves output in its log and its work dir
    job_b, logs_b = _run(
        client,
        settings,
        tenants.b.headers(),
        {"command": f"echo {MARKER}-b; echo {MARKER}-b > result.txt"},
    )
    assert job_b.state == "succeeded" and logs_b == f"{MARKER}-b\n"
    jobs_root = data / "compute" / "local-iso" / "jobs"
    b_dir = next(d for d in jobs_root.iterdir() if (d / "stdout.log").exists())
    b_work = (b_dir / "work").resolve()
    assert (b_work / "result.txt").exists()
    probe = "; ".join(
        [
            f"cat {key} {db} {b_dir}/stdout.log {b_work}/result.txt",
            f"ls -la {data} {jobs_root} {b_work}",
            "cat /proc/[0-9]*/environ; echo",
            "ls /proc | grep -c '^[0-9]'",
            f"touch {data}/pwned {b_work}/pwned",
            f"echo x >> {db}",
            "echo done-probing",
        ]
    )
    _, logs = _run(client, settings, tenants.a.headers(), {"command": probe})
    assert "done-probing" in logs
    assert MARKER not in logs  # no key, no other tenant's output, no platform environment
    assert key_body not in logs and "BEGIN" not in logs and "SQLite format" not in logs
    assert "No such file or directory" in logs
    # only the job's own few processes exist in its /proc
    count = next((x for x in logs.splitlines() if x.strip().isdigit()), None)
    assert count is not None, logs
    assert int(count) <= 5, logs
    assert not (data / "pwned").exists() and not (b_work / "pwned").exists()
    if db.exists():
        assert db.read_bytes().startswith(b"SQLite format 3")
        assert not db.read_bytes().endswith(b"x\n")
    # the job ran as uid 65534 in its own work dir, with the environment it was given only
    _, logs = _run(
        client,
        settings,
        tenants.a.headers(),
        {"command": "id -u; pwd; env | sort", "env": {"MINE": "1"}},
    )
    lines = logs.splitlines()
    assert lines[0] == "65534" and lines[1] == "/work"
    assert "MINE=1" in lines and not any("SECRET" in x for x in lines)


def _job_uid_processes(jobs_root: Path) -> int:
    """Count host processes still running as any of the pool's jobs' host uids."""
    uids = set()
    for d in jobs_root.iterdir():
        work = d / "work"
        if work.exists():
            uids.add(work.resolve().stat().st_uid)
    uids.discard(os.getuid())
    n = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                n += entry.stat().st_uid in uids
            except OSError:
                continue
    return n


def test_fork_bomb_is_stopped_and_the_platform_survives(
    client: Any, tenants: Any, settings: Any
) -> None:
    add_pool(settings, "local-iso", cpus=2, options={"max_processes": "64"})
    if not _isolated_or_refused(client, tenants, settings, "local-iso"):
        return
    t0 = time.monotonic()
    job, logs = _run(
        client,
        settings,
        tenants.a.headers(),
        {"command": "bomb() { bomb | bomb & }; bomb; sleep 2; echo bomb-ran", "max_runtime_s": 8},
    )
    assert time.monotonic() - t0 < 50
    assert "Cannot fork" in logs or "fork" in logs.lower(), logs[-500:]
    assert job.state in ("succeeded", "failed")
    # every process of the job is gone, and this host still forks and runs jobs
    deadline = time.monotonic() + 10
    jobs_root = Path(settings.data_dir) / "compute" / "local-iso" / "jobs"
    while _job_uid_processes(jobs_root) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _job_uid_processes(jobs_root) == 0
    assert subprocess.run(["true"], check=False).returncode == 0
    job, logs = _run(client, settings, tenants.a.headers(), {"command": "echo alive"})
    assert job.state == "succeeded" and logs == "alive\n"


_IFACES = "python3 -c 'import socket; print(sorted(n for _, n in socket.if_nameindex()))'"


def test_network_is_down_unless_the_pool_allows_it(
    client: Any, tenants: Any, settings: Any
) -> None:
    add_pool(settings, "local-iso", cpus=2)
    if not _isolated_or_refused(client, tenants, settings, "local-iso"):
        return
    h = tenants.a.headers()
    job, logs = _run(client, settings, h, {"command": _IFACES})
    assert job.state == "succeeded" and logs.strip() == "['lo']", logs
    # asking for the network on a pool that gives none is refused, naming the field
    r = _submit(client, h, {"command": "true", "network": True})
    assert r.status_code == 422 and r.json()["key"] == "compute.local_no_network", r.text
    host = sorted(n for _, n in socket.if_nameindex())
    add_pool(settings, "local-net", cpus=2, options={"network": "allow"})
    with unit_of_work(SYSTEM, settings) as uow:
        service.suspend_pool(uow=uow, name="local-iso")
    with_net, logs = _run(client, settings, h, {"command": _IFACES, "network": True})
    assert with_net.pool == "local-net" and logs.strip() == str(host), logs
