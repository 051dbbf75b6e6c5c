"""Job traces for the simulator: our CSV, and converters from public trace formats.

Our trace is a CSV with at least ``job_id,submit_time,duration_s,cpus,gpus,gpu_model,org``
(times in seconds; extra columns ignored). Converters read:

- Alibaba PAI GPU cluster trace 2020 (``pai_task_table.csv``: job_name, task_name, inst_num,
  status, start_time, end_time, plan_cpu, plan_mem, plan_gpu, gpu_type; plan_cpu and plan_gpu
  are percent of one CPU/GPU per instance) — https://github.com/alibaba/clusterdata
  (cluster-trace-gpu-v2020);
- Microsoft Philly trace (``cluster_job_log``: a JSON list of jobs with ``jobid``, ``vc``,
  ``submitted_time``, ``attempts[{start_time, end_time, detail[{ip, gpus[]}]}]``) —
  https://github.com/msr-fiddle/philly-traces.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mingyue.sdk.errors import InvalidInput

from .spec import known_gpu_models

REQUIRED_COLUMNS = ("job_id", "submit_time", "duration_s", "cpus", "gpus", "gpu_model", "org")
# PAI's gpu_type values mapped to our model names; MISC means "any older model".
PAI_GPU_TYPES = {"MISC": None, "P100": "P100", "T4": "T4", "V100": "V100", "V100M32": "V100"}


@dataclass(frozen=True, slots=True)
class TraceJob:
    """One job of a trace."""

    index: int
    job_id: str
    submit_time: float
    duration_s: int
    cpus: int
    gpus: int
    gpu_model: str | None
    org: str


def _bad(line: int, column: str, msg: str) -> InvalidInput:
    return InvalidInput(
        "compute.trace_invalid", f"line {line}, {column}: {msg}", field=column, line=line
    )


def read_trace_csv(path: str | Path) -> list[TraceJob]:
    """Read our trace CSV; raise InvalidInput naming the line and column of the first bad value."""
    p = Path(path)
    known = known_gpu_models()
    lower = {m.lower(): m for m in known}
    try:
        fh = p.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(
            "compute.trace_unreadable", f"cannot read {p}: {exc.strerror}", field="trace"
        ) from exc
    jobs: list[TraceJob] = []
    with fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise InvalidInput("compute.trace_invalid", f"{p} is empty", field="trace")
        cols = [h.strip() for h in header]
        missing = [c for c in REQUIRED_COLUMNS if c not in cols]
        if missing:
            raise InvalidInput(
                "compute.trace_invalid", f"missing columns: {', '.join(missing)}", field="trace"
            )
        ix = [cols.index(c) for c in REQUIRED_COLUMNS]
        width = max(ix) + 1
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) < width:
                raise _bad(line, "row", f"{len(row)} fields, expected at least {width}")
            job_id, submit, dur, cpus, gpus, model, org = (row[i].strip() for i in ix)
            try:
                submit_f = float(submit)
            except ValueError:
                raise _bad(line, "submit_time", f"not a number: {submit!r}") from None
            try:
                dur_i = math.ceil(float(dur))
            except ValueError:
                raise _bad(line, "duration_s", f"not a number: {dur!r}") from None
            try:
                cpus_i = int(cpus)
                gpus_i = int(gpus) if gpus else 0
            except ValueError:
                raise _bad(line, "cpus/gpus", f"not whole numbers: {cpus!r}, {gpus!r}") from None
            if not math.isfinite(submit_f) or submit_f < 0:
                raise _bad(line, "submit_time", "must be ≥ 0")
            if dur_i <= 0:
                raise _bad(line, "duration_s", "must be > 0")
            if cpus_i < 1 or gpus_i < 0:
                raise _bad(line, "cpus", "cpus ≥ 1 and gpus ≥ 0")
            gpu_model: str | None = None
            if model:
                gpu_model = lower.get(model.lower())
                if gpu_model is None:
                    raise _bad(line, "gpu_model", f"unknown GPU model {model!r}")
            jobs.append(
                TraceJob(
                    len(jobs),
                    job_id,
                    submit_f,
                    dur_i,
                    cpus_i,
                    gpus_i,
                    gpu_model if gpus_i else None,
                    org or "-",
                )
            )
    return jobs


def write_trace_csv(jobs: Iterable[TraceJob], path: str | Path) -> int:
    """Write jobs as our trace CSV; return how many were written."""
    n = 0
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(REQUIRED_COLUMNS)
        for j in jobs:
            submit = int(j.submit_time) if float(j.submit_time).is_integer() else j.submit_time
            w.writerow([j.job_id, submit, j.duration_s, j.cpus, j.gpus, j.gpu_model or "", j.org])
            n += 1
    return n


PAI_TASK_COLUMNS = (
    "job_name",
    "task_name",
    "inst_num",
    "status",
    "start_time",
    "end_time",
    "plan_cpu",
    "plan_mem",
    "plan_gpu",
    "gpu_type",
)


def convert_alibaba_pai(task_table: str | Path, *, org: str = "pai") -> list[TraceJob]:
    """Convert Alibaba PAI 2020 ``pai_task_table.csv`` (with or without a header) to jobs.

    Tasks without start/end (never ran) are skipped; submit times are shifted to start at 0.
    """
    raw: list[tuple[str, float, float, int, int, str | None]] = []
    with Path(task_table).open(newline="", encoding="utf-8") as fh:
        for line, row in enumerate(csv.reader(fh), start=1):
            if not row or (line == 1 and row[0] == "job_name"):
                continue
            if len(row) < len(PAI_TASK_COLUMNS):
                raise _bad(line, "row", f"{len(row)} fields, PAI task table has 10")
            rec = dict(zip(PAI_TASK_COLUMNS, row, strict=False))
            try:
                start, end = float(rec["start_time"]), float(rec["end_time"])
            except ValueError:
                continue  # a task that never started has empty times
            if end <= start:
                continue
            inst = max(int(float(rec["inst_num"] or 1)), 1)
            cpu_pct = float(rec["plan_cpu"] or 0)
            gpu_pct = float(rec["plan_gpu"] or 0)
            cpus = max(math.ceil(cpu_pct / 100 * inst), 1)
            gpus = math.ceil(gpu_pct / 100 * inst) if gpu_pct > 0 else 0
            model = PAI_GPU_TYPES.get(rec["gpu_type"].strip()) if gpus else None
            raw.append(
                (f"{rec['job_name']}/{rec['task_name']}", start, end - start, cpus, gpus, model)
            )
    t0 = min((r[1] for r in raw), default=0.0)
    raw.sort(key=lambda r: r[1])
    return [
        TraceJob(i, jid, s - t0, math.ceil(dur), c, g, m, org)
        for i, (jid, s, dur, c, g, m) in enumerate(raw)
    ]


def _philly_time(value: object) -> float | None:
    if not value or value == "None":
        return None
    # Philly logs local cluster time without a zone; only differences are used.
    return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


def convert_philly(job_log: str | Path, *, cpus_per_gpu: int = 1) -> list[TraceJob]:
    """Convert the Philly ``cluster_job_log`` JSON to jobs (org = virtual cluster).

    Philly records GPUs per attempt but not CPUs or GPU model: CPUs are ``cpus_per_gpu`` per GPU
    (at least one), the model is left open. Jobs that never ran an attempt are skipped.
    """
    data = json.loads(Path(job_log).read_text(encoding="utf-8"))
    raw: list[tuple[str, float, float, int, str]] = []
    for job in data:
        submit = _philly_time(job.get("submitted_time"))
        attempts = job.get("attempts") or []
        starts = [_philly_time(a.get("start_time")) for a in attempts]
        ends = [_philly_time(a.get("end_time")) for a in attempts]
        starts_ok = [s for s in starts if s is not None]
        ends_ok = [e for e in ends if e is not None]
        if submit is None or not starts_ok or not ends_ok:
            continue
        duration = max(ends_ok) - min(starts_ok)
        if duration <= 0:
            continue
        gpus = sum(len(d.get("gpus") or []) for d in (attempts[0].get("detail") or []))
        raw.append((str(job.get("jobid")), submit, duration, gpus, str(job.get("vc") or "-")))
    t0 = min((r[1] for r in raw), default=0.0)
    raw.sort(key=lambda r: r[1])
    return [
        TraceJob(i, jid, s - t0, math.ceil(dur), max(g * cpus_per_gpu, 1), g, None, vc)
        for i, (jid, s, dur, g, vc) in enumerate(raw)
    ]
