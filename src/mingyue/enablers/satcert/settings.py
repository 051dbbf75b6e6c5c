"""Typed options of the satcert enabler, read from ``MINGYUE_SATCERT__*``.

The core's ``Settings.satcert`` holds the raw nested group; this model validates it. Every field
is listed in docs/settings.md (a test fails on an undocumented one). The bench's transports read
``lab_hosts`` from the environment themselves (``MINGYUE_SATCERT__LAB_HOSTS``, comma-separated).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mingyue.sdk import Settings
from mingyue.sdk.errors import InvalidInput


class SatcertSettings(BaseModel):
    """Options of the satcert enabler (``MINGYUE_SATCERT__<FIELD>``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lab_hosts: tuple[str, ...] = Field(
        (),
        description="Hosts a `socket://host:port` bench transport may reach besides loopback, "
        "comma-separated (lab instruments and terminal consoles); any other host is refused.",
    )
    max_log_bytes: int = Field(
        8 * 1024 * 1024,
        ge=4096,
        le=1024 * 1024 * 1024,
        description="Largest raw log one bench run keeps (bytes); past it the run stops with the "
        "verdict `error` and the reason `satcert.log_too_large`, never a silent cut.",
    )
    ttff_resets: int = Field(
        10,
        ge=1,
        le=1000,
        description="Resets per start type (cold, warm, hot) in a TTFF campaign when the plan "
        "does not say.",
    )
    certificate_valid_days: int = Field(
        3 * 365,
        ge=1,
        le=3650,
        description="Validity of a terminal certificate, in days from issue.",
    )
    expiry_warning_days: int = Field(
        60,
        ge=1,
        le=365,
        description="Days before a certificate's expiry when the daily job announces it on the "
        "sample's case (once per certificate).",
    )
    max_import_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        le=512 * 1024 * 1024,
        description="Largest RF/protocol result export (CSV or XML) an import reads.",
    )

    @field_validator("lab_hosts", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(h.strip() for h in value.split(",") if h.strip())
        return value


def options(settings: Settings) -> SatcertSettings:
    """Return the validated satcert options (InvalidInput naming the bad option)."""
    try:
        return SatcertSettings.model_validate(settings.enabler("satcert"))
    except ValidationError as exc:
        err = exc.errors()[0]
        opt = "MINGYUE_SATCERT__" + str(err["loc"][0]).upper() if err["loc"] else "?"
        raise InvalidInput("satcert.settings", f"{opt}: {err['msg']}", field=opt) from exc
