"""Tables of modeleval: evaluation runs, registered models with their cards, trial conversations,
feedback and the probes an organization adds to its safety set (all tenant-owned)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mingyue.sdk import Base, ExactDecimal, TenantMixin, now

RUN_STATUSES = ("queued", "running", "succeeded", "failed")


class ModelevalRun(TenantMixin, Base):
    """One four-dimension evaluation of one model; per-item records live in the data dir.

    A run started from the API or the console is a row from the start (``queued`` → ``running``
    → ``succeeded`` | ``failed`` with its reason) whose core job does the evaluation; a CLI run
    is recorded ``succeeded`` once it has finished.
    """

    __tablename__ = "modeleval_run"
    __table_args__ = (UniqueConstraint("organization_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[str] = mapped_column(String(128))
    run_key: Mapped[str] = mapped_column(String(40), unique=True)  # folder of its records
    model: Mapped[str] = mapped_column(String(200), index=True)
    endpoint: Mapped[str] = mapped_column(String(500))  # base URL only; a key is never stored
    accuracy: Mapped[float | None] = mapped_column(Float, default=None)
    refusal_rate: Mapped[float | None] = mapped_column(Float, default=None)
    scorecard: Mapped[dict[str, Any]] = mapped_column(default=dict)  # JSON, without records
    records_sha256: Mapped[str] = mapped_column(String(64))
    credential_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # The registered model this run evaluated (same endpoint and served name), if any.
    model_id: Mapped[int | None] = mapped_column(
        ForeignKey("modeleval_model.id", ondelete="SET NULL"), default=None, index=True
    )
    status: Mapped[str] = mapped_column(String(12), default="succeeded", server_default="succeeded")
    error: Mapped[str | None] = mapped_column(String(500), default=None)  # why it failed
    job_id: Mapped[int | None] = mapped_column(Integer, default=None)  # the core job running it
    # What the run was asked (suite, scoring, concurrency, limit, a digest of the request); never
    # a key: the job reads the model's key when it runs.
    request: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    idempotency_key: Mapped[str | None] = mapped_column(String(128), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class ModelevalModel(TenantMixin, Base):
    """A registered model and its card; the organization that registers it owns it."""

    __tablename__ = "modeleval_model"
    __table_args__ = (UniqueConstraint("organization_id", "name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)
    created_by: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[str] = mapped_column(String(80))
    provider: Mapped[str] = mapped_column(String(200))
    licence: Mapped[str] = mapped_column(String(200))
    intended_use: Mapped[str] = mapped_column(Text, default="")
    limitations: Mapped[str] = mapped_column(Text, default="")
    endpoint: Mapped[str] = mapped_column(String(500))  # OpenAI-compatible base URL, no key
    served_model: Mapped[str] = mapped_column(String(200))  # the name sent to the endpoint
    api_key_env: Mapped[str | None] = mapped_column(String(100), default=None)  # a NAME only
    api_key_sealed: Mapped[str | None] = mapped_column(Text, default=None)  # sdk seal()
    price_1k: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)  # CNY
    visibility: Mapped[str] = mapped_column(String(10), default="private")  # private | district


class ModelevalQuota(TenantMixin, Base):
    """An operator's trial-token quota for one organization (else the setting's default)."""

    __tablename__ = "modeleval_quota"
    __table_args__ = (UniqueConstraint("organization_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tokens_per_month: Mapped[int] = mapped_column(Integer)
    set_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)


class ModelevalConversation(TenantMixin, Base):
    """One user's trial chat with one registered model (owned by the user's organization)."""

    __tablename__ = "modeleval_conversation"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    created_by: Mapped[str] = mapped_column(String(128))
    model_id: Mapped[int] = mapped_column(ForeignKey("modeleval_model.id"), index=True)
    title: Mapped[str] = mapped_column(String(120), default="")
    tokens: Mapped[int] = mapped_column(Integer, default=0)


class ModelevalMessage(TenantMixin, Base):
    """One turn of a trial conversation, stored with personal information redacted."""

    __tablename__ = "modeleval_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("modeleval_conversation.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(10))  # user | assistant
    content: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="ok")  # ok | pending | failed
    error: Mapped[str | None] = mapped_column(String(40), default=None)  # the client's reason
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    tokens_counted: Mapped[bool] = mapped_column(Boolean, default=False)  # no usage: estimated
    latency_ms: Mapped[float | None] = mapped_column(Float, default=None)
    cost: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)  # CNY


class ModelevalFeedback(TenantMixin, Base):
    """A user's rating of one model reply, with a comment and a flagged category."""

    __tablename__ = "modeleval_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("modeleval_message.id", ondelete="CASCADE"), unique=True
    )
    model_id: Mapped[int] = mapped_column(ForeignKey("modeleval_model.id"), index=True)
    rating: Mapped[int] = mapped_column(Integer)  # 1..5
    comment: Mapped[str] = mapped_column(Text, default="")  # redacted
    category: Mapped[str] = mapped_column(String(120), default="")
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | probe
    probe_id: Mapped[int | None] = mapped_column(Integer, default=None)


class ModelevalProbe(TenantMixin, Base):
    """A probe an organization accepted into its safety set (runs with the built-in set use it)."""

    __tablename__ = "modeleval_probe"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[str] = mapped_column(String(128))
    prompt: Mapped[str] = mapped_column(Text)  # redacted
    category: Mapped[str] = mapped_column(String(120))
    harmful: Mapped[bool] = mapped_column(Boolean)
    feedback_id: Mapped[int | None] = mapped_column(
        ForeignKey("modeleval_feedback.id", ondelete="SET NULL"), default=None
    )
    accepted: Mapped[bool] = mapped_column(Boolean, default=True)
