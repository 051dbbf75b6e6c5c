"""CLI: `mingyue compute …` with the JSON keys the issue names."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from mingyue.sdk import local_time, now

from .helpers import FLAT

FIX = Path(__file__).parent / "fixtures"


def test_pool_submit_status_logs_cancel_usage(cli: Any, tenants: Any, tmp_path: Path) -> None:
    admin = tenants.operator.admin.username
    member = tenants.a.member.username
    tariff = tmp_path / "tariff.json"
    tariff.write_text(json.dumps(FLAT))
    r = cli(
        "compute",
        "pool",
        "add",
        "--name",
        "local-a",
        "--kind",
        "local",
        "--cpus",
        "2",
        "--tariff",
        str(tariff),
        "--as",
        admin,
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    assert r.json()["name"] == "local-a"
    r = cli("compute", "pool", "add", "--name", "x", "--kind", "local", "--as", member)
    assert r.exit_code == 1 and "compute.pool.manage" in r.stderr
    rows = cli("compute", "pool", "list", "--as", member, "--json").json()
    assert [p["name"] for p in rows] == ["local-a"]

    spec = tmp_path / "spec.yaml"
    spec.write_text("command: echo hi\ncpus: 1\n")
    r = cli("compute", "submit", str(spec), "--as", member, "--json")
    assert r.exit_code == 0, r.stderr
    out = r.json()
    assert set(out) == {"job_id", "pool", "reason", "estimated_cost"}
    assert out["pool"] == "local-a"
    job = str(out["job_id"])
    deadline = time.monotonic() + 30
    while True:
        cli("compute", "reconcile", "--as", admin, "--json")
        st = cli("compute", "status", job, "--as", member, "--json").json()
        if st["state"] == "succeeded" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert {"state", "pool", "seconds", "cost", "free_quota_used"} <= set(st)
    assert st["state"] == "succeeded" and st["pool"] == "local-a" and st["seconds"] >= 1
    assert cli("compute", "logs", job, "--as", member).stdout == "hi\n"
    r = cli("compute", "cancel", job, "--as", member)
    assert r.exit_code == 1 and "already succeeded" in r.stderr
    month = time.strftime("%Y-%m")
    r = cli("compute", "usage", "--month", month, "--as", member, "--json")
    assert r.exit_code == 0, r.stderr
    r = cli("compute", "usage", "--month", "2026-13", "--as", member)
    assert r.exit_code == 2
    _usage_defaults_to_this_month_and_is_not_cut(cli, member, job)


def _usage_defaults_to_this_month_and_is_not_cut(cli: Any, member: str, job: str) -> None:
    """Without --month: the current month in the display zone; piped, no column is cut."""
    this_month = local_time(now(), None, "%Y-%m")
    bare = cli("compute", "usage", "--as", member, "--json")
    assert bare.exit_code == 0, bare.stderr
    assert bare.json()["month"] == this_month
    named = cli("compute", "usage", "--month", this_month, "--as", member, "--json")
    assert bare.json() == named.json()
    table = cli("compute", "usage", "--as", member)  # stdout is not a terminal here
    assert table.exit_code == 0, table.stderr
    assert f"{this_month}: total" in table.stdout
    header = next(ln for ln in table.stdout.splitlines() if "job_id" in ln)
    for col in (
        "job_id",
        "pool",
        "meter",
        "band",
        "start",
        "end",
        "seconds",
        "quantity",
        "free_quantity",
        "unit_price",
        "amount",
    ):
        assert f" {col} " in header, (col, header)
    row = next(ln for ln in table.stdout.splitlines() if f" {job} " in ln)
    assert "…" not in table.stdout and "local-a" in row and "compute.cpu_seconds" in row
    assert len(row) > 80


def test_bad_spec_exit_2_naming_field(cli: Any, tenants: Any, tmp_path: Path) -> None:
    admin = tenants.operator.admin.username
    assert (
        cli("compute", "pool", "add", "--name", "l", "--kind", "local", "--as", admin).exit_code
        == 0
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text("command: x\ncpus: -2\n")
    r = cli("compute", "submit", str(spec), "--as", tenants.a.member.username)
    assert r.exit_code == 2 and "[cpus]" in r.stderr


def test_simulate_json(cli: Any) -> None:
    r = cli(
        "compute",
        "simulate",
        str(FIX / "trace_small.csv"),
        "--pools",
        str(FIX / "pools_small.yaml"),
        "--policy",
        "soonest",
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    out = r.json()
    assert {"policy", "jobs", "mean_wait_s", "p95_wait_s", "utilization", "total_cost"} <= set(out)
    assert out["policy"] == "soonest" and out["jobs"] == 6 and out["total_cost"] == "0.8260"
    r = cli(
        "compute",
        "simulate",
        str(FIX / "trace_small.csv"),
        "--pools",
        str(FIX / "pools_small.yaml"),
        "--policy",
        "random",
    )
    assert r.exit_code == 2 and "policy" in r.stderr


def test_pool_enabled_for_flag(cli: Any, tenants: Any) -> None:
    r = cli(
        "compute",
        "pool",
        "add",
        "--name",
        "b-only",
        "--kind",
        "local",
        "--enabled-for",
        str(tenants.b.org.id),
        "--as",
        tenants.operator.admin.username,
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    assert r.json()["enabled_for"] == [tenants.b.org.id]


def test_pool_maintenance_command(cli: Any, tenants: Any) -> None:
    admin = tenants.operator.admin.username
    assert (
        cli("compute", "pool", "add", "--name", "m", "--kind", "local", "--as", admin).exit_code
        == 0
    )
    r = cli(
        "compute",
        "pool",
        "maintenance",
        "m",
        "--start",
        "2026-12-01T00:00:00+08:00",
        "--end",
        "2026-12-01T06:00:00+08:00",
        "--as",
        admin,
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    r = cli(
        "compute",
        "pool",
        "maintenance",
        "m",
        "--start",
        "tomorrow",
        "--end",
        "later",
        "--as",
        admin,
    )
    assert r.exit_code == 2


def test_reservation_from_the_cli(cli: Any, tenants: Any, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    admin, member = tenants.operator.admin.username, tenants.a.member.username
    assert (
        cli(
            "compute", "pool", "add", "--name", "l", "--kind", "local", "--cpus", "2", "--as", admin
        ).exit_code
        == 0
    )
    start = datetime.now(UTC) + timedelta(hours=1)
    spec = tmp_path / "slot.yaml"
    spec.write_text(f"reservation: {{start: '{start.isoformat()}', duration_s: 30m}}\ncpus: 2\n")
    r = cli("compute", "submit", str(spec), "--as", member, "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["detail"].startswith("reserved ") and r.json()["pool"] == "l"
    st = cli("compute", "status", str(r.json()["job_id"]), "--as", member, "--json").json()
    assert st["state"] == "queued" and st["slot"] == "reserved"
    assert st["reason"].startswith("reserved ")
    r = cli("compute", "submit", str(spec), "--as", member)  # the same slot again: full
    assert r.exit_code == 2 and "2 of 2 CPUs already reserved in that slot" in r.stderr
    past = tmp_path / "past.yaml"
    past.write_text("reservation: {start: '2020-01-01T09:00:00+08:00', duration_s: 1h}\n")
    r = cli("compute", "submit", str(past), "--as", member)
    assert r.exit_code == 2 and "reservation.start" in r.stderr and r.stdout == ""
