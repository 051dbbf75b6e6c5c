"""Errors an enabler raises: each carries a message key (CONVENTIONS rule 10) and maps to HTTP.

Pure: no database, no web. Engines may import this module and nothing else of the platform.
"""

from mingyue.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    MingyueError,
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    RecordedRefusal,
    Refused,
)

__all__ = [
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "MingyueError",
    "NotAuthenticated",
    "NotFound",
    "PayloadTooLarge",
    "QuotaExceeded",
    "RecordedRefusal",
    "Refused",
]
