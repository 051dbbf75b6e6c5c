"""Run the APK parser in a child process with an address-space limit and a timeout.

androguard inflates archive members fully and trusts the file's structure; a hostile APK must not
exhaust the server's memory or hang a worker. A :class:`Sandbox` keeps one zygote process
(:mod:`.zygote`, androguard preloaded) that forks a fresh child per APK; the child runs under
``RLIMIT_AS`` (its size at fork + ``memory_bytes``) and is SIGKILLed past ``timeout_s``. Start-up
per APK stays a few milliseconds. Errors come back as :mod:`.errors` types.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import IO, Any, Self

from .archive import ArchiveCaps
from .errors import NotAnAndroidApp, ParseFailed, ParseOutOfMemory, ParseTimeout


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one parse."""

    #: address space the child may add on top of the zygote's size when it is forked
    memory_bytes: int = 1024 * 1024 * 1024
    timeout_s: float = 120.0


class _ZygoteDied(RuntimeError):
    pass


class Sandbox:
    """A zygote process that parses APKs in forked, resource-limited children (thread-safe)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        if self._proc is not None:  # it died: release its pipes before starting another
            _close_pipes(self._proc)
        env = dict(os.environ)
        # the zygote must import this very package, wherever it is installed
        pkg_root = os.path.dirname(
            os.path.dirname(
                os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            )
        )
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg_root, env.get("PYTHONPATH")]))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "mingyue.enablers.appcheck.engine.zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        return self._proc

    def close(self) -> None:
        """Stop the zygote (children it has are already finished or killed)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()
            proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(5)
        finally:
            _close_pipes(proc)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _readline(stream: IO[bytes], deadline: float | None) -> bytes:
        if deadline is not None:
            with selectors.DefaultSelector() as sel:
                sel.register(stream, selectors.EVENT_READ)
                if not sel.select(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError
        line = stream.readline()
        if not line:
            raise _ZygoteDied
        return line

    def parse(
        self, path: str, caps: ArchiveCaps, trackers: list[tuple[int, str]], limits: SandboxLimits
    ) -> dict[str, Any]:
        """Parse ``path`` in a forked child; return its facts dict or raise a per-file error."""
        req = (
            json.dumps(
                {
                    "path": os.path.abspath(path),
                    "caps": asdict(caps),
                    "trackers": trackers,
                    "memory_bytes": limits.memory_bytes,
                }
            )
            + "\n"
        )
        with self._lock:
            for attempt in (1, 2):
                proc = self._start()
                if proc.stdin is None or proc.stdout is None:  # Popen got PIPE for both
                    raise RuntimeError("the parser sandbox has no pipes")
                try:
                    proc.stdin.write(req.encode())
                    proc.stdin.flush()
                    # generous: the zygote's first start imports androguard
                    pid = json.loads(self._readline(proc.stdout, time.monotonic() + 60))["pid"]
                    deadline = time.monotonic() + limits.timeout_s
                    try:
                        reply = json.loads(self._readline(proc.stdout, deadline))
                    except TimeoutError:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                        self._readline(proc.stdout, time.monotonic() + 30)  # the zygote's "killed"
                        raise ParseTimeout(
                            f"Parsing took longer than {limits.timeout_s:g} s and was stopped.",
                            timeout_s=limits.timeout_s,
                        ) from None
                    break
                except (_ZygoteDied, BrokenPipeError, TimeoutError, ValueError, KeyError):
                    self.close()
                    if attempt == 2:
                        raise ParseFailed(
                            "The parser sandbox could not be started.", key="appcheck.sandbox_down"
                        ) from None
        return _interpret(reply, limits)


def _interpret(reply: dict[str, Any], limits: SandboxLimits) -> dict[str, Any]:
    status, payload = reply.get("status"), reply.get("payload")
    if status == "ok" and isinstance(payload, dict):
        return payload
    if status == "oom" or (status == "error" and "MemoryError" in str(payload)):
        raise ParseOutOfMemory(
            "Parsing needed more memory than allowed; the file was refused.",
            budget_bytes=limits.memory_bytes,
        )
    if status == "no_manifest":
        raise NotAnAndroidApp(
            "The archive has no readable AndroidManifest.xml: not an Android app."
        )
    if status in ("killed", "crashed"):
        raise ParseFailed(
            f"The parser process died ({status} {payload}); the file is likely malformed.",
            key="appcheck.parser_crashed",
            detail=f"{status} {payload}",
        )
    raise ParseFailed(f"The APK could not be parsed: {payload}", detail=str(payload))


_default: Sandbox | None = None
_default_lock = threading.Lock()


def default_sandbox() -> Sandbox:
    """Return this process's shared sandbox (started on first use, stopped at exit)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Sandbox()
            atexit.register(_default.close)
        return _default


def run_parser(
    path: str,
    caps: ArchiveCaps,
    trackers: list[tuple[int, str]],
    limits: SandboxLimits,
    sandbox: Sandbox | None = None,
) -> dict[str, Any]:
    """Parse ``path`` in the (default) sandbox."""
    return (sandbox or default_sandbox()).parse(path, caps, trackers, limits)


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    """Close a finished zygote's pipes (left open they warn when collected)."""
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
