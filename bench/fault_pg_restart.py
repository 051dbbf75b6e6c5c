"""Fault test: PostgreSQL restarted while case transitions run; nothing lost, nothing doubled.

Creates a private PostgreSQL cluster (initdb into a temporary directory, its own port; the shared
server on 5432 is never touched), seeds `mingyue demo` data and opens cases, starts
`mingyue serve --workers 2` on it, then drives --transitions case transitions from --clients
concurrent clients through the HTTP API. Each client owns its cases and walks them round
start_review → return → resubmit; every transition carries an Idempotency-Key and is sent
again (same key) after a 503 or a broken connection until it is answered 200. While that runs
the cluster is restarted (`pg_ctl restart -m fast`, what `pg_ctlcluster … restart` does, and with
--restart-modes fast,immediate also an immediate stop: a crash and WAL recovery).

Exits non-zero on any loss: a transition answered with an error a client cannot retry, a
duplicate or missing `core.case.transitioned` ledger entry, a case whose history or state
differs from what its client was told, or `mingyue audit verify` failing.

    .venv/bin/python bench/fault_pg_restart.py [--transitions 10000] [--clients 20]
        [--restart-modes fast] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import itertools
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

CYCLE = (
    ("start_review", "reviewer", None, "in_review"),
    ("return", "reviewer", "请补充材料 / please add documents", "returned"),
    ("resubmit", "submitter", None, "resubmitted"),
)
RETRY_DEADLINE_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bindir() -> Path:
    with contextlib.suppress(FileNotFoundError, subprocess.CalledProcessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        path = Path(out.stdout.strip())
        if (path / "initdb").exists():
            return path
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise SystemExit("error: PostgreSQL server binaries (initdb, pg_ctl) not found")
    return Path(found[-1]).parent


class PrivatePostgres:
    """A throw-away PostgreSQL cluster in a temporary directory, on its own port."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.bindir = _pg_bindir()
        self.data, self.log = root / "pgdata", root / "postgres.log"
        self.sockets = root / "sock"
        # initdb refuses to run as root: the cluster then belongs to the postgres account.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*self.as_user, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:1])} failed: {done.stderr.strip()[-800:]}")
        return done

    def init(self) -> None:
        """Create and start the cluster."""
        self.sockets.mkdir(parents=True)
        if self.as_user:
            # The postgres account must reach its directory through the temporary parent.
            self.root.parent.chmod(0o755)
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sockets, "postgres")
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "--no-sync", "-E", "UTF8", "--locale", "C.UTF-8",
        )  # fmt: skip
        self.start()

    def _opts(self) -> str:
        return (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
            "-c max_connections=150 -c shared_buffers=64MB"
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
            "-o", self._opts(), "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (fast: roll back and disconnect; immediate: a crash)."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: str) -> float:
        """Restart the server; return how long the command took (seconds)."""
        t0 = time.monotonic()
        if mode == "fast":
            self._run(
                str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                "-o", self._opts(), "-m", "fast", "-w", "-t", "60", "restart",
            )  # fmt: skip
        else:  # immediate stop (no checkpoint), then a start that replays the WAL
            self.stop(mode)
            self.start()
        return time.monotonic() - t0

    def url(self, db: str) -> str:
        """Return the SQLAlchemy URL of a database of this cluster."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{db}"

    def destroy(self) -> None:
        """Stop the server (if running) and remove the cluster."""
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class Figures:
    """What the clients saw."""

    attempted: int = 0
    committed: int = 0
    requests: int = 0
    retried: int = 0  # requests sent again after a retryable answer
    replayed: int = 0  # retries answered "already done": the first commit's answer was lost
    answered_503: int = 0
    transport_errors: int = 0
    failures: list[str] = field(default_factory=list)  # non-retryable answers: a loss
    keys: dict[str, tuple[int, str]] = field(default_factory=dict)  # key → (case, transition)
    ok_times: list[float] = field(default_factory=list)
    error_times: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client(
    base: str,
    tokens: dict[str, str],
    cases: list[int],
    quota: int,
    figs: Figures,
    final_state: dict[int, str],
    seed: int,
) -> None:
    rng = random.Random(seed)
    pos = dict.fromkeys(cases, 0)  # index into CYCLE of each case's next move
    with httpx.Client(base_url=base, timeout=httpx.Timeout(30.0)) as http:
        for _ in range(quota):
            cid = rng.choice(cases)
            name, role, comment, target = CYCLE[pos[cid]]
            key = str(uuid.uuid4())
            headers = {"Authorization": f"Bearer {tokens[role]}", "Idempotency-Key": key}
            body: dict[str, Any] = {"name": name}
            if comment:
                body["comment"] = comment
            with figs.lock:
                figs.attempted += 1
            deadline = time.monotonic() + RETRY_DEADLINE_S
            tries, backoff = 0, 0.2
            while True:
                tries += 1
                try:
                    r = http.post(f"/api/cases/{cid}/transitions", json=body, headers=headers)
                    status, retry_after = r.status_code, r.headers.get("retry-after")
                except httpx.TransportError as exc:
                    status, retry_after, r = 0, None, None
                    detail = type(exc).__name__
                with figs.lock:
                    figs.requests += 1
                    if tries > 1:
                        figs.retried += 1
                    if status == 200:
                        figs.ok_times.append(time.monotonic())
                    elif status in (0, 503):
                        figs.error_times.append(time.monotonic())
                        if status == 503:
                            figs.answered_503 += 1
                        else:
                            figs.transport_errors += 1
                if status == 200 and r is not None:
                    got = r.json()["state"]
                    with figs.lock:
                        figs.committed += 1
                        figs.keys[key] = (cid, name)
                        if r.headers.get("idempotent-replayed") == "true":
                            figs.replayed += 1
                    if got != target:
                        with figs.lock:
                            figs.failures.append(f"case {cid}: {name} answered state {got}")
                    pos[cid] = (pos[cid] + 1) % len(CYCLE)
                    final_state[cid] = target
                    break
                if status not in (0, 503) or time.monotonic() > deadline:
                    text_ = r.text[:300] if r is not None else detail
                    with figs.lock:
                        figs.failures.append(f"case {cid}: {name} → {status} {text_}")
                    return  # this client's model of its cases is no longer certain
                wait = float(retry_after) if retry_after else backoff
                time.sleep(wait * (0.5 + rng.random()))
                backoff = min(2.0, backoff * 2)


def _wait_health(base: str, server: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"error: the server exited with {server.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit("error: the server did not answer /api/health")


def _check_ledger(
    url: str, figs: Figures, final_state: dict[int, str], case_ids: set[int]
) -> dict[str, Any]:
    eng = create_engine(url)
    try:
        with eng.connect() as c:
            rows: list[tuple[str, str, str]] = [
                (str(k), str(subj), str(name))
                for k, subj, name in c.execute(
                    text(
                        "SELECT payload->>'idempotency_key', subject, payload->>'transition' "
                        "FROM core_audit_entry WHERE action = 'core.case.transitioned'"
                    )
                )
            ]
            events: dict[int, int] = {
                int(str(cid)): int(str(n))
                for cid, n in c.execute(
                    text(
                        "SELECT case_id, count(*) FROM core_case_event "
                        "WHERE kind = 'transition' GROUP BY case_id"
                    )
                )
            }
            states: dict[int, str] = {
                int(str(cid)): str(st)
                for cid, st in c.execute(text("SELECT id, state FROM core_case"))
            }
            total_entries = int(
                c.execute(text("SELECT count(*) FROM core_audit_entry")).scalar_one()
            )
    finally:
        eng.dispose()
    # Only the cases this run opened: `mingyue demo` moved cases of its own.
    rows = [row for row in rows if int(row[1].split(":")[1]) in case_ids]
    events = {cid: n for cid, n in events.items() if cid in case_ids}
    per_key = Counter(k for k, _, _ in rows)
    duplicates = sorted(k for k, n in per_key.items() if n > 1)
    missing = sorted(k for k in figs.keys if k not in per_key)
    unknown = sorted(k for k in per_key if k not in figs.keys)  # committed, never acknowledged
    audit_per_case = Counter(int(s.split(":")[1]) for _, s, _ in rows)
    history_mismatch = sorted(
        cid for cid in set(audit_per_case) | set(events) if audit_per_case[cid] != events.get(cid)
    )
    wrong_state = sorted(cid for cid, st in final_state.items() if states.get(cid) != st)
    return {
        "transition_entries": len(rows),
        "ledger_entries": int(total_entries),
        "duplicate_keys": duplicates,
        "missing_keys": missing,
        "unacknowledged_keys": unknown,
        "history_mismatch_cases": history_mismatch,
        "wrong_state_cases": wrong_state,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the whole experiment and return its figures."""
    root = Path(tempfile.mkdtemp(prefix="mingyue-fault-pg-"))
    pg = PrivatePostgres(root / "cluster", free_port())
    data_dir = root / "data"
    data_dir.mkdir()
    server: subprocess.Popen[bytes] | None = None
    t_setup = time.monotonic()
    try:
        pg.init()
        admin = create_engine(pg.url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text('CREATE DATABASE "mingyue"'))
        admin.dispose()
        url = pg.url("mingyue")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MINGYUE_")}
        env.update(
            MINGYUE_DATABASE_URL=url,
            MINGYUE_DATA_DIR=str(data_dir),
            MINGYUE_EMBEDDED_WORKERS="0",
            MINGYUE_ENV="dev",
        )
        exe = [sys.executable, "-m", "mingyue.cli"]
        demo = subprocess.run(
            [*exe, "demo", "--json"], env=env, check=True, capture_output=True, text=True
        )
        users = {u["username"]: u for u in json.loads(demo.stdout)["users"]}
        tokens = {
            "submitter": users["ent1_admin"]["api_token"],
            "reviewer": users["op_member"]["api_token"],
        }
        port = free_port()
        with (root / "server.log").open("wb") as log:  # the child keeps its own descriptor
            server = subprocess.Popen(
                [*exe, "serve", "--port", str(port), "--workers", str(args.workers)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        _wait_health(base, server)
        per_client = max(1, args.cases_per_client)
        owned: list[list[int]] = []
        with httpx.Client(base_url=base, timeout=30) as http:
            for ci in range(args.clients):
                ids = []
                for j in range(per_client):
                    r = http.post(
                        "/api/cases",
                        headers={"Authorization": f"Bearer {tokens['submitter']}"},
                        json={"kind": "core.general", "title": f"fault client {ci} case {j}"},
                    )
                    r.raise_for_status()
                    ids.append(int(r.json()["id"]))
                owned.append(ids)
        setup_s = time.monotonic() - t_setup

        figs = Figures()
        final_state: dict[int, str] = {}
        quotas = [args.transitions // args.clients] * args.clients
        for i in range(args.transitions - sum(quotas)):
            quotas[i] += 1
        threads = [
            threading.Thread(
                target=_client,
                args=(base, tokens, owned[i], quotas[i], figs, final_state, i),
                daemon=True,
            )
            for i in range(args.clients)
        ]
        t_start = time.monotonic()
        for th in threads:
            th.start()
        restarts: list[dict[str, Any]] = []
        modes = [m for m in args.restart_modes.split(",") if m]
        for n, mode in enumerate(modes, start=1):
            # Restart when the n-th share of the work is done (e.g. at 1/3 and 2/3 for two).
            goal = args.transitions * n // (len(modes) + 1)
            while figs.committed < goal and any(th.is_alive() for th in threads):
                time.sleep(0.05)
            before = figs.committed
            t0 = time.monotonic()
            took = pg.restart(mode)
            restarts.append(
                {"mode": mode, "at_committed": before, "t0": t0, "command_s": took, "t1": t0 + took}
            )
        for th in threads:
            th.join()
        elapsed = time.monotonic() - t_start

        for i, rs in enumerate(restarts):
            t0, t1 = rs.pop("t0"), rs.pop("t1")
            # This restart's window: from just before it until the next one (or 30 s after).
            end = min([t1 + 30, *[r["t0"] for r in restarts[i + 1 :]]])
            errs = [t for t in figs.error_times if t0 - 1 <= t <= end]
            after_ok = [t for t in figs.ok_times if t > t1]
            rs["errors_seen"] = len(errs)
            rs["first_commit_after_restart_s"] = round(min(after_ok) - t0, 3) if after_ok else None
            rs["clients_saw_errors_for_s"] = round(max(errs) - min(errs), 3) if errs else 0.0
            oks = sorted(t for t in figs.ok_times if t0 - 5 <= t <= end)
            gaps = [b - a for a, b in itertools.pairwise(oks)]
            rs["longest_gap_between_commits_s"] = round(max(gaps), 3) if gaps else None
            rs["command_s"] = round(rs["command_s"], 3)

        verify = subprocess.run(
            [*exe, "audit", "verify"], env=env, capture_output=True, text=True, timeout=600
        )
        ledger = _check_ledger(url, figs, final_state, {c for ids in owned for c in ids})
        server_log = (root / "server.log").read_text(errors="replace")
        out: dict[str, Any] = {
            "transitions_attempted": figs.attempted,
            "transitions_committed": figs.committed,
            "http_requests": figs.requests,
            "retried_requests": figs.retried,
            "retries_answered_already_done": figs.replayed,
            "answered_503": figs.answered_503,
            "transport_errors": figs.transport_errors,
            "non_retryable_failures": figs.failures[:20],
            "non_retryable_failure_count": len(figs.failures),
            "clients": args.clients,
            "web_workers": args.workers,
            "cases": sum(len(o) for o in owned),
            "elapsed_s": round(elapsed, 2),
            "transitions_per_s": round(figs.committed / elapsed, 1) if elapsed else None,
            "setup_s": round(setup_s, 1),
            "restarts": restarts,
            "audit_verify_rc": verify.returncode,
            "audit_verify": (verify.stderr or verify.stdout).strip().splitlines()[-1:],
            "server_tracebacks": server_log.count("Traceback"),
            "server_errors_logged": server_log.count("unhandled error on")
            + server_log.count("database error on"),
            "server_503_logged": server_log.count("database unavailable on"),
            **ledger,
        }
        if args.keep:
            out["workdir"] = str(root)
        return out
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(15)
            if server.poll() is None:
                server.kill()
        if not args.keep:
            pg.destroy()
            shutil.rmtree(root, ignore_errors=True)


def losses(out: dict[str, Any]) -> list[str]:
    """Return what was lost or doubled (empty: nothing)."""
    bad = []
    if out["non_retryable_failure_count"]:
        bad.append(f"{out['non_retryable_failure_count']} non-retryable answers")
    if out["transitions_committed"] != out["transitions_attempted"]:
        bad.append("not every attempted transition was committed")
    if out["transition_entries"] != out["transitions_committed"]:
        bad.append(
            f"{out['transition_entries']} ledger entries for {out['transitions_committed']} "
            "committed transitions"
        )
    for name in (
        "duplicate_keys",
        "missing_keys",
        "unacknowledged_keys",
        "history_mismatch_cases",
        "wrong_state_cases",
    ):
        if out[name]:
            bad.append(f"{name}: {len(out[name])} (e.g. {out[name][:3]})")
    if out["audit_verify_rc"] != 0:
        bad.append(f"mingyue audit verify failed: {out['audit_verify']}")
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--transitions", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--cases-per-client", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    ap.add_argument(
        "--restart-modes", default="fast", help="comma list of pg_ctl stop modes: fast,immediate"
    )
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the cluster and logs")
    args = ap.parse_args()
    if args.transitions < 1 or args.clients < 1:
        print("error: --transitions and --clients must be at least 1", file=sys.stderr)
        return 2
    if any(m not in ("fast", "immediate") for m in args.restart_modes.split(",") if m):
        print("error: --restart-modes takes fast and/or immediate", file=sys.stderr)
        return 2
    out = run(args)
    bad = losses(out)
    out["lost"] = bad
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, ensure_ascii=False))
    print(
        f"PostgreSQL restart under load: {out['clients']} clients, {out['web_workers']} uvicorn "
        f"workers, {out['cases']} cases"
    )
    print(
        f"  transitions attempted {out['transitions_attempted']}, committed "
        f"{out['transitions_committed']} in {out['elapsed_s']} s "
        f"({out['transitions_per_s']}/s)"
    )
    print(
        f"  requests {out['http_requests']}, retried {out['retried_requests']} "
        f"(503: {out['answered_503']}, broken connections: {out['transport_errors']}), "
        f"retries answered 'already done' {out['retries_answered_already_done']}"
    )
    for rs in out["restarts"]:
        print(
            f"  restart ({rs['mode']}) at {rs['at_committed']} committed: pg_ctl took "
            f"{rs['command_s']} s; first commit {rs['first_commit_after_restart_s']} s after it; "
            f"clients saw errors for {rs['clients_saw_errors_for_s']} s "
            f"({rs['errors_seen']} answers); longest gap between commits "
            f"{rs['longest_gap_between_commits_s']} s"
        )
    print(
        f"  ledger: {out['transition_entries']} transition entries "
        f"({out['ledger_entries']} in all); duplicates {len(out['duplicate_keys'])}, "
        f"missing {len(out['missing_keys'])}; audit verify rc={out['audit_verify_rc']} "
        f"{out['audit_verify']}"
    )
    print(
        f"  server log: {out['server_503_logged']} 'database unavailable' warnings, "
        f"{out['server_errors_logged']} errors, {out['server_tracebacks']} tracebacks"
    )
    if bad:
        print("LOSS: " + "; ".join(bad))
        return 1
    print("no loss")
    return 0


if __name__ == "__main__":
    sys.exit(main())
