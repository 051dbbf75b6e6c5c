"""Private single-node engines for tests, benches and demos: a Slurm cluster and a Ray head.

Each one lives in its own directory, on its own ports, and is stopped by the PIDs it started
(never by name: other people's daemons on the same host stay up). Needs Debian's ``slurm-wlm``,
``munge``, ``slurmdbd`` and ``mariadb-server`` (``scripts/compute-slurm.sh``) or ``ray[default]``
(the ``ray`` extra).

The Slurm cluster has accounting by default: a private MariaDB instance (its own data dir,
socket and TCP port) behind a private ``slurmdbd``, so ``sacct`` works as on a production
cluster. ``accounting=False`` gives a cluster without slurmdbd, accounted by
``jobcomp/filetxt`` only (the adapter's documented fallback).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

SLURM_BINARIES = (
    "munged",
    "mungekey",
    "slurmctld",
    "slurmd",
    "sbatch",
    "squeue",
    "scontrol",
    "scancel",
    "sinfo",
)
ACCOUNTING_BINARIES = ("slurmdbd", "sacct", "sacctmgr", "mariadbd", "mariadb-install-db")


class EngineStartError(RuntimeError):
    """An engine could not start; the message says why (tests skip with it)."""


def free_port() -> int:
    """Return a TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes] | None, grace: float = 5.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace)


def _tail(path: Path, n: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return "(no log)"


@dataclass
class SlurmDevCluster:
    """A single-node Slurm (slurmctld + slurmd + munged, and with ``accounting`` a private
    MariaDB + slurmdbd) in ``root``, on private ports."""

    root: Path
    cpus: int = 2
    memory_mb: int = 4000
    accounting: bool = True
    env: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def conf(self) -> Path:
        """Return the private slurm.conf path (give it to the adapter as SLURM_CONF)."""
        return self.root / "etc" / "slurm.conf"

    @property
    def jobcomp(self) -> Path:
        """Return the jobcomp/filetxt file: one line per finished job (start, end, TRES)."""
        return self.root / "jobcomp.txt"

    def start(self, timeout: float = 30.0) -> SlurmDevCluster:
        """Write the configuration, start munged, slurmctld and slurmd, wait for an idle node."""
        t0 = time.monotonic()
        needed = SLURM_BINARIES + (ACCOUNTING_BINARIES if self.accounting else ())
        missing = [b for b in needed if shutil.which(b) is None]
        if missing:
            raise EngineStartError(
                f"Slurm binaries missing: {', '.join(missing)} (run scripts/compute-slurm.sh)"
            )
        r = self.root
        for d in ("etc", "munge", "spool/ctld", "spool/d", "log", "run"):
            (r / d).mkdir(parents=True, exist_ok=True)
        (r / "munge").chmod(0o755)
        key = r / "etc" / "munge.key"
        subprocess.run(
            ["mungekey", "--create", f"--keyfile={key}", "--force"], check=True, capture_output=True
        )
        key.chmod(0o600)
        sock = r / "munge" / "munge.socket.2"
        self._procs.append(
            self._spawn(
                [
                    "munged",
                    "-F",
                    "-f",
                    f"--socket={sock}",
                    f"--key-file={key}",
                    f"--pid-file={r / 'run/munged.pid'}",
                    f"--seed-file={r / 'run/munged.seed'}",
                    f"--log-file={r / 'log/munged.log'}",
                ],
                r / "log" / "munged.out",
            )
        )
        mariadb = self._start_mariadb() if self.accounting else None
        self._wait(
            lambda: sock.exists(), 10, "munged did not create its socket", r / "log" / "munged.log"
        )
        host = socket.gethostname().split(".")[0]
        ctld_port, d_port = free_port(), free_port()
        if self.accounting:
            dbd_port = free_port()
            accounting = (
                f"AccountingStorageType=accounting_storage/slurmdbd\n"
                f"AccountingStorageHost=127.0.0.1\nAccountingStoragePort={dbd_port}\n"
                # with a private munge socket, slurmctld finds it through Pass
                f"AccountingStoragePass={sock}\n"
            )
        else:
            accounting = "AccountingStorageType=accounting_storage/none\n"
        self.conf.write_text(f"""# private single-node cluster for mingyue's compute tests
ClusterName=mingyue
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={sock}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
{accounting}JobCompType=jobcomp/filetxt
JobCompLoc={self.jobcomp}
StateSaveLocation={r / "spool/ctld"}
SlurmdSpoolDir={r / "spool/d"}
SlurmctldPidFile={r / "run/slurmctld.pid"}
SlurmdPidFile={r / "run/slurmd.pid"}
SlurmctldLogFile={r / "log/slurmctld.log"}
SlurmdLogFile={r / "log/slurmd.log"}
SchedulerType=sched/backfill
MinJobAge=300
ReturnToService=2
InactiveLimit=0
KillWait=5
NodeName={host} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.memory_mb} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
""")
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        if mariadb is not None:
            self._start_slurmdbd(sock, dbd_port, mariadb)
        self.timings["before_slurmctld_s"] = time.monotonic() - t0
        self._procs.append(
            self._spawn(
                ["slurmctld", "-D", "-i", "-f", str(self.conf)], r / "log" / "slurmctld.out"
            )
        )
        self._procs.append(
            self._spawn(["slurmd", "-D", "-f", str(self.conf)], r / "log" / "slurmd.out")
        )

        def idle() -> bool:
            out = subprocess.run(
                ["sinfo", "-h", "-o", "%T"], env=self.env, capture_output=True, text=True, timeout=5
            )
            return out.returncode == 0 and out.stdout.strip() in {"idle", "mixed", "allocated"}

        self._wait(idle, timeout, "the Slurm node did not become idle", r / "log" / "slurmctld.log")
        self.timings["start_s"] = time.monotonic() - t0
        return self

    def _start_mariadb(self) -> int:
        """Initialise and start a private MariaDB (TCP on 127.0.0.1, own socket); return its port."""
        r = self.root
        data = r / "mariadb"
        port = free_port()
        t0 = time.monotonic()
        init = subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={data}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if init.returncode != 0:
            raise EngineStartError(
                f"mariadb-install-db failed: {init.stdout[-800:]}{init.stderr[-800:]}"
            )
        self.mariadb_sock = r / "run" / "mariadb.sock"
        self.mariadb_port = port
        log = r / "log" / "mariadb.log"
        # --user=root: the cluster runs as root here (mariadbd refuses root without it).
        self._procs.append(
            self._spawn(
                [
                    "mariadbd",
                    "--no-defaults",
                    f"--datadir={data}",
                    "--user=root",
                    f"--port={port}",
                    "--bind-address=127.0.0.1",
                    f"--socket={self.mariadb_sock}",
                    f"--pid-file={r / 'run/mariadb.pid'}",
                    f"--log-error={log}",
                    "--skip-log-bin",
                    "--innodb-buffer-pool-size=32M",
                    "--innodb-log-file-size=16M",
                ],
                r / "log" / "mariadb.out",
            )
        )

        def up() -> bool:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True

        self._wait(up, 30, "MariaDB did not listen", log)
        self.timings["mariadb_s"] = time.monotonic() - t0
        return port

    def _start_slurmdbd(self, munge_sock: Path, dbd_port: int, db_port: int) -> None:
        """Start slurmdbd on the private MariaDB and register the cluster in it."""
        r = self.root
        t0 = time.monotonic()
        conf = r / "etc" / "slurmdbd.conf"  # slurmdbd reads it next to $SLURM_CONF
        conf.write_text(f"""# private accounting daemon for mingyue's compute tests
AuthType=auth/munge
AuthInfo=socket={munge_sock}
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort={dbd_port}
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={db_port}
StorageUser=root
StorageLoc=slurm_acct_db
PidFile={r / "run/slurmdbd.pid"}
LogFile={r / "log/slurmdbd.log"}
""")
        conf.chmod(0o600)  # slurmdbd refuses a config others can read
        self._procs.append(self._spawn(["slurmdbd", "-D"], r / "log" / "slurmdbd.out"))

        def dbd_up() -> bool:
            with socket.create_connection(("127.0.0.1", dbd_port), timeout=1):
                return True

        self._wait(dbd_up, 30, "slurmdbd did not listen", r / "log" / "slurmdbd.log")
        out = subprocess.run(
            ["sacctmgr", "-i", "add", "cluster", "mingyue"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if out.returncode != 0 and "already exists" not in (out.stdout + out.stderr):
            self.stop()
            raise EngineStartError(f"sacctmgr add cluster failed: {out.stderr.strip()[-800:]}")
        self.timings["slurmdbd_s"] = time.monotonic() - t0

    def _spawn(self, cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as fh:
            return subprocess.Popen(
                cmd,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env or None,
            )

    def _wait(self, ok: object, timeout: float, what: str, log: Path) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self._procs:
                if p.poll() is not None:
                    self.stop()
                    prog = p.args[0] if isinstance(p.args, list) else p.args
                    raise EngineStartError(
                        f"{what}: {prog!s} exited ({p.returncode}); log: {_tail(log)}"
                    )
            try:
                if ok():  # type: ignore[operator]
                    return
            except (OSError, subprocess.SubprocessError):
                pass
            time.sleep(0.2)
        self.stop()
        raise EngineStartError(f"{what} within {timeout:.0f} s; log: {_tail(log)}")

    def stop(self) -> None:
        """Stop exactly the daemons this cluster started (slurmd, slurmctld, slurmdbd, MariaDB,
        munged), newest first."""
        for p in reversed(self._procs):
            _stop(p)
        self._procs.clear()


@dataclass
class RayDevHead:
    """A Ray head started with ``ray start --head --block`` on private ports, stopped by PID."""

    root: Path
    cpus: int = 2
    port: int = 0  # the GCS port; 0: a free one (two heads on one machine must not share 6379)
    dashboard_port: int = 0
    address: str = ""
    _proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> RayDevHead:
        """Start the head and wait until its Jobs API answers."""
        ray_bin = Path(sys.executable).with_name("ray")
        if not ray_bin.exists():
            raise EngineStartError("ray is not installed (pip install 'mingyue[ray]')")
        self.root.mkdir(parents=True, exist_ok=True)
        self.dashboard_port = self.dashboard_port or free_port()
        self.port = self.port or free_port()
        # Every listening port of the head on a free one: Ray's fixed defaults (client server
        # 10001, dashboard agent 52365, ...) made a second head on the machine (another test
        # worker, a bench) join the first one's GCS and die ("Session name ... does not match").
        own_ports = [
            f"--{flag}={free_port()}"
            for flag in (
                "ray-client-server-port",
                "node-manager-port",
                "object-manager-port",
                "dashboard-agent-listen-port",
                "dashboard-agent-grpc-port",
                "runtime-env-agent-port",
                "metrics-export-port",
            )
        ]
        log = self.root / "ray-head.out"
        # Ray's session dirs land in a short temp path (unix socket paths are length-limited).
        temp = Path("/tmp") / f"mingyue-ray-{os.getpid()}-{self.dashboard_port}"  # noqa: S108
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_DISABLE_DOCKER_CPU_WARNING": "1"}
        with log.open("wb") as fh:
            self._proc = subprocess.Popen(
                [
                    str(ray_bin),
                    "start",
                    "--head",
                    "--block",
                    f"--port={self.port}",
                    *own_ports,
                    f"--num-cpus={self.cpus}",
                    "--num-gpus=0",
                    "--dashboard-host=127.0.0.1",
                    f"--dashboard-port={self.dashboard_port}",
                    f"--temp-dir={temp}",
                    "--include-dashboard=true",
                    "--disable-usage-stats",
                ],
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        self.temp_dir = temp
        self.address = f"http://127.0.0.1:{self.dashboard_port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise EngineStartError(f"ray start exited ({self._proc.returncode}): {_tail(log)}")
            try:
                # Ready = the Jobs API answers AND the head node registered as ALIVE.
                with urllib.request.urlopen(  # noqa: S310 - our own head, http://127.0.0.1
                    f"{self.address}/nodes?view=summary", timeout=2
                ) as resp:
                    body = resp.read().decode()
                if '"state": "ALIVE"' in body:
                    return self
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise EngineStartError(f"the Ray head did not answer within {timeout:.0f} s: {_tail(log)}")

    def stop(self) -> None:
        """Stop the head: ``ray start --block`` and every process it spawned, by PID."""
        p = self._proc
        if p is None:
            return
        # Collect the tree first: once raylet dies its workers are re-parented and untraceable.
        tree = [p.pid, *descendants(p.pid)]
        for pid in reversed(tree):
            _signal(pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=15)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_exists(pid) for pid in tree[1:]):
            time.sleep(0.2)
        for pid in tree:
            _signal(pid, signal.SIGKILL)
        if p.poll() is None:
            p.wait(timeout=5)
        self._proc = None


def descendants(pid: int) -> list[int]:
    """Return every process below ``pid`` (children first level by level), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        cur = todo.pop(0)
        for child in children.get(cur, []):
            out.append(child)
            todo.append(child)
    return out


def _exists(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)
