"""modeleval runs started as jobs: status, reason, job, request, idempotency key

Revision ID: m0e100000003
Revises: m0e100000002
Create Date: 2026-12-07 20:03:31.951911
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mingyue.sdk

revision: str = "m0e100000003"
down_revision: str | Sequence[str] | None = "m0e100000002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Runs recorded before (CLI) were finished ones: they read "succeeded" with an empty request.
    with op.batch_alter_table("modeleval_run", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=12), server_default="succeeded", nullable=False)
        )
        batch_op.add_column(sa.Column("error", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("job_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("request", sa.JSON(), server_default="{}", nullable=False))
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=128), nullable=True))
        batch_op.add_column(
            sa.Column("finished_at", mingyue.sdk.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_modeleval_run_organization_id"), ["organization_id", "idempotency_key"]
        )


def downgrade() -> None:
    with op.batch_alter_table("modeleval_run", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_modeleval_run_organization_id"), type_="unique")
        batch_op.drop_column("finished_at")
        batch_op.drop_column("idempotency_key")
        batch_op.drop_column("request")
        batch_op.drop_column("job_id")
        batch_op.drop_column("error")
        batch_op.drop_column("status")
