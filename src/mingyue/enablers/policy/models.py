"""Tables of policy: each part keeps its own module; this one imports them all for the metadata."""

from __future__ import annotations

from mingyue.enablers.policy import (
    models_corpus,  # noqa: F401
    models_service,  # noqa: F401
)
