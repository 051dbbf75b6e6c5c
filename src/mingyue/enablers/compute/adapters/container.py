"""Container runtimes on a pool's host (podman, docker): detection and the command lines.

A pool supports ``image:`` jobs only when a runtime really works there: its binary is on the
PATH **and** ``<runtime> info`` succeeds (a docker CLI without a daemon, or a podman that cannot
create containers in this environment, does not count). The job runs as
``<runtime> run --name mingyue-<job> --cpus N --memory M --network=none IMAGE [sh -c CMD]``
under the local supervisor; its start/end come from ``<runtime> inspect`` of the container.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass

RUNTIMES = ("podman", "docker")
_INFO_TIMEOUT_S = 20.0
_CACHE_S = 300.0  # a runtime's health is re-checked at most every 5 minutes per pool
_cache: dict[tuple[str, ...], tuple[float, ContainerRuntime | None, str]] = {}


@dataclass(frozen=True)
class ContainerRuntime:
    """A container runtime that answered ``info`` on this host."""

    name: str
    binary: str

    def run_argv(
        self,
        *,
        container: str,
        image: str,
        command: str | None,
        cpus: int,
        memory_mb: int | None,
        network: bool,
        env: dict[str, str],
    ) -> list[str]:
        """Return the ``run`` command line: limits mapped, no network unless asked."""
        argv = [
            self.binary,
            "run",
            "--name",
            container,
            "--pull=never",
            f"--cpus={cpus}",
            "--network=bridge" if network else "--network=none",
        ]
        if memory_mb:
            argv.append(f"--memory={memory_mb}m")
        for key, value in sorted(env.items()):
            argv += ["--env", f"{key}={value}"]
        argv.append(image)
        if command is not None:
            argv += ["/bin/sh", "-c", command]
        return argv

    def inspect_argv(self, container: str) -> list[str]:
        """Return the command printing the container's start and end (RFC 3339) times."""
        return [
            self.binary,
            "inspect",
            "--format",
            "{{.State.StartedAt}}|{{.State.FinishedAt}}|{{.State.ExitCode}}",
            container,
        ]

    def stop_argv(self, container: str) -> list[str]:
        """Return the command stopping the container (SIGTERM, SIGKILL after 3 s)."""
        return [self.binary, "stop", "--time", "3", container]

    def rm_argv(self, container: str) -> list[str]:
        """Return the command removing the container (killing it if it still runs)."""
        return [self.binary, "rm", "--force", container]


def probe(name: str, timeout_s: float = _INFO_TIMEOUT_S) -> tuple[ContainerRuntime | None, str]:
    """Check one runtime: binary present and ``info`` succeeds; else None and the reason."""
    binary = shutil.which(name)
    if binary is None:
        return None, f"{name}: not installed"
    try:
        out = subprocess.run(
            [binary, "info"], capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        return None, f"{name} info: no answer within {timeout_s:.0f} s"
    except OSError as exc:
        return None, f"{name} info: {exc.strerror}"
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or [f"exit code {out.returncode}"])[-1]
        return None, f"{name} info failed: {last[:200]}"
    return ContainerRuntime(name=name, binary=binary), ""


def detect(
    candidates: tuple[str, ...] = RUNTIMES, *, fresh: bool = False
) -> tuple[ContainerRuntime | None, str]:
    """Return the first working runtime of ``candidates`` (cached a few minutes), or None and
    why none works."""
    now = time.monotonic()
    hit = _cache.get(candidates)
    if hit is not None and not fresh and now - hit[0] < _CACHE_S:
        return hit[1], hit[2]
    reasons = []
    found: ContainerRuntime | None = None
    for name in candidates:
        found, why = probe(name)
        if found is not None:
            break
        reasons.append(why)
    reason = (
        "" if found is not None else "no container runtime works here (" + "; ".join(reasons) + ")"
    )
    _cache[candidates] = (now, found, reason)
    return found, reason
