"""Bench for the compute test fixture: start-up of the private Slurm cluster with accounting
(MariaDB + slurmdbd, so ``sacct`` works) against the same cluster without it (jobcomp/filetxt).

Alternates the two for ``--rounds`` rounds; prints wall seconds of ``start()``, the daemons'
CPU-seconds from start to stop (children reaped by ``stop()``), the per-step ``timings`` and the
medians with their ratio. Run: ``.venv/bin/python bench/compute_slurm_start.py [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

from mingyue.enablers.compute.adapters.devcluster import SlurmDevCluster


def _cpu() -> float:
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main() -> None:
    """Start and stop both kinds of cluster, alternating, and print the figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    walls: dict[bool, list[float]] = {False: [], True: []}
    cpus: dict[bool, list[float]] = {False: [], True: []}
    for rnd in range(args.rounds):
        for acct in (False, True) if rnd % 2 == 0 else (True, False):
            c = SlurmDevCluster(Path(tempfile.mkdtemp(prefix="bench-slurm-")), accounting=acct)
            t0, c0 = time.monotonic(), _cpu()
            c.start()
            wall = time.monotonic() - t0
            c.stop()
            walls[acct].append(wall)
            cpus[acct].append(_cpu() - c0)
            steps = ", ".join(f"{k} {v:.2f}" for k, v in c.timings.items())
            print(
                f"round {rnd} accounting={acct}: start {wall:.2f} s, "
                f"cpu {cpus[acct][-1]:.2f} s ({steps})",
                flush=True,
            )
    med = {k: statistics.median(v) for k, v in walls.items()}
    for acct in (False, True):
        print(
            f"accounting={acct}: wall median {med[acct]:.2f} s "
            f"(min {min(walls[acct]):.2f}, max {max(walls[acct]):.2f}); "
            f"cpu median {statistics.median(cpus[acct]):.2f} s"
        )
    print(
        f"ratio with/without accounting: {med[True] / med[False]:.2f}x, "
        f"+{med[True] - med[False]:.2f} s"
    )


if __name__ == "__main__":
    main()
