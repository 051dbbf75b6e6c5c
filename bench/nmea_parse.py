"""NMEA parsing speed: the satcert validator vs pynmea2 alone, on the same sentences.

Builds one corpus from the shared GNSS logs (RTKLIB SPP and RTK GGA+RMC, the Pixel 6 GnssLogger
sentences, gnss_lib_py's checked sample, u-blox's assorted sentences), repeated to about --sentences
sentences, CR LF terminated. Each round times, in alternation:
  - pynmea2: split the bytes into lines and `pynmea2.parse(line, check=True)` each (errors counted);
  - ours: `NmeaReader(mode).feed(bytes)` + `close()` - framing, checksum, talker, length and field
    ranges, GSV sequences, fixes and the report.
  - pynmea2 + values: as the first, then reading the values our reader keeps (GGA time, position,
    altitude, geoid separation, quality, satellites, HDOP; RMC time, date, status; GLL) - what a
    pynmea2-based reader must do, still without range checks.
Prints sentences/s of each (median over --rounds) and the ratios. Goal: ours >= pynmea2.

    .venv/bin/python bench/nmea_parse.py [--sentences 200000] [--rounds 5] [--mode lenient]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pynmea2

from mingyue.enablers.satcert.engine.nmea import NmeaReader

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gnss"
LOGS = (
    "rtklib-geonet/spp0759.nmea",
    "rtklib-geonet/rtk0759.nmea",
    "gnss_lib_py/pixel6.nmea",
    "gnss_lib_py/nmea_w_correct_checksum.nmea",
    "pyubx2/pygpsdata-NMEA.log",
)


def corpus(data_dir: Path, target: int) -> bytes:
    """Return the shared logs' sentences (GnssLogger wrapping removed), repeated to ~target."""
    lines: list[str] = []
    for name in LOGS:
        for raw in (data_dir / name).read_text("ascii").splitlines():
            line = raw.strip()
            if line.startswith("NMEA,"):
                line = line[5:].rsplit(",", 1)[0]
            if line.startswith("$"):
                lines.append(line)
    reps = max(1, target // len(lines))
    return ("\r\n".join(lines * reps) + "\r\n").encode("ascii")


def run_pynmea2(blob: bytes) -> tuple[int, int]:
    """Parse every line with pynmea2 (check=True); return (parsed, errors)."""
    ok = bad = 0
    for line in blob.decode("ascii").splitlines():
        try:
            pynmea2.parse(line, check=True)
            ok += 1
        except (pynmea2.ParseError, pynmea2.ChecksumError, ValueError, AttributeError):
            bad += 1
    return ok, bad


def run_pynmea2_values(blob: bytes) -> tuple[int, int]:
    """pynmea2 parse(check=True) plus reading the values our reader extracts (GGA/RMC/GLL)."""
    ok = bad = 0
    sink: list[object] = []
    for line in blob.decode("ascii").splitlines():
        try:
            msg = pynmea2.parse(line, check=True)
            kind = msg.sentence_type
            if kind == "GGA":
                sink.append((msg.timestamp, msg.latitude, msg.longitude, msg.altitude))
                sink.append((msg.geo_sep, msg.gps_qual, msg.num_sats, msg.horizontal_dil))
            elif kind == "RMC":
                sink.append((msg.timestamp, msg.datestamp, msg.status))
            elif kind == "GLL":
                sink.append((msg.timestamp, msg.latitude, msg.longitude))
            ok += 1
        except (pynmea2.ParseError, pynmea2.ChecksumError, ValueError, AttributeError, TypeError):
            bad += 1
    return ok, bad


def run_ours(blob: bytes, mode: str) -> tuple[int, int]:
    """Validate the whole blob; return (accepted, rejected)."""
    reader = NmeaReader("lenient" if mode == "lenient" else "certification")
    reader.feed(blob)
    report = reader.close()
    return report.accepted, report.sentences - report.accepted


def main(argv: list[str] | None = None) -> int:
    """Run the alternating rounds and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--mode", choices=("lenient", "certification"), default="lenient")
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"nmea_parse: data folder not found: {args.data}", file=sys.stderr)
        return 2
    blob = corpus(args.data, args.sentences)
    n = blob.count(b"\n")
    rates: dict[str, list[float]] = {"parse": [], "values": [], "ours": []}
    counts: dict[str, tuple[int, int]] = {}
    mode: str = args.mode
    runners: dict[str, Callable[[bytes], tuple[int, int]]] = {
        "parse": run_pynmea2,
        "values": run_pynmea2_values,
        "ours": functools.partial(run_ours, mode=mode),
    }
    for _ in range(args.rounds):
        for name, runner in runners.items():
            t0 = time.perf_counter()
            counts[name] = runner(blob)
            rates[name].append(n / (time.perf_counter() - t0))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"sentences: {n} ({len(blob)} bytes), rounds: {args.rounds}, mode: {args.mode}")
    labels = {
        "parse": "pynmea2 parse(check=True)",
        "values": "pynmea2 parse + GGA/RMC/GLL values",
        "ours": f"satcert validator ({args.mode})",
    }
    for k, label in labels.items():
        ok, bad = counts[k]
        print(f"{label:36s} {med[k]:9,.0f} sentences/s  ok {ok}, not ok {bad}")
    print(f"ratio ours/pynmea2 parse: {med['ours'] / med['parse']:.2f}")
    print(f"ratio ours/pynmea2 parse+values: {med['ours'] / med['values']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
