"""Isolation of local job code with bubblewrap (``bwrap``): the command line and its self-test.

A tenant's shell command must not see the platform: its data directory (signing keys, the
database, other jobs and tenants), its processes (``/proc/<pid>/environ`` holds the session
secret) or its network. Each raw command of a local pool therefore runs as

``bwrap --unshare-user --uid 65534 --gid 65534 --unshare-pid/-ipc/-uts/-cgroup [--unshare-net]
--disable-userns --die-with-parent --new-session --clearenv [--setenv K V…]
--ro-bind /usr /usr (+ /bin /lib* /sbin) --ro-bind-try /etc/<few files> --proc /proc --dev /dev
--tmpfs /tmp --bind JOBDIR/work /work --chdir /work -- /bin/sh -c COMMAND``

on a tmpfs root: nothing of the data directory but the job's own ``work`` dir exists inside. When
the supervisor runs as root it starts ``bwrap`` as an unprivileged host uid of its own per job
(``host_uid``), so ``RLIMIT_NPROC`` bounds the job's processes (a fork bomb) and file modes keep
it out of anything it could still name. ``probe`` runs the same command line once (cached per
process) before a pool accepts raw commands: a host without user namespaces or without bwrap is
reported, and the pool then runs raw commands for the platform operator only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

BWRAP = "bwrap"
# where a root-run pool keeps job work dirs when its data directory is closed to others
DEFAULT_SANDBOX_DIR = "/var/tmp/mingyue-sandbox"  # noqa: S108 - root's own 0711 dir, checked
JOB_UID = 65534  # uid and gid inside the sandbox ("nobody")
WORK = "/work"
TMP = "/tmp"  # noqa: S108 - a tmpfs of the sandbox's own, not the host's /tmp
# unprivileged host uids for jobs when the supervisor runs as root: far above any real account
UID_BASE = 1_500_000_000
UID_SPAN = 100_000_000
DEFAULT_MAX_PROCESSES = 256
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# the least of /etc a shell, Python and the C library need (no passwd/shadow of the host)
_ETC = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/ssl",
    "/etc/ca-certificates",
)
_ETC_NETWORK = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/gai.conf")
_PROBE_TIMEOUT_S = 15.0
_CACHE_S = 300.0
_cache: dict[tuple[str, bool, str], tuple[float, str | None]] = {}


def host_uid(key: str) -> int:
    """Return the unprivileged host uid (and gid) a job runs as when the supervisor is root."""
    digest = hashlib.sha256(key.encode()).digest()
    return UID_BASE + int.from_bytes(digest[:8], "big") % UID_SPAN


def searchable(path: Path) -> bool:
    """Tell whether others may pass through every directory above ``path`` (``o+x``)."""
    for parent in path.resolve().parents:
        try:
            if not parent.stat().st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def portal(base: Path, root: Path) -> Path:
    """Return the directory holding a root-run pool's job work dirs when the data directory is
    closed to others (bwrap, started as the job's uid, must reach them by path): one per pool
    under ``base`` (pool option ``sandbox_dir``), made and checked to be root's own."""
    for path in (base, base / hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o711)
        st = path.lstat()
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
            raise PermissionError(f"{path} is not a directory of root's own (mode 0711)")
        path.chmod(0o711)
    return path


def runs_as_root() -> bool:
    """Tell whether this process (and so the supervisor it starts) runs as root."""
    return os.geteuid() == 0


@dataclass(frozen=True)
class Sandbox:
    """How a local pool isolates raw commands (one per pool; the command line per job)."""

    binary: str
    network: bool = False  # the pool lets a job that asks (``network: true``) have the network
    max_processes: int = DEFAULT_MAX_PROCESSES
    ro_paths: tuple[str, ...] = ()  # extra host paths bound read-only (e.g. /opt/conda)
    hide: tuple[str, ...] = ()  # never visible, even under a bound path (the data directory)

    def argv(
        self,
        *,
        command: str,
        env: Mapping[str, str],
        network: bool,
        work: Path,
        etc: Path | None = None,
    ) -> list[str]:
        """Return the ``bwrap`` command line running ``command`` in ``work`` (bound at /work).

        bwrap resolves ``work`` and ``etc`` as the job's host uid: every directory above them
        must be searchable by others (``o+x``; the self-test reports it when one is not).
        """
        argv = [
            self.binary,
            "--unshare-user",
            "--uid",
            str(JOB_UID),
            "--gid",
            str(JOB_UID),
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--hostname",
            "mingyue-job",
            "--unshare-cgroup-try",
            "--disable-userns",
            "--die-with-parent",
            "--new-session",
            "--clearenv",
        ]
        if not (network and self.network):
            argv.append("--unshare-net")
        bound: list[str] = []
        for top in (*_SYSTEM, *self.ro_paths):
            path = Path(top)
            if path.is_symlink() and top in _SYSTEM:
                argv += ["--symlink", os.readlink(path), top]
            elif path.exists():
                argv += ["--ro-bind", top, top]
                bound.append(top)
        for name in (*_ETC, *(_ETC_NETWORK if network and self.network else ())):
            argv += ["--ro-bind-try", name, name]
        if etc is not None:
            for name in ("passwd", "group"):
                argv += ["--ro-bind", str(etc / name), f"/etc/{name}"]
        for secret in self.hide:
            if any(secret == b or secret.startswith(b.rstrip("/") + "/") for b in bound):
                argv += ["--tmpfs", secret]  # a data dir under /usr or /opt: masked
        argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", TMP]
        argv += ["--bind", str(work), WORK, "--chdir", WORK]
        for key, value in sorted(env.items()):
            argv += ["--setenv", key, value]
        argv += ["--", "/bin/sh", "-c", command]
        return argv


def job_env(job_id: str, cpus: int, extra: Mapping[str, str]) -> dict[str, str]:
    """Return the whole environment of a sandboxed job (the platform's own is never passed)."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": WORK,
        "TMPDIR": TMP,
        "LANG": "C.UTF-8",
        "MINGYUE_JOB_ID": job_id,
        "OMP_NUM_THREADS": str(cpus),
    }
    env.update({str(k): str(v) for k, v in extra.items()})
    return env


def write_etc(path: Path) -> None:
    """Write the sandbox's own ``passwd``/``group`` (the job's uid only, none of the host's)."""
    path.mkdir(exist_ok=True)
    (path / "passwd").write_text(
        f"job:x:{JOB_UID}:{JOB_UID}:mingyue job:{WORK}:/bin/sh\n", encoding="utf-8"
    )
    (path / "group").write_text(f"job:x:{JOB_UID}:\n", encoding="utf-8")


def probe(
    scratch: Path, binary: str | None = None, *, fresh: bool = False
) -> tuple[str | None, str]:
    """Run the sandbox once; return (bwrap's path or None, what works or why it does not).

    The same flags as a job, as the same kind of host uid (an unprivileged one when this process
    is root), must give a shell that is uid 65534, sees no network and no host process. Cached
    a few minutes per process.
    """
    found = binary or shutil.which(BWRAP)
    if found is None:
        return None, "bubblewrap (bwrap) is not installed"
    if not os.access(found, os.X_OK):
        return None, f"bubblewrap (bwrap) not found at {found}"
    as_root = runs_as_root()
    key = (found, as_root, str(scratch))
    hit = _cache.get(key)
    at = time.monotonic()
    if hit is not None and not fresh and at - hit[0] < _CACHE_S:
        return (found if hit[1] is None else None), hit[1] or describe(found)
    why = _run_probe(found, scratch, as_root)
    _cache[key] = (at, why)
    return (found if why is None else None), why or describe(found)


def describe(binary: str) -> str:
    """Say in one line what isolation a job gets."""
    who = "its own unprivileged host uid" if runs_as_root() else "the platform's uid"
    return (
        f"bubblewrap ({binary}): new user/pid/ipc/uts/cgroup/net namespaces, uid 65534 "
        f"mapped to {who}, read-only /usr, only its own work dir, fresh /proc"
    )


def _run_probe(binary: str, scratch: Path, as_root: bool) -> str | None:
    try:
        scratch.mkdir(parents=True, exist_ok=True, mode=0o711)
        (scratch / "work").mkdir(exist_ok=True)
        write_etc(scratch / "etc")
        uid = host_uid(str(scratch)) if as_root else None
        if uid is not None:
            os.chown(scratch / "work", uid, uid)
        argv = Sandbox(binary).argv(
            command='test "$(id -u)" = 65534 && test "$(cat /proc/1/comm)" = bwrap '
            "&& touch /work/probe && echo ok",
            env=job_env("probe", 1, {}),
            network=False,
            work=scratch / "work",
            etc=scratch / "etc",
        )
        out = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
            env={"PATH": "/usr/bin:/bin"},
            user=uid,
            group=uid,
            extra_groups=[] if uid is not None else None,
        )
    except subprocess.TimeoutExpired:
        return f"bubblewrap self-test: no answer within {_PROBE_TIMEOUT_S:.0f} s"
    except OSError as exc:
        return f"bubblewrap self-test could not start: {exc.strerror or exc}"
    if out.returncode != 0 or out.stdout.strip() != "ok":
        last = (out.stderr.strip().splitlines() or [f"exit code {out.returncode}"])[-1]
        hint = (
            " (the job's host uid needs o+x on every directory above the pool's jobs dir)"
            if "Permission denied" in last
            else ""
        )
        return f"bubblewrap self-test failed: {last[:200]}{hint}"
    return None


def host_paths(text: str) -> tuple[str, ...]:
    """Read a comma-separated list of absolute host paths (others are dropped)."""
    return tuple(
        p.rstrip("/") or "/" for p in (q.strip() for q in text.split(",")) if p.startswith("/")
    )
