"""Speed and memory of appcheck vs exodus-core (+ Debian dexdump) on the shared APK corpus.

    .venv/bin/python bench/appcheck_speed.py [APK_DIR] [--json OUT]

For every APK: mingyue's full scan (archive guard + sandboxed parse + SDK inventory + report,
the parser zygote warm) and exodus-core's ``detect_trackers`` (run in its own venv, one process
per APK so each peak RSS is that APK's; its interpreter start-up and imports are not counted).
Prints seconds per APK, peak RSS, whether the εxodus tracker sets are identical, and the ratios.
The issue's goal: >= 3x faster than exodus-core, peak RSS <= 300 MB for APKs <= 5 MB.
With ``--mobsf`` it also starts MobSF (``.venv-mobsf``, ``pip install mobsf==4.4.0``) on loopback
and times upload + scan per APK through its REST API (peer for speed only; GPL-3, never a dependency).
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


MOBSF = REPO / ".venv-mobsf" / "bin" / "mobsf"


def run_mobsf(apks: list[Path]) -> dict[str, dict]:
    """Start MobSF on loopback, time upload+scan of each APK, stop it (by its process group)."""
    import os
    import signal
    import socket
    import tempfile

    import httpx

    if not MOBSF.exists():
        print(f"MobSF not installed at {MOBSF}; skipped")
        return {}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = tempfile.mkdtemp(prefix="mobsf-home-")
    env = {**os.environ, "HOME": home, "MOBSF_API_KEY": "benchkey"}
    proc = subprocess.Popen(
        [str(MOBSF), f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base, hdr = f"http://127.0.0.1:{port}", {"Authorization": "benchkey"}
    out: dict[str, dict] = {}
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/login/", timeout=2).status_code < 500:
                    break
            except httpx.HTTPError:
                time.sleep(2)
        else:
            print("MobSF did not start in 300 s; skipped")
            return {}
        with httpx.Client(base_url=base, headers=hdr, timeout=600) as c:
            for apk in apks:
                t0 = time.perf_counter()
                try:
                    up = c.post(
                        "/api/v1/upload",
                        files={"file": (apk.name, apk.read_bytes(), "application/octet-stream")},
                    )
                    h = up.json().get("hash")
                    r = c.post("/api/v1/scan", data={"hash": h}) if h else up
                    ok = r.status_code == 200
                    res: dict = {"error": None if ok else f"HTTP {r.status_code}"}
                    if ok:
                        trackers = (r.json().get("trackers") or {}).get("trackers") or []
                        res["trackers"] = sorted(t.get("name", "") for t in trackers)
                except (httpx.HTTPError, ValueError) as exc:
                    res = {"error": type(exc).__name__}
                res["seconds"] = time.perf_counter() - t0
                out[apk.name] = res
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
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
    mob = run_mobsf(apks) if "--mobsf" in argv else {}
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
    if mob:
        pairs = [
            (ours[n]["seconds"], m["seconds"])
            for n, m in mob.items()
            if not m.get("error") and "error" not in ours[n]
        ]
        if pairs:
            t_o, t_m = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
            print(
                f"MobSF: {len(pairs)} APKs, total {t_m:.1f} s vs mingyue {t_o:.2f} s: {t_m / t_o:.1f}x; "
                f"median per-APK {statistics.median(m / o for o, m in pairs):.1f}x"
            )
        else:
            print("MobSF: no APK scanned successfully")
    if not have_peer:
        print("exodus-core peer venv missing: run scripts/appcheck-peers.sh")
    if out_json:
        out_json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
