"""The efficiency dimension: TTFT, latency and tokens/s measured by streaming at each concurrency
level, and the cost of a run's tokens from a tariff."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from mingyue.enablers.modeleval.engine.client import ModelClient
from mingyue.enablers.modeleval.engine.config import RunConfig
from mingyue.enablers.modeleval.engine.scorecard import percentile

EFFICIENCY_PROMPT = "用一句话介绍长城。Then say the same in one English sentence."


def measure(client: ModelClient, config: RunConfig, tokens: dict[str, int]) -> dict[str, Any]:
    """Measure TTFT, latency and tokens/s by streaming at each concurrency level.

    ``tokens``: the run's prompt and completion tokens so far, priced by the config's tariff.
    """
    out: dict[str, Any] = {
        "latency_ms_p50": None,
        "latency_ms_p95": None,
        "ttft_ms_p50": None,
        "tokens_per_s": None,
    }
    out.update(cost(config, tokens))
    memory = getattr(client, "memory_mb", None)
    out["memory_mb"] = memory() if callable(memory) else None
    if not config.efficiency:
        return out
    by_level: dict[str, Any] = {}
    messages = [{"role": "user", "content": EFFICIENCY_PROMPT}]
    for level in config.efficiency_levels:
        n = max(level, 4)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=level) as pool:
            replies = list(
                pool.map(
                    lambda _: client.chat(
                        messages, max_tokens=config.efficiency_max_tokens, stream=True
                    ),
                    range(n),
                )
            )
        wall = time.perf_counter() - t0
        ok = [r for r in replies if r.ok]
        lat = [r.latency_ms for r in ok]
        ttft = [r.ttft_ms for r in ok if r.ttft_ms is not None]
        toks = sum(r.completion_tokens or 0 for r in ok)
        gen_s = sum(r.latency_ms - (r.ttft_ms or 0) for r in ok) / 1000
        by_level[str(level)] = {
            "requests": n,
            "failed": n - len(ok),
            "latency_ms_p50": percentile(lat, 50),
            "latency_ms_p95": percentile(lat, 95),
            "ttft_ms_p50": percentile(ttft, 50),
            "tokens_per_s": round(toks / gen_s, 1) if level == 1 and gen_s > 0 else None,
            "throughput_tokens_per_s": round(toks / wall, 1) if wall > 0 else None,
        }
    first = by_level.get(str(config.efficiency_levels[0]), {})
    for k in ("latency_ms_p50", "latency_ms_p95", "ttft_ms_p50", "tokens_per_s"):
        out[k] = first.get(k)
    out["by_concurrency"] = by_level
    return out


def cost(config: RunConfig, tokens: dict[str, int]) -> dict[str, Any]:
    """Price the run's tokens by the config's tariff (None when it has none)."""
    c = config
    if c.price_prompt_1k is None and c.price_completion_1k is None:
        return {"cost_per_1k_tokens": None, "cost": None}
    total_cost = (
        Decimal(tokens["prompt"]) * (c.price_prompt_1k or Decimal(0))
        + Decimal(tokens["completion"]) * (c.price_completion_1k or Decimal(0))
    ) / 1000
    total = tokens["prompt"] + tokens["completion"]
    per_1k = (total_cost * 1000 / total) if total else Decimal(0)
    return {
        "cost_per_1k_tokens": str(per_1k.quantize(Decimal("0.000001"))),
        "cost": str(total_cost.quantize(Decimal("0.000001"))),
    }
