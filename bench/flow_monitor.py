"""Benchmark: distinct individuals per recipient over a generated proxy access log.

Generates an NCSA combined-format forward-proxy log (absolute URLs, as squid/nginx write them)
where a share of requests carry a mobile number or a resident ID in the query string, runs the
resumable watcher over it (exact counting: keyed hashes in SQLite, one transaction per batch), and
prints lines/s, peak RSS, and whether the counts equal the generator's ground truth.

Usage: .venv/bin/python bench/flow_monitor.py [--lines 2000000] [--keep] [--dir /tmp/x]
(--lines 5000000 gives ~1 GB.) Goal: >= 100,000 lines/s with memory that does not grow with the
log size.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from mingyue.enablers.crossborder.engine.checksums import id_check_char
from mingyue.enablers.crossborder.engine.flows.monitor import (
    DeclaredTransfer,
    FlowMonitor,
    FlowStore,
)
from mingyue.enablers.crossborder.engine.flows.watch import watch_log

RECIPIENTS = [
    ("Partner SG", "SG", "api.partner.sg"),
    ("Cloud US", "US", "upload.cloud-us.com"),
    ("HQ DE", "DE", "hr.hq-de.eu"),
]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def rid(n: int) -> str:
    first = f"4403051985{(n // 28) % 12 + 1:02d}{n % 28 + 1:02d}{(n // 336) % 1000:03d}"
    return first + id_check_char(first)


def generate(path: Path, lines: int, seed: int) -> dict[tuple[str, str], set[str]]:
    """Write the log; return the true distinct identifiers per (recipient, kind)."""
    rng = random.Random(seed)
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
            fp.write(f'10.20.{i % 250}.{i % 200} - - [{ts}] "GET {target} HTTP/1.1" 200 {512 + i % 4096} '
                     f'"-" "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36"\n')  # fmt: skip
    return truth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--dir", type=Path)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="mingyue-flow-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    log = work / "access.log"
    t0 = time.perf_counter()
    truth = generate(log, args.lines, args.seed)
    gen_s = time.perf_counter() - t0
    size = log.stat().st_size
    transfers = [
        DeclaredTransfer(f"t{i}", name, country, (host,), ("contact",), "standard_contract_or_certification")
        for i, (name, country, host) in enumerate(RECIPIENTS)
    ]
    db = work / "state.db"
    db.unlink(missing_ok=True)
    monitor = FlowMonitor(FlowStore(db), transfers, hash_key=b"bench-key")
    rss_samples: list[int] = []

    def sample(_p: object) -> None:
        rss_samples.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)

    t0, c0 = time.perf_counter(), time.process_time()
    progress = watch_log(monitor, log, batch_lines=50_000, on_progress=sample)
    run_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    counts = monitor.store.counts(2026)
    exact = all(counts.get((name, 2026, kind), 0) == len(vals) for (name, kind), vals in truth.items())
    print(f"log: {args.lines} lines, {size / 1e6:.0f} MB (generated in {gen_s:.1f} s)")
    print(f"watcher: {progress.lines} lines, {progress.events} events, {progress.bad_lines} bad, "
          f"{run_s:.1f} s wall -> {progress.lines / run_s:,.0f} lines/s ({size / run_s / 1e6:.1f} MB/s); "
          f"{cpu_s:.1f} s CPU -> {progress.lines / cpu_s:,.0f} lines/s per core")  # fmt: skip
    quarter = rss_samples[len(rss_samples) // 4] if rss_samples else 0
    print(f"peak RSS: {rss_samples[-1] / 1024 if rss_samples else 0:.0f} MB at the end, "
          f"{quarter / 1024:.0f} MB after the first quarter (bounded: batch-sized sets, hashes on disk)")
    for (name, y, kind), n in sorted(counts.items()):
        print(f"  {name} {y} {kind}: {n} distinct individuals (truth {len(truth.get((name, kind), ()))})")
    print(f"exact counts: {exact}; alerts: {[a.kind for a in progress.alerts]}")
    print(f"goal 100,000 lines/s: ratio {progress.lines / run_s / 100_000:.2f}x wall, "
          f"{progress.lines / cpu_s / 100_000:.2f}x per CPU-second")
    monitor.store.close()
    if not args.keep:
        log.unlink()
        for f in work.glob("state.db*"):
            f.unlink()
        if args.dir is None:
            work.rmdir()


if __name__ == "__main__":
    main()
