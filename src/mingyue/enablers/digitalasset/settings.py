"""Typed options of the digitalasset enabler, read from ``MINGYUE_DIGITALASSET__*``.

The core's ``Settings.digitalasset`` holds the raw nested group; this model validates it. Every
field is listed in docs/settings.md (a test fails on an undocumented one).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mingyue.sdk import Settings
from mingyue.sdk.errors import InvalidInput


class DigitalassetSettings(BaseModel):
    """Options of the digitalasset enabler (``MINGYUE_DIGITALASSET__<FIELD>``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chain: Literal["embedded", "rpc"] = Field(
        "embedded",
        description="The chain: `embedded` (py-evm in-process, replayed from a journal in the "
        "data dir) or `rpc` (an Ethereum JSON-RPC node at `rpc_url`).",
    )
    rpc_url: str = Field("", description="JSON-RPC URL of the chain node when chain=rpc.")
    rpc_allowed_hosts: tuple[str, ...] = Field(
        (),
        description="Hosts JSON-RPC may be sent to, comma-separated; any other is refused.",
    )
    rpc_timeout_s: float = Field(10.0, gt=0, le=300, description="Seconds per JSON-RPC answer.")
    holding_days: int = Field(
        180, ge=0, le=3650, description="Days held before a transfer (rule SANDBOX-HOLD)."
    )
    min_kyc_level: int = Field(
        2, ge=1, le=3, description="Real-name level parties need (rule CN-NFT-2022-5)."
    )
    max_edition: int = Field(
        10000, ge=1, le=1_000_000, description="Largest edition cap (rule CN-NFT-2022-2)."
    )
    max_work_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        le=4 * 1024 * 1024 * 1024,
        description="Largest work file a registration accepts (bytes).",
    )
    # contract audit and monitoring (da-monitor)
    audit_tools: str = Field(
        "",
        description="Folder of the contract-audit tools (Slither venv, solc-js packages) that "
        "scripts/digitalasset-audit-setup.sh fills; empty: <repo>/.venv-da-audit beside the venv.",
    )
    audit_timeout_s: float = Field(
        300.0, gt=0, le=3600, description="Seconds Slither may spend on one contract file."
    )
    audit_mythril_timeout_s: float = Field(
        0.0,
        ge=0,
        le=3600,
        description="Seconds Mythril may spend on each contract's runtime bytecode in an audit "
        "job; 0 (the default) leaves Mythril out. Needs DA_MYTHRIL=1 when running "
        "scripts/digitalasset-audit-setup.sh.",
    )
    max_events_bytes: int = Field(
        256 * 1024 * 1024,
        ge=1024,
        le=4 * 1024 * 1024 * 1024,
        description="Largest marketplace export (CSV or JSON) a monitoring run reads (bytes).",
    )

    @field_validator("rpc_allowed_hosts", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(h.strip() for h in value.split(",") if h.strip())
        return value

    def rule_options(self) -> dict[str, int]:
        """Return the parameters the rule pack takes from settings."""
        return {
            "holding_days": self.holding_days,
            "min_kyc_level": self.min_kyc_level,
            "max_edition": self.max_edition,
        }


def options(settings: Settings) -> DigitalassetSettings:
    """Return the validated digitalasset options (InvalidInput naming the bad option)."""
    try:
        return DigitalassetSettings.model_validate(settings.enabler("digitalasset"))
    except ValidationError as exc:
        err = exc.errors()[0]
        opt = "MINGYUE_DIGITALASSET__" + str(err["loc"][0]).upper() if err["loc"] else "?"
        raise InvalidInput("digitalasset.settings", f"{opt}: {err['msg']}", field=opt) from exc
