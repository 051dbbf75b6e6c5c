"""Validation of what people type into cases: texts without control characters, ids in range."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from mingyue.core.errors import InvalidInput

MAX_ID = 2**31 - 1
MAX_DATA_BYTES = 64 * 1024
_KEEP = {"\n", "\r", "\t"}


def clean_text(
    value: str | None,
    *,
    field: str,
    max_len: int,
    required: bool = False,
    multiline: bool = False,
    key: str | None = None,
) -> str | None:
    """Return the stripped text (None when empty) or raise InvalidInput naming the field.

    Control characters are refused: PostgreSQL cannot store NUL, and the others only hide text.
    """
    text = (value or "").strip()
    err_key = key or "core.case.bad_text"
    if required and not text:
        raise InvalidInput(err_key, f"{field} is required", field=field)
    if len(text) > max_len:
        raise InvalidInput(err_key, f"{field} longer than {max_len}", field=field, max=max_len)
    for ch in text:
        if unicodedata.category(ch) == "Cc" and not (multiline and ch in _KEEP):
            raise InvalidInput(
                "core.case.control_chars",
                f"{field}: control characters are not allowed",
                field=field,
            )
    return text or None


def check_id(value: int | None, *, field: str) -> int | None:
    """Return the id when it is in the database's range; raise InvalidInput otherwise."""
    if value is not None and not 1 <= value <= MAX_ID:
        raise InvalidInput("core.case.bad_id", f"{field} out of range", field=field)
    return value


def check_data(data: dict[str, Any] | None) -> dict[str, Any]:
    """Return a copy of a case's data after checking it is a small JSON object."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput("core.case.bad_data", "data must be a JSON object", field="data")
    try:
        size = len(json.dumps(data, ensure_ascii=False, allow_nan=False).encode())
    except (TypeError, ValueError):
        raise InvalidInput("core.case.bad_data", "data must be plain JSON", field="data") from None
    if size > MAX_DATA_BYTES:
        raise InvalidInput(
            "core.case.bad_data",
            f"data larger than {MAX_DATA_BYTES} bytes",
            field="data",
            max=MAX_DATA_BYTES,
        )
    if "\\u0000" in json.dumps(data):
        raise InvalidInput(
            "core.case.control_chars", "data: NUL characters are not allowed", field="data"
        )
    return dict(data)
