"""Errors of the supervision engine: each names the offending field (CLI exit 2, HTTP 422)."""

from __future__ import annotations

from mingyue.sdk.errors import InvalidInput


class FieldError(InvalidInput):
    """Invalid input to a pure function of the engine; ``field`` names the offending field."""

    key_name = "supervision.invalid_input"

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(self.key_name, message, field=field_name)
        self.field: str = field_name

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class FactsError(FieldError):
    """The facts of a case are invalid (missing, unknown or wrongly typed field)."""

    key_name = "supervision.facts_invalid"


class SelfCheckError(FieldError):
    """Self-check answers are invalid (unknown question, missing or wrongly typed answer)."""

    key_name = "supervision.selfcheck_invalid"


class DocumentError(FieldError):
    """A published document (exemption list, guideline) is malformed; ``field`` is its path."""

    key_name = "supervision.document_invalid"


class DeadlineError(FieldError):
    """A deadline cannot be computed (negative day count, a calendar without working days)."""

    key_name = "supervision.deadline_invalid"
