"""appcheck reviews: store-listing and algorithm-ethics reviews

Revision ID: 7c3a9e51d2b4
Revises: 4b1b0d8e126e
Create Date: 2026-12-07 12:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mingyue.sdk

revision: str = "7c3a9e51d2b4"
down_revision: str | Sequence[str] | None = "4b1b0d8e126e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "appcheck_review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", mingyue.sdk.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("package", sa.String(length=255), nullable=False),
        sa.Column("opened_by", sa.String(length=200), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("signals", sa.JSON(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("opinion", sa.String(length=4000), nullable=False),
        sa.Column("item_decisions", sa.JSON(), nullable=False),
        sa.Column("credential_id", sa.String(length=64), nullable=True),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["core_organization.id"],
            name=op.f("fk_appcheck_review_organization_id_core_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appcheck_review")),
    )
    with op.batch_alter_table("appcheck_review", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_appcheck_review_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_appcheck_review_scan_id"), ["scan_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("appcheck_review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appcheck_review_scan_id"))
        batch_op.drop_index(batch_op.f("ix_appcheck_review_organization_id"))
    op.drop_table("appcheck_review")
