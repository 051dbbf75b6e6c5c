"""Run generated code in a sandboxed subprocess: no network, CPU/memory/time/file limits.

The network is cut by a new network namespace: bubblewrap (``bwrap --unshare-net``, read-only
root, private /tmp) when installed, else ``unshare -rn``; with neither the code is not run and
the item fails with the reason ``sandbox_unavailable``. Limits are rlimits set in the child
(CPU seconds, address space, file size, open files) plus a wall-clock timeout that kills the
child's whole process group.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one execution."""

    wall_s: float = 10.0
    cpu_s: int = 10
    memory_mb: int = 512
    file_mb: int = 16
    open_files: int = 64


@dataclass(frozen=True)
class SandboxResult:
    """What one execution did."""

    passed: bool
    reason: str  # passed | failed | timeout | memory | sandbox_unavailable
    returncode: int | None
    stderr_tail: str


def _isolation_prefix(tmp: str) -> list[str]:
    tool = _tool()
    if tool == "bwrap":
        return [shutil.which("bwrap") or "bwrap", *_bwrap_args(tmp)]
    if tool == "unshare":
        return [shutil.which("unshare") or "unshare", "-rn"]
    return []


@lru_cache(maxsize=1)
def _tool() -> str:
    """Return the isolation tool that works here (checked once): bwrap, unshare or ''."""
    with tempfile.TemporaryDirectory(prefix="mingyue-sbx-") as tmp:
        bwrap = shutil.which("bwrap")
        if bwrap and _works([bwrap, *_bwrap_args(tmp), "true"]):
            return "bwrap"
        unshare = shutil.which("unshare")
        if unshare and _works([unshare, "-rn", "true"]):
            return "unshare"
    return ""


def _bwrap_args(tmp: str) -> list[str]:
    return [
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--die-with-parent",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",  # noqa: S108 - a private tmpfs inside the sandbox
        # ... which would hide an interpreter or virtualenv that lives under /tmp (a CI
        # checkout): those come back read-only.
        *[arg for path in _under_tmp_runtime() for arg in ("--ro-bind", path, path)],
        "--bind",
        tmp,
        tmp,
        "--chdir",
        tmp,
    ]


def _under_tmp_runtime() -> list[str]:
    """Return the interpreter's folders that lie under /tmp (each once, outermost first)."""
    found: list[str] = []
    for path in (sys.prefix, os.path.dirname(os.path.realpath(sys.executable))):
        real = os.path.realpath(path)
        if real.startswith("/tmp/") and not any(  # noqa: S108 - a path test, not a temp file
            real == f or real.startswith(f + "/") for f in found
        ):
            found.append(real)
    return found


def _works(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def isolation_available() -> bool:
    """Say whether code can run with the network cut (bwrap or unshare works here)."""
    return bool(_tool())


def _limit(limits: SandboxLimits) -> None:  # runs in the child before exec
    os.setsid()
    mem = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
    size = limits.file_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_python(program: str, limits: SandboxLimits | None = None) -> SandboxResult:
    """Execute a Python program in the sandbox; passed means exit status 0 within the limits."""
    lim = limits or SandboxLimits()
    with tempfile.TemporaryDirectory(prefix="mingyue-sbx-") as tmp:
        prefix = _isolation_prefix(tmp)
        if not prefix:
            return SandboxResult(False, "sandbox_unavailable", None, "no bwrap or unshare")
        script = Path(tmp) / "program.py"
        script.write_text(program, encoding="utf-8")
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
        argv = [*prefix, sys.executable, "-I", "-B", str(script)]
        proc = subprocess.Popen(
            argv,
            cwd=tmp,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=lambda: _limit(lim),
        )
        try:
            _, err = proc.communicate(timeout=lim.wall_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return SandboxResult(False, "timeout", None, "")
        tail = err.decode("utf-8", "replace")[-2000:]
        rc = proc.returncode
        if rc == 0:
            return SandboxResult(True, "passed", rc, tail)
        if rc in (-signal.SIGXCPU, -signal.SIGKILL, 128 + signal.SIGXCPU):
            return SandboxResult(False, "timeout", rc, tail)
        if "MemoryError" in tail:
            return SandboxResult(False, "memory", rc, tail)
        return SandboxResult(False, "failed", rc, tail)
