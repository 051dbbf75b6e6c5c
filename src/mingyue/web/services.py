"""Enablers' background services (``Enabler.services``): long-running tasks of a web process.

Each service is ``async def run(stopping: asyncio.Event) -> None``. It runs as a task of the
process's event loop from start-up to shutdown; when it raises, the error is logged and it is
started again after a back-off (1 s doubling to 60 s, reset after a minute of healthy running);
when it returns while the process is not stopping, it is not restarted (it said it has nothing to
do, e.g. switched off by its settings). At shutdown ``stopping`` is set and each service gets
``GRACE_S`` seconds to finish before it is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from mingyue.core.db import unavailable_reason
from mingyue.core.plugins import load_ref, registry

log = logging.getLogger(__name__)

GRACE_S = 5.0
BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 60.0
HEALTHY_S = 60.0

ServiceFn = Callable[[asyncio.Event], Awaitable[None]]


@dataclass
class ServiceState:
    """What the platform knows of one service in this process."""

    name: str
    running: bool = False
    restarts: int = 0
    last_error: str | None = None


@dataclass
class BackgroundServices:
    """The services of this process, supervised."""

    services: dict[str, ServiceFn]
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    states: dict[str, ServiceState] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def from_registry(cls) -> BackgroundServices:
        """Load every installed enabler's declared services (a missing extra skips, logged)."""
        found: dict[str, ServiceFn] = {}
        for en in registry().ordered():
            for name, ref in en.services.items():
                try:
                    found[name] = load_ref(ref)
                except ModuleNotFoundError as exc:
                    log.error("service %s unavailable: needs module %s", name, exc.name)
        return cls(found)

    def start(self) -> None:
        """Start each service as a task of the running loop."""
        for name, fn in self.services.items():
            self.states[name] = ServiceState(name)
            self._tasks.append(asyncio.create_task(self._supervise(name, fn), name=name))

    async def _supervise(self, name: str, fn: ServiceFn) -> None:
        state = self.states[name]
        delay = BACKOFF_START_S
        while not self.stopping.is_set():
            began = time.monotonic()
            state.running = True
            try:
                await fn(self.stopping)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a service's failure must not take the web process down
                state.last_error = f"{type(exc).__name__}: {exc}"
                reason = unavailable_reason(exc)
                if reason is not None:  # the database restarting: expected, said in one line
                    log.warning(
                        "background service %s: database unavailable (%s); retrying in %.0f s",
                        name,
                        reason,
                        delay,
                    )
                else:
                    log.exception("background service %s failed; restarting in %.0f s", name, delay)
            else:
                state.running = False
                return
            finally:
                state.running = False
            if time.monotonic() - began > HEALTHY_S:
                delay = BACKOFF_START_S
            state.restarts += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=delay)
            delay = min(delay * 2, BACKOFF_MAX_S)

    async def stop(self) -> None:
        """Ask every service to stop, wait up to ``GRACE_S``, then cancel what still runs."""
        self.stopping.set()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=GRACE_S)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
