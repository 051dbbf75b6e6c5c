"""Tables of digitalasset: each part keeps its own module; this one imports them all for the metadata."""

from __future__ import annotations

from mingyue.enablers.digitalasset import (
    models_monitor,  # noqa: F401
    models_registry,  # noqa: F401
)
