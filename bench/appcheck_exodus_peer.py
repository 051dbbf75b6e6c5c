"""Run exodus-core (the reference peer) on APKs; print one JSON object per APK.

Runs inside the peer venv made by ``scripts/appcheck-peers.sh`` (exodus-core 1.3.15, androguard
4.1.1, Debian ``dexdump``), never inside mingyue's own environment. Signatures come from a local
εxodus JSON file (no network). Used by the appcheck acceptance tests and ``bench/appcheck_speed.py``.

    .venv-exodus/bin/python bench/appcheck_exodus_peer.py SIGNATURES.json APK... [--classes]
"""

import json
import logging
import resource
import sys
import time
from collections import namedtuple


def main(argv: list[str]) -> int:
    dump_classes = "--classes" in argv
    args = [a for a in argv if a != "--classes"]
    sig_path, apks = args[0], args[1:]
    logging.disable(logging.CRITICAL)
    from exodus_core.analysis.static_analysis import StaticAnalysis
    from loguru import logger

    logger.remove()  # exodus-core installs an INFO handler at import; keep stdout JSON-only
    with open(sig_path, encoding="utf-8") as fh:
        data = json.load(fh)
    trackers = data["trackers"]
    signatures = [
        namedtuple("tracker", trackers[k].keys())(*trackers[k].values()) for k in trackers
    ]
    for apk in apks:
        t0 = time.perf_counter()
        out: dict = {"file": apk}
        try:
            sa = StaticAnalysis(apk)
            sa.signatures = signatures
            sa._compile_signatures()
            found = sa.detect_trackers()
            out["trackers"] = sorted({t.id for t in found})
            out["package"] = sa.get_package()
            if dump_classes:
                out["classes"] = sorted(sa.get_embedded_classes())
        except BaseException as exc:
            out["error"] = f"{type(exc).__name__}: {exc}"[:300]
        out["seconds"] = time.perf_counter() - t0
        out["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["children_maxrss_kb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
