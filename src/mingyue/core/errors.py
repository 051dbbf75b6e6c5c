"""Errors that carry a message key (translated for people) and an HTTP status."""

from __future__ import annotations

from typing import Any


class MingyueError(Exception):
    """Base error: a message key from the i18n catalogues, its parameters, and an HTTP status."""

    status: int = 400
    exit_code: int = 1
    # A refusal that is itself a record (see RecordedRefusal) keeps the unit of work's writes.
    keep_work: bool = False
    # A response document that replaces the problem+json body (see RecordedRefusal).
    document: dict[str, Any] | None = None

    def __init__(
        self, key: str, message: str | None = None, *, field: str | None = None, **params: Any
    ) -> None:
        self.key = key
        self.params = params
        self.field = field
        self.message = message or key
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        """Return the error as plain data (problem+json body)."""
        out: dict[str, Any] = {"key": self.key, "detail": self.message, "status": self.status}
        if self.field:
            out["field"] = self.field
        if self.params:
            out["params"] = {k: _plain(v) for k, v in self.params.items()}
        return out


def _plain(v: Any) -> Any:
    return v if isinstance(v, (str, int, float, bool, type(None), list, dict)) else str(v)


class InvalidInput(MingyueError):
    """The request is malformed or violates a rule (HTTP 422, CLI exit 2)."""

    status = 422
    exit_code = 2


class NotAuthenticated(MingyueError):
    """No or bad credentials (HTTP 401)."""

    status = 401
    exit_code = 1


class Forbidden(MingyueError):
    """The principal may not do this (HTTP 403)."""

    status = 403
    exit_code = 1


class NotFound(MingyueError):
    """The object does not exist or is not visible to the principal (HTTP 404)."""

    status = 404
    exit_code = 1


class Conflict(MingyueError):
    """The object is not in a state that allows this (HTTP 409)."""

    status = 409
    exit_code = 1


class PayloadTooLarge(MingyueError):
    """An upload exceeds the size cap (HTTP 413)."""

    status = 413
    exit_code = 2


class Refused(MingyueError):
    """A policy refused the request (HTTP 403 with a reason; CLI exit 3)."""

    status = 403
    exit_code = 3


class QuotaExceeded(MingyueError):
    """A quota or budget is exhausted (HTTP 429; CLI exit 3)."""

    status = 429
    exit_code = 3


class RecordedRefusal(MingyueError):
    """A policy refusal that is itself a record: the unit of work commits, then the error answers.

    Raise it after writing the refusal's trace (the refused request, its audit entry) and nothing
    else: the unit of work commits those writes instead of rolling back, so the refusal stays on the
    ledger, and the API answers ``status`` (403 policy, 422 rejected input, 429 budget or rate
    limit) with ``document`` as the JSON body. CLI exit 3.
    """

    keep_work = True
    exit_code = 3

    def __init__(
        self,
        key: str,
        message: str | None = None,
        *,
        status: int,
        document: dict[str, Any],
        field: str | None = None,
        **params: Any,
    ) -> None:
        if not 400 <= status < 500:
            raise ValueError(f"a refusal answers a 4xx status, not {status}")
        super().__init__(key, message, field=field, **params)
        self.status = status
        self.document = document


class UnscopedQuery(RuntimeError):
    """A tenant-owned table was queried with no tenant in context (a programming error)."""
