"""Tables of citygov: each part keeps its own module; this one imports them all for the metadata."""

from __future__ import annotations

from mingyue.enablers.citygov import (
    models_broker,  # noqa: F401
    models_cases,  # noqa: F401
    models_telemetry,  # noqa: F401
)
