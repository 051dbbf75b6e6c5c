"""The parser's zygote: a single-threaded helper process that forks one child per APK.

Started with ``python -m mingyue.enablers.appcheck.engine.zygote`` by :mod:`.sandbox`. It imports
androguard once, then for each request line on stdin (JSON) forks a child that sets
``RLIMIT_AS``/``RLIMIT_CORE``, parses the APK and writes the facts back through a pipe. The zygote
answers with two lines on stdout: ``{"pid": N}`` as soon as the child exists (so the caller can
kill it on timeout), then ``{"status": ..., "payload": ...}``. Being single-threaded, it forks
safely; being a fresh interpreter, it never re-imports the caller's ``__main__``.
"""

from __future__ import annotations

import gc
import json
import os
import re
import resource
import sys
from typing import Any

from . import extract
from .archive import ArchiveCaps


def _vm_size() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _child(req: dict[str, Any], w: int, matcher: Any) -> None:
    status: str
    payload: Any
    try:
        base = _vm_size()
        if base:
            limit = base + int(req["memory_bytes"])
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        caps = ArchiveCaps(**req["caps"])
        payload = extract.extract_facts(req["path"], caps, matcher)
        payload["_worker_maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        status = "ok"
    except MemoryError:
        status, payload = "oom", "the parser ran out of its memory budget"
    except LookupError as exc:
        status, payload = "no_manifest", str(exc)
    except BaseException as exc:
        status, payload = "error", f"{type(exc).__name__}: {exc}"[:500]
    try:
        data = json.dumps({"status": status, "payload": payload}).encode()
    except MemoryError:
        data = b'{"status": "oom", "payload": "out of memory while encoding the result"}'
    view = memoryview(data)
    while view:
        n = os.write(w, view)
        view = view[n:]
    os.close(w)


def _warm_up() -> None:
    """Fill caches every child would otherwise rebuild after each fork (~70 ms per APK).

    androguard's AXML printer compiles two large character-class regexes on first use; compiled
    here, they sit in ``re``'s cache that forked children inherit.
    """
    chars = "\u0020-\ud7ff\u0009\u000a\u000d\ue000-\ufffd\U00010000-\U0010ffff"
    re.compile(f"^[{chars}]*$")
    re.compile(f"[^{chars}]")
    re.compile(r"^[a-zA-Z0-9._-]*$")
    re.compile(r"[^a-zA-Z0-9._-]")
    from asn1crypto import cms, x509  # noqa: F401  # lazy: appcheck extra; preloaded for children


def serve() -> None:
    """Answer parse requests from stdin until it closes."""
    import androguard.core.apk  # noqa: F401  # lazy: appcheck extra; children inherit it warm
    from loguru import logger  # lazy: appcheck extra, only in the zygote

    logger.remove()
    _warm_up()
    out = sys.stdout
    matchers: dict[str, Any] = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        key = json.dumps(req["trackers"])
        if key not in matchers:
            # compiled once here, inherited by every forked child
            matchers.clear()
            matchers[key] = extract.make_matcher([(int(i), str(sig)) for i, sig in req["trackers"]])
        r, w = os.pipe()
        # Keep the inherited heap out of the collector: a GC pass in the child would write to
        # every object and copy the whole zygote page by page (copy-on-write).
        gc.freeze()
        pid = os.fork()
        if pid == 0:  # child
            gc.disable()
            os.close(r)
            try:
                _child(req, w, matchers[key])
            finally:
                os._exit(0)
        os.close(w)
        out.write(json.dumps({"pid": pid}) + "\n")
        out.flush()
        chunks = []
        with os.fdopen(r, "rb") as rf:
            while chunk := rf.read(1 << 20):
                chunks.append(chunk)
        _, wstatus = os.waitpid(pid, 0)
        data = b"".join(chunks)
        if data:
            out.write(data.decode() + "\n")
        elif os.WIFSIGNALED(wstatus):
            sig = os.WTERMSIG(wstatus)
            out.write(json.dumps({"status": "killed", "payload": sig}) + "\n")
        else:
            code = os.WEXITSTATUS(wstatus) if os.WIFEXITED(wstatus) else -1
            out.write(json.dumps({"status": "crashed", "payload": code}) + "\n")
        out.flush()


if __name__ == "__main__":
    serve()
