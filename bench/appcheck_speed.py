"""Speed and memory of appcheck vs exodus-core (+ Debian dexdump) on the shared APK corpus.

    .venv/bin/python bench/appcheck_speed.py [APK_DIR] [--json OUT]

For every APK: mingyue's full scan (archive guard + sandboxed parse + SDK inventory + report,
the parser zygote warm) and exodus-core's ``detect_trackers`` (run in its own venv, one process
per APK so each peak RSS is that APK's; its interpreter start-up and imports are not counted).
Prints seconds per APK, peak RSS, whether the εxodus tracker sets are identical, and the ratios.
The issue's goal: >= 3x faster than exodus-core, peak RSS <= 300 MB for APKs <= 5 MB.
MobSF is not run here (see docs/appcheck.md).
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PEER_PY = REPO / ".venv-exodus" / "bin" / "python"
PEER = REPO / "bench" / "appcheck_exodus_peer.py"
SIGS = REPO.parent / "shared" / "data" / "appcheck" / "exodus_trackers.json"


def run_mingyue(apks: list[Path]) -> dict[str, dict]:
    from mingyue.enablers.appcheck.engine import (
        AppcheckError,
        analyze_apk,
        load_catalogue,
        load_rulesets,
    )

    load_catalogue(), load_rulesets()
    analyze_apk(apks[-1]) if apks else None  # start the parser zygote (like exodus' imports)
    out: dict[str, dict] = {}
    for apk in apks:
        t0 = time.perf_counter()
        try:
            rep = analyze_apk(apk)
            res = {
                "trackers": sorted(t["id"] for t in rep.exodus_trackers),
                "rss_kb": rep.worker_maxrss_kb,
            }
        except AppcheckError as exc:
            res = {"error": exc.key, "rss_kb": 0}
        res["seconds"] = time.perf_counter() - t0
        out[apk.name] = res
    out["_parent_maxrss_kb"] = {"value": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    return out


def run_exodus(apks: list[Path]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for apk in apks:
        proc = subprocess.run(
            [str(PEER_PY), str(PEER), str(SIGS), str(apk)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "{}"
        d = json.loads(line)
        out[apk.name] = {
            "trackers": d.get("trackers"),
            "error": d.get("error"),
            "seconds": d.get("seconds", float("nan")),
            "rss_kb": max(d.get("maxrss_kb", 0), d.get("children_maxrss_kb", 0)),
        }
    return out


def main(argv: list[str]) -> int:
    apk_dir = (
        Path(argv[0])
        if argv and not argv[0].startswith("--")
        else REPO.parent / "shared" / "data" / "apks"
    )
    out_json = Path(argv[argv.index("--json") + 1]) if "--json" in argv else None
    apks = sorted(apk_dir.glob("*.apk"))
    if not apks:
        print(f"no APKs in {apk_dir}")
        return 2
    ours = run_mingyue(apks)
    parent_rss = ours.pop("_parent_maxrss_kb")["value"]
    have_peer = PEER_PY.exists()
    peer = run_exodus(apks) if have_peer else {}
    print(
        f"{'apk':48} {'MB':>5} {'mingyue s':>9} {'RSS MB':>6} {'exodus s':>8} {'RSS MB':>6} {'x':>6} same"
    )
    rows = []
    for apk in apks:
        o, p = ours[apk.name], peer.get(apk.name, {})
        size = apk.stat().st_size / 1e6
        both = "error" not in o and p and not p.get("error")
        ratio = p["seconds"] / o["seconds"] if both and o["seconds"] > 0 else float("nan")
        same = (o.get("trackers") == p.get("trackers")) if both else None
        rows.append(
            {"apk": apk.name, "mb": size, "ours": o, "exodus": p, "ratio": ratio, "same": same}
        )
        print(
            f"{apk.name[:48]:48} {size:5.2f} {o['seconds']:9.3f} {o['rss_kb'] / 1024:6.0f} "
            f"{p.get('seconds', float('nan')):8.3f} {p.get('rss_kb', 0) / 1024:6.0f} {ratio:6.1f} "
            f"{'' if same is None else same}{'' if 'error' not in o else ' ours:' + o['error']}"
            f"{' exodus:' + p['error'][:30] if p.get('error') else ''}"
        )
    both = [r for r in rows if r["same"] is not None]
    if both:
        t_ours = sum(r["ours"]["seconds"] for r in both)
        t_exo = sum(r["exodus"]["seconds"] for r in both)
        big = [r for r in both if r["mb"] >= 0.5]
        print(
            f"\nAPKs compared: {len(both)}; identical εxodus tracker sets: "
            f"{sum(1 for r in both if r['same'])}/{len(both)}"
        )
        print(
            f"total seconds: mingyue {t_ours:.2f}  exodus-core {t_exo:.2f}  ratio {t_exo / t_ours:.2f}x"
        )
        print(
            f"median per-APK ratio: {statistics.median(r['ratio'] for r in both):.2f}x; "
            f"APKs >= 0.5 MB: {statistics.median(r['ratio'] for r in big):.2f}x median, "
            f"{sum(r['exodus']['seconds'] for r in big) / sum(r['ours']['seconds'] for r in big):.2f}x total"
            if big
            else ""
        )
    small = [r for r in rows if r["mb"] <= 5 and "error" not in r["ours"]]
    print(
        f"peak RSS of the parsing process (APKs <= 5 MB): "
        f"{max(r['ours']['rss_kb'] for r in small) / 1024:.0f} MB; scanning process: "
        f"{parent_rss / 1024:.0f} MB; exodus-core peak: "
        f"{max((r['exodus'].get('rss_kb', 0) for r in rows), default=0) / 1024:.0f} MB"
    )
    if not have_peer:
        print("exodus-core peer venv missing: run scripts/appcheck-peers.sh")
    if out_json:
        out_json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
