"""Typed options of the crossborder enabler, read from ``MINGYUE_CROSSBORDER__*``.

The core's ``Settings.crossborder`` holds the raw nested group; this model validates it. Every
field is listed in docs/settings.md (a test fails on an undocumented one).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mingyue.sdk import Settings
from mingyue.sdk.errors import InvalidInput


class CrossborderSettings(BaseModel):
    """Options of the crossborder enabler (``MINGYUE_CROSSBORDER__<FIELD>``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    geoip: Path | None = Field(
        None,
        description="Offline IP-to-country database for flow monitoring: a MaxMind `.mmdb`, a "
        "legacy `GeoIP.dat` or a CIDR CSV (Debian `geoip-database` when unset and present).",
    )
    sync_scan_max_bytes: int = Field(
        64 * 1024,
        ge=0,
        description="Largest upload the scan API scans inside the request; a larger one becomes "
        "a background job (202 with the job's status URL).",
    )
    ner_budget_s: float = Field(
        20.0,
        ge=0,
        description="Seconds of name/place/organisation recognition per document; past them NER "
        "stops, the report says `ner_truncated: true`, the identifier patterns still complete "
        "(0 = no budget).",
    )
    office_max_bytes: int = Field(
        32 * 1024 * 1024,
        ge=1024,
        description="Largest expanded size of a DOCX (its zip members) and largest extracted "
        "text of a DOCX or PDF; a larger document is refused before it is parsed.",
    )


def options(settings: Settings) -> CrossborderSettings:
    """Return the validated crossborder options (InvalidInput naming the bad option)."""
    try:
        return CrossborderSettings.model_validate(settings.enabler("crossborder"))
    except ValidationError as exc:
        err = exc.errors()[0]
        opt = "MINGYUE_CROSSBORDER__" + str(err["loc"][0]).upper() if err["loc"] else "?"
        raise InvalidInput("crossborder.settings", f"{opt}: {err['msg']}", field=opt) from exc
