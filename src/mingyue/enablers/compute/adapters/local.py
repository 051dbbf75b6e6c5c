"""Local backend: each job runs on this machine under a supervisor process with resource limits.

The embedded default: no server. Each job gets ``ROOT/<job_id>/``; the supervisor
(``local_runner.py``) records pid, start and end there, so the platform can restart and still
know every job. Jobs start at once (the local pool does not queue); ``capacity()`` reports the
CPUs in use so the matcher sends work elsewhere when this machine is busy.

A raw command runs isolated by bubblewrap (``sandbox.py``): its own namespaces, an unprivileged
uid, nothing of the data directory but its own work dir. A pool whose host cannot (bwrap missing,
or its self-test fails) refuses raw commands of tenants (403 ``compute.local_unisolated``) and
runs only the platform operator's.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mingyue.enablers.compute.engine.spec import JobSpec
from mingyue.enablers.compute.engine.states import Capacity, EngineStatus, JobState, Usage
from mingyue.sdk.errors import Conflict, Forbidden, InvalidInput

from . import sandbox
from .base import JobOwner, finished_error
from .container import RUNTIMES, ContainerRuntime, detect
from .local_runner import claim, proc_start_tick, write_json
from .slots import PREFIX, SlotStore, is_reservation, slot_cancel, slot_status, slot_usage

RUNNER = Path(__file__).with_name("local_runner.py")
# a job dir no supervisor claimed this long after it was written gets a supervisor again (once);
# a supervisor that has not claimed its job this long after it was started has failed
REVIVE_AFTER_S = 10.0
START_TIMEOUT_S = 30.0
_STATES = {
    "succeeded": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "cancelled": JobState.CANCELLED,
}


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None  # being written; the rename makes this rare


def _alive(pid: int | None, tick: int | None) -> bool:
    """Say whether the recorded process still runs (same pid AND same start tick, not a zombie)."""
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return False
    return tick is None or int(fields[19]) == tick


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value is not None else None


def billed_seconds(start: float, end: float) -> int:
    """Whole seconds for [start, end): a started second counts (at least one)."""
    return max(1, math.ceil(round(end - start, 3)))


class LocalAdapter:
    """Run jobs as supervised subprocesses on this machine."""

    kind = "local"

    def __init__(
        self,
        root: str | Path,
        *,
        cpus: int | None = None,
        python: str = sys.executable,
        containers: tuple[str, ...] | None = RUNTIMES,
        bwrap: str | None = None,
        network: bool = False,
        max_processes: int = sandbox.DEFAULT_MAX_PROCESSES,
        ro_paths: tuple[str, ...] = (),
        hide: tuple[str, ...] = (),
        sandbox_dir: str = sandbox.DEFAULT_SANDBOX_DIR,
    ) -> None:
        self.root = Path(root)
        # bubblewrap's path (None: the one on the PATH); what isolated jobs may have
        self.bwrap = bwrap
        self.network = network
        self.max_processes = max_processes
        self.ro_paths = ro_paths
        self.hide = (*hide, str(self.root.resolve()))
        self.sandbox_dir = Path(sandbox_dir)
        # container runtimes to look for (None: image jobs are off for this pool)
        self.containers = containers
        self.root.mkdir(parents=True, exist_ok=True)
        self.cpus = cpus or os.cpu_count() or 1
        self.python = python
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        # Interactive reservations: capacity held for a slot (a dot dir is never a job id).
        self.slots = SlotStore(self.root / ".reservations")

    def _dir(self, engine_id: str) -> Path:
        if not engine_id or "/" in engine_id or engine_id.startswith("."):
            raise InvalidInput(
                "compute.job_id_invalid", f"bad job id {engine_id!r}", field="job_id"
            )
        return self.root / engine_id

    def isolation(self) -> tuple[bool, str]:
        """Say whether raw commands run isolated here, and how (or why not); cached a while."""
        found, how = self._probe()
        return found is not None, how

    def _portal(self) -> Path | None:
        """Where job work dirs live when not in the job dir (see ``sandbox.portal``)."""
        if not sandbox.runs_as_root() or sandbox.searchable(self.root / "x"):
            return None
        return sandbox.portal(self.sandbox_dir, self.root)

    def _probe(self) -> tuple[str | None, str]:
        try:
            where = self._portal() or self.root
        except OSError as exc:
            return None, f"no place for job work dirs: {exc}"
        return sandbox.probe(where / ".sandbox-probe", self.bwrap)

    def _sandbox(self, spec: JobSpec, owner: JobOwner | None) -> sandbox.Sandbox | None:
        """Return the sandbox a raw command runs in (None: the operator's, on a host without)."""
        found, how = self._probe()
        if found is None:
            if owner is not None and not owner.operator:
                raise Forbidden(
                    "compute.local_unisolated",
                    f"this pool cannot isolate job code ({how}); it runs commands of the "
                    "platform operator only",
                    reason=how,
                )
            return None
        if spec.network and not self.network:
            raise InvalidInput(
                "compute.local_no_network",
                "this pool gives jobs no network (pool option network=allow)",
                field="network",
            )
        return sandbox.Sandbox(
            found,
            network=self.network,
            max_processes=self.max_processes,
            ro_paths=self.ro_paths,
            hide=self.hide,
        )

    def _sandbox_job(
        self, job_id: str, job_dir: Path, spec: JobSpec, box: sandbox.Sandbox
    ) -> dict[str, Any]:
        where = self._portal()
        if where is None:
            outside = job_dir.resolve()
        else:  # the work dir lives in the portal; the job dir links to it
            outside = where / job_id
            if outside.exists():  # left by a job dir removed by hand: none of it is this job's
                shutil.rmtree(outside)
            outside.mkdir(mode=0o711)
            (outside / "work").mkdir()
            (job_dir / "work").symlink_to(outside / "work")
        sandbox.write_etc(outside / "etc")
        return {
            "argv": box.argv(
                command=spec.command or "",
                env=sandbox.job_env(job_id, spec.cpus, spec.env),
                network=spec.network,
                work=outside / "work",
                etc=outside / "etc",
            ),
            "sandbox": {
                "uid": sandbox.host_uid(str(job_dir.resolve())) if sandbox.runs_as_root() else None,
                "max_processes": box.max_processes,
            },
        }

    def submit(self, job_id: str, spec: JobSpec, owner: JobOwner | None = None) -> str:
        """Start the job under its supervisor; return its id (the job dir's name).

        A raw command runs in the sandbox; where there is none, only for the operator (or the
        platform itself: ``owner`` None).
        """
        if spec.reservation is not None:
            r = spec.reservation
            self.slots.create(
                job_id,
                r.start,
                r.start + timedelta(seconds=r.duration_s),
                spec.cpus,
                f"{spec.cpus} CPUs held for you on this pool's host",
            )
            return PREFIX + job_id
        runtime = None
        if spec.image is not None:
            runtime, why = detect(self.containers) if self.containers else (None, "")
            if runtime is None:
                raise InvalidInput(
                    "compute.local_no_image",
                    f"this pool runs no container images: {why or 'turned off'}",
                    field="image",
                )
        box = self._sandbox(spec, owner) if spec.image is None else None
        job_dir = self._dir(job_id)
        try:
            job_dir.mkdir()
        except FileExistsError:
            raise Conflict(
                "compute.job_exists", f"job {job_id} already exists", job_id=job_id
            ) from None
        write_json(
            job_dir / "job.json",
            {
                "command": spec.command,
                "env": dict(spec.env),
                "cpus": spec.cpus,
                "memory_mb": spec.memory_mb,
                "max_runtime_s": spec.max_runtime_s,
                "submitted": time.time(),
                **self._container_job(job_id, spec, runtime),
                **(self._sandbox_job(job_id, job_dir, spec, box) if box is not None else {}),
            },
        )
        self._start_supervisor(job_id, job_dir)
        return job_id

    def _start_supervisor(self, job_id: str, job_dir: Path) -> None:
        with (job_dir / "runner.log").open("ab") as log:
            proc = subprocess.Popen(
                [self.python, "-I", str(RUNNER), str(job_dir)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        self._children[job_id] = proc
        # The supervisor is our child until it ends: a daemon thread reaps it (no zombie, and
        # no Popen left to warn when the adapter goes away while the job still runs).
        threading.Thread(
            target=self._wait_child,
            args=(job_id, proc),
            daemon=True,
            name=f"compute-local-{job_id}",
        ).start()

    def _revive(self, engine_id: str, job_dir: Path) -> float:
        """Start the supervisor of a job none ever claimed, once; return when that was asked.

        A platform killed right after it started a job's supervisor (or a supervisor killed
        before it claimed the job) leaves a job dir that nothing will run. The first platform
        process that sees it unclaimed for ``REVIVE_AFTER_S`` starts a supervisor again; the
        exclusive ``revived`` file keeps that to one, and the claim keeps the job to one run
        even when the first supervisor was only slow.
        """
        marker = job_dir / "revived"
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return marker.stat().st_mtime
        os.close(fd)
        self._start_supervisor(engine_id, job_dir)
        return time.time()

    def _container_job(
        self, job_id: str, spec: JobSpec, runtime: ContainerRuntime | None
    ) -> dict[str, Any]:
        if runtime is None or spec.image is None:
            return {}
        # container names are host-wide: two pools (or platforms) on one host must not collide
        where = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:10]
        name = f"mingyue-{where}-{job_id}"
        env = {**spec.env, "MINGYUE_JOB_ID": job_id}
        return {
            "image": spec.image,
            "runtime": runtime.name,
            "argv": runtime.run_argv(
                container=name,
                image=spec.image,
                command=spec.command,
                cpus=spec.cpus,
                memory_mb=spec.memory_mb,
                network=spec.network,
                env=env,
            ),
            "container": {
                "name": name,
                "inspect": runtime.inspect_argv(name),
                "stop": runtime.stop_argv(name),
                "rm": runtime.rm_argv(name),
            },
        }

    def _wait_child(self, job_id: str, proc: subprocess.Popen[bytes]) -> None:
        proc.wait()
        self._children.pop(job_id, None)

    def status(self, engine_id: str) -> EngineStatus | None:
        """Read the job's state from its files and processes."""
        if is_reservation(engine_id):
            return slot_status(self.slots, engine_id)
        job_dir = self._dir(engine_id)
        if not (job_dir / "job.json").exists():
            return None
        end = _read(job_dir / "end.json")
        started = _read(job_dir / "started.json")
        if end is not None:
            start = end.get("start")
            seconds = billed_seconds(start, end["end"]) if start is not None else 0
            return EngineStatus(
                _STATES[end["state"]],
                end.get("reason"),
                _ts(start),
                _ts(end["end"]),
                end.get("exit_code"),
                seconds,
                self._tres(job_dir),
            )
        if started is not None:
            if _alive(started["pid"], started.get("tick")) or self._runner_alive(job_dir):
                return EngineStatus(JobState.RUNNING, started_at=_ts(started["start"]))
            return EngineStatus(
                JobState.FAILED,
                "the supervisor and the job exited without recording an end (host restart?)",
                _ts(started["start"]),
            )
        if self._runner_alive(job_dir) or engine_id in self._children:
            return EngineStatus(JobState.QUEUED)
        try:
            claimed: str | None = (job_dir / "claim").read_text(encoding="utf-8")
            claimed_at = (job_dir / "claim").stat().st_mtime
        except FileNotFoundError:
            claimed, claimed_at = None, 0.0
        if claimed is not None and (claimed != "run" or _read(job_dir / "runner.json") is None):
            # a cancel writes end.json right after its claim, a supervisor runner.json
            if time.time() - claimed_at < START_TIMEOUT_S:
                return EngineStatus(JobState.QUEUED)
        elif claimed is None:  # no supervisor has come up for it (yet)
            asked = (job_dir / "job.json").stat().st_mtime
            if time.time() - asked >= REVIVE_AFTER_S:
                asked = self._revive(engine_id, job_dir)
            if time.time() - asked < START_TIMEOUT_S:
                return EngineStatus(JobState.QUEUED)  # the supervisor is still starting
            return EngineStatus(
                JobState.FAILED,
                "the supervisor did not start the job "
                "(started twice): " + self._runner_log(job_dir),
            )
        return EngineStatus(
            JobState.FAILED,
            "the supervisor exited before it started the job: " + self._runner_log(job_dir),
        )

    def statuses(self, engine_ids: Sequence[str]) -> dict[str, EngineStatus | None]:
        """Read each job's files (no process to start: one status per job is the batch)."""
        return {e: self.status(e) for e in engine_ids}

    def find(self, job_id: str) -> str | None:
        """Return the job's id when its job dir (or slot record) was written, else None."""
        if self.slots.get(job_id) is not None:
            return PREFIX + job_id
        # job.json is written before the supervisor starts: without it nothing ran
        return job_id if (self._dir(job_id) / "job.json").exists() else None

    def _runner_alive(self, job_dir: Path) -> bool:
        runner = _read(job_dir / "runner.json")
        return runner is not None and _alive(runner.get("pid"), runner.get("tick"))

    def _runner_log(self, job_dir: Path) -> str:
        try:
            return (job_dir / "runner.log").read_text(errors="replace")[-500:].strip() or "no log"
        except OSError:
            return "no log"

    def _tres(self, job_dir: Path) -> dict[str, str]:
        spec = _read(job_dir / "job.json") or {}
        tres = {"cpu": str(spec.get("cpus", 1))}
        if spec.get("memory_mb"):
            tres["mem"] = f"{spec['memory_mb']}M"
        return tres

    def cancel(self, engine_id: str, *, wait_s: float = 5.0) -> EngineStatus:
        """Ask the job to stop (SIGTERM to its process group, SIGKILL after a grace period)."""
        if is_reservation(engine_id):
            return slot_cancel(self.slots, engine_id)
        st = self.status(engine_id)
        if st is None:
            raise InvalidInput("compute.job_unknown", f"no local job {engine_id}", field="job_id")
        if st.state.terminal:
            raise finished_error(engine_id, st.state.value)
        job_dir = self._dir(engine_id)
        (job_dir / "cancel").touch()
        if not (job_dir / "started.json").exists() and claim(job_dir, "cancel"):
            # the supervisor has not started the command and now never will
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
            return self.status(engine_id) or EngineStatus(
                JobState.CANCELLED, "cancelled before it started"
            )
        box = (_read(job_dir / "job.json") or {}).get("container")
        if box:
            # the runtime stops its container (its client may not pass our signal on); the
            # supervisor then records the container's own end and removes it
            subprocess.run(
                [str(a) for a in box["stop"]], capture_output=True, timeout=60, check=False
            )
        started = None
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if started is None:  # the supervisor claimed the job: signal it once it started
                started = _read(job_dir / "started.json")
                if started is not None and _alive(started["pid"], started.get("tick")):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(started["pid"], signal.SIGTERM)
            st = self.status(engine_id)
            if st is not None and st.state.terminal:
                return st
            time.sleep(0.05)
        if started is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(started["pid"], signal.SIGKILL)
        return self.status(engine_id) or EngineStatus(JobState.CANCELLED, "cancelled by request")

    def logs(self, engine_id: str, tail_bytes: int = 65536) -> str:
        """Return the end of stdout, then stderr when there is any."""
        if is_reservation(engine_id):
            return ""  # a reservation holds capacity; it has no output of its own
        job_dir = self._dir(engine_id)
        if not (job_dir / "job.json").exists():
            raise InvalidInput("compute.job_unknown", f"no local job {engine_id}", field="job_id")
        parts = []
        for name in ("stdout.log", "stderr.log"):
            path = job_dir / name
            if not path.exists():
                continue
            with path.open("rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(max(size - tail_bytes, 0))
                text = fh.read().decode("utf-8", errors="replace")
            if name == "stderr.log" and text:
                text = "--- stderr ---\n" + text
            parts.append(text)
        return "".join(parts)

    def usage(self, engine_id: str) -> Usage | None:
        """Return seconds from the supervisor's records and the CPUs/memory it granted."""
        if is_reservation(engine_id):
            return slot_usage(self.slots, engine_id)
        job_dir = self._dir(engine_id)
        spec = _read(job_dir / "job.json")
        started = _read(job_dir / "started.json")
        if spec is None or started is None:
            return None
        end = _read(job_dir / "end.json")
        end_t = end["end"] if end else time.time()
        # a container job's end record holds the container's own start
        start_t = end["start"] if end and end.get("start") is not None else started["start"]
        return Usage(
            seconds=billed_seconds(start_t, end_t),
            started_at=_ts(start_t),
            ended_at=_ts(end["end"]) if end else None,
            cpus=int(spec.get("cpus", 1)),
            memory_mb=int(spec.get("memory_mb") or 0),
            tres=self._tres(job_dir),
            source="local supervisor records",
        )

    def capacity(self) -> Capacity:
        """Count CPUs held by jobs that have not ended."""
        used = 0
        running = 0
        for job_dir in self.root.iterdir():
            if not job_dir.is_dir() or (job_dir / "end.json").exists():
                continue
            spec = _read(job_dir / "job.json")
            if spec is None:
                continue
            started = _read(job_dir / "started.json")
            if started is not None and _alive(started["pid"], started.get("tick")):
                used += int(spec.get("cpus", 1))
                running += 1
        runtime = detect(self.containers)[0] if self.containers else None
        isolated, how = self.isolation()
        return Capacity(
            cpus=self.cpus,
            free_cpus=max(self.cpus - used, 0),
            running=running,
            container_runtime=runtime.name if runtime else None,
            isolated=isolated,
            isolation=how,
        )


__all__ = ["LocalAdapter", "billed_seconds", "proc_start_tick"]
