"""Slurm backend: drive a real Slurm through its command line (pyslurm needs Slurm 25.11).

- submit: ``sbatch --parsable`` with the batch script on stdin (the platform's own environment
  is not exported; only the spec's ``env``); a ``reservation:`` spec creates a real Slurm
  reservation (``scontrol create reservation``, see ``slurm_reservation.py``);
- status: ``scontrol show job -o ID`` while the controller knows the job; a finished job's state,
  start, end, elapsed seconds and allocated TRES come from Slurm's accounting: ``sacct`` when the
  cluster runs slurmdbd (``AccountingStorageType=accounting_storage/slurmdbd`` in
  ``scontrol show config``), else the ``jobcomp/filetxt`` record (the fallback for a cluster
  without slurmdbd); neither → the engine no longer knows it; the reconciler's batch status
  (``statuses``): one ``squeue -j id1,id2,…`` plus one ``sacct -j …`` per pass;
- find: ``squeue --name=mingyue-<id>`` / ``sacct --name`` (a dispatch cut short by a crash);
- cancel: ``scancel``; usage: ``sacct`` ElapsedRaw, Start/End and AllocTRES (cpu/mem/gres/gpu);
- capacity: ``sinfo`` (CPUs allocated/idle per node, GRES) and ``squeue`` (pending/running).
"""

from __future__ import annotations

import math
import os
import re
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from mingyue.enablers.compute.engine.spec import JobSpec
from mingyue.enablers.compute.engine.states import Capacity, EngineStatus, JobState, Usage
from mingyue.sdk.errors import InvalidInput

from . import slurm_reservation
from .base import EngineUnavailable, JobOwner, finished_error
from .slots import SlotStore, is_reservation
from .slurm_cli import parse_kv_line, parse_slurm_time

_RUNNING = {
    "RUNNING",
    "CONFIGURING",
    "COMPLETING",
    "SUSPENDED",
    "STAGE_OUT",
    "SIGNALING",
    "RESIZING",
}
_QUEUED = {"PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD", "SPECIAL_EXIT"}
_FAILED = {
    "FAILED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
    "REVOKED",
}
_UNREACHABLE = (
    "Unable to contact slurm controller",
    "Connection refused",
    "Socket timed out",
    "Zero Bytes were transmitted",
    "Communication connection",
)
# sacct columns read, renamed to scontrol's keys so one parser serves both records.
SACCT_FIELDS = (
    "JobID",
    "JobName",
    "State",
    "Start",
    "End",
    "ElapsedRaw",
    "AllocTRES",
    "ExitCode",
    "Reason",
)
_SACCT_KEYS = {
    "JobID": "JobId",
    "JobName": "Name",
    "State": "JobState",
    "Start": "StartTime",
    "End": "EndTime",
    "AllocTRES": "TRES",
}
# How long a job that scontrol reports ended may wait for its sacct record before the
# scontrol record is used instead (slurmctld sends it to slurmdbd within a second normally).
ACCT_GRACE_S = 60


def parse_tres(value: str | None) -> dict[str, str]:
    """Split ``cpu=1,mem=1000M,node=1,gres/gpu:a100=2`` into a mapping."""
    out: dict[str, str] = {}
    for part in (value or "").split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k] = v
    return out


def _mem_mb(value: str | None) -> int:
    if not value:
        return 0
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)", value)
    if not m:
        return 0
    factor = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 * 1024}[m.group(2)]
    return int(float(m.group(1)) * factor)


def _gpus(tres: Mapping[str, str]) -> int:
    return sum(int(v) for k, v in tres.items() if k == "gres/gpu" and v.isdigit())


def parse_sacct(text: str) -> dict[str, str] | None:
    """Read ``sacct -P -X -n -o SACCT_FIELDS`` output: the last line (a requeued job ends
    twice), with scontrol's key names."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return None
    values = lines[-1].split("|")
    if len(values) < len(SACCT_FIELDS):
        return None
    rec = {_SACCT_KEYS.get(k, k): v for k, v in zip(SACCT_FIELDS, values, strict=False)}
    if not rec.get("TRES"):
        rec["StartTime"] = "None"  # nothing was allocated: cancelled while pending, never ran
    return rec


def _state(job_state: str, reason: str | None, exit_code: str | None) -> EngineStatus:
    base = job_state.split()[0].rstrip("+")
    code = None
    sig = None
    if exit_code and ":" in exit_code:
        c, s = exit_code.split(":", 1)
        code = int(c) if c.isdigit() else None
        sig = int(s) if s.isdigit() else None
    if base in _RUNNING:
        return EngineStatus(JobState.RUNNING)
    if base in _QUEUED:
        why = reason if reason and reason != "None" else None
        return EngineStatus(JobState.QUEUED, why)
    if base == "COMPLETED":
        return EngineStatus(JobState.SUCCEEDED, exit_code=code)
    if base == "CANCELLED":
        return EngineStatus(JobState.CANCELLED, f"Slurm: {job_state}", exit_code=code)
    if base in _FAILED:
        detail = base
        if base == "FAILED" and sig:
            detail = f"FAILED (signal {sig})"
        elif base == "FAILED" and code:
            detail = f"FAILED (exit code {code})"
        if reason and reason not in {"None", "NonZeroExitCode"}:
            detail += f", {reason}"
        return EngineStatus(JobState.FAILED, f"Slurm: {detail}", exit_code=code)
    return EngineStatus(JobState.FAILED, f"Slurm: unexpected state {job_state}", exit_code=code)


class SlurmAdapter:
    """Submit to and read from one Slurm cluster through its CLI on this host."""

    kind = "slurm"

    def __init__(
        self,
        *,
        slurm_conf: str | Path | None = None,
        partition: str | None = None,
        log_dir: str | Path,
        jobcomp_file: str | Path | None = None,
        account: str | None = None,
        extra_sbatch: Sequence[str] = (),
        timeout_s: float = 15.0,
        reservation_users: str | None = None,
    ) -> None:
        self.env = dict(os.environ)
        if slurm_conf is not None:
            self.env["SLURM_CONF"] = str(slurm_conf)
        self.partition = partition
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.jobcomp_file = Path(jobcomp_file) if jobcomp_file else None
        self.account = account
        self.extra_sbatch = list(extra_sbatch)
        self.timeout_s = timeout_s
        self.reservation_users = reservation_users
        self.slots = SlotStore(self.log_dir / ".reservations")
        self._accounting: str | None = None

    def _run(self, args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        try:
            out = subprocess.run(
                args,
                input=stdin,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
            )
        except FileNotFoundError as exc:
            raise EngineUnavailable(
                "compute.engine_down", f"{args[0]} is not installed", engine="slurm"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise EngineUnavailable(
                "compute.engine_down",
                f"{args[0]} did not answer in {self.timeout_s:.0f} s",
                engine="slurm",
            ) from exc
        if out.returncode != 0 and any(s in out.stderr for s in _UNREACHABLE):
            raise EngineUnavailable(
                "compute.engine_down",
                f"Slurm controller unreachable: {out.stderr.strip()[:300]}",
                engine="slurm",
            )
        return out

    def batch_script(self, job_id: str, spec: JobSpec) -> str:
        """Return the batch script for a spec (environment set explicitly, then the command)."""
        # --export=NONE keeps the platform's own environment (and secrets) out of the job.
        lines = [
            "#!/bin/sh",
            f"# mingyue compute job {job_id}",
            "export PATH=/usr/local/bin:/usr/bin:/bin",
        ]
        for k, v in spec.env.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
                raise InvalidInput(
                    "compute.env_invalid", f"env: bad variable name {k!r}", field="env"
                )
            lines.append(f"export {k}={shlex.quote(v)}")
        lines.append(f"export MINGYUE_JOB_ID={shlex.quote(job_id)}")
        lines.append(str(spec.command))
        return "\n".join(lines) + "\n"

    def sbatch_args(self, job_id: str, spec: JobSpec, run_as: str | None = None) -> list[str]:
        """Return the ``sbatch`` command line for a spec (``run_as``: ``--uid``, root only)."""
        args = [
            "sbatch",
            "--parsable",
            f"--job-name=mingyue-{job_id}",
            f"--cpus-per-task={spec.cpus}",
            "--ntasks=1",
            "--export=NONE",
            f"--output={self.log_dir / f'{job_id}.out'}",
            f"--error={self.log_dir / f'{job_id}.err'}",
        ]
        if self.partition:
            args.append(f"--partition={self.partition}")
        if self.account:
            args.append(f"--account={self.account}")
        if spec.memory_mb:
            args.append(f"--mem={spec.memory_mb}M")
        if spec.max_runtime_s:
            # Slurm limits are whole minutes; round up so the job gets at least what it asked.
            args.append(f"--time={math.ceil(spec.max_runtime_s / 60)}")
        if spec.gpus.count:
            model = f"{spec.gpus.model.lower()}:" if spec.gpus.model else ""
            args.append(f"--gres=gpu:{model}{spec.gpus.count}")
        if spec.priority < 5:
            args.append(f"--nice={(5 - spec.priority) * 1000}")
        if run_as:
            # the tenant's own cluster account: sbatch accepts --uid from root (or SlurmUser)
            args.append(f"--uid={run_as}")
        return args + self.extra_sbatch

    def submit(self, job_id: str, spec: JobSpec, owner: JobOwner | None = None) -> str:
        """Submit with ``sbatch --parsable`` (script on stdin); return the Slurm job id.

        With an ``owner`` mapped to a cluster account, the job runs as that user (``--uid``).
        """
        if spec.reservation is not None:
            return slurm_reservation.reserve(self, self.slots, job_id, spec)
        if spec.image is not None:
            raise InvalidInput(
                "compute.slurm_no_image",
                "this Slurm pool runs commands, not container images",
                field="image",
            )
        run_as = owner.account if owner is not None else None
        out = self._run(
            self.sbatch_args(job_id, spec, run_as), stdin=self.batch_script(job_id, spec)
        )
        if out.returncode != 0:
            raise InvalidInput(
                "compute.slurm_rejected",
                f"Slurm refused the job: {out.stderr.strip()[:500]}",
                field="spec",
            )
        return out.stdout.strip().split(";")[0]

    def _show(self, engine_id: str) -> dict[str, str] | None:
        if not engine_id.isdigit():
            raise InvalidInput(
                "compute.job_id_invalid", f"bad Slurm job id {engine_id!r}", field="job_id"
            )
        out = self._run(["scontrol", "show", "job", "-o", engine_id])
        if out.returncode != 0:
            if "Invalid job id" in out.stderr:
                return None
            raise EngineUnavailable(
                "compute.engine_down",
                f"scontrol failed: {out.stderr.strip()[:300]}",
                engine="slurm",
            )
        line = out.stdout.strip().splitlines()
        return parse_kv_line(line[0]) if line else None

    def _jobcomp(self, engine_id: str) -> dict[str, str] | None:
        if self.jobcomp_file is None or not self.jobcomp_file.exists():
            return None
        found = None
        needle = f"JobId={engine_id} "
        with self.jobcomp_file.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith(needle):
                    found = line  # the last record wins (a requeued job ends twice)
        return parse_kv_line(found) if found else None

    def accounting(self) -> str:
        """Return the cluster's accounting storage (``accounting_storage/slurmdbd`` when
        ``sacct`` works), read once from ``scontrol show config``."""
        if self._accounting is None:
            out = self._run(["scontrol", "show", "config"])
            if out.returncode != 0:
                raise EngineUnavailable(
                    "compute.engine_down",
                    f"scontrol show config failed: {out.stderr.strip()[:300]}",
                    engine="slurm",
                )
            conf = dict(re.findall(r"^(\w+)\s*=\s*(\S*)", out.stdout, re.MULTILINE))
            if self.jobcomp_file is None and conf.get("JobCompType") == "jobcomp/filetxt":
                self.jobcomp_file = Path(conf.get("JobCompLoc", ""))
            self._accounting = conf.get("AccountingStorageType", "accounting_storage/none")
        return self._accounting

    @property
    def has_sacct(self) -> bool:
        """Say whether the cluster runs slurmdbd (so ``sacct`` holds every job's record)."""
        return self.accounting() == "accounting_storage/slurmdbd"

    def _sacct(self, engine_id: str) -> dict[str, str] | None:
        out = self._run(["sacct", "-P", "-X", "-n", "-j", engine_id, "-o", ",".join(SACCT_FIELDS)])
        if out.returncode != 0:
            raise EngineUnavailable(
                "compute.engine_down", f"sacct failed: {out.stderr.strip()[:300]}", engine="slurm"
            )
        return parse_sacct(out.stdout)

    def _record(self, engine_id: str) -> tuple[dict[str, str], str] | None:
        """Return the job's best record and its source: the accounting record once the job
        ended (sacct, or jobcomp/filetxt without slurmdbd), scontrol's while it is live."""
        rec = self._show(engine_id)
        live = (
            rec is not None
            and not _state(rec.get("JobState", "UNKNOWN"), None, None).state.terminal
        )
        if live:
            return rec, "scontrol"  # type: ignore[return-value]
        if self.has_sacct:
            acct = self._sacct(engine_id)
            if acct is not None and (
                rec is None or _state(acct.get("JobState", "UNKNOWN"), None, None).state.terminal
            ):
                return acct, "sacct"
            if rec is None:
                return None
            end = parse_slurm_time(rec.get("EndTime"))
            if end is not None and (datetime.now(UTC) - end).total_seconds() < ACCT_GRACE_S:
                # Ended, but its accounting record is not in slurmdbd yet: bill on a later
                # pass with sacct's seconds rather than now with scontrol's.
                return {
                    **rec,
                    "JobState": "COMPLETING",
                    "Reason": "waiting for the sacct record",
                }, "scontrol"
            return rec, "scontrol (no sacct record)"
        if rec is not None:
            return rec, "scontrol"
        comp = self._jobcomp(engine_id)
        if comp is not None:
            return comp, "jobcomp/filetxt"
        return None

    def status(self, engine_id: str) -> EngineStatus | None:
        """Return the job's state from scontrol, or the job completion record once purged."""
        if is_reservation(engine_id):
            return slurm_reservation.status(self, self.slots, engine_id)
        found = self._record(engine_id)
        return None if found is None else self._status_of(found[0])

    def statuses(self, engine_ids: Sequence[str]) -> dict[str, EngineStatus | None]:
        """Many jobs in two processes: one ``squeue -j id1,id2,…`` for the live ones, one
        ``sacct -j …`` for those that ended (with slurmdbd). A job neither answers for (ended
        without its sacct record yet, a cluster without slurmdbd, forgotten) and each
        reservation go through ``status`` one by one — once per job end, not every pass."""
        out: dict[str, EngineStatus | None] = {}
        ids = []
        for e in engine_ids:
            if is_reservation(e):
                out[e] = self.status(e)
            elif e.isdigit():
                ids.append(e)
            else:
                raise InvalidInput(
                    "compute.job_id_invalid", f"bad Slurm job id {e!r}", field="job_id"
                )
        if not ids:
            return out
        q = self._run(["squeue", "-h", "-t", "all", "-j", ",".join(ids), "-o", "%i|%T|%r|%S|%e"])
        if q.returncode != 0 and "Invalid job id" not in q.stderr:
            raise EngineUnavailable(
                "compute.engine_down", f"squeue failed: {q.stderr.strip()[:300]}", engine="slurm"
            )
        live: dict[str, dict[str, str]] = {}
        for line in q.stdout.splitlines() if q.returncode == 0 else ():
            parts = line.strip().split("|")
            if len(parts) == 5:
                live[parts[0]] = {
                    "JobId": parts[0],
                    "JobState": parts[1],
                    "Reason": parts[2],
                    "StartTime": parts[3],
                    "EndTime": parts[4],
                }
        ended = []
        for e in ids:
            rec = live.get(e)
            if rec is not None and not _state(rec["JobState"], None, None).state.terminal:
                out[e] = self._status_of(rec)
            else:
                ended.append(e)
        if ended and self.has_sacct:
            a = self._run(
                ["sacct", "-P", "-X", "-n", "-j", ",".join(ended), "-o", ",".join(SACCT_FIELDS)]
            )
            if a.returncode != 0:
                raise EngineUnavailable(
                    "compute.engine_down", f"sacct failed: {a.stderr.strip()[:300]}", engine="slurm"
                )
            lines: dict[str, list[str]] = {}
            for line in a.stdout.splitlines():
                lines.setdefault(line.split("|", 1)[0], []).append(line)
            for e in ended:
                acct = parse_sacct("\n".join(lines.get(e, ())))
                if (
                    acct is not None
                    and _state(acct.get("JobState", "UNKNOWN"), None, None).state.terminal
                ):
                    out[e] = self._status_of(acct)
        for e in ended:
            if e not in out:
                out[e] = self.status(e)
        return out

    def find(self, job_id: str) -> str | None:
        """Find the job (``--job-name=mingyue-<job_id>``) or reservation of that name:
        ``squeue --name``, then ``sacct --name`` (last 7 days) or the jobcomp file.

        squeue comes first because it knows every job of the last ``MinJobAge`` seconds at
        once: slurmdbd may hold a job that just ended as a nameless stand-in record
        ("allocation") for a few seconds, until slurmctld's start message reaches it."""
        name = f"mingyue-{job_id}"
        found = slurm_reservation.find(self, self.slots, name)
        if found is not None:
            return found
        q = self._run(["squeue", "-h", "-t", "all", f"--name={name}", "-o", "%i"])
        if q.returncode != 0:
            raise EngineUnavailable(
                "compute.engine_down", f"squeue failed: {q.stderr.strip()[:300]}", engine="slurm"
            )
        ids = q.stdout.split()
        if not ids and self.has_sacct:
            a = self._run(
                ["sacct", "-P", "-X", "-n", f"--name={name}", "-S", "now-7days", "-o", "JobID"]
            )
            if a.returncode != 0:
                raise EngineUnavailable(
                    "compute.engine_down", f"sacct failed: {a.stderr.strip()[:300]}", engine="slurm"
                )
            ids = a.stdout.split()
        elif not ids and self.jobcomp_file is not None and self.jobcomp_file.exists():
            with self.jobcomp_file.open(encoding="utf-8", errors="replace") as fh:
                ids = [
                    rec["JobId"]
                    for rec in map(parse_kv_line, fh)
                    if rec.get("Name") == name and "JobId" in rec
                ]
        return ids[-1] if ids else None

    def _status_of(self, rec: Mapping[str, str]) -> EngineStatus:
        base = _state(rec.get("JobState", "UNKNOWN"), rec.get("Reason"), rec.get("ExitCode"))
        start = parse_slurm_time(rec.get("StartTime"))
        end = parse_slurm_time(rec.get("EndTime"))
        seconds = None
        if base.state.terminal:
            seconds = self._seconds(start, end, rec.get("ElapsedRaw"))
        else:
            end = None
            if base.state is JobState.QUEUED:
                start = None
        tres = parse_tres(rec.get("TRES") or rec.get("Tres"))
        return EngineStatus(base.state, base.reason, start, end, base.exit_code, seconds, tres)

    @staticmethod
    def _seconds(start: datetime | None, end: datetime | None, elapsed: str | None = None) -> int:
        if elapsed is not None and elapsed.isdigit():
            return int(elapsed)  # sacct's ElapsedRaw: Slurm's own billed seconds
        if start is None or end is None:
            return 0  # cancelled while pending: it never ran
        return max(int((end - start).total_seconds()), 0)

    def cancel(self, engine_id: str) -> EngineStatus:
        """Cancel with ``scancel``; a finished job gets a clear message instead."""
        if is_reservation(engine_id):
            return slurm_reservation.cancel(self, self.slots, engine_id)
        st = self.status(engine_id)
        if st is None:
            raise InvalidInput(
                "compute.job_unknown", f"Slurm does not know job {engine_id}", field="job_id"
            )
        if st.state.terminal:
            raise finished_error(engine_id, st.state.value)
        out = self._run(["scancel", engine_id])
        if out.returncode != 0:
            raise InvalidInput(
                "compute.slurm_rejected",
                f"scancel failed: {out.stderr.strip()[:300]}",
                field="job_id",
            )
        return self.status(engine_id) or EngineStatus(JobState.CANCELLED, "Slurm: CANCELLED")

    def logs(self, engine_id: str, tail_bytes: int = 65536) -> str:
        """Return the end of the job's output files (readable when this host shares them)."""
        if is_reservation(engine_id):
            return ""  # a reservation has no output; the tenant's srun sessions have theirs
        rec = self._show(engine_id) or {}
        paths = [rec.get("StdOut"), rec.get("StdErr")]
        if not rec:
            name = self._job_name(engine_id)
            if name:
                paths = [str(self.log_dir / f"{name}.out"), str(self.log_dir / f"{name}.err")]
        parts: list[str] = []
        seen: set[str] = set()
        for i, p in enumerate(paths):
            if not p or p in seen:
                continue
            seen.add(p)
            path = Path(p)
            if not path.exists():
                parts.append(f"(log {p} is not readable from this host)\n")
                continue
            with path.open("rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(max(size - tail_bytes, 0))
                text = fh.read().decode("utf-8", errors="replace")
            if i == 1 and text:
                text = "--- stderr ---\n" + text
            parts.append(text)
        return "".join(parts)

    def _job_name(self, engine_id: str) -> str | None:
        comp = self._sacct(engine_id) if self.has_sacct else self._jobcomp(engine_id)
        name = comp.get("Name") if comp else None
        return name.removeprefix("mingyue-") if name else None

    def usage(self, engine_id: str) -> Usage | None:
        """Return seconds (sacct's ElapsedRaw, or start/end) and allocated TRES from Slurm's
        own accounting."""
        if is_reservation(engine_id):
            return slurm_reservation.usage(self.slots, engine_id)
        found = self._record(engine_id)
        if found is None:
            return None
        rec, source = found
        start = parse_slurm_time(rec.get("StartTime"))
        if start is None:
            return None
        end = parse_slurm_time(rec.get("EndTime"))
        base = _state(rec.get("JobState", "UNKNOWN"), None, None)
        if not base.state.terminal:
            end = None
            seconds = max(int((datetime.now(UTC) - start).total_seconds()), 0)
        else:
            seconds = self._seconds(start, end, rec.get("ElapsedRaw"))
        tres = parse_tres(rec.get("TRES") or rec.get("Tres"))
        return Usage(
            seconds=seconds,
            started_at=start,
            ended_at=end,
            cpus=int(tres.get("cpu", rec.get("NumCPUs", "1")) or 1),
            gpus=_gpus(tres),
            memory_mb=_mem_mb(tres.get("mem")),
            tres=tres,
            source=f"Slurm {source}",
        )

    def capacity(self) -> Capacity:
        """Read CPUs (allocated/idle/other/total), GRES and node states from ``sinfo``;
        pending/running counts from ``squeue``."""
        out = self._run(["sinfo", "-h", "-N", "-o", "%n|%C|%m|%G|%T"])
        if out.returncode != 0:
            raise EngineUnavailable(
                "compute.engine_down", f"sinfo failed: {out.stderr.strip()[:300]}", engine="slurm"
            )
        total = free = mem = 0
        gpus: dict[str, int] = {}
        nodes: dict[str, str] = {}
        for line in out.stdout.splitlines():
            name, cpus, memory, gres, state = line.split("|")[:5]
            if name in nodes:
                continue  # a node in two partitions is listed twice
            nodes[name] = state
            _alloc, idle, _other, tot = (int(x) for x in cpus.split("/"))
            total += tot
            usable = not any(s in state for s in ("down", "drain", "fail", "maint", "unk"))
            free += idle if usable else 0
            mem += int(memory) if memory.isdigit() else 0
            for g in gres.split(","):
                parts = g.split("(")[0].split(":")
                if parts[0] == "gpu" and len(parts) >= 2 and parts[-1].isdigit():
                    model = parts[1].upper() if len(parts) == 3 else "GPU"
                    gpus[model] = gpus.get(model, 0) + int(parts[-1])
        q = self._run(["squeue", "-h", "-o", "%T"])
        queued = running = 0
        if q.returncode == 0:
            for s in q.stdout.split():
                if s in _QUEUED:
                    queued += 1
                elif s in _RUNNING:
                    running += 1
        down = None
        if nodes and all(any(s in st for s in ("down", "drain", "fail")) for st in nodes.values()):
            down = "all nodes down or drained: " + ", ".join(f"{n} {s}" for n, s in nodes.items())
        return Capacity(
            cpus=total,
            free_cpus=free,
            gpus=gpus,
            memory_mb=mem or None,
            queued=queued,
            running=running,
            nodes=len(nodes),
            down_reason=down,
        )
