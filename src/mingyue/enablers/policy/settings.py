"""Typed options of the policy enabler, read from ``MINGYUE_POLICY__*``.

The core's ``Settings.policy`` holds the raw nested group; this model validates it. Every field
is listed in docs/settings.md (a test fails on an undocumented one).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mingyue.sdk import Settings
from mingyue.sdk.errors import InvalidInput


class PolicySettings(BaseModel):
    """Options of the policy enabler (``MINGYUE_POLICY__<FIELD>``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # -- Q&A (corpus, answers, model endpoint) --
    covered_threshold: float = Field(
        0.42,
        ge=0.0,
        le=1.0,
        description="Support (mean of the best clause's idf-weighted coverage of the question "
        'and its dense cosine) below which an answer says "not covered"; calibrate it with '
        "`mingyue policy eval --json` (`calibrated_threshold`).",
    )
    max_document_bytes: int = Field(
        20 * 1024 * 1024,
        ge=1024,
        le=1024 * 1024 * 1024,
        description="Largest policy document (text, HTML, PDF, DOCX) an ingest reads (413 past it).",
    )
    model_url: str = Field(
        "",
        max_length=2000,
        description="Base URL of an OpenAI-compatible chat endpoint (`…/v1`) for generated "
        "answers; empty: extractive answers only.",
    )
    model_name: str = Field("", max_length=200, description="Model name sent to the endpoint.")
    model_api_key: str = Field(
        "", max_length=2000, description="Bearer key of the endpoint (never logged nor shown)."
    )
    model_hosts: tuple[str, ...] = Field(
        (),
        description="Hosts the model endpoint may be on besides loopback, comma-separated.",
    )
    model_timeout_s: float = Field(
        60.0, gt=0, le=600, description="Seconds to wait for one generated answer."
    )

    # -- push, dispatch, indicators --
    dispatch_department_min: float = Field(
        0.4,
        ge=0.0,
        le=1.0,
        description="Least probability of the predicted department for a request to be "
        "dispatched without a person; below it the request waits on the dispatch desk.",
    )
    dispatch_kind_min: float = Field(
        0.4,
        ge=0.0,
        le=1.0,
        description="Least probability of the predicted request kind (consultation, help, "
        "complaint, suggestion), whose time limits the case takes, for automatic dispatch.",
    )
    indicator_tolerance: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="How far (a share of the path's value) an indicator may fall behind its "
        "target path before a supervision case opens for the responsible unit.",
    )
    indicator_max_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        le=512 * 1024 * 1024,
        description="Largest statistics upload (CSV or XLSX) read, in bytes (413 past it).",
    )
    indicator_max_rows: int = Field(
        50_000,
        ge=10,
        le=5_000_000,
        description="Most data rows a statistics upload may hold; a longer one is refused "
        "whole, never cut short.",
    )

    @field_validator("model_hosts", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(h.strip().lower() for h in value.split(",") if h.strip())
        return value


def options_from_env(environ: Mapping[str, str] | None = None) -> PolicySettings:
    """Return the policy options from ``MINGYUE_POLICY__*`` alone (commands with no data dir)."""
    env = os.environ if environ is None else environ
    prefix = "MINGYUE_POLICY__"
    raw = {k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix)}
    try:
        return PolicySettings.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        opt = prefix + str(err["loc"][0]).upper() if err["loc"] else "?"
        raise InvalidInput("policy.settings", f"{opt}: {err['msg']}", field=opt) from exc


def options(settings: Settings) -> PolicySettings:
    """Return the validated policy options (InvalidInput naming the bad option)."""
    try:
        return PolicySettings.model_validate(settings.enabler("policy"))
    except ValidationError as exc:
        err = exc.errors()[0]
        opt = "MINGYUE_POLICY__" + str(err["loc"][0]).upper() if err["loc"] else "?"
        raise InvalidInput("policy.settings", f"{opt}: {err['msg']}", field=opt) from exc
