"""Contract audit on SmartBugs-curated: file recall, line recall and precision, ours vs Slither alone.

Before any tool sees a file, the ``// <yes> <report> CATEGORY`` label comments and the
``@vulnerable_at_lines`` header are blanked (line count kept). Each file is analysed once; the same
Slither run gives both columns:

- **Slither alone**: every Slither result, its check mapped to a DASP category (unmapped → other);
- **ours**: Slither's results mapped and filtered (noise dropped) plus our AST rules.

Metrics (labels from vulnerabilities.json; only the intended bug of each file is labelled, so
precision is a lower bound):
- file recall: labelled files with at least one finding of a labelled category (errors count as misses);
- line recall: labelled (file, category, line) triples hit by a finding of that category on that line;
- precision: findings whose (file, category) is labelled, over all findings;
- line precision: findings that hit a labelled (file, category, line), over all findings.

With ``--mythril SECONDS`` Mythril also analyses each contract's runtime bytecode (its findings
merge with ours by category and line) and a third column, **ours + Mythril**, appears; the
"ours" column is then the same run with Mythril's findings left out. ``--categories`` and
``--per-category`` take a subset (Mythril needs about a minute per contract here).

    python bench/contract_audit.py [DATASET_DIR] [--jobs 2] [--json] [--tools .venv-da-audit]
        [--mythril 60] [--categories arithmetic,reentrancy] [--per-category 1]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mingyue.enablers.digitalasset.engine.audit import FileResult, Finding, audit_file, discover

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "chain" / "smartbugs-curated"


def blank_labels(text: str) -> str:
    """Remove label comments, keeping every line where it was."""
    text = re.sub(r"//\s*<yes>\s*<report>[^\n]*", "", text)
    return re.sub(r"@vulnerable_at_lines[^\n]*", "", text)


def score(
    results: dict[str, list[Finding] | None], labels: dict[str, list[tuple[str, int]]]
) -> dict[str, Any]:
    files_found = 0
    lines_total = lines_hit = 0
    n_findings = cat_ok = line_ok = 0
    per_cat: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for path, labs in labels.items():
        found = results.get(path)
        cats = {c for c, _ in labs}
        got = {(f.category, f.line) for f in found or []}
        got_cats = {c for c, _ in got}
        hit = bool(cats & got_cats)
        files_found += hit
        for c in cats:
            per_cat[c][1] += 1
            per_cat[c][0] += c in got_cats
        for c, ln in labs:
            lines_total += 1
            lines_hit += (c, ln) in got
        for f in found or []:
            n_findings += 1
            cat_ok += f.category in cats
            line_ok += (f.category, f.line) in set(labs)
    return {
        "files": len(labels),
        "file_recall": round(files_found / len(labels), 3),
        "line_recall": round(lines_hit / max(1, lines_total), 3),
        "precision": round(cat_ok / max(1, n_findings), 3),
        "line_precision": round(line_ok / max(1, n_findings), 3),
        "findings": n_findings,
        "per_category": {c: f"{a}/{b}" for c, (a, b) in sorted(per_cat.items())},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument(
        "--tools", type=Path, default=Path(__file__).resolve().parents[1] / ".venv-da-audit"
    )
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--mythril", type=float, default=0.0, help="seconds per contract; 0: off")
    ap.add_argument("--categories", default="", help="comma-separated DASP categories")
    ap.add_argument("--per-category", type=int, default=0, help="first N files of each")
    args = ap.parse_args()
    tools = discover(args.tools)
    if tools.missing:
        print("cannot run: " + "; ".join(tools.missing), file=sys.stderr)
        return 2
    vulns = json.loads((args.dataset / "vulnerabilities.json").read_text())
    labels = {
        v["path"]: [(x["category"], ln) for x in v["vulnerabilities"] for ln in x["lines"]]
        for v in vulns
    }
    wanted = {c for c in args.categories.split(",") if c}
    if wanted or args.per_category:
        taken: dict[str, int] = defaultdict(int)
        subset = {}
        for rel, labs in sorted(labels.items()):
            cat = labs[0][0] if labs else "other"
            if (wanted and cat not in wanted) or (
                args.per_category and taken[cat] >= args.per_category
            ):
                continue
            taken[cat] += 1
            subset[rel] = labs
        labels = subset
    with tempfile.TemporaryDirectory(prefix="da-bench-") as tmp:
        work = Path(tmp)
        for rel in labels:
            dest = work / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(
                blank_labels((args.dataset / rel).read_text(encoding="utf-8", errors="replace"))
            )
        t0 = time.perf_counter()

        def one(rel: str) -> tuple[str, FileResult]:
            p = work / rel
            return rel, audit_file(
                p,
                p.parent,
                tools,
                timeout_s=args.timeout,
                display=rel,
                mythril_timeout_s=args.mythril,
            )

        with ThreadPoolExecutor(max(1, args.jobs)) as ex:
            done = dict(ex.map(one, sorted(labels)))
        wall = time.perf_counter() - t0
    # without_mythril is empty when Slither failed: such a file counts as a miss either way
    ours = {k: r.without_mythril for k, r in done.items()}
    with_myth = {k: (r.findings if r.status == "ok" else None) for k, r in done.items()}
    alone = {k: r.slither_alone for k, r in done.items()}
    out = {
        "dataset": str(args.dataset),
        "analysed": sum(r.status == "ok" for r in done.values()),
        "errors": {k: r.error for k, r in done.items() if r.status != "ok"},
        "wall_s": round(wall, 1),
        "median_s_per_file": round(sorted(r.seconds for r in done.values())[len(done) // 2], 2),
        "slither_alone": score(alone, labels),
        "ours": score(ours, labels),
    }
    if args.mythril > 0:
        out["ours_mythril"] = score(with_myth, labels)
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(
        f"{out['analysed']}/{len(labels)} files analysed in {out['wall_s']} s "
        f"(median {out['median_s_per_file']} s/file); errors: {len(out['errors'])}"
    )
    for k, v in out["errors"].items():
        print(f"  error {k}: {v}")
    a, o = out["slither_alone"], out["ours"]
    m3 = out.get("ours_mythril")
    head = f"{'':16s}{'Slither alone':>16s}{'ours':>10s}"
    print(head + (f"{'ours+Mythril':>14s}" if m3 else ""))
    for m in ("file_recall", "line_recall", "precision", "line_precision", "findings"):
        print(f"{m:16s}{a[m]:>16}{o[m]:>10}" + (f"{m3[m]:>14}" if m3 else ""))
    print("per category (files found / labelled):")
    for c in o["per_category"]:
        extra = f"{m3['per_category'][c]:>14s}" if m3 else ""
        print(f"  {c:28s}{a['per_category'][c]:>10s}{o['per_category'][c]:>10s}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
