"""The child process of a ``crossborder.scan`` job (``python -m`` this module; see scan_jobs).

Reads one JSON request on stdin (file path, hash key, NER flag, limits), scans the file and
writes JSON lines on stdout: ``{"progress": 0..1}`` now and then, then ``{"report": {...}}`` (hashes
and counts, never values) or ``{"error": {"key": ..., "message": ...}}``. Anything a library prints
goes to stderr, so stdout carries only these lines.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from mingyue.sdk import MingyueError

from .scans import ScanLimits, run_scan

_PROGRESS_EVERY_S = 0.5


def main() -> int:
    """Serve one scan request; return the exit status."""
    channel: TextIO = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # a library's print() must not corrupt the protocol
    sys.stdout = sys.stderr

    def send(msg: dict[str, Any]) -> None:
        channel.write(json.dumps(msg, ensure_ascii=False) + "\n")
        channel.flush()

    last = 0.0

    def progress(share: float) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= _PROGRESS_EVERY_S:
            last = now
            send({"progress": round(share, 4)})

    request = json.loads(sys.stdin.read())
    try:
        _result, report = run_scan(
            Path(request["path"]),
            bytes.fromhex(request["key"]),
            ScanLimits.from_dict(request["limits"]),
            ner=bool(request["ner"]),
            progress=progress,
        )
    except MingyueError as exc:
        send({"error": {"key": exc.key, "message": exc.message}})
        return 0
    send({"report": report})
    return 0


if __name__ == "__main__":
    sys.exit(main())
