"""A resumable watcher: tail a log file or read a pcap, commit counts with the byte offset.

Each batch's individuals, observations, alerts and the new offset are committed in one SQLite
transaction, so a crash (even SIGKILL) loses at most the uncommitted batch, which is read again on
restart; nothing is counted twice (the distinct sets are idempotent and the line/event counters
are part of the same transaction). A rotated file (new inode, or shorter than the offset) is read
from the start. Only complete lines are consumed while following; a final line without a newline
is counted as truncated when the watcher is asked to finish the file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .events import make_parser, sniff_format
from .monitor import Alert, Batch, Checkpoint, FlowMonitor
from .pcap import PcapError, PcapReader


@dataclass
class WatchProgress:
    """Where a source stands after a run."""

    source: str
    offset: int
    size: int
    lines: int
    bad_lines: int
    events: int
    alerts: list[Alert]

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready mapping."""
        return {
            "source": self.source, "offset": self.offset, "size": self.size, "lines": self.lines,
            "bad_lines": self.bad_lines, "events": self.events,
            "alerts": [a.to_dict() for a in self.alerts],
        }  # fmt: skip


def _start(monitor: FlowMonitor, path: Path) -> tuple[str, int, Checkpoint]:
    source = str(path.resolve())
    st = path.stat()
    cp = monitor.store.checkpoint(source)
    if cp is None or cp.inode != st.st_ino or cp.offset > st.st_size:
        cp = Checkpoint(source, st.st_ino, 0, 0, 0, 0)  # new or rotated file: from the start
    return source, st.st_size, cp


def watch_log(
    monitor: FlowMonitor,
    path: str | Path,
    fmt: str | None = None,
    *,
    batch_lines: int = 20_000,
    follow: bool = False,
    finish: bool = True,
    poll_s: float = 0.5,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: Callable[[WatchProgress], None] | None = None,
) -> WatchProgress:
    """Read a log from its last committed offset; with ``follow`` keep tailing until stopped."""
    p = Path(path)
    source, size, cp = _start(monitor, p)
    alerts: list[Alert] = []
    with p.open("rb") as fp:
        first = fp.readline()
        if not first:
            return WatchProgress(source, 0, size, 0, 0, 0, [])
        parser = make_parser(fmt or sniff_format(first.decode("utf-8", "replace").rstrip("\r\n")))
        fp.seek(0)
        if parser.name == "zeek":  # headers carry the field list: read them even when resuming
            for raw in fp:
                if not raw.startswith(b"#"):
                    break
                parser.header(raw.decode("utf-8", "replace").rstrip("\r\n"))
        fp.seek(cp.offset)
        parser.bad_lines = cp.bad_lines
        offset, lines, events = cp.offset, cp.lines, cp.events
        has_headers = parser.name == "zeek"
        batch_bytes = batch_lines * 200  # readlines() takes a size hint, not a line count
        while True:
            batch = Batch()
            n = 0
            partial = b""
            parse, add, header = parser.parse, monitor.add, parser.header
            for raw in fp.readlines(batch_bytes):
                if raw[-1:] != b"\n":
                    partial = raw
                    break
                offset += len(raw)
                n += 1
                try:
                    line = raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError:
                    parser.bad_lines += 1
                    continue
                if not line or (has_headers and header(line)):
                    continue
                ev = parse(line)
                if ev is not None:
                    add(batch, ev)
            at_end = n == 0 or bool(partial) or fp.peek(1) == b""
            if partial and at_end and finish and not follow:
                offset += len(partial)
                n += 1
                parser.bad_lines += 1  # truncated last line: counted, not guessed at
                partial = b""
            if partial:
                fp.seek(offset)  # leave the incomplete line for the next read
            lines += n
            events += batch.events
            if n or batch.events:
                alerts += monitor.commit(batch, Checkpoint(source, cp.inode, offset, lines,
                                                           parser.bad_lines, events))  # fmt: skip
            progress = WatchProgress(source, offset, max(size, offset), lines, parser.bad_lines,
                                     events, alerts)  # fmt: skip
            if on_progress is not None and n:
                on_progress(progress)
            if should_stop():
                return progress
            if at_end:
                if not follow:
                    return progress
                time.sleep(poll_s)
                st = os.stat(p)
                if st.st_ino != cp.inode or st.st_size < offset:
                    return progress  # rotated: the caller restarts on the new file
                size = st.st_size


def watch_pcap(
    monitor: FlowMonitor,
    path: str | Path,
    *,
    batch_packets: int = 20_000,
    follow: bool = False,
    poll_s: float = 0.5,
    should_stop: Callable[[], bool] = lambda: False,
) -> WatchProgress:
    """Read a pcap (classic format) from its last checkpoint; HTTP requests become events.

    Checkpoints are taken only where no TCP stream is half-reassembled, so a restart never loses a
    request that straddles a checkpoint. A corrupt or truncated record raises PcapError after the
    packets before it are committed (unless following a file that is still being written).
    """
    p = Path(path)
    source, size, cp = _start(monitor, p)
    alerts: list[Alert] = []
    reader = PcapReader(p, start=cp.offset)
    state = {"packets": cp.lines, "events": cp.events}
    batch = Batch()
    pending = 0
    committed = reader.offset

    def commit(offset: int) -> None:
        nonlocal batch, pending, committed
        state["events"] += batch.events
        alerts.extend(monitor.commit(batch, Checkpoint(
            source, cp.inode, offset, state["packets"], cp.bad_lines + reader.bad_packets,
            state["events"])))  # fmt: skip
        batch, pending, committed = Batch(), 0, offset

    def progress() -> WatchProgress:
        return WatchProgress(source, committed, max(size, reader.offset), state["packets"],
                             cp.bad_lines + reader.bad_packets, state["events"], alerts)  # fmt: skip

    while True:
        error: PcapError | None = None
        try:
            for ev, offset, quiet in reader.read():
                state["packets"] += 1
                pending += 1
                if ev is not None:
                    monitor.add(batch, ev)
                if quiet and pending >= batch_packets:
                    commit(offset)
                    if should_stop():
                        return progress()
        except PcapError as exc:
            error = exc
        if not follow:
            reader.flush()
            if pending or batch.events:
                commit(reader.offset)
            if error is not None:
                raise error
            return progress()
        if reader.quiet and (pending or batch.events):
            commit(reader.offset)
        if should_stop():
            return progress()
        time.sleep(poll_s)
