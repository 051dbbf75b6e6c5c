"""Supervise one local job: start it under resource limits, record pid/start/end in its job dir.

Run as ``python -I local_runner.py JOBDIR`` (standard library only, so it starts fast and does
not import the platform). The runner outlives the platform process: every fact it learns goes to
a file in JOBDIR, written atomically, so a restarted platform reads the same truth.

A container job's ``job.json`` also holds ``argv`` (the runtime's ``run`` command line, run
instead of ``sh -c``; the container gets the limits, not the runtime's client) and ``container``
(its name and the ``inspect``/``rm`` command lines): the recorded start and end are then the
container's own, and the container is removed at the end.

A raw command isolated by bubblewrap has ``argv`` (the ``bwrap`` command line, see
``sandbox.py``) and ``sandbox`` (``uid``: the unprivileged host uid to run it as when the
supervisor is root, else null; ``max_processes``): bwrap is started as that uid with no
environment of ours, under the rlimits plus ``RLIMIT_NPROC``, and its ``128 + N`` exit code of a
command killed by signal N is recorded as that signal.

Files: ``job.json`` (input: command, env, cpus, memory_mb, max_runtime_s), ``runner.json``
(runner pid), ``started.json`` (job pid = process group, its /proc start tick, start time),
``end.json`` (end time, exit code, signal, state, reason), ``cancel`` (a request to stop),
``claim`` (who took the job first: ``run`` or ``cancel``), ``revived`` (the platform started a
supervisor again because none claimed the job), ``runner.log``, ``stdout.log``, ``stderr.log``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

GRACE_S = 3.0
# podman prints Go's time.String() ("2026-11-23 14:12:00.123456789 +0000 UTC"), docker RFC 3339
_TIME = re.compile(r"(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(?:\.(\d+))?\s*(Z|[+-]\d\d:?\d\d)?")


def write_json(path: Path, data: dict[str, object]) -> None:
    """Write JSON atomically (temp file, fsync, rename)."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def claim(job_dir: Path, who: str) -> bool:
    """Claim a job that has not started, for ``run`` or ``cancel``; only the first claim wins.

    The supervisor claims before it starts the command, a cancel before it records an end for a
    job that never started: the exclusive create makes the two exclude each other, so a cancel
    cannot slip in between the supervisor's check and the start.
    """
    try:
        fd = os.open(job_dir / "claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(who)
    return True


def proc_start_tick(pid: int) -> int | None:
    """Return a process's start time in clock ticks since boot (tells a reused pid apart)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _limits(
    cpus: int, memory_mb: int | None, max_runtime_s: int | None, nproc: int | None = None
) -> None:
    # Runs in the child between fork and exec (after the uid switch): plain calls only.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if nproc is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    if max_runtime_s:
        # CPU-time backstop: the wall-clock limit below is the main one.
        cpu_s = max_runtime_s * max(cpus, 1) + 5
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
    if memory_mb:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _count_processes(uid: int) -> int:
    n = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                n += entry.stat().st_uid == uid
    return n


def _nproc(box: dict[str, object]) -> int:
    """The RLIMIT_NPROC of a sandboxed job: counted per real uid, so for a job of its own host
    uid it is the job's budget (plus bwrap and its init); as the platform's uid it must leave
    room for the processes that uid already runs."""
    budget = int(str(box.get("max_processes") or 256))
    if box.get("uid") is not None:
        return budget + 2
    return _count_processes(os.getuid()) + budget + 2


def _epoch(text: str) -> float | None:
    """Read a container runtime's timestamp; None for its zero time (never started)."""
    m = _TIME.search(text)
    if m is None or m.group(1).startswith("0001-"):
        return None
    day, clock, frac, tz = m.groups()
    moment = datetime.fromisoformat(f"{day}T{clock}")
    offset = timedelta(0)
    if tz and tz != "Z":
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        offset = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    moment = moment.replace(tzinfo=timezone(offset))
    return moment.timestamp() + (int(frac[:6].ljust(6, "0")) / 1e6 if frac else 0.0)


def _container_end(container: dict[str, object]) -> tuple[float | None, float | None, int | None]:
    """Return the container's own start, end (None: still running) and exit code; remove it."""
    start = end = code = None
    try:
        out = subprocess.run(
            [str(a) for a in container["inspect"]],  # type: ignore[attr-defined]
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if out.returncode == 0 and out.stdout.count("|") >= 2:
            s, e, c = out.stdout.strip().split("|", 2)
            start, end = _epoch(s), _epoch(e)
            code = int(c) if c.strip().lstrip("-").isdigit() else None
    except (OSError, subprocess.TimeoutExpired):
        pass
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(
            [str(a) for a in container["rm"]],  # type: ignore[attr-defined]
            capture_output=True,
            timeout=60,
            check=False,
        )
    return start, end, code


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM the job's process group, SIGKILL what is left after a grace period."""
    try:
        os.killpg(child.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=GRACE_S)
    _kill_group_quiet(child.pid)


def run(job_dir: Path) -> int:
    """Run the job described in ``job_dir/job.json`` to its end; return the runner's exit code."""
    spec = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
    if not claim(job_dir, "run"):
        # a cancel claimed the job before it started and recorded its end, or another
        # supervisor (started again by a platform that saw none come up) runs it
        return 0
    write_json(job_dir / "runner.json", {"pid": os.getpid(), "tick": proc_start_tick(os.getpid())})
    if (job_dir / "cancel").exists():
        now = time.time()
        write_json(
            job_dir / "end.json",
            {
                "end": now,
                "start": None,
                "exit_code": None,
                "signal": None,
                "state": "cancelled",
                "reason": "cancelled before it started",
            },
        )
        return 0
    work = job_dir / "work"
    work.mkdir(exist_ok=True)
    box = spec.get("sandbox")  # a raw command isolated by bubblewrap (argv is bwrap's)
    uid = box.get("uid") if box else None
    if uid is not None:
        os.chown(work, uid, uid)
        work.chmod(0o700)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(work),
        "LANG": "C.UTF-8",
        "MINGYUE_JOB_ID": job_dir.name,
        "OMP_NUM_THREADS": str(spec.get("cpus", 1)),
    }
    env.update({str(k): str(v) for k, v in (spec.get("env") or {}).items()})
    cpus = int(spec.get("cpus", 1))
    memory_mb = spec.get("memory_mb")
    max_runtime_s = spec.get("max_runtime_s")
    container = spec.get("container")
    argv = (
        [str(a) for a in spec["argv"]] if spec.get("argv") else ["/bin/sh", "-c", spec["command"]]
    )
    nproc = _nproc(box) if box else None
    with (job_dir / "stdout.log").open("wb") as out, (job_dir / "stderr.log").open("wb") as err:
        start = time.time()
        child = subprocess.Popen(
            argv,
            cwd=work,
            # bwrap gets no environment of ours: its init's /proc/1/environ is readable inside
            env={"PATH": "/usr/bin:/bin"} if box else env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            user=uid,
            group=uid,
            extra_groups=[] if uid is not None else None,
            # a container gets its limits from the runtime (--cpus/--memory); an address-space
            # limit on the runtime's own client would only break the client
            preexec_fn=None
            if container
            else lambda: _limits(cpus, memory_mb, max_runtime_s, nproc),
        )
    write_json(
        job_dir / "started.json",
        {"pid": child.pid, "tick": proc_start_tick(child.pid), "start": start},
    )
    if (job_dir / "cancel").exists() and not container:
        # a cancel that came after the claim but before started.json could not signal the job
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
    timed_out = False
    try:
        child.wait(timeout=max_runtime_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(child)
        child.wait()
    end = time.time()
    # Children the job left behind die with it.
    _kill_group_quiet(child.pid)
    code = child.returncode
    # a container stopped by a cancel may leave its client with exit 0 (e.g. stopped before it
    # started): it is cancelled unless it had ended cleanly before the request
    box_cancelled = False
    if container:
        c_start, c_end, c_code = _container_end(container)
        asked = job_dir / "cancel"
        box_cancelled = asked.exists() and not (
            c_end is not None and c_code == 0 and c_end <= asked.stat().st_mtime
        )
        if c_start is not None and c_end is not None and c_end >= c_start:
            start, end = c_start, c_end
            if c_code is not None and code in (0, c_code):
                code = c_code
        elif c_start is not None and c_end is None and code == 0:
            code = 137  # the runtime's client left while the container ran; rm --force killed it
    sig = -code if code < 0 else None
    if box and 128 < code <= 128 + 64:
        # bwrap reports a command killed by a signal as 128 + the signal, like a shell
        sig, code = code - 128, -(code - 128)
    if (job_dir / "cancel").exists() and (sig is not None or code != 0 or box_cancelled):
        state, reason = "cancelled", "cancelled by request"
    elif timed_out:
        state, reason = "failed", f"time limit reached ({max_runtime_s} s)"
    elif sig == signal.SIGXCPU:
        state, reason = "failed", "CPU time limit reached (SIGXCPU)"
    elif sig is not None:
        state, reason = "failed", f"killed by signal {_signame(sig)}"
    elif container and code == 125:
        state, reason = "failed", "the container runtime could not run it (exit code 125)"
    elif code != 0:
        state, reason = "failed", f"exit code {code}"
    else:
        state, reason = "succeeded", None
    write_json(
        job_dir / "end.json",
        {
            "end": end,
            "start": start,
            "exit_code": code if code >= 0 else None,
            "signal": sig,
            "state": state,
            "reason": reason,
        },
    )
    return 0


def _signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)


def _kill_group_quiet(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
