"""Parse the complete part of a proxy log in a pool of processes; results come back in order.

The parent cuts the file at line ends (reading only a small block at each cut), workers re-read
their byte range and return what it adds (hashes, observations, line counts), and the parent
commits each range with the offset after it, in file order — so a checkpoint means what it means
for one process: everything before it is counted, nothing after it. Workers are forked: they share
the monitor's rules, endpoints and key, never its database connection.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator
from multiprocessing.pool import AsyncResult
from pathlib import Path

from .bulk import BulkReader
from .monitor import Batch, FlowMonitor

_worker: BulkReader | None = None


def _init(monitor: FlowMonitor, squid: bool) -> None:
    global _worker
    _worker = BulkReader(monitor, squid=squid)


def _parse(spec: tuple[str, int, int]) -> tuple[int, int, int, Batch]:
    path, start, length = spec
    with open(path, "rb") as fp:
        fp.seek(start)
        data = fp.read(length)
    batch = Batch()
    if _worker is None:
        raise RuntimeError("the worker process was not initialised")
    n, bad = _worker.feed(data, batch)
    return start + length, n, bad, batch


def complete_end(path: Path, start: int, max_line: int) -> int:
    """The offset after the last newline of the file as it is now (``start`` if none is near)."""
    size = path.stat().st_size
    if size <= start:
        return start
    with path.open("rb") as fp:
        fp.seek(max(start, size - max_line))
        tail = fp.read()
    nl = tail.rfind(b"\n")
    return start if nl < 0 else size - len(tail) + nl + 1


def cuts(
    path: Path, start: int, end: int, chunk: int, max_line: int
) -> Iterator[tuple[str, int, int]]:
    """Byte ranges of about ``chunk`` bytes that end at a line end, up to ``end``.

    Stops early before a line longer than ``max_line``: the sequential reader deals with it.
    """
    with path.open("rb") as fp:
        pos = start
        while pos < end:
            target = pos + chunk
            if target >= end:
                yield str(path), pos, end - pos
                return
            fp.seek(target)
            nl = fp.read(max_line).find(b"\n")
            if nl < 0:
                return
            yield str(path), pos, target + nl + 1 - pos
            pos = target + nl + 1


def read_parallel(
    monitor: FlowMonitor,
    squid: bool,
    path: Path,
    start: int,
    *,
    workers: int,
    chunk: int,
    max_line: int,
    commit: Callable[[Batch, int, int, int], bool],
) -> bool:
    """Parse [start, last complete line) with ``workers`` processes; ``commit(batch, lines, bad,
    offset)`` is called in file order and returns True to stop. Returns whether it stopped."""
    end = complete_end(path, start, max_line)
    if end <= start:
        return False
    ctx = multiprocessing.get_context("fork")
    stop = False
    with ctx.Pool(workers, initializer=_init, initargs=(monitor, squid)) as pool:
        # At most two ranges per worker in flight: memory stays bounded whatever the file size.
        pending: deque[AsyncResult[tuple[int, int, int, Batch]]] = deque()
        specs = cuts(path, start, end, chunk, max_line)
        while not stop:
            for spec in specs:
                pending.append(pool.apply_async(_parse, (spec,)))
                if len(pending) >= 2 * workers:
                    break
            if not pending:
                break
            offset, n, bad, batch = pending.popleft().get()
            stop = commit(batch, n, bad, offset)
        pool.terminate()
    return stop
