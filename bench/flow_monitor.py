"""Benchmark: distinct individuals per recipient over a generated proxy access log.

Generates an NCSA combined-format forward-proxy log (absolute URLs, as squid/nginx write them)
where a share of requests carry a mobile number or a resident ID in the query string, runs the
resumable watcher over it in a fresh process (exact counting: keyed hashes in SQLite, one
transaction per chunk), once per --workers count, and prints lines/s (wall and per CPU-second of
all its processes), peak RSS, and whether the counts equal the generator's ground truth.

Usage: .venv/bin/python bench/flow_monitor.py [--lines 2000000] [--workers 1 2] [--format squid]
                                             [--keep] [--dir D]
(--lines 5400000 gives ~1 GB; generate it under /tmp.) Goal: >= 100,000 lines/s with memory that
does not grow with the log size.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from multiprocessing import Queue, get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from mingyue.enablers.crossborder.engine.checksums import id_check_char
from mingyue.enablers.crossborder.engine.flows.monitor import (
    DeclaredTransfer,
    FlowMonitor,
    FlowStore,
)
from mingyue.enablers.crossborder.engine.flows.watch import WatchProgress, watch_log

RECIPIENTS = [
    ("Partner SG", "SG", "api.partner.sg"),
    ("Cloud US", "US", "upload.cloud-us.com"),
    ("HQ DE", "DE", "hr.hq-de.eu"),
]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def rid(n: int) -> str:
    first = f"4403051985{(n // 28) % 12 + 1:02d}{n % 28 + 1:02d}{(n // 336) % 1000:03d}"
    return first + id_check_char(first)


def generate(path: Path, lines: int, seed: int, squid: bool = False) -> dict[tuple[str, str], int]:
    """Write the log; return the true number of distinct identifiers per (recipient, kind)."""
    rng = random.Random(seed)
    epoch = 1767225600.0  # 2026-01-01 00:00 UTC: every squid line falls in 2026 in Shanghai
    truth: dict[tuple[str, str], set[str]] = {}
    phones = 300_000
    ids = 12_000
    with path.open("w", encoding="utf-8", buffering=1 << 20) as fp:
        for i in range(lines):
            name, _c, host = RECIPIENTS[i % 3]
            day = 1 + (i // 1000) % 28
            ts = f"{day:02d}/{MONTHS[(i // 28000) % 12]}/2026:{(i // 60) % 24:02d}:{i % 60:02d}:17 +0800"
            r = rng.random()
            if r < 0.5:
                target = f"http://{host}/static/app.{i % 97}.js"
            elif r < 0.9:
                p = f"139{rng.randrange(phones):08d}"
                truth.setdefault((name, "pi"), set()).add(p)
                target = f"http://{host}/api/v2/user/sync?mobile={p}&ver=3.2.{i % 10}&lang=zh-CN"
            else:
                v = rid(rng.randrange(ids))
                truth.setdefault((name, "sensitive"), set()).add(v)
                target = f"http://{host}/api/v2/kyc?id_no={v}&channel=app"
            if squid:  # squid's native format: Unix time, elapsed ms, …, the peer's address
                fp.write(
                    f"{epoch + i * 0.001:.3f} {i % 900:5d} 10.20.{i % 250}.{i % 200} TCP_MISS/200 "
                    f"{512 + i % 4096} GET {target} - HIER_DIRECT/203.0.113.{i % 250} text/html\n"
                )
                continue
            fp.write(f'10.20.{i % 250}.{i % 200} - - [{ts}] "GET {target} HTTP/1.1" 200 {512 + i % 4096} '
                     f'"-" "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36"\n')  # fmt: skip
    return {k: len(v) for k, v in truth.items()}


def peak_rss_kb() -> int:
    """This process's own peak RSS (VmHWM; ru_maxrss would keep the spawning parent's across exec)."""
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith("VmHWM:"):
            return int(row.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_watcher(log: Path, db: Path, workers: int, out: Queue) -> None:  # type: ignore[type-arg]
    """In a fresh process (so its peak RSS is the watcher's own): read the log, report figures."""
    transfers = [
        DeclaredTransfer(
            f"t{i}", name, country, (host,), ("contact",), "standard_contract_or_certification"
        )
        for i, (name, country, host) in enumerate(RECIPIENTS)
    ]
    monitor = FlowMonitor(FlowStore(db), transfers, hash_key=b"bench-key")
    rss_quarter: list[int] = []
    size = log.stat().st_size

    def sample(p: WatchProgress) -> None:
        if not rss_quarter and p.offset >= size // 4:
            rss_quarter.append(peak_rss_kb())

    t0 = time.perf_counter()
    progress = watch_log(monitor, log, batch_lines=50_000, workers=workers, on_progress=sample)
    wall = time.perf_counter() - t0
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    out.put({
        "lines": progress.lines, "events": progress.events, "bad": progress.bad_lines, "wall": wall,
        "cpu": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
        "rss_mb": peak_rss_kb() / 1024, "rss_quarter_mb": (rss_quarter or [0])[0] / 1024,
        "worker_rss_mb": kids.ru_maxrss / 1024,
        "counts": {f"{r}|{k}": n for (r, _y, k), n in monitor.store.counts(2026).items()},
        "alerts": [a.kind for a in progress.alerts],
    })  # fmt: skip
    monitor.store.close()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--lines", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="runs, one per count")
    ap.add_argument("--format", choices=["combined", "squid"], default="combined")
    ap.add_argument("--dir", type=Path)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="mingyue-flow-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    log = work / "access.log"
    t0 = time.perf_counter()
    truth = generate(log, args.lines, args.seed, squid=args.format == "squid")
    gen_s = time.perf_counter() - t0
    size = log.stat().st_size
    print(f"log ({args.format}): {args.lines} lines, {size / 1e6:.0f} MB (generated in {gen_s:.1f} s); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")  # fmt: skip
    ctx = get_context("spawn")
    for workers in args.workers:
        db = work / f"state-{workers}.db"
        for f in work.glob(f"{db.name}*"):
            f.unlink()
        q: Queue = ctx.Queue()  # type: ignore[type-arg]
        proc = ctx.Process(target=run_watcher, args=(log, db, workers, q))
        load0 = os.getloadavg()[0]
        proc.start()
        r = q.get()
        proc.join()
        exact = all(r["counts"].get(f"{name}|{kind}", 0) == n for (name, kind), n in truth.items())
        print(f"\nworkers={workers}: {r['lines']} lines, {r['events']} events, {r['bad']} bad; "
              f"load average {load0:.1f} -> {os.getloadavg()[0]:.1f}")  # fmt: skip
        print(f"  {r['wall']:.1f} s wall -> {r['lines'] / r['wall']:,.0f} lines/s "
              f"({size / r['wall'] / 1e6:.1f} MB/s); {r['cpu']:.1f} CPU-s (all processes) -> "
              f"{r['lines'] / r['cpu']:,.0f} lines per CPU-second")  # fmt: skip
        print(f"  peak RSS: watcher {r['rss_mb']:.0f} MB ({r['rss_quarter_mb']:.0f} MB after a quarter "
              f"of the file), largest worker {r['worker_rss_mb']:.0f} MB; distinct sets on disk: "
              f"{sum(f.stat().st_size for f in work.glob(f'{db.name}*')) / 1e6:.0f} MB")  # fmt: skip
        for key, n in sorted(r["counts"].items()):
            name, kind = key.split("|")
            print(
                f"    {name} 2026 {kind}: {n} distinct individuals (truth {truth.get((name, kind))})"
            )
        print(
            f"  exact counts: {exact}; alerts: {len(r['alerts'])} ({', '.join(sorted(set(r['alerts'])))})"
        )
        print(f"  goal 100,000 lines/s: {r['lines'] / r['wall'] / 100_000:.2f}x wall, "
              f"{r['lines'] / r['cpu'] / 100_000:.2f}x per CPU-second")  # fmt: skip
        if not args.keep:
            for f in work.glob(f"{db.name}*"):
                f.unlink()
    if not args.keep:
        log.unlink()
        if args.dir is None:
            work.rmdir()


if __name__ == "__main__":
    main()
