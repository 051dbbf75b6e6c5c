"""core_schedule_run, core_schedule_state: periodic work fires once per due time (issue 14 §2)

Revision ID: e5a2c9d71b30
Revises: d4f1a7c3e210
Create Date: 2026-11-26 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mingyue.core.db

revision: str = "e5a2c9d71b30"
down_revision: str | Sequence[str] | None = "d4f1a7c3e210"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "core_schedule_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule", sa.String(length=160), nullable=False),
        sa.Column("due_at", mingyue.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fired_at", mingyue.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("scheduler", sa.String(length=160), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_schedule_run")),
        sa.UniqueConstraint("schedule", "due_at", name="uq_core_schedule_run_due"),
    )
    op.create_table(
        "core_schedule_state",
        sa.Column("name", sa.String(length=160), nullable=False),
        sa.Column("trigger", sa.String(length=200), nullable=False),
        sa.Column("next_run_at", mingyue.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("scheduler", sa.String(length=160), nullable=False),
        sa.Column("seen_at", mingyue.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_core_schedule_state")),
    )


def downgrade() -> None:
    op.drop_table("core_schedule_state")
    op.drop_table("core_schedule_run")
