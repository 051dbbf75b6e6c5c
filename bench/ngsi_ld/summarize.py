"""Print pass/fail per folder from Robot Framework output.xml files (one per folder run)."""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def counts(path: Path) -> tuple[int, int, list[str]]:
    """Return (passed, failed, failed test names) of one output.xml."""
    root = ET.parse(path).getroot()  # noqa: S314 - our own robot run's output  # noqa: S314 - our own robot run's output
    passed = failed = 0
    names: list[str] = []
    for test in root.iter("test"):
        status = test.find("status")
        if status is None:
            continue
        if status.get("status") == "PASS":
            passed += 1
        elif status.get("status") == "FAIL":
            failed += 1
            names.append(test.get("name", "?"))
    return passed, failed, names


def main(argv: list[str]) -> int:
    """Summarize ``folder=output.xml`` pairs; exit 1 below ``$NGSI_BENCH_MIN_RATE`` (percent)."""
    total_p = total_f = 0
    rows = []
    for arg in argv:
        folder, _, xml = arg.partition("=")
        p, f, names = counts(Path(xml))
        total_p += p
        total_f += f
        rows.append((folder, p, f, names))
    print(f"{'folder':<45} {'pass':>5} {'fail':>5} {'rate':>7}")
    for folder, p, f, _ in rows:
        rate = 100.0 * p / (p + f) if p + f else 0.0
        print(f"{folder:<45} {p:>5} {f:>5} {rate:>6.1f}%")
    rate = 100.0 * total_p / (total_p + total_f) if total_p + total_f else 0.0
    print(f"{'TOTAL':<45} {total_p:>5} {total_f:>5} {rate:>6.1f}%")
    for folder, _, _, names in rows:
        for n in names:
            print(f"FAILED {folder}: {n}", file=sys.stderr)
    minimum = float(os.environ.get("NGSI_BENCH_MIN_RATE", "0"))
    if rate < minimum:
        print(f"the pass rate {rate:.1f} % is below {minimum:.1f} %", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
