"""Pydantic in/out models of modeleval's hosting, trial chat and feedback."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

Visibility = Literal["private", "district"]
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,99}$"


class ModelIn(BaseModel):
    """A model to register: its card and where it answers (a key by NAME, or sealed)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    version: str = Field(min_length=1, max_length=80)
    provider: str = Field(min_length=1, max_length=200)
    licence: str = Field(min_length=1, max_length=200)
    intended_use: str = Field("", max_length=4000)
    limitations: str = Field("", max_length=4000)
    endpoint: str = Field(min_length=1, max_length=500, description="OpenAI-compatible …/v1")
    served_model: str | None = Field(
        None, max_length=200, description="Model name sent to the endpoint (default: name)"
    )
    api_key_env: str | None = Field(None, pattern=ENV_NAME, description="Variable with the key")
    api_key: SecretStr | None = Field(
        None, max_length=1000, description="A key to store sealed (never returned or logged)"
    )
    price_1k: Decimal | None = Field(None, ge=0, le=10_000, description="CNY per 1,000 tokens")
    visibility: Visibility = "private"


class ModelUpdate(BaseModel):
    """Fields of a model card to change (absent fields stay)."""

    model_config = ConfigDict(extra="forbid")

    provider: str | None = Field(None, min_length=1, max_length=200)
    licence: str | None = Field(None, min_length=1, max_length=200)
    intended_use: str | None = Field(None, max_length=4000)
    limitations: str | None = Field(None, max_length=4000)
    endpoint: str | None = Field(None, min_length=1, max_length=500)
    served_model: str | None = Field(None, min_length=1, max_length=200)
    api_key_env: str | None = Field(None, pattern=ENV_NAME)
    api_key: SecretStr | None = Field(None, max_length=1000)
    price_1k: Decimal | None = Field(None, ge=0, le=10_000)
    visibility: Visibility | None = None


class ModelOut(BaseModel):
    """A registered model's card (a stored key is never shown: only that there is one)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    created_at: datetime
    updated_at: datetime
    created_by: str
    name: str
    version: str
    provider: str
    licence: str
    intended_use: str
    limitations: str
    endpoint: str
    served_model: str
    api_key_env: str | None
    has_sealed_key: bool = False
    price_1k: Decimal | None
    visibility: Visibility


class Scores(BaseModel):
    """The four headline scores of one run."""

    run_id: int
    created_at: datetime
    generality: float | None  # accuracy
    efficiency: float | None  # tokens per second
    robustness: float | None  # accuracy under perturbation
    safety: float | None  # refusal rate on harmful probes
    credential_id: str | None
    status: str = "succeeded"  # queued | running | succeeded | failed (scores only when succeeded)


class VersionScores(BaseModel):
    """One version of a model and its latest run's scores (None: not evaluated yet)."""

    model_id: int
    version: str
    latest: Scores | None


class ModelCard(BaseModel):
    """A model, its evaluation history and the comparison of its versions."""

    model: ModelOut
    runs: list[Scores]
    versions: list[VersionScores]


class QuotaOut(BaseModel):
    """An organization's trial tokens this month."""

    organization_id: int
    month: str
    limit: int
    used: int
    overridden: bool

    @property
    def left(self) -> int:
        """Return the tokens left this month."""
        return max(0, self.limit - self.used)


class QuotaIn(BaseModel):
    """An operator's quota for one organization."""

    tokens_per_month: int = Field(ge=0, le=10**12)


class MessageOut(BaseModel):
    """One turn of a trial conversation (redacted)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    conversation_id: int
    created_at: datetime
    role: str
    content: str
    status: str
    error: str | None
    prompt_tokens: int
    completion_tokens: int
    tokens_counted: bool
    latency_ms: float | None
    cost: Decimal | None
    feedback_id: int | None = None
    rating: int | None = None


class ConversationOut(BaseModel):
    """A trial conversation and, when read one by one, its messages."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    created_at: datetime
    user_id: int
    model_id: int
    title: str
    tokens: int
    model_name: str = ""
    model_version: str = ""
    messages: list[MessageOut] = []


class SendIn(BaseModel):
    """A message to send in a trial conversation."""

    text: str = Field(min_length=1, max_length=8000)


class StartIn(BaseModel):
    """A trial conversation to start with a registered model."""

    model_id: int = Field(ge=1, le=2**31 - 1)


class FeedbackIn(BaseModel):
    """A rating of one model reply."""

    message_id: int = Field(ge=1, le=2**31 - 1)
    rating: int = Field(ge=1, le=5)
    comment: str = Field("", max_length=4000)
    category: str = Field("", max_length=120)


class FeedbackOut(BaseModel):
    """A rating with the exchange it rates (redacted) and whether it became a probe."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    created_at: datetime
    created_by: str
    message_id: int
    model_id: int
    rating: int
    comment: str
    category: str
    status: str
    probe_id: int | None
    prompt: str = ""
    reply: str = ""
    model_name: str = ""
    model_version: str = ""


class ProbeIn(BaseModel):
    """A probe made from a feedback (the prompt defaults to the rated exchange's question)."""

    prompt: str | None = Field(None, min_length=1, max_length=8000)
    category: str = Field(min_length=1, max_length=120)
    harmful: bool


class ProbeOut(BaseModel):
    """A probe of an organization's safety set."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    created_at: datetime
    created_by: str
    prompt: str
    category: str
    harmful: bool
    feedback_id: int | None
    accepted: bool


MAX_START_CONCURRENCY = 16  # requests in flight of a run started from the API (the CLI: 64)


class RunStartIn(BaseModel):
    """An evaluation to start: a registered model, or (platform admins) an endpoint and a model."""

    model_config = ConfigDict(extra="forbid")

    model_id: int | None = Field(None, ge=1, le=2**31 - 1, description="A registered model")
    endpoint: str | None = Field(
        None, min_length=1, max_length=500, description="OpenAI-compatible …/v1 (platform admins)"
    )
    model: str | None = Field(
        None, min_length=1, max_length=200, description="Model name sent to the endpoint"
    )
    api_key_env: str | None = Field(
        None, pattern=ENV_NAME, description="Variable with the endpoint's key (platform admins)"
    )
    suite: Literal["standard", "quick"] = "standard"
    scoring: Literal["generate", "loglikelihood"] = "generate"
    concurrency: int = Field(4, ge=1, le=MAX_START_CONCURRENCY)
    limit: int | None = Field(
        None, ge=1, le=10_000, description="Keep the first N items and the first N probes"
    )
