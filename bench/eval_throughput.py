"""Items/s of mingyue's evaluation runner vs lm-evaluation-harness on the same tasks and server.

Both ask the local SmolLM2-135M-Instruct llama.cpp server (OpenAI-compatible chat completions)
the same built-in generality items with the same prompts and token budgets at temperature 0:
lm-eval through its ``local-chat-completions`` model on a ``dataset_path: json`` task, mingyue
through ``Runner`` (requests in flight, multiple-choice replies cut once their option is settled,
identical requests asked once, answers cached across runs). ``--processes N`` serves the model
from N llama.cpp processes behind one endpoint (``LocalLlamaServer(processes=N)``); both runners
then talk to that endpoint. The two alternate for ``--rounds`` rounds (mingyue first in odd
rounds, lm-eval first in even ones: the load of a shared machine drifts) on one server; each
round's ratio is mingyue's cold items/s over lm-eval's, and the median is reported. Every
round compares the per-item scores (lm-eval's raw replies re-scored by our extractor, so a
difference in scores is a difference in replies, not in scoring).

    .venv/bin/python bench/eval_throughput.py [--concurrency 4] [--items 15] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from mingyue.enablers.modeleval.adapters.cache import DiskCache
from mingyue.enablers.modeleval.adapters.local_llama import LocalLlamaServer
from mingyue.enablers.modeleval.adapters.openai_compat import OpenAICompatible
from mingyue.enablers.modeleval.engine.client import MemoryCache
from mingyue.enablers.modeleval.engine.runner import RunConfig, Runner
from mingyue.enablers.modeleval.engine.scoring import exact_correct, extract_letter, prompt_for
from mingyue.enablers.modeleval.engine.suites import builtin_items

TASK_YAML = """task: mingyue_bench_{kind}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{{{{prompt}}}}"
doc_to_target: "{{{{target}}}}"
generation_kwargs:
  until: []
  max_gen_toks: {max_tokens}
  do_sample: false
  temperature: 0.0
metric_list:
  - metric: exact_match
"""


def _lm_eval(
    server: LocalLlamaServer, items: list[Any], cfg: RunConfig, work: Path
) -> dict[str, Any]:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    tasks = []
    for kind, budget in (("choice", cfg.choice_max_tokens), ("exact", cfg.exact_max_tokens)):
        rows = [i for i in items if i.kind == kind]
        if not rows:
            continue
        data = work / f"{kind}.jsonl"
        data.write_text(
            "".join(
                json.dumps(
                    {
                        "id": i.id,
                        "prompt": prompt_for(i),
                        "target": str(i.answer_index if kind == "choice" else i.answer_text),
                    },
                    ensure_ascii=False,
                )
                + "\n"
                for i in rows
            ),
            encoding="utf-8",
        )
        (work / f"{kind}.yaml").write_text(
            TASK_YAML.format(kind=kind, data=data, max_tokens=budget), encoding="utf-8"
        )
        tasks.append(f"mingyue_bench_{kind}")
    t0 = time.perf_counter()
    out = simple_evaluate(
        model="local-chat-completions",
        model_args=f"model={server.model},base_url={server.base_url}/chat/completions,"
        "num_concurrent=1,max_retries=1,tokenized_requests=False,timeout=900",
        tasks=tasks,
        task_manager=TaskManager(include_path=str(work)),
        apply_chat_template=True,
        log_samples=True,
    )
    seconds = time.perf_counter() - t0
    by_id = {i.id: i for i in items}
    scores: dict[str, float] = {}
    for samples in (out or {}).get("samples", {}).values():
        for s in samples:
            item = by_id[s["doc"]["id"]]
            reply = s["resps"][0][0] if s["resps"] and s["resps"][0] else ""
            if item.kind == "choice":
                ok = extract_letter(reply, len(item.choices)) == item.answer_index
            else:
                ok = exact_correct(reply, item.answer_text or "")
            scores[item.id] = float(ok)
    n = len(scores)
    return {
        "seconds": round(seconds, 2),
        "items": n,
        "items_per_s": round(n / seconds, 3),
        "accuracy_rescored": round(sum(scores.values()) / n, 4) if n else None,
        "scores": scores,
    }


def _ours(server: LocalLlamaServer, items: list[Any], cfg: RunConfig, cache: Any) -> dict[str, Any]:
    client = OpenAICompatible(server.base_url, server.model, timeout_s=300)
    runner = Runner(client, cfg, cache=cache)
    t0 = time.perf_counter()
    card = runner.run(items, [])
    seconds = time.perf_counter() - t0
    client.close()
    gen = [r for r in card["records"] if r["dimension"] == "generality"]
    return {
        "seconds": round(seconds, 2),
        "items": len(items),
        "items_per_s": round(len(items) / seconds, 3),
        "accuracy": card["generality"]["accuracy"],
        "stopped_early": sum(1 for r in gen if r["extra"].get("stopped_early")),
        "completion_tokens": card["run"]["tokens"]["completion"],
        "scores": {r["id"]: r["score"] for r in gen},
    }


def _brief(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if k != "scores"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--items", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (median ratio)")
    ap.add_argument("--exact-tokens", type=int, default=128, help="budget of word problems")
    ap.add_argument("--server-log", type=Path, default=None)
    ap.add_argument("--kinds", default="choice,exact", help="item kinds to ask (choice, exact)")
    ap.add_argument(
        "--no-early-stop", action="store_true", help="read whole multiple-choice replies"
    )
    ap.add_argument(
        "--processes",
        type=int,
        default=1,
        help="llama.cpp server processes behind one endpoint (both runners use it)",
    )
    args = ap.parse_args()
    kinds = set(args.kinds.split(","))
    items = [i for i in builtin_items(code_items=0) if i.kind in kinds][: args.items]
    cfg = RunConfig(
        concurrency=args.concurrency,
        exact_max_tokens=args.exact_tokens,
        robustness=False,
        efficiency=False,
        early_stop=not args.no_early_stop,
    )
    rounds: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalLlamaServer(threads=2, processes=args.processes, log_path=args.server_log) as server,
    ):
        work = Path(tmp)
        server.chat([{"role": "user", "content": "hi"}], max_tokens=4)  # warm up
        for n in range(args.rounds):
            # alternate who goes first: on a shared machine the load drifts during a run
            if n % 2 == 0:
                ours = _ours(server, items, cfg, MemoryCache())
                peer = _lm_eval(server, items, cfg, work)
            else:
                peer = _lm_eval(server, items, cfg, work)
                ours = _ours(server, items, cfg, MemoryCache())
            rounds.append(
                {
                    "first": "mingyue" if n % 2 == 0 else "lm_eval",
                    "lm_eval": _brief(peer),
                    "mingyue_cold": _brief(ours),
                    "ratio": round(ours["items_per_s"] / peer["items_per_s"], 2),
                    "same_scores": ours["scores"] == peer["scores"],
                    "differing_items": sorted(
                        k for k in ours["scores"] if ours["scores"][k] != peer["scores"].get(k)
                    ),
                }
            )
            print(json.dumps(rounds[-1]), flush=True)
        disk = DiskCache(work / "cache.sqlite3")
        _ours(server, items, cfg, disk)
        warm = _ours(server, items, cfg, disk)  # a re-run: every answer from the cache
        disk.close()
    ratios = [r["ratio"] for r in rounds]
    median_peer = statistics.median(r["lm_eval"]["items_per_s"] for r in rounds)
    print(
        json.dumps(
            {
                "items": len(items),
                "kinds": sorted(kinds),
                "concurrency": args.concurrency,
                "early_stop": cfg.early_stop,
                "server_processes": args.processes,
                "rounds": rounds,
                "ratios": ratios,
                "ratio_median": statistics.median(ratios),
                "same_scores_every_round": all(r["same_scores"] for r in rounds),
                "mingyue_rerun_cached": _brief(warm),
                "ratio_rerun": round(warm["items_per_s"] / median_peer, 2),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
