"""What one evaluation run is asked to do: decoding budgets, scoring mode, what to measure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from mingyue.enablers.modeleval.engine import perturb as pert
from mingyue.enablers.modeleval.engine.sandbox import SandboxLimits

Progress = Callable[[int, int, str], None]
SCORINGS = ("generate", "loglikelihood")


@dataclass(frozen=True)
class RunConfig:
    """Decoding budgets and what to measure."""

    concurrency: int = 4
    choice_max_tokens: int = 16
    exact_max_tokens: int = 256
    code_max_tokens: int = 384
    probe_max_tokens: int = 96
    efficiency_levels: tuple[int, ...] = (1, 4, 16)
    efficiency_max_tokens: int = 32
    perturbations: tuple[str, ...] = pert.KINDS
    robustness: bool = True
    efficiency: bool = True
    early_stop: bool = False  # cut a multiple-choice reply once its option is settled
    # "loglikelihood": multiple choice by the most likely " A"/" B"… after the prompt, where the
    # endpoint scores continuations (lm-eval's MMLU way); otherwise, and by default, generated
    scoring: str = "generate"
    price_prompt_1k: Decimal | None = None  # tariff, per 1,000 tokens
    price_completion_1k: Decimal | None = None
    sandbox: SandboxLimits = field(default_factory=SandboxLimits)
