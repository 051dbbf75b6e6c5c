"""Refusals raised by the sandbox engine: each carries a machine rule id and a message key."""

from __future__ import annotations

from typing import Any


class SandboxError(Exception):
    """Base of every error the sandbox raises; ``rule`` says which wall stopped the request."""

    def __init__(self, rule: str, message: str, **params: Any) -> None:
        self.rule = rule
        self.key = f"datasandbox.{rule}"
        self.params = params
        self.message = message
        super().__init__(f"[{rule}] {message}")

    def to_dict(self) -> dict[str, Any]:
        """Return the refusal as plain data (rule, key, message, params)."""
        return {
            "rule": self.rule,
            "key": self.key,
            "message": self.message,
            "params": {k: str(v) for k, v in self.params.items()},
        }


class Refusal(SandboxError):
    """The request breaks a rule (SQL allow-list, policy, gate): nothing ran, nothing was charged."""


class BudgetExhausted(Refusal):
    """The privacy budget left for this consumer, dataset and period is smaller than asked."""


class ExecutionFailed(SandboxError):
    """The sandbox process failed (time limit, memory limit, engine error): nothing released."""


class InvalidSpec(SandboxError):
    """A dataset, policy or spec given to the engine is malformed."""
