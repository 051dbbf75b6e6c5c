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
from typing import BinaryIO

from .bulk import BulkReader
from .events import CombinedParser, SquidParser, ZeekParser, make_parser, sniff_format
from .monitor import Alert, Batch, Checkpoint, FlowMonitor
from .parallel import read_parallel

MAX_LINE = 1 << 20  # a longer "line" is not a log line: counted as bad, skipped unread


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


class _LineFeed:
    """Feeds a chunk of complete lines through a per-line parser (squid native, Zeek)."""

    def __init__(
        self, parser: CombinedParser | SquidParser | ZeekParser, monitor: FlowMonitor
    ) -> None:
        self.parser = parser
        self.monitor = monitor

    def feed(self, chunk: bytes, batch: Batch) -> tuple[int, int]:
        """Add a chunk of complete lines to the batch; return (lines, bad lines)."""
        parser, add = self.parser, self.monitor.add
        parse, header = parser.parse, parser.header
        has_headers = parser.name == "zeek"
        before = parser.bad_lines
        raws = chunk.split(b"\n")
        raws.pop()  # the empty piece after the last newline
        for raw in raws:
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
        return len(raws), parser.bad_lines - before


def _feeder(name: str, monitor: FlowMonitor, fp: BinaryIO) -> BulkReader | _LineFeed:
    parser = make_parser(name)
    if parser.name in ("combined", "squid"):
        return BulkReader(monitor, squid=parser.name == "squid")
    if parser.name == "zeek":  # headers carry the field list: read them even when resuming
        fp.seek(0)
        for raw in fp:
            if not raw.startswith(b"#"):
                break
            parser.header(raw.decode("utf-8", "replace").rstrip("\r\n"))
    return _LineFeed(parser, monitor)


def _long_line(fp: BinaryIO, start: int) -> tuple[bytes | None, int]:
    """Read one line longer than a chunk: (the line or None past MAX_LINE, offset after it).

    The offset is -1 when the file ends before the newline. A line past MAX_LINE is skipped
    without being held in memory (it is counted as bad).
    """
    fp.seek(start)
    parts: list[bytes] | None = []
    pos = start
    while True:
        block = fp.read(1 << 20)
        if not block:
            return None, -1
        nl = block.find(b"\n")
        piece = block if nl < 0 else block[: nl + 1]
        pos += len(piece)
        if parts is not None:
            parts.append(piece)
            if pos - start > MAX_LINE:
                parts = None
        if nl >= 0:
            return (b"".join(parts) if parts is not None else None), pos


def watch_log(
    monitor: FlowMonitor,
    path: str | Path,
    fmt: str | None = None,
    *,
    batch_lines: int = 20_000,
    follow: bool = False,
    finish: bool = True,
    poll_s: float = 0.5,
    workers: int = 1,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: Callable[[WatchProgress], None] | None = None,
) -> WatchProgress:
    """Read a log from its last committed offset; with ``follow`` keep tailing until stopped.

    The file is read in chunks of about ``batch_lines`` lines (complete lines only); each chunk's
    counts are committed with the offset after its last line. With ``workers`` > 1 a combined log's
    (or squid native) complete lines are first parsed by that many processes (committed in file
    order), then the tail is read as usual.
    """
    p = Path(path)
    source, size, cp = _start(monitor, p)
    alerts: list[Alert] = []
    chunk_size = max(batch_lines, 1) * 200
    offset, lines, bad_lines, events = cp.offset, cp.lines, cp.bad_lines, cp.events

    def commit(batch: Batch, n: int, bad: int, new_offset: int) -> WatchProgress:
        nonlocal offset, lines, bad_lines, events
        offset = new_offset
        lines += n
        bad_lines += bad
        events += batch.events
        if n or batch.events:
            alerts.extend(monitor.commit(batch, Checkpoint(source, cp.inode, offset, lines,
                                                           bad_lines, events)))  # fmt: skip
        progress = WatchProgress(
            source, offset, max(size, offset), lines, bad_lines, events, alerts
        )
        if on_progress is not None and n:
            on_progress(progress)
        return progress

    with p.open("rb") as fp:
        first = fp.readline(MAX_LINE)
        if not first:
            return WatchProgress(source, 0, size, 0, 0, 0, [])
        feeder = _feeder(fmt or sniff_format(first.decode("utf-8", "replace").rstrip("\r\n")),
                         monitor, fp)  # fmt: skip
        if workers > 1 and isinstance(feeder, BulkReader):

            def commit_or_stop(batch: Batch, n: int, bad: int, new_offset: int) -> bool:
                commit(batch, n, bad, new_offset)
                return should_stop()

            if read_parallel(
                monitor,
                feeder.squid,
                p,
                offset,
                workers=workers,
                chunk=chunk_size,
                max_line=MAX_LINE,
                commit=commit_or_stop,
            ):
                return WatchProgress(source, offset, max(size, offset), lines, bad_lines, events,
                                     alerts)  # fmt: skip
        while True:
            batch = Batch()
            fp.seek(offset)
            buf = fp.read(chunk_size)
            eof = len(buf) < chunk_size
            cut = buf.rfind(b"\n") + 1
            n = bad = 0
            new_offset = offset
            partial = 0  # bytes of an incomplete last line
            if cut:
                n, bad = feeder.feed(buf[:cut] if cut < len(buf) else buf, batch)
                new_offset += cut
                partial = len(buf) - cut if eof else 0
            elif buf and not eof:
                line, after = _long_line(fp, offset)
                if after < 0:
                    eof, partial = True, fp.tell() - offset
                elif line is None:
                    n, bad, new_offset = 1, 1, after
                else:
                    n, bad = feeder.feed(line, batch)
                    new_offset = after
            else:
                partial = len(buf)
            if partial and finish and not follow:
                new_offset += partial
                n += 1
                bad += 1  # truncated last line: counted, not guessed at
            progress = commit(batch, n, bad, new_offset)
            if should_stop():
                return progress
            if eof:
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
    """Read a pcap or pcapng capture from its last checkpoint; HTTP requests become events.

    Checkpoints are taken only where no TCP stream is half-reassembled, so a restart never loses a
    request that straddles a checkpoint. A corrupt or truncated record raises PcapError after the
    packets before it are committed (unless following a file that is still being written).
    """
    from .pcap import PcapError, PcapReader  # lazy: dpkt (crossborder extra), only for captures

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
