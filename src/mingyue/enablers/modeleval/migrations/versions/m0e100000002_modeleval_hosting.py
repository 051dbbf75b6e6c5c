"""modeleval hosting: registered models, trial conversations, feedback, organization probes

Revision ID: m0e100000002
Revises: m0e100000001
Create Date: 2026-12-07 14:30:38.105164
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mingyue.sdk

revision: str = "m0e100000002"
down_revision: str | Sequence[str] | None = "m0e100000001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "modeleval_model",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", mingyue.sdk.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mingyue.sdk.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=80), nullable=False),
        sa.Column("provider", sa.String(length=200), nullable=False),
        sa.Column("licence", sa.String(length=200), nullable=False),
        sa.Column("intended_use", sa.Text(), nullable=False),
        sa.Column("limitations", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.String(length=500), nullable=False),
        sa.Column("served_model", sa.String(length=200), nullable=False),
        sa.Column("api_key_env", sa.String(length=100), nullable=True),
        sa.Column("api_key_sealed", sa.Text(), nullable=True),
        sa.Column("price_1k", mingyue.sdk.ExactDecimal(), nullable=True),
        sa.Column("visibility", sa.String(length=10), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["core_organization.id"],
            name=op.f("fk_modeleval_model_organization_id_core_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_modeleval_model")),
        sa.UniqueConstraint(
            "organization_id", "name", "version", name=op.f("uq_modeleval_model_organization_id")
        ),
    )
    with op.batch_alter_table("modeleval_model", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_modeleval_model_name"), ["name"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_modeleval_model_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "modeleval_quota",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tokens_per_month", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.String(length=128), nullable=False),
        sa.Column("updated_at", mingyue.sdk.UTCDateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["core_organization.id"],
            name=op.f("fk_modeleval_quota_organization_id_core_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_modeleval_quota")),
        sa.UniqueConstraint("organization_id", name=op.f("uq_modeleval_quota_organization_id")),
    )
    with op.batch_alter_table("modeleval_quota", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_modeleval_quota_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "modeleval_conversation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", mingyue.sdk.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["modeleval_model.id"],
            name=op.f("fk_modeleval_conversation_model_id_modeleval_model"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["core_organization.id"],
            name=op.f("fk_modeleval_conversation_organization_id_core_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_modeleval_conversation")),
    )
    with op.batch_alter_table("modeleval_conversation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_modeleval_conversation_model_id"), ["model_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_modeleval_conversation_organization_id"),
            ["organization_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_modeleval_conversation_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "modeleval_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", mingyue.sdk.UTCDateTime(timezone=True), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("error", sa.String(length=40), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("tokens_counted", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("cost", mingyue.sdk.ExactDecimal(), nullable=True),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["modeleval_conversation.id"],
            name=op.f("fk_modeleval_message_conversation_id_modeleval_conversation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["core_organization.id"],
            name=op.f("fk_modeleval_message_organization_id_core_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_modeleval_message")),
    )
    with op.batch_alter_table("modeleval_message", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_modeleval_message_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_modeleval_message_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "modeleval_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", mingyue.sdk.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("probe_id", sa.Integer(), nullable=True),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["modeleval_message.id"],
            name=op.f("fk_modeleval_feedback_message_id_modeleval_message"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["modeleval_model.id"],
            name=op.f("fk_modeleval_feedback_model_id_modeleval_model"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["core_organization.id"],
            name=op.f("fk_modeleval_feedback_organization_id_core_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_modeleval_feedback")),
        sa.UniqueConstraint("message_id", name=op.f("uq_modeleval_feedback_message_id")),
    )
    with op.batch_alter_table("modeleval_feedback", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_modeleval_feedback_model_id"), ["model_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_modeleval_feedback_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_modeleval_feedback_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "modeleval_probe",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", mingyue.sdk.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=120), nullable=False),
        sa.Column("harmful", sa.Boolean(), nullable=False),
        sa.Column("feedback_id", sa.Integer(), nullable=True),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["feedback_id"],
            ["modeleval_feedback.id"],
            name=op.f("fk_modeleval_probe_feedback_id_modeleval_feedback"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["core_organization.id"],
            name=op.f("fk_modeleval_probe_organization_id_core_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_modeleval_probe")),
    )
    with op.batch_alter_table("modeleval_probe", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_modeleval_probe_organization_id"), ["organization_id"], unique=False
        )

    with op.batch_alter_table("modeleval_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_modeleval_run_model_id"), ["model_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_modeleval_run_model_id_modeleval_model"),
            "modeleval_model",
            ["model_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("modeleval_run", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_modeleval_run_model_id_modeleval_model"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_modeleval_run_model_id"))
        batch_op.drop_column("model_id")

    with op.batch_alter_table("modeleval_probe", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_modeleval_probe_organization_id"))

    op.drop_table("modeleval_probe")
    with op.batch_alter_table("modeleval_feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_modeleval_feedback_user_id"))
        batch_op.drop_index(batch_op.f("ix_modeleval_feedback_organization_id"))
        batch_op.drop_index(batch_op.f("ix_modeleval_feedback_model_id"))

    op.drop_table("modeleval_feedback")
    with op.batch_alter_table("modeleval_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_modeleval_message_organization_id"))
        batch_op.drop_index(batch_op.f("ix_modeleval_message_conversation_id"))

    op.drop_table("modeleval_message")
    with op.batch_alter_table("modeleval_conversation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_modeleval_conversation_user_id"))
        batch_op.drop_index(batch_op.f("ix_modeleval_conversation_organization_id"))
        batch_op.drop_index(batch_op.f("ix_modeleval_conversation_model_id"))

    op.drop_table("modeleval_conversation")
    with op.batch_alter_table("modeleval_quota", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_modeleval_quota_organization_id"))

    op.drop_table("modeleval_quota")
    with op.batch_alter_table("modeleval_model", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_modeleval_model_organization_id"))
        batch_op.drop_index(batch_op.f("ix_modeleval_model_name"))

    op.drop_table("modeleval_model")
