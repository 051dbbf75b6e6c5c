"""Log lines of the web process: text or JSON, each carrying the id of the request it serves.

The request id comes from a well-formed ``X-Request-ID`` header or is generated; it is echoed in
the response (``RequestContext`` in ``mingyue.web.metrics``) and added to every log record written
while the request runs (a context variable, copied into the threads that run sync routes).
Secrets never reach a line: the access log names the route template and never the query string
or a header, and the formatter masks bearer tokens and ``password=``/``token=`` values that a
careless message might carry.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from mingyue.core.config import Settings

request_id_var: ContextVar[str] = ContextVar("mingyue_request_id", default="-")

# A proxy's or a client's id is kept when it is short and plain (UUIDs, hex, base64url,
# "host-123"); anything else is replaced, so a header cannot inject text into a log line.
_WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_SECRETS = re.compile(
    r"(?i)(bearer\s+|(?:password|passwd|secret|token|api_key|apikey)[\"']?\s*[=:]\s*[\"']?)"
    r"[^\s\"'&,;]+"
)
_HANDLER_NAME = "mingyue-web"
_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


def well_formed_request_id(value: str) -> bool:
    """Tell whether a client's X-Request-ID may be kept as the request id."""
    return _WELL_FORMED.fullmatch(value) is not None


def redact(text: str) -> str:
    """Mask bearer tokens and ``password=…``-like values in a log message."""
    return _SECRETS.sub(r"\1[redacted]", text)


class RequestIdFilter(logging.Filter):
    """Give every record the id of the request being served (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Attach ``record.request_id``; never drops a record."""
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as one line of JSON."""
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value if isinstance(value, int | float | bool) else redact(str(value))
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger [request id] message`` with secrets masked."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as one text line."""
        return redact(super().format(record))


def install_logging(settings: Settings) -> None:
    """Send the ``mingyue`` loggers to stderr in the configured format (idempotent)."""
    logger = logging.getLogger("mingyue")
    for old in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
        logger.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if settings.debug else settings.log_level)
