"""Supervise one local job: start it under resource limits, record pid/start/end in its job dir.

Run as ``python -I local_runner.py JOBDIR`` (standard library only, so it starts fast and does
not import the platform). The runner outlives the platform process: every fact it learns goes to
a file in JOBDIR, written atomically, so a restarted platform reads the same truth.

Files: ``job.json`` (input: command, env, cpus, memory_mb, max_runtime_s), ``runner.json``
(runner pid), ``started.json`` (job pid = process group, its /proc start tick, start time),
``end.json`` (end time, exit code, signal, state, reason), ``cancel`` (a request to stop),
``stdout.log``, ``stderr.log``.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

GRACE_S = 3.0


def write_json(path: Path, data: dict[str, object]) -> None:
    """Write JSON atomically (temp file, fsync, rename)."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def proc_start_tick(pid: int) -> int | None:
    """Return a process's start time in clock ticks since boot (tells a reused pid apart)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _limits(cpus: int, memory_mb: int | None, max_runtime_s: int | None) -> None:
    # Runs in the child between fork and exec: plain calls only.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if max_runtime_s:
        # CPU-time backstop: the wall-clock limit below is the main one.
        cpu_s = max_runtime_s * max(cpus, 1) + 5
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
    if memory_mb:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM the job's process group, SIGKILL what is left after a grace period."""
    try:
        os.killpg(child.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        child.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    _kill_group_quiet(child.pid)


def run(job_dir: Path) -> int:
    """Run the job described in ``job_dir/job.json`` to its end; return the runner's exit code."""
    spec = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
    write_json(job_dir / "runner.json", {"pid": os.getpid(), "tick": proc_start_tick(os.getpid())})
    if (job_dir / "cancel").exists():
        now = time.time()
        write_json(job_dir / "end.json", {"end": now, "start": None, "exit_code": None,
                                          "signal": None, "state": "cancelled",
                                          "reason": "cancelled before it started"})
        return 0
    work = job_dir / "work"
    work.mkdir(exist_ok=True)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(work), "LANG": "C.UTF-8",
           "MINGYUE_JOB_ID": job_dir.name, "OMP_NUM_THREADS": str(spec.get("cpus", 1))}
    env.update({str(k): str(v) for k, v in (spec.get("env") or {}).items()})
    cpus = int(spec.get("cpus", 1))
    memory_mb = spec.get("memory_mb")
    max_runtime_s = spec.get("max_runtime_s")
    with (job_dir / "stdout.log").open("wb") as out, (job_dir / "stderr.log").open("wb") as err:
        start = time.time()
        child = subprocess.Popen(
            ["/bin/sh", "-c", spec["command"]],
            cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            start_new_session=True,
            preexec_fn=lambda: _limits(cpus, memory_mb, max_runtime_s),
        )
    write_json(job_dir / "started.json",
               {"pid": child.pid, "tick": proc_start_tick(child.pid), "start": start})
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
    sig = -code if code < 0 else None
    if (job_dir / "cancel").exists() and (sig is not None or code != 0):
        state, reason = "cancelled", "cancelled by request"
    elif timed_out:
        state, reason = "failed", f"time limit reached ({max_runtime_s} s)"
    elif sig == signal.SIGXCPU:
        state, reason = "failed", "CPU time limit reached (SIGXCPU)"
    elif sig is not None:
        state, reason = "failed", f"killed by signal {signal.Signals(sig).name}"
    elif code != 0:
        state, reason = "failed", f"exit code {code}"
    else:
        state, reason = "succeeded", None
    write_json(job_dir / "end.json", {"end": end, "start": start,
                                      "exit_code": code if code >= 0 else None,
                                      "signal": sig, "state": state, "reason": reason})
    return 0


def _kill_group_quiet(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
