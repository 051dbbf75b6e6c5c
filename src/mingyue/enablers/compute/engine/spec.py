"""The job specification: what a tenant asks the district's compute pools to run.

A spec is either a batch job (a shell ``command`` or a container ``image``) or an interactive
``reservation`` (a time slot on a node). The smallest valid spec is
``{"command": "echo hi", "cpus": 1}``. Validation errors name the offending field
(pydantic's ``loc``), so the API can answer 422 with the field and the CLI can print it.

Pool-dependent limits (the longest run time any pool allows) are passed through pydantic's
validation context: ``JobSpec.model_validate(data, context={"max_runtime_s": 86400})``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mingyue.sdk.errors import InvalidInput

# Run time used for cost estimates when a spec names no max run time.
DEFAULT_RUNTIME_S = 3600

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d)?\s*$", re.IGNORECASE)
_UNIT_S = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400}
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|[KMGT])?\s*$", re.IGNORECASE)
_MEM_MB = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}


@lru_cache(maxsize=1)
def known_gpu_models() -> frozenset[str]:
    """Return the GPU model names a spec may ask for (from ``data/gpu_models.yaml``)."""
    text = (
        resources.files("mingyue.enablers.compute.data")
        .joinpath("gpu_models.yaml")
        .read_text(encoding="utf-8")
    )
    doc = yaml.safe_load(text)
    return frozenset(str(m["name"]) for m in doc["models"])


def parse_duration(value: Any) -> int:
    """Parse ``90``, ``"90s"``, ``"15m"``, ``"2h"`` or ``"1d"`` into whole seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '15m' or '2h'")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ValueError(f"cannot read duration {value!r}; use seconds or '15m', '2h', '1d'")
        seconds = float(m.group(1)) * _UNIT_S[m.group(2).lower() if m.group(2) else None]
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return round(seconds)


def parse_memory_mb(value: Any) -> int:
    """Parse ``4096`` (MB), ``"4G"``, ``"512MiB"`` into whole megabytes."""
    if isinstance(value, bool):
        raise ValueError("memory is a number of MB or a string like '4G'")
    if isinstance(value, (int, float)):
        mb = float(value)
    else:
        m = _MEMORY.match(str(value))
        if not m:
            raise ValueError(f"cannot read memory {value!r}; use MB or '512M', '4G'")
        unit = (m.group(2) or "M")[0].upper()
        mb = float(m.group(1)) * _MEM_MB[unit]
    if mb <= 0:
        raise ValueError("memory must be positive")
    return max(1, round(mb))


class GpuRequest(BaseModel):
    """GPUs a job needs: how many, and optionally which model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: Annotated[int, Field(ge=0, le=64)] = 0
    model: str | None = None

    @field_validator("model")
    @classmethod
    def _known_model(cls, v: str | None) -> str | None:
        if v is None:
            return None
        names = known_gpu_models()
        if v in names:
            return v
        # Accept any capitalisation ("a100" -> "A100"), reject the unknown.
        for name in names:
            if name.lower() == v.lower():
                return name
        raise ValueError(f"unknown GPU model {v!r}; known: {', '.join(sorted(names))}")

    @model_validator(mode="after")
    def _model_needs_count(self) -> GpuRequest:
        if self.model is not None and self.count == 0:
            raise ValueError("a GPU model was named but count is 0")
        return self


class Reservation(BaseModel):
    """An interactive session: a time slot on one node."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: datetime
    duration_s: int

    @field_validator("start")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("start needs a time zone (e.g. 2026-11-24T09:00:00+08:00)")
        return v

    @field_validator("duration_s", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> int:
        return parse_duration(v)


class JobSpec(BaseModel):
    """One job specification, valid for every pool kind (local, Slurm, Ray)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: Annotated[str, Field(max_length=128)] | None = None
    command: Annotated[str, Field(min_length=1, max_length=65536)] | None = None
    image: Annotated[str, Field(min_length=1, max_length=512)] | None = None
    inputs: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    # container jobs run with --network=none unless the spec asks for the network
    network: bool = False
    cpus: Annotated[int, Field(ge=1, le=4096)] = 1
    gpus: GpuRequest = GpuRequest()
    memory_mb: int | None = None
    max_runtime_s: int | None = None
    expected_runtime_s: int | None = None
    max_price: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4)] | None = None
    deadline: datetime | None = None
    preferred_region: str | None = None
    priority: Annotated[int, Field(ge=0, le=10)] = 5
    reservation: Reservation | None = None

    @field_validator("gpus", mode="before")
    @classmethod
    def _gpus_short(cls, v: Any) -> Any:
        # ``gpus: 2`` is shorthand for ``gpus: {count: 2}``.
        if isinstance(v, int) and not isinstance(v, bool):
            return {"count": v}
        return v

    @field_validator("memory_mb", mode="before")
    @classmethod
    def _memory(cls, v: Any) -> int | None:
        return None if v is None else parse_memory_mb(v)

    @field_validator("max_runtime_s", mode="before")
    @classmethod
    def _max_runtime(cls, v: Any, info: ValidationInfo) -> int | None:
        if v is None:
            return None
        seconds = parse_duration(v)
        limit = (info.context or {}).get("max_runtime_s")
        if limit is not None and seconds > int(limit):
            raise ValueError(f"max run time {seconds} s is over the pool maximum {int(limit)} s")
        return seconds

    @field_validator("expected_runtime_s", mode="before")
    @classmethod
    def _expected_runtime(cls, v: Any) -> int | None:
        return None if v is None else parse_duration(v)

    @field_validator("deadline")
    @classmethod
    def _aware_deadline(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("deadline needs a time zone (e.g. 2026-11-24T18:00:00+08:00)")
        return v

    @field_validator("inputs")
    @classmethod
    def _inputs(cls, v: list[str]) -> list[str]:
        for item in v:
            if not item or "\x00" in item:
                raise ValueError("an input is an empty string or contains NUL")
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> JobSpec:
        kinds = [k for k in ("command", "image", "reservation") if getattr(self, k) is not None]
        if self.image is not None and self.command is not None:
            kinds.remove("command")  # an image with a command override is one batch job
        if not kinds:
            raise ValueError("give a command, a container image, or a reservation")
        if len(kinds) > 1:
            raise ValueError(f"give only one of command/image or reservation, not {kinds}")
        if (
            self.expected_runtime_s is not None
            and self.max_runtime_s is not None
            and self.expected_runtime_s > self.max_runtime_s
        ):
            raise ValueError("expected_runtime_s is longer than max_runtime_s")
        return self

    @property
    def kind(self) -> Literal["batch", "reservation"]:
        """Say whether this is a batch job or an interactive reservation."""
        return "reservation" if self.reservation is not None else "batch"

    def demand(self) -> Demand:
        """Return the resource demand the matcher works on."""
        if self.reservation is not None:
            runtime = self.reservation.duration_s
        else:
            runtime = self.expected_runtime_s or self.max_runtime_s or DEFAULT_RUNTIME_S
        return Demand(
            cpus=self.cpus,
            gpus=self.gpus.count,
            gpu_model=self.gpus.model,
            memory_mb=self.memory_mb or 0,
            runtime_s=runtime,
            max_runtime_s=self.max_runtime_s or runtime,
            region=self.preferred_region,
            max_price=self.max_price,
            deadline=self.deadline,
            fixed_start=self.reservation.start if self.reservation else None,
            needs_image=self.image is not None,
        )


@dataclass(frozen=True, slots=True)
class Demand:
    """What the matcher needs to know about a job: resources, time, money, place."""

    cpus: int
    gpus: int = 0
    gpu_model: str | None = None
    memory_mb: int = 0
    runtime_s: int = DEFAULT_RUNTIME_S
    max_runtime_s: int = DEFAULT_RUNTIME_S
    region: str | None = None
    max_price: Decimal | None = None
    deadline: datetime | None = None
    fixed_start: datetime | None = None
    needs_image: bool = False


def load_spec(data: Any, *, max_runtime_s: int | None = None) -> JobSpec:
    """Validate plain data (from YAML/JSON) into a spec, or raise InvalidInput naming the field."""
    if not isinstance(data, dict):
        raise InvalidInput(
            "compute.spec_invalid",
            "a job spec is a mapping, e.g. {command: 'echo hi', cpus: 1}",
            field="spec",
        )
    context = {"max_runtime_s": max_runtime_s} if max_runtime_s is not None else None
    try:
        return JobSpec.model_validate(data, context=context)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "spec"
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise InvalidInput(
            "compute.spec_invalid", f"{field}: {msg}", field=field, reason=msg
        ) from exc


def load_spec_text(text: str, *, max_runtime_s: int | None = None) -> JobSpec:
    """Parse a YAML or JSON document and validate it as a spec."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(
            "compute.spec_unreadable", f"cannot parse the spec: {exc}", field="spec"
        ) from exc
    return load_spec(data, max_runtime_s=max_runtime_s)
