"""Wash-trade monitor: precision/recall per pattern and events per second against a peer.

The peer is the reference rule set of issue 17 written as it was first measured (stdlib, one pass
in time order, rows held as dicts): self-trade; a token's ownership returning within 7 days; three
or more trades of a token in 7 days with a repeat buyer; same first funder, excluding funders of
more than 20 addresses. Both run in this process on the same file; speed is reported as a ratio.

Ground truth is read from the file's ``is_wash``/``pattern`` columns by this script only; the
detector gets the table without them. Dataset patterns map to ours: self→self_trade,
backforth→back_and_forth, cycle3→cycle, funder→common_funder, thrice→repeat_buy. Per pattern:
recall = that pattern's wash rows covered by an alert of its detector; precision = rows flagged
by the detector that are wash rows (a cycle leg flagged as common_funder is a true detection).

    python bench/wash_trade.py FILE.csv [FILE.csv ...] [--json] [--repeat 3]
    # unseen sets: python ../shared/data/chain/nft-wash-synthetic/gen.py SEED 40000 out.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import polars as pl

from mingyue.enablers.digitalasset.engine.monitor import detect, read_csv

DATASET_TO_OURS = {
    "self": "self_trade",
    "backforth": "back_and_forth",
    "cycle3": "cycle",
    "funder": "common_funder",
    "thrice": "repeat_buy",
}
WEEK = 7 * 86400


def peer(path: Path) -> set[int]:
    """Reference rules, stdlib, one pass in time order; return flagged 0-based rows."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    order = sorted(range(len(rows)), key=lambda i: float(rows[i]["ts"]))
    funded: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        for a, fu in (
            (r["seller"], r.get("seller_first_funder")),
            (r["buyer"], r.get("buyer_first_funder")),
        ):
            if fu:
                funded[fu].add(a)
    hubs = {f for f, s in funded.items() if len(s) > 20}
    history: dict[tuple[str, str], list[int]] = defaultdict(list)
    flagged: set[int] = set()
    for i in order:
        r = rows[i]
        ts = float(r["ts"])
        key = (r["collection"], r["token_id"])
        if r["seller"] == r["buyer"]:
            flagged.add(i)
        recent = [j for j in history[key] if ts - float(rows[j]["ts"]) <= WEEK]
        owners = [rows[j]["seller"] for j in recent]
        if r["buyer"] in owners:
            flagged.update([*recent[owners.index(r["buyer"]) :], i])
        buyers = [rows[j]["buyer"] for j in recent]
        if len(recent) >= 2 and r["buyer"] in buyers:
            flagged.update([*recent, i])
        sf, bf = r.get("seller_first_funder"), r.get("buyer_first_funder")
        if sf and sf == bf and sf not in hubs:
            flagged.add(i)
        history[key].append(i)
    return flagged


def evaluate(path: Path, repeat: int) -> dict[str, Any]:
    truth = pl.read_csv(path, columns=["is_wash", "pattern"], infer_schema=False)
    is_wash = truth["is_wash"].cast(pl.Int64).to_list()
    pattern = truth["pattern"].to_list()
    data = path.read_bytes()
    best = float("inf")
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        df = read_csv(data)
        result = detect(df)
        best = min(best, time.perf_counter() - t0)
    assert result is not None
    flagged_by: dict[str, set[int]] = defaultdict(set)
    for a in result.alerts:
        flagged_by[a.pattern].update(a.rows)
    wash_rows = {i for i, w in enumerate(is_wash) if w == 1}
    per: dict[str, Any] = {}
    for ds_pat, ours in DATASET_TO_OURS.items():
        target = {i for i in wash_rows if pattern[i] == ds_pat}
        got = flagged_by.get(ours, set())
        tp_rows = len(got & wash_rows)
        per[ours] = {
            "dataset_pattern": ds_pat,
            "wash_rows": len(target),
            "recall": round(len(got & target) / len(target), 3) if target else None,
            "precision": round(tp_rows / len(got), 3) if got else None,
            "flagged_rows": len(got),
        }
    for ours in ("price_jump", "rapid_flip", "concentration"):
        got = flagged_by.get(ours, set())
        per[ours] = {"flagged_rows": len(got), "wash_among_them": len(got & wash_rows)}
    flagged = set().union(*flagged_by.values()) if flagged_by else set()
    t0 = time.perf_counter()
    peer_flag = peer(path)
    peer_s = time.perf_counter() - t0

    def pr(f: set[int]) -> dict[str, float]:
        return {
            "precision": round(len(f & wash_rows) / len(f), 3) if f else 0.0,
            "recall": round(len(f & wash_rows) / len(wash_rows), 3) if wash_rows else 0.0,
        }

    return {
        "file": str(path),
        "events": len(is_wash),
        "wash_rows": len(wash_rows),
        "alerts": len(result.alerts),
        "inferred_hubs": len(result.inferred_hubs),
        "ours": {
            **pr(flagged),
            "seconds": round(best, 4),
            "events_per_s": round(len(is_wash) / best),
        },
        "peer": {
            **pr(peer_flag),
            "seconds": round(peer_s, 4),
            "events_per_s": round(len(is_wash) / peer_s),
        },
        "speed_ratio_vs_peer": round(peer_s / best, 2),
        "per_pattern": per,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = [evaluate(p, args.repeat) for p in args.files]
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    for r in out:
        print(
            f"== {r['file']}: {r['events']} events, {r['wash_rows']} wash rows, {r['alerts']} alerts"
        )
        o, p = r["ours"], r["peer"]
        print(f"  ours: P {o['precision']:.3f} R {o['recall']:.3f}  {o['events_per_s']:,} events/s")
        print(f"  peer: P {p['precision']:.3f} R {p['recall']:.3f}  {p['events_per_s']:,} events/s")
        print(f"  speed ratio ours/peer: {r['speed_ratio_vs_peer']}x")
        for name, v in r["per_pattern"].items():
            if "recall" in v:
                counts = f"wash rows {v['wash_rows']}, flagged {v['flagged_rows']}"
                print(f"  {name:15s} P {v['precision']}  R {v['recall']}  ({counts})")
            else:
                print(
                    f"  {name:15s} flagged {v['flagged_rows']} rows ({v['wash_among_them']} wash)"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
