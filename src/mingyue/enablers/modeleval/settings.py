"""Typed options of the modeleval enabler, read from ``MINGYUE_MODELEVAL__*``.

The core's ``Settings.modeleval`` holds the raw nested group (until it exists, the defaults
apply); this model validates it. Every field is listed in docs/settings.md.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mingyue.sdk import Settings
from mingyue.sdk.errors import InvalidInput


class ModelevalSettings(BaseModel):
    """Options of the modeleval enabler (``MINGYUE_MODELEVAL__<FIELD>``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint_hosts: tuple[str, ...] = Field(
        (),
        description="Hosts (`host` or `host:port`) a registered model's endpoint may name, "
        "comma-separated; loopback is also allowed outside prod. Any other endpoint is refused "
        "when the model is registered and again before each trial request.",
    )
    trial_tokens_per_month: int = Field(
        200_000,
        ge=0,
        description="Trial-chat tokens (prompt + completion) an organization may use per "
        "calendar month (Asia/Shanghai) unless an operator set its own quota; 0 = no trial.",
    )
    trial_timeout_s: float = Field(
        60.0,
        gt=0,
        le=600,
        description="Seconds one trial-chat request may wait for the model's reply.",
    )
    trial_max_tokens: int = Field(
        512,
        ge=16,
        le=8192,
        description="Most completion tokens one trial-chat reply may use.",
    )

    @field_validator("endpoint_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(h.strip().lower() for h in value.split(",") if h.strip())
        return value


def options(settings: Settings) -> ModelevalSettings:
    """Return the validated modeleval options (InvalidInput naming the bad option)."""
    try:
        return ModelevalSettings.model_validate(settings.enabler("modeleval"))
    except ValidationError as exc:
        err = exc.errors()[0]
        opt = "MINGYUE_MODELEVAL__" + str(err["loc"][0]).upper() if err["loc"] else "?"
        raise InvalidInput("modeleval.settings", f"{opt}: {err['msg']}", field=opt) from exc
