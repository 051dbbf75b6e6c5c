"""Typed options of the datasandbox enabler, read from ``MINGYUE_DATASANDBOX__*``.

The core's ``Settings.datasandbox`` holds the raw nested group; this model validates it. Every
field is listed in docs/settings.md (a test fails on an undocumented one).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mingyue.sdk import Settings
from mingyue.sdk.errors import InvalidInput

HOST_ENTRY_RE = re.compile(r"^[A-Za-z0-9_.:\[\]-]{1,253}(?:/\d{1,3})?$")
# Refusals that guard what a consumer may learn about the data: asked again and again, they
# look like probing for a way around the gates (see docs/datasandbox.md, "Findings").
PROBING_RULES: tuple[str, ...] = (
    "policy.",
    "gate.",
    "budget.",
    "verify.",
    "sql.identifier_",
    "sql.group_by_identifier",
    "sql.function_not_allowed",
    "sql.statement_not_allowed",
    "sql.row_revealing_aggregate",
    "sql.non_aggregate_output",
    "sql.select_star",
    "sql.select_distinct",
    "train.identifier_feature",
    "train.memorised_identifier",
)


class DatasandboxSettings(BaseModel):
    """Options of the data sandbox (``MINGYUE_DATASANDBOX__<FIELD>``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: Literal["duckdb", "spark"] = Field(
        "duckdb",
        description="Engine that runs approved computations: the DuckDB worker "
        "process, or Apache Spark (needs the `spark` extra and Java 17).",
    )
    spark_master: str = Field(
        "local[2]",
        description="Spark master URL when the engine is spark (`local[N]` or "
        "`spark://host:7077`).",
    )
    spark_timeout_s: float = Field(
        120.0,
        gt=0,
        description="Longest one Spark computation may run before its job group is cancelled.",
    )
    memory_mb: int = Field(
        3072,
        ge=128,
        description="Address-space limit (RLIMIT_AS) of the DuckDB worker "
        "process, in MiB; DuckDB's own memory limit is half of it (also while a PostgreSQL "
        "snapshot is written as Parquet).",
    )
    timeout_s: float = Field(
        60.0,
        gt=0,
        description="Longest one DuckDB computation may run before the worker is "
        "killed and restarted.",
    )
    pg_max_rows: int = Field(
        10_000_000,
        ge=1,
        description="Largest PostgreSQL table (rows) a snapshot copies; a "
        "larger one is refused, never cut short.",
    )
    pg_max_bytes: int = Field(
        2 * 1024**3,
        ge=1024,
        description="Largest PostgreSQL snapshot (bytes of CSV streamed "
        "by COPY) before it is refused.",
    )
    pg_connect_timeout_s: int = Field(
        3,
        ge=1,
        le=60,
        description="Seconds to wait for a PostgreSQL source to accept a connection "
        "(short: each dead address holds a worker this long).",
    )
    pg_allowed_hosts: tuple[str, ...] = Field(
        (),
        description="Hosts PostgreSQL sources may connect to, comma-separated: IP addresses, "
        "CIDR networks or host names (compared by their resolved addresses). Empty: "
        "PostgreSQL sources are refused. The platform's own database is refused whatever "
        "this list says.",
    )

    @field_validator("pg_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(h.strip() for h in value.split(",") if h.strip())
        return value

    @field_validator("pg_allowed_hosts")
    @classmethod
    def _check_hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for host in value:
            if not HOST_ENTRY_RE.match(host):
                raise ValueError(f"not a host name, address or network: {host!r}")
        return value

    pg_statement_timeout_s: int = Field(
        600,
        ge=1,
        description="Longest one statement against a PostgreSQL source may run "
        "(server-side `statement_timeout`).",
    )

    probing_refusals: int = Field(
        5,
        ge=2,
        description="Refusals by the same rule of one organization's requests, within "
        "`probing_window_s`, that raise the finding `datasandbox.probing` (and count again on "
        "every further one).",
    )
    probing_window_s: int = Field(
        3600,
        ge=60,
        description="Window, in seconds, in which `probing_refusals` refusals by the same rule "
        "look like probing.",
    )
    probing_rules: tuple[str, ...] = Field(
        PROBING_RULES,
        description="Refusal rules that count towards probing, comma-separated: a rule id, or a "
        "prefix ending with '.' or '_' (syntax errors and unknown names are mistakes, not "
        "probing, and are not listed by default).",
    )

    @field_validator("probing_rules", mode="before")
    @classmethod
    def _split_rules(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(r.strip() for r in value.split(",") if r.strip())
        return value


def options(settings: Settings) -> DatasandboxSettings:
    """Return the validated datasandbox options (InvalidInput naming the bad option)."""
    try:
        return DatasandboxSettings.model_validate(settings.enabler("datasandbox"))
    except ValidationError as exc:
        err = exc.errors()[0]
        opt = "MINGYUE_DATASANDBOX__" + str(err["loc"][0]).upper() if err["loc"] else "?"
        raise InvalidInput("datasandbox.settings", f"{opt}: {err['msg']}", field=opt) from exc
