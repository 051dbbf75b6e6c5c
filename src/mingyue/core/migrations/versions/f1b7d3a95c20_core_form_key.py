"""core_form_key: one-time keys of console forms that start work (issue 13 §1)

Revision ID: f1b7d3a95c20
Revises: e5a2c9d71b30
Create Date: 2026-12-07 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mingyue.core.db

revision: str = "f1b7d3a95c20"
down_revision: str | Sequence[str] | None = "e5a2c9d71b30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "core_form_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("location", sa.String(length=500), nullable=False),
        sa.Column("created_at", mingyue.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_core_form_key_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_form_key")),
        sa.UniqueConstraint("user_id", "key", name="uq_core_form_key_user_key"),
    )
    with op.batch_alter_table("core_form_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_form_key_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("core_form_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_form_key_user_id"))
    op.drop_table("core_form_key")
