"""The ``crossborder.scan`` job: a large upload scanned in the background, in a child process.

The scan is CPU-bound pure Python (jiagu's NER) and regular expressions that hold the GIL; run in
a thread of ``mingyue serve`` it would still starve the event loop and the other requests. So the
job's thread only drives a child process (``python -m mingyue.enablers.crossborder.scan_worker``)
and waits on its pipe: the server process keeps its GIL, the child can be killed when the job is
cancelled, and it dies with its memory when it ends. The child gets the file's path, the hash key
and the limits on stdin and answers JSON lines on stdout: progress, then the report (hashes and
counts, never values) or an error. The scratch upload is deleted when the job ends, whatever the
outcome.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from mingyue.sdk import InvalidInput, JobContext, JobHandler

from .scans import ScanLimits, hash_key, record_scan, scan_job_upload, scan_limits

WORKER_MODULE = "mingyue.enablers.crossborder.scan_worker"
_POLL_S = 0.5


def run_scan_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Scan a queued upload in a child process with progress; keep the report (job handler)."""
    path = scan_job_upload(ctx.settings, str(params["upload"]))
    try:
        if not path.is_file():
            raise InvalidInput(
                "crossborder.scan_upload_gone",
                "the upload of this scan is gone (the job ran before, or was swept)",
                field="upload",
            )
        report = scan_in_child(
            ctx,
            path,
            hash_key(ctx.settings),
            scan_limits(ctx.settings),
            ner=bool(params.get("ner")),
        )
    finally:
        path.unlink(missing_ok=True)  # the upload lives only as long as its job
    ctx.progress(99, "saving the report")
    with ctx.unit_of_work() as uow:
        out = record_scan(
            uow=uow,
            actor=uow.actor,
            filename=str(params["filename"]),
            sha256=str(params["sha256"]),
            report=report,
        )
    return {
        "scan_id": out.id,
        "report_url": f"/api/crossborder/scans/{out.id}",
        "kind": out.kind,
        "counts": out.counts,
        "sensitive": out.sensitive,
        "ner": out.ner,
        "ner_truncated": out.ner_truncated,
    }


def scan_in_child(
    ctx: JobContext, path: Path, key: bytes, limits: ScanLimits, *, ner: bool
) -> dict[str, Any]:
    """Run one scan in a child process; relay its progress, stop it on cancel, return its report."""
    request = {"path": str(path), "key": key.hex(), "ner": ner, "limits": limits.to_dict()}
    lines: queue.Queue[str | None] = queue.Queue()
    with (
        tempfile.TemporaryFile() as errors,
        subprocess.Popen(
            [sys.executable, "-m", WORKER_MODULE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            encoding="utf-8",
        ) as proc,
    ):
        stdin, stdout = proc.stdin, proc.stdout
        if stdin is None or stdout is None:  # pragma: no cover - both are pipes above
            raise RuntimeError("scan process has no pipes")

        def pump() -> None:
            for line in stdout:
                lines.put(line)
            lines.put(None)

        reader = threading.Thread(target=pump, name=f"scan-job-{ctx.job_id}", daemon=True)
        try:
            stdin.write(json.dumps(request))
            stdin.close()
            reader.start()
            report = _relay(ctx, proc, lines)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if reader.is_alive():
                reader.join(5)  # the child is gone: its pipe ends, and so does the reader
        if report is None:
            ctx.raise_if_cancelled()
            errors.seek(0)
            tail = errors.read()[-2000:].decode("utf-8", "replace").strip()
            raise RuntimeError(f"scan process ended with {proc.returncode}: {tail}")
    return report


def _relay(
    ctx: JobContext, proc: subprocess.Popen[str], lines: queue.Queue[str | None]
) -> dict[str, Any] | None:
    while True:
        try:
            line = lines.get(timeout=_POLL_S)
        except queue.Empty:
            if ctx.cancelled():
                proc.kill()
                ctx.raise_if_cancelled()
            continue
        if line is None:
            return None
        msg = json.loads(line)
        if "progress" in msg:
            ctx.progress(min(98.0, 100.0 * float(msg["progress"])), "scanning")
        elif "error" in msg:
            err = msg["error"]
            raise InvalidInput(str(err["key"]), str(err["message"]), field="file")
        elif "report" in msg:
            report: dict[str, Any] = msg["report"]
            return report


# The job handler named in the declaration, checked against the sdk's protocol by mypy.
_SCAN_JOB: JobHandler = run_scan_job
